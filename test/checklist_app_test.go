package test

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestGitHubAppChecklist runs the real binary as a GitHub App: the pull
// request gets the "release-gate checklist" check run beside its status
// (created once, with the checklist of what fails, is awaited and passes,
// as the shipped policy decided and the store kept it, in its summary, and
// a Re-evaluate button), and that button (check_run.requested_action on the App's own
// run) queues the pull request for evaluation without the run becoming a
// check of the policy.
func TestGitHubAppChecklist(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	var mu sync.Mutex
	var writes []map[string]any
	s, _ := startAppServer(t, func(pub *rsa.PublicKey) *appFront {
		f := newAppFront(t, gh, pub)
		f.checkRuns = func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				writeJSONStatus(w, http.StatusBadRequest, []byte(`{"message":"Problems parsing JSON"}`))
				return
			}
			m["_request"] = r.Method + " " + r.URL.Path
			mu.Lock()
			writes = append(writes, m)
			mu.Unlock()
			writeJSONStatus(w, http.StatusCreated, []byte(`{"id":55,"name":"release-gate checklist","app":{"id":4242,"slug":"release-gate"}}`))
		}
		return f
	})
	opened := fixture(t, "github/pull_request.opened.json")
	if code, body := s.deliver("pull_request", "cl-1", opened); code != http.StatusAccepted {
		t.Fatalf("delivery: %d %s", code, body)
	}
	p := s.settled("Codertocat", "Hello-World", 2)
	mu.Lock()
	got := append([]map[string]any(nil), writes...)
	mu.Unlock()
	if len(got) != 1 || got[0]["_request"] != "POST /api/v3/repos/Codertocat/Hello-World/check-runs" || got[0]["name"] != "release-gate checklist" {
		t.Fatalf("check run writes %v, want one POST of the checklist", got)
	}
	summary, _ := got[0]["output"].(map[string]any)["summary"].(string)
	for _, w := range p.Latest.Decision.Waiting {
		if !strings.Contains(summary, w) {
			t.Errorf("summary lacks what is awaited, %q:\n%s", w, summary)
		}
	}
	if len(p.Latest.Decision.Waiting) == 0 || !strings.Contains(summary, "Awaited") {
		t.Errorf("decision %+v, summary:\n%s", p.Latest.Decision, summary)
	}
	// What passes: the shipped policy names it, the stored decision keeps
	// it, and the summary lists every item after what is awaited.
	passes := p.Latest.Decision.Passes
	if !slices.Contains(passes, "pull request open, not a draft, changes into master gated") {
		t.Errorf("stored decision's passes %q lack the pull request's own", passes)
	}
	awaited := strings.Index(summary, fmt.Sprintf("### Awaited (%d)\n\n", len(p.Latest.Decision.Waiting)))
	listed := strings.Index(summary, fmt.Sprintf("### Passes (%d)\n\n", len(passes)))
	if awaited < 0 || listed < awaited {
		t.Errorf("summary does not list %d awaited, then %d passing:\n%s", len(p.Latest.Decision.Waiting), len(passes), summary)
	}
	for _, it := range passes {
		if !strings.Contains(summary, "\n- :white_check_mark: "+it+"\n") {
			t.Errorf("summary lacks what passes, %q:\n%s", it, summary)
		}
	}
	for _, w := range p.Latest.Decision.Waiting {
		if slices.Contains(passes, w) {
			t.Errorf("%q is both awaited and passing", w)
		}
	}

	// The Re-evaluate button on the App's own run.
	var pr struct {
		PullRequest struct {
			Head struct {
				SHA string `json:"sha"`
			} `json:"head"`
		} `json:"pull_request"`
		Repository json.RawMessage `json:"repository"`
	}
	if err := json.Unmarshal(opened, &pr); err != nil {
		t.Fatal(err)
	}
	var ra map[string]any
	if err := json.Unmarshal(fixture(t, "github/public/octokit-webhooks/check_run/requested_action.payload.json"), &ra); err != nil {
		t.Fatal(err)
	}
	cr := ra["check_run"].(map[string]any)
	cr["name"], cr["head_sha"] = "release-gate checklist", pr.PullRequest.Head.SHA
	cr["app"].(map[string]any)["slug"], cr["app"].(map[string]any)["id"] = "release-gate", 4242
	ra["requested_action"] = map[string]any{"identifier": "reevaluate"}
	ra["repository"] = pr.Repository
	delete(ra, "organization")
	payload, err := json.Marshal(ra)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := s.deliver("check_run", "cl-2", payload); code != http.StatusAccepted {
		t.Fatalf("requested_action delivery: %d %s", code, body)
	}
	eventually(t, "the Re-evaluate request in the evidence and evaluated", func() bool {
		p, ok := s.getPull("Codertocat", "Hello-World", 2)
		// The evaluation after it: an unchanged decision is logged, not kept.
		if !ok || p.Queued || strings.Count(s.Logs(), `"msg":"evaluated"`) < 2 {
			return false
		}
		for _, l := range p.Evidence.Log {
			if l.Delivery == "cl-2" && l.Event == "check_run.requested_action" {
				return true
			}
		}
		return false
	})
	p = s.settled("Codertocat", "Hello-World", 2)
	if p.Latest.Decision.State != "pending" || strings.Contains(strings.Join(append(p.Latest.Decision.Reasons, p.Latest.Decision.Waiting...), " "), "release-gate checklist") {
		t.Errorf("after Re-evaluate: %+v; the App's own run must not count", p.Latest.Decision)
	}
	mu.Lock()
	n := len(writes)
	mu.Unlock()
	if n != 1 {
		t.Errorf("%d check run writes after an unchanged decision, want 1", n)
	}
}
