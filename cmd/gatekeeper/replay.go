package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
	"github.com/releasegate/gatekeeper/webhooks"
)

const replayUsage = `usage: gatekeeper replay DECISION_ID [--policies DIR] [--server URL] [--json]

Fetches a stored decision (its id is in GET /api/v1/decisions) with its
policy input and the policy revision that made it from a running
gatekeeper, and evaluates the input again here: under that revision (the
result must be the same), or under the policy folder DIR. Nothing is
posted. The CLI sends GITHUB_TOKEN as Bearer.
Exit 0 the same result as recorded, 1 a different one, 2 error.

flags:
`

// replayResult is what replay prints with --json.
type replayResult struct {
	ID          string              `json:"id"`
	Key         gatekeeper.PullKey  `json:"key"`
	HeadSHA     string              `json:"head_sha"`
	EvaluatedAt time.Time           `json:"evaluated_at"`
	Recorded    gatekeeper.Decision `json:"recorded"`
	// Under is "recorded revision" or the folder replayed under.
	Under    string              `json:"under"`
	Replayed gatekeeper.Decision `json:"replayed"`
	Same     bool                `json:"same"`
	Error    string              `json:"error,omitempty"`
}

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	dir := fs.String("policies", "", "evaluate under this policy folder instead of the recorded revision")
	server := fs.String("server", defaultServer, "the gatekeeper to ask")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	id, rest := "", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, rest = args[0], args[1:]
	}
	help, err := parseArgs(fs, rest, stderr)
	switch {
	case help || (id == "help" && len(rest) == 0):
		fmt.Fprint(stdout, replayUsage)
		printDefaults(stdout, fs)
		return 0
	case err != nil:
		fmt.Fprint(stderr, replayUsage)
		printDefaults(stderr, fs)
		return 2
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatekeeper replay: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	if id == "" {
		fmt.Fprintf(stderr, "gatekeeper replay: DECISION_ID is required\n%s", replayUsage)
		return 2
	}
	key, err := gatekeeper.ParseDecisionID(id)
	if err != nil {
		fmt.Fprintf(stderr, "gatekeeper replay: %q is not a decision id: owner/repo/number/stamp, as GET /api/v1/decisions lists them\n", id)
		return 2
	}
	client, err := newAPIClient(*server, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "gatekeeper replay: %v\n", err)
		return 2
	}
	stamp := id[strings.LastIndex(id, "/")+1:]
	var stored webhooks.StoredDecision
	path := fmt.Sprintf("/api/v1/decisions/%s/%s/%d/%s", url.PathEscape(key.Owner), url.PathEscape(key.Repo), key.Number, url.PathEscape(stamp))
	if err := client.do(ctx, "GET", path, nil, &stored); err != nil {
		fmt.Fprintf(stderr, "gatekeeper replay: %v\n", err)
		return 2
	}
	res, err := replay(ctx, id, stored, *dir)
	if err != nil {
		res.Error = err.Error()
	}
	code := 2
	switch {
	case err != nil:
	case res.Same:
		code = 0
	default:
		code = 1
	}
	if *asJSON {
		if err := writeJSON(stdout, res); err != nil {
			return 2
		}
		return code
	}
	if err != nil {
		fmt.Fprintf(stderr, "gatekeeper replay: %v\n", err)
		return code
	}
	fmt.Fprintf(stdout, "decision %s\n  %s at %s, head %s\n", res.ID, res.Key, res.EvaluatedAt.UTC().Format(time.RFC3339), short(res.HeadSHA))
	fmt.Fprintf(stdout, "  recorded  (revision %s): %s\n", res.Recorded.PolicyRevision, verdict(res.Recorded))
	fmt.Fprintf(stdout, "  replayed  (%s, revision %s): %s\n", res.Under, res.Replayed.PolicyRevision, verdict(res.Replayed))
	if res.Same {
		fmt.Fprintln(stdout, "same result")
	} else {
		fmt.Fprintln(stdout, "DIFFERENT result")
		// What passes is not in the one-line verdicts: say how it differs.
		for _, line := range passesDiff(res.Recorded.Passes, res.Replayed.Passes) {
			fmt.Fprintf(stdout, "  %s\n", line)
		}
	}
	return code
}

// passesDiff lists what passes on one side only: "- passes only as
// recorded: …", "+ passes only as replayed: …", in each side's order.
func passesDiff(recorded, replayed []string) []string {
	var out []string
	only := func(prefix string, a, b []string) {
		for _, p := range a {
			if !slices.Contains(b, p) {
				out = append(out, prefix+p)
			}
		}
	}
	only("- passes only as recorded: ", recorded, replayed)
	only("+ passes only as replayed: ", replayed, recorded)
	return out
}

// replay evaluates the stored decision's input again: under the files of
// its own revision, or under the folder dir.
func replay(ctx context.Context, id string, stored webhooks.StoredDecision, dir string) (replayResult, error) {
	rec := stored.Decision
	res := replayResult{ID: id, Key: rec.Key, HeadSHA: rec.HeadSHA, EvaluatedAt: rec.EvaluatedAt, Recorded: rec.PolicyDecision()}
	if res.Recorded.State == gatekeeper.Error && rec.Decision.LastGood != nil {
		// The revision was broken; the last good one decided for the record.
		res.Recorded = *rec.Decision.LastGood
	}
	if rec.Input == nil {
		return res, fmt.Errorf("decision %s was stored without its policy input", id)
	}
	if rec.Input.Version != gatekeeper.InputVersion {
		return res, fmt.Errorf("decision %s has input version %d, this gatekeeper reads version %d", id, rec.Input.Version, gatekeeper.InputVersion)
	}
	var engine *opa.Engine
	var err error
	if dir != "" {
		res.Under = dir
		engine, err = opa.Load(ctx, dir)
	} else {
		res.Under = "recorded revision"
		if len(stored.Policy.Files) == 0 {
			return res, fmt.Errorf("the server does not have policy revision %s (decided before revisions were kept); replay it under a folder with --policies", rec.Decision.PolicyRevision)
		}
		// The files came over the network: they run fenced, as a preview's
		// candidate does on the server (no http.send, DNS or runtime).
		engine, _, err = opa.LoadFiles(ctx, stored.Policy.Files, opa.FilesOptions{Revision: stored.Policy.Revision, Untrusted: true})
		if err == nil && engine.Revision() != res.Recorded.PolicyRevision {
			err = fmt.Errorf("the server gave revision %s for a decision made under %s", engine.Revision(), res.Recorded.PolicyRevision)
		}
	}
	if err != nil {
		return res, err
	}
	res.Replayed, err = engine.Evaluate(ctx, rec.Input)
	if err != nil {
		return res, err
	}
	recorded, replayed := res.Recorded, res.Replayed
	if rec.Decision.State == gatekeeper.Error {
		recorded.Votes, replayed.Votes = nil, nil // the last good answer is kept without them
	}
	res.Same = gatekeeper.SameVerdict(recorded, replayed)
	return res, nil
}

// verdict is a decision in one line.
func verdict(d gatekeeper.Decision) string {
	s := string(d.State)
	if d.Channel != "" {
		s += " (channel " + d.Channel + ")"
	}
	if len(d.Reasons) > 0 {
		s += "; failing: " + strings.Join(d.Reasons, "; ")
	}
	if len(d.Waiting) > 0 {
		s += "; waiting for: " + strings.Join(d.Waiting, "; ")
	}
	return s
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
