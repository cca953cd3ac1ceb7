package test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
	"github.com/releasegate/gatekeeper/webhooks"
)

// holdRule is a policy change: a release pull request labelled "hold"
// fails. Beside the policy in force it flips the pull requests so
// labelled, and no other.
const holdRule = `package gatekeeper

reason_items contains [50, "the release is on hold (label hold)"] if {
	"hold" in input.pull_request.labels
}
`

// openedWith is pull_request.opened.json renumbered to n with labels.
func openedWith(t *testing.T, n int, labels ...string) ([]byte, map[string]any) {
	t.Helper()
	m := recorded(t, "pull_request.opened.json")
	m["number"] = n
	pr := object(m, "pull_request")
	pr["number"], pr["body"] = n, releaseBody
	ls := []any{}
	for _, l := range labels {
		ls = append(ls, map[string]any{"name": l, "color": "ededed", "default": false})
	}
	pr["labels"] = ls
	return mustJSON(t, m), clone(t, pr)
}

// cli runs the gatekeeper binary and returns its exit code and output.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// TestPreviewAndReplay: five open release pull requests, two of them
// labelled hold. Previewing the hold rule with the real binary against the
// running server flips exactly those two and posts nothing; a candidate
// whose own tests fail is shown failing (exit 2). Every stored decision is
// listed with its id; replaying one under its own revision gives the same
// result (exit 0), and under the candidate folder a different one (exit 1).
func TestPreviewAndReplay(t *testing.T) {
	t.Parallel()
	previewAndReplay(t, newRig(t, rigOptions{}))
}

// TestPreviewAndReplayRedis is TestPreviewAndReplay on the Redis store.
func TestPreviewAndReplayRedis(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	previewAndReplay(t, newRig(t, rigOptions{extra: []string{"GATEKEEPER_STORE=" + rds.URL(5)}}))
}

func previewAndReplay(t *testing.T, r *rig) {
	server := "--server=http://" + r.s.addr
	held := map[int]bool{3: true, 5: true}
	for n := 2; n <= 6; n++ {
		var labels []string
		if held[n] {
			labels = []string{"hold"}
		}
		payload, pr := openedWith(t, n, labels...)
		r.gh.setPull(pr)
		r.github("pull_request", payload)
	}
	inForce := map[int]string{}
	for n := 2; n <= 6; n++ {
		inForce[n] = r.settle(n).Latest.Decision.State
	}
	posts := len(r.gh.Statuses())

	candidate := t.TempDir()
	copyDir(t, r.policies, candidate)
	if err := os.WriteFile(filepath.Join(candidate, "hold.rego"), []byte(holdRule), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, "preview", "--policies", candidate, server, "--json")
	if code != 1 {
		t.Fatalf("preview exit %d, want 1 (something flips)\nstdout %s\nstderr %s", code, out, errOut)
	}
	var res webhooks.PreviewResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("preview --json: %v\n%s", err, out)
	}
	if len(res.Rows) != 5 || res.Flips != 2 || res.Tests.Failed != 0 || res.Tests.Passed == 0 {
		t.Fatalf("preview: %d rows, %d flips, tests %+v; want 5 rows, 2 flips, the candidate's tests passing", len(res.Rows), res.Flips, res.Tests)
	}
	for _, row := range res.Rows {
		n := row.Key.Number
		if string(row.InForce.State) != inForce[n] {
			t.Errorf("#%d in force %s in the preview, %s as decided", n, row.InForce.State, inForce[n])
		}
		if row.Flips != held[n] {
			t.Errorf("#%d flips %v, want %v (%s → %s)", n, row.Flips, held[n], row.InForce.State, row.Candidate.State)
		}
		if held[n] && (row.Candidate.State != "failure" || !strings.Contains(strings.Join(row.Candidate.Reasons, ";"), "on hold")) {
			t.Errorf("#%d under the candidate: %+v, want failure naming the hold", n, row.Candidate)
		}
	}
	code, text, _ := cli(t, "preview", "--policies", candidate, server)
	if code != 1 || !strings.Contains(text, "5 open release pull requests, 2 flip") || !strings.Contains(text, "the release is on hold") {
		t.Errorf("preview text (exit %d):\n%s", code, text)
	}
	if got := len(r.gh.Statuses()); got != posts {
		t.Errorf("the preview posted %d statuses", got-posts)
	}

	// Nothing flips under the policy in force itself.
	if code, out, errOut := cli(t, "preview", "--policies", r.policies, server); code != 0 {
		t.Errorf("preview of the policy in force: exit %d, want 0\n%s%s", code, out, errOut)
	}
	// A candidate whose own test fails: shown, exit 2.
	broken := t.TempDir()
	copyDir(t, candidate, broken)
	failing := "package gatekeeper_test\n\nimport data.gatekeeper\n\ntest_release_is_never_on_hold if {\n\tcount(gatekeeper.reasons) == 0 with input as {\"pull_request\": {\"labels\": [\"hold\"]}}\n}\n"
	if err := os.WriteFile(filepath.Join(broken, "hold_test.rego"), []byte(failing), 0o644); err != nil {
		t.Fatal(err)
	}
	code, text, _ = cli(t, "preview", "--policies", broken, server)
	if code != 2 || !strings.Contains(text, "test_release_is_never_on_hold") || !strings.Contains(text, "1 failed") {
		t.Errorf("preview of a candidate failing its test: exit %d, want 2 and the failing test shown:\n%s", code, text)
	}

	// The decisions, each with its id.
	resp, err := http.Get(r.s.url("/api/v1/decisions?repo=Codertocat/Hello-World"))
	if err != nil {
		t.Fatal(err)
	}
	var list webhooks.DecisionList
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/decisions: %d %v", resp.StatusCode, err)
	}
	ids := map[int]string{}
	for _, d := range list.Decisions {
		if d.ID == "" || d.Input != nil {
			t.Errorf("listed decision %+v: want an id and no input", d)
		}
		if _, seen := ids[d.Key.Number]; !seen {
			ids[d.Key.Number] = d.ID // newest first
		}
	}
	if len(ids) != 5 {
		t.Fatalf("decisions of %d pull requests listed, want 5: %+v", len(ids), list)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if resp, err := http.Get(r.s.url("/api/v1/decisions?since=" + future)); err != nil {
		t.Fatal(err)
	} else {
		var later webhooks.DecisionList
		json.NewDecoder(resp.Body).Decode(&later)
		resp.Body.Close()
		if len(later.Decisions) != 0 {
			t.Errorf("decisions since an hour from now: %d, want none", len(later.Decisions))
		}
	}

	// Replay: the same under its own revision, different under the candidate.
	for _, n := range []int{2, 3} {
		code, out, errOut := cli(t, "replay", ids[n], server)
		if code != 0 || !strings.Contains(out, "same result") {
			t.Errorf("replay of #%d's decision: exit %d, want 0 and the same result\n%s%s", n, code, out, errOut)
		}
	}
	code, out, errOut = cli(t, "replay", ids[3], "--policies", candidate, server, "--json")
	var rep struct {
		Same     bool `json:"same"`
		Replayed struct {
			State string `json:"state"`
		} `json:"replayed"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.Same || rep.Replayed.State != "failure" {
		t.Errorf("replay of #3 under the candidate: exit %d, %+v (%v), want 1 and a failure\n%s%s", code, rep, err, out, errOut)
	}
	if code, _, _ := cli(t, "replay", ids[2], "--policies", candidate, server); code != 0 {
		t.Errorf("replay of #2 (not held) under the candidate: exit %d, want 0", code)
	}
	// What passes is part of the result: a candidate that only names one
	// more pass replays differently (and says what), though nothing flips.
	praise := t.TempDir()
	copyDir(t, r.policies, praise)
	extra := "package gatekeeper\n\npass_items contains [0, \"release desk says hello\"]\n"
	if err := os.WriteFile(filepath.Join(praise, "praise.rego"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	// passes_test.rego pins the exact lists, which the extra pass changes:
	// the preview would (rightly) refuse the candidate for its failing tests.
	if err := os.Remove(filepath.Join(praise, "passes_test.rego")); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli(t, "replay", ids[2], "--policies", praise, server); code != 1 || !strings.Contains(out, "+ passes only as replayed: release desk says hello") {
		t.Errorf("replay of #2 under a candidate with one more pass: exit %d, want 1 naming the pass\n%s%s", code, out, errOut)
	}
	if code, out, errOut := cli(t, "preview", "--policies", praise, server); code != 0 {
		t.Errorf("preview of a candidate that only adds a pass: exit %d, want 0 (nothing flips)\n%s%s", code, out, errOut)
	}
	if code, _, errOut := cli(t, "replay", "Codertocat/Hello-World/2/1-deadbeef", server); code != 2 || !strings.Contains(errOut, "404") {
		t.Errorf("replay of an unknown decision: exit %d, want 2 naming the 404: %s", code, errOut)
	}
}
