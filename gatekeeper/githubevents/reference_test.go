package githubevents

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// referenceParse is how Parse read the pull_request, pull_request_review,
// issue_comment and status deliveries before the narrow decode: the whole
// payload through go-github's ParseWebHook and types. The narrow decode
// must build the same event from every payload go-github accepts.
// decoded is false when go-github could not decode the payload at all.
func referenceParse(eventType, deliveryID string, payload []byte) (e gatekeeper.Event, decoded bool, err error) {
	e, err = referenceEvent(eventType, deliveryID, payload)
	return e, !errors.Is(err, errUndecodable), err
}

var errUndecodable = errors.New("go-github could not decode it")

func referenceEvent(eventType, deliveryID string, payload []byte) (gatekeeper.Event, error) {
	raw, err := github.ParseWebHook(eventType, payload)
	if err != nil {
		return gatekeeper.Event{}, fmt.Errorf("decoding %s payload: %w: %w: %w", eventType, gatekeeper.ErrInvalid, errUndecodable, err)
	}
	var e gatekeeper.Event
	switch ev := raw.(type) {
	case *github.PullRequestEvent:
		e, err = pullRequest(ev)
	case *github.PullRequestReviewEvent:
		e, err = review(ev)
	case *github.IssueCommentEvent:
		e, err = comment(ev)
	case *github.StatusEvent:
		e, err = status(ev)
	default:
		err = fmt.Errorf("decoding %s payload: unexpected type %T: %w", eventType, raw, gatekeeper.ErrInvalid)
	}
	if err != nil {
		return gatekeeper.Event{}, err
	}
	e.Delivery = deliveryID
	return e, nil
}

func pullRequest(ev *github.PullRequestEvent) (gatekeeper.Event, error) {
	action := ev.GetAction()
	name := "pull_request." + action
	if !used("pull_request", action) {
		return gatekeeper.Event{}, fmt.Errorf("%s: %w", name, ErrIgnored)
	}
	if ev.PullRequest == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no pull_request object: %w", name, gatekeeper.ErrInvalid)
	}
	pr := PullRequest(ev.PullRequest, ev.Repo)
	if err := checkPull(name, pr); err != nil {
		return gatekeeper.Event{}, err
	}
	// GitHub sends no time of the event itself; labelling is what updated
	// the pull request, so its updated_at is when the label was added.
	if label := ev.GetLabel().GetName(); action == "labeled" && label != "" && !pr.UpdatedAt.IsZero() {
		pr.LabeledAt = map[string]time.Time{label: pr.UpdatedAt}
	}
	return gatekeeper.Event{Name: name, Key: pr.Key, SHA: pr.HeadSHA, PullRequest: &pr}, nil
}

func review(ev *github.PullRequestReviewEvent) (gatekeeper.Event, error) {
	action := ev.GetAction()
	name := "pull_request_review." + action
	if !used("pull_request_review", action) {
		return gatekeeper.Event{}, fmt.Errorf("%s: %w", name, ErrIgnored)
	}
	if ev.PullRequest == nil || ev.Review == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no pull_request or review object: %w", name, gatekeeper.ErrInvalid)
	}
	pr := PullRequest(ev.PullRequest, ev.Repo)
	if err := checkPull(name, pr); err != nil {
		return gatekeeper.Event{}, err
	}
	r := Review(ev.Review)
	if action == "dismissed" {
		// The payload says "dismissed" too, but the action is the fact.
		r.State = "DISMISSED"
	}
	if r.ID == 0 || r.User == "" || r.State == "" {
		return gatekeeper.Event{}, fmt.Errorf("%s: review without id, user or state: %w", name, gatekeeper.ErrInvalid)
	}
	// The log line names the commit reviewed, which can be older than the
	// head: that is what makes an approval stale.
	sha := r.CommitID
	if sha == "" {
		sha = pr.HeadSHA
	}
	return gatekeeper.Event{Name: name, Key: pr.Key, SHA: sha, PullRequest: &pr, Review: &r}, nil
}

func comment(ev *github.IssueCommentEvent) (gatekeeper.Event, error) {
	action := ev.GetAction()
	name := "issue_comment." + action
	if !used("issue_comment", action) {
		return gatekeeper.Event{}, fmt.Errorf("%s: %w", name, ErrIgnored)
	}
	if ev.Issue == nil || ev.Comment == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no issue or comment object: %w", name, gatekeeper.ErrInvalid)
	}
	if !ev.Issue.IsPullRequest() {
		return gatekeeper.Event{}, fmt.Errorf("%s on a plain issue: %w", name, ErrIgnored)
	}
	key := gatekeeper.PullKey{Owner: ev.GetRepo().GetOwner().GetLogin(), Repo: ev.GetRepo().GetName(), Number: ev.Issue.GetNumber()}
	if !key.Valid() {
		return gatekeeper.Event{}, fmt.Errorf("%s: invalid pull request %q: %w", name, key, gatekeeper.ErrInvalid)
	}
	c := Comment(ev.Comment)
	if c.ID == 0 {
		return gatekeeper.Event{}, fmt.Errorf("%s: comment without id: %w", name, gatekeeper.ErrInvalid)
	}
	c.Deleted = action == "deleted"
	if action == "edited" || action == "deleted" {
		// Whoever edited or deleted it: not always the author, and only
		// the author may change their vote.
		c.EditedBy = ev.GetSender().GetLogin()
	}
	// The payload names no commit: which head the comment was made on is
	// left to the Service, by the comment's time.
	return gatekeeper.Event{Name: name, Key: key, Comment: &c}, nil
}

func status(ev *github.StatusEvent) (gatekeeper.Event, error) {
	const name = "status"
	sha := ev.GetSHA()
	if sha == "" || ev.GetContext() == "" {
		return gatekeeper.Event{}, fmt.Errorf("%s: no sha or context: %w", name, gatekeeper.ErrInvalid)
	}
	state := strings.ToLower(ev.GetState())
	if !gatekeeper.State(state).Valid() {
		return gatekeeper.Event{}, fmt.Errorf("%s: unknown state %q: %w", name, ev.GetState(), gatekeeper.ErrInvalid)
	}
	updated := ev.GetUpdatedAt()
	if updated.IsZero() {
		updated = ev.GetCreatedAt()
	}
	c := gatekeeper.Check{
		Name:        ev.GetContext(),
		SHA:         sha,
		Kind:        "status",
		State:       state,
		Description: ev.GetDescription(),
		URL:         ev.GetTargetURL(),
		UpdatedAt:   utc(updated),
		// The payload has no creator; the sender is who posted it.
		Creator: ev.GetSender().GetLogin(),
	}
	r := repo(ev.GetRepo())
	if r == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no repository: %w", name, gatekeeper.ErrInvalid)
	}
	return gatekeeper.Event{Name: name, SHA: sha, Check: &c, Repo: r}, nil
}

// narrowEvents are the event types Parse decodes narrowly where it used
// go-github's types.
var narrowEvents = []string{"pull_request", "pull_request_review", "issue_comment", "status"}

// sameParse fails t when Parse and referenceParse disagree on payload:
// wherever go-github accepts a payload, Parse builds the same event, or
// refuses or ignores it the same way.
func sameParse(t *testing.T, eventType string, payload []byte) {
	t.Helper()
	want, decoded, wantErr := referenceParse(eventType, "d", payload)
	got, gotErr := Parse(eventType, "d", payload)
	switch {
	case !decoded:
		// The narrow decode is laxer than go-github only about fields the
		// gatekeeper never reads: what it accepts must still be usable.
		if gotErr == nil && !got.Key.Valid() && got.SHA == "" {
			t.Errorf("%s: Parse accepted %+v, which names neither a pull request nor a commit", eventType, got)
		}
		return
	case errors.Is(wantErr, ErrIgnored):
		if !errors.Is(gotErr, ErrIgnored) {
			t.Errorf("%s: go-github's path ignored it (%v), Parse: %v", eventType, wantErr, gotErr)
		}
		return
	case wantErr != nil:
		if !errors.Is(gotErr, gatekeeper.ErrInvalid) {
			t.Errorf("%s: go-github's path refused it (%v), Parse: %+v, %v", eventType, wantErr, got, gotErr)
		}
		return
	case gotErr != nil:
		t.Errorf("%s: go-github's path accepted %+v, Parse: %v", eventType, show(want), gotErr)
		return
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("%s: events differ\n go-github: %s\n    narrow: %s", eventType, show(want), show(got))
	}
}

func show(e gatekeeper.Event) string {
	s := fmt.Sprintf("%+v", e)
	if e.PullRequest != nil {
		s += fmt.Sprintf(" PR=%+v", *e.PullRequest)
	}
	if e.Review != nil {
		s += fmt.Sprintf(" Review=%+v", *e.Review)
	}
	if e.Comment != nil {
		s += fmt.Sprintf(" Comment=%+v", *e.Comment)
	}
	if e.Check != nil {
		s += fmt.Sprintf(" Check=%+v", *e.Check)
	}
	if e.Repo != nil {
		s += fmt.Sprintf(" Repo=%+v", *e.Repo)
	}
	return s
}

// publicPayloads lists every JSON payload of the public GitHub examples
// (octokit/webhooks, drone/go-scm: the byte-for-byte copy of
// shared/fixtures/public/data/github in test/testdata) and the recorded
// ones, with the event type each is for.
func publicPayloads(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	files, _ := filepath.Glob("../../test/testdata/fixtures/github/public/*/*/*.json")
	for _, f := range files {
		out[f] = filepath.Base(filepath.Dir(f))
	}
	recorded, _ := filepath.Glob("../../test/testdata/fixtures/github/*.json")
	for _, f := range recorded {
		out[f], _, _ = strings.Cut(filepath.Base(f), ".")
	}
	return out
}

// TestNarrowParseMatchesGoGitHub parses every public and recorded payload
// of the narrowly decoded types both ways.
func TestNarrowParseMatchesGoGitHub(t *testing.T) {
	t.Parallel()
	n := 0
	for f, event := range publicPayloads(t) {
		if !isNarrow(event) {
			continue
		}
		payload, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n++
		t.Run(f, func(t *testing.T) { sameParse(t, event, payload) })
	}
	if n < 30 {
		t.Fatalf("%d payloads of the narrow types, want at least 30", n)
	}
}

func isNarrow(event string) bool {
	for _, e := range narrowEvents {
		if e == event {
			return true
		}
	}
	return false
}

// FuzzNarrowParse mutates the public and recorded payloads of the narrow
// types and checks Parse against go-github on each.
func FuzzNarrowParse(f *testing.F) {
	for path, event := range publicPayloads(f) {
		if !isNarrow(event) {
			continue
		}
		payload, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(event, payload)
	}
	f.Add("status", []byte(`{"sha":"a","context":"c","state":"SUCCESS","updated_at":1700000000,"repository":{"id":1}}`))
	f.Add("issue_comment", []byte(`{"action":"deleted","issue":{"number":1,"pull_request":{}},"comment":{"id":2},"repository":{"name":"r","owner":{"login":"o"}}}`))
	f.Fuzz(func(t *testing.T, eventType string, payload []byte) {
		if !isNarrow(eventType) {
			eventType = narrowEvents[len(eventType)%len(narrowEvents)]
		}
		sameParse(t, eventType, payload)
	})
}

// BenchmarkParsePullRequest is the narrow decode of the recorded 28 KB
// pull_request delivery; BenchmarkParsePullRequestGoGitHub the same
// delivery through go-github's types, as before.
func BenchmarkParsePullRequest(b *testing.B) {
	benchParse(b, Parse)
}

func BenchmarkParsePullRequestGoGitHub(b *testing.B) {
	benchParse(b, referenceEvent)
}

func benchParse(b *testing.B, parse func(string, string, []byte) (gatekeeper.Event, error)) {
	payload, err := os.ReadFile("../../test/testdata/fixtures/github/pull_request.opened.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse("pull_request", "d", payload); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNarrowParseEdgeCases: the JSON corners where a one-pass decoder
// could part from encoding/json (and so from go-github): duplicate names,
// names in another case or with Unicode case folding, nulls, invalid
// UTF-8, numbers out of range.
func TestNarrowParseEdgeCases(t *testing.T) {
	t.Parallel()
	const pr = `"pull_request":{"number":2,"head":{"sha":"abc","ref":"staging"},"base":{"ref":"master"},"title":"t"}`
	const repo = `"repository":{"id":1,"name":"r","owner":{"login":"o"}}`
	cases := map[string][2]string{
		"duplicate action":       {"pull_request", `{"action":"closed","action":"opened",` + pr + `,` + repo + `}`},
		"action in upper case":   {"pull_request", `{"ACTION":"opened",` + pr + `,` + repo + `}`},
		"two spellings":          {"pull_request", `{"Action":"opened","action":"closed",` + pr + `,` + repo + `}`},
		"long s folds to s":      {"status", `{"ſha":"abc","context":"c","state":"success",` + repo + `}`},
		"label in upper case":    {"pull_request", `{"action":"labeled","LABEL":{"name":"x"},` + pr + `,` + repo + `}`},
		"null pull request":      {"pull_request", `{"action":"opened","pull_request":null,` + repo + `}`},
		"null title":             {"pull_request", `{"action":"opened","pull_request":{"number":2,"title":null,"head":{"sha":"abc"}},` + repo + `}`},
		"invalid UTF-8 in title": {"pull_request", "{\"action\":\"opened\",\"pull_request\":{\"number\":2,\"title\":\"a\xff\",\"head\":{\"sha\":\"abc\"}}," + repo + "}"},
		"number too large":       {"pull_request", `{"action":"opened","pull_request":{"number":99999999999999999999,"head":{"sha":"abc"}},` + repo + `}`},
		"number as a string":     {"pull_request", `{"action":"opened","pull_request":{"number":"2","head":{"sha":"abc"}},` + repo + `}`},
		"fractional number":      {"pull_request", `{"action":"opened","pull_request":{"number":2.0,"head":{"sha":"abc"}},` + repo + `}`},
		"unix updated_at":        {"status", `{"sha":"abc","context":"c","state":"success","updated_at":1700000000,` + repo + `}`},
		"comment on a pr, null":  {"issue_comment", `{"action":"created","issue":{"number":2,"pull_request":null},"comment":{"id":1},` + repo + `}`},
		"trailing garbage":       {"pull_request", `{"action":"opened",` + pr + `,` + repo + `} x`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { sameParse(t, c[0], []byte(c[1])) })
	}
}
