package opa

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// decode turns the result of Query into a Decision. It is strict on
// purpose: the only way to get a Decision without an error is a single,
// complete, well-typed decision object. Every other shape is a policy bug;
// the caller wraps the error with gatekeeper.ErrPolicy, so that it can
// never read as success.
func decode(rs rego.ResultSet) (gatekeeper.Decision, error) {
	switch {
	case len(rs) == 0:
		return gatekeeper.Decision{}, fmt.Errorf("%s is undefined for this input", Query)
	case len(rs) > 1:
		return gatekeeper.Decision{}, fmt.Errorf("%s has %d results, want one", Query, len(rs))
	case len(rs[0].Expressions) != 1:
		return gatekeeper.Decision{}, fmt.Errorf("%s has %d expressions, want one", Query, len(rs[0].Expressions))
	}
	obj, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return gatekeeper.Decision{}, fmt.Errorf("%s is %s, want an object", Query, typeName(rs[0].Expressions[0].Value))
	}
	var d gatekeeper.Decision
	var err error
	st, ok := obj["state"].(string)
	switch gatekeeper.State(st) {
	case gatekeeper.Success, gatekeeper.Failure, gatekeeper.Pending:
		d.State = gatekeeper.State(st)
	default:
		if !ok {
			return gatekeeper.Decision{}, fmt.Errorf("decision state is %s, want success, failure or pending", typeName(obj["state"]))
		}
		return gatekeeper.Decision{}, fmt.Errorf("decision state %q, want success, failure or pending", st)
	}
	if d.Reasons, err = stringList(obj, "reasons"); err != nil {
		return gatekeeper.Decision{}, err
	}
	if d.Waiting, err = stringList(obj, "waiting"); err != nil {
		return gatekeeper.Decision{}, err
	}
	ch, present := obj["channel"]
	switch ch {
	case nil:
		if !present {
			return gatekeeper.Decision{}, errors.New("decision has no channel (use null)")
		}
	case "alpha", "beta", "stable":
		d.Channel = ch.(string)
	default:
		return gatekeeper.Decision{}, fmt.Errorf("decision channel %v, want alpha, beta, stable or null", ch)
	}
	if v, ok := obj["passes"]; ok && v != nil {
		// Optional: a policy without passes.rego is still valid; one
		// that returns them returns strings.
		if d.Passes, err = stringList(obj, "passes"); err != nil {
			return gatekeeper.Decision{}, err
		}
	}
	if d.Votes, err = voteVerdicts(obj); err != nil {
		return gatekeeper.Decision{}, err
	}
	// A success that names something failing or missing contradicts
	// itself; the policy is wrong, and fail closed means not trusting it.
	if d.State == gatekeeper.Success && (len(d.Reasons) > 0 || len(d.Waiting) > 0) {
		return gatekeeper.Decision{}, fmt.Errorf("decision state success with %d reasons and %d waiting", len(d.Reasons), len(d.Waiting))
	}
	return d, nil
}

// stringList decodes obj[key], an array or set of strings. A Rego set arrives
// as a JSON array, so both are accepted; the key must be present.
func stringList(obj map[string]any, key string) ([]string, error) {
	v, ok := obj[key]
	if !ok {
		return nil, fmt.Errorf("decision %s missing", key)
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("decision %s is %s, want an array of strings", key, typeName(v))
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("decision %s[%d] is %s, want a string", key, i, typeName(e))
		}
		out[i] = s
	}
	return out, nil
}

// typeName names a decoded JSON value's type in Rego's words.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a number"
}

// voteVerdicts decodes the optional "votes" array of the decision:
// [{"comment_id", "user", "verdict": "counted"|"refused", "why"}].
func voteVerdicts(obj map[string]any) ([]gatekeeper.VoteVerdict, error) {
	v, ok := obj["votes"]
	if !ok || v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("decision votes is %s, want an array", typeName(v))
	}
	out := make([]gatekeeper.VoteVerdict, 0, len(arr))
	for i, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("decision votes[%d] is %s, want an object", i, typeName(e))
		}
		id, ok := m["comment_id"].(json.Number)
		n, err := id.Int64()
		if !ok || err != nil {
			return nil, fmt.Errorf("decision votes[%d].comment_id is not an integer", i)
		}
		verdict, _ := m["verdict"].(string)
		if verdict != "counted" && verdict != "refused" {
			return nil, fmt.Errorf("decision votes[%d].verdict %q, want counted or refused", i, verdict)
		}
		user, _ := m["user"].(string)
		why, _ := m["why"].(string)
		out = append(out, gatekeeper.VoteVerdict{CommentID: n, User: user, Verdict: verdict, Why: why})
	}
	return out, nil
}
