package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// delivery is one recorded webhook to send.
type delivery struct {
	event string // X-GitHub-Event
	file  string // under testdata/fixtures/github
}

// TestGoldenStatuses sends recorded payloads and compares the statuses the
// fake GitHub received with the golden files.
func TestGoldenStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		deliveries []delivery
	}{
		{"opened", []delivery{{"pull_request", "pull_request.opened.json"}}},
		{"opened-then-closed", []delivery{
			{"pull_request", "pull_request.opened.json"},
			{"pull_request", "pull_request.closed.json"},
		}},
		{"opened-then-failing-check", []delivery{
			{"pull_request", "pull_request.opened.json"},
			{"check_run", "check_run.completed.failure.json"},
		}},
		{"review-and-comment-on-open-pull", []delivery{
			{"pull_request", "pull_request.opened.json"},
			{"pull_request_review", "pull_request_review.submitted.commented.json"},
			{"issue_comment", "issue_comment.created.json"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t)
			s := startServer(t, serverOptions{github: gh})
			for i, d := range tc.deliveries {
				code, body := s.deliver(d.event, fmt.Sprintf("%s-%d", tc.name, i), fixture(t, "github/"+d.file))
				if code != http.StatusAccepted {
					t.Fatalf("%s: %d %s", d.file, code, body)
				}
				// Wait for each evaluation, so that the statuses come
				// in the order a person would see them.
				s.settled("Codertocat", "Hello-World", 2)
			}
			golden(t, tc.name, normalizeHost(gh.Posts(), s.addr))
		})
	}
}

// TestSamplePullInDryRun is the README's first run: no GitHub token, the
// recorded pull request, a pending decision shown but not posted.
func TestSamplePullInDryRun(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	code, body := s.deliver("pull_request", "sample-1", fixture(t, "github/pull_request.opened.json"))
	if code != http.StatusAccepted || !strings.Contains(body, "accepted") {
		t.Fatalf("delivery: %d %s", code, body)
	}
	p := s.settled("Codertocat", "Hello-World", 2)
	if p.Latest.Decision.State != "pending" {
		t.Errorf("state %q, want pending: %+v", p.Latest.Decision.State, p.Latest)
	}
	if p.Evidence.Published == nil || !p.Evidence.Published.DryRun || p.Evidence.Published.State != "pending" {
		t.Errorf("published %+v, want a dry-run pending status", p.Evidence.Published)
	}
	resp, err := http.Get(s.url("/pulls/Codertocat/Hello-World/2"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page bytes.Buffer
	page.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page.String(), p.Latest.Decision.Waiting[0]) {
		t.Errorf("details page %d does not say what is awaited (%q)", resp.StatusCode, p.Latest.Decision.Waiting[0])
	}
}

// TestWebhookRejections checks every way a bad delivery is refused, and
// that a refused delivery leaves no trace.
func TestWebhookRejections(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	s := startServer(t, serverOptions{github: gh})
	opened := fixture(t, "github/pull_request.opened.json")
	post := func(headers map[string]string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, s.url("/webhooks/github"), bytes.NewReader(body))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	base := func(body []byte) map[string]string {
		return map[string]string{
			"Content-Type": "application/json", "X-GitHub-Event": "pull_request",
			"X-GitHub-Delivery": "reject-1", "X-Hub-Signature-256": sign(body),
		}
	}
	tests := []struct {
		name    string
		headers func() map[string]string
		body    []byte
		want    int
	}{
		{"forged signature", func() map[string]string {
			h := base(opened)
			h["X-Hub-Signature-256"] = sign([]byte("something else"))
			return h
		}, opened, http.StatusUnauthorized},
		{"no signature", func() map[string]string {
			h := base(opened)
			delete(h, "X-Hub-Signature-256")
			return h
		}, opened, http.StatusUnauthorized},
		{"sha1 signature only", func() map[string]string {
			h := base(opened)
			delete(h, "X-Hub-Signature-256")
			h["X-Hub-Signature"] = "sha1=0000000000000000000000000000000000000000"
			return h
		}, opened, http.StatusUnauthorized},
		{"malformed json", func() map[string]string { return base([]byte(`{"action":`)) }, []byte(`{"action":`), http.StatusBadRequest},
		{"over 25 MiB", func() map[string]string {
			return base(nil) // the size is refused before the signature is checked
		}, bytes.Repeat([]byte(" "), 25<<20+1), http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.headers(), tc.body); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
	if _, ok := s.getPull("Codertocat", "Hello-World", 2); ok {
		t.Error("a refused delivery created evidence")
	}

	if code, _ := s.deliver("ping", "ping-1", fixture(t, "github/ping.json")); code != http.StatusOK {
		t.Errorf("ping: %d, want 200", code)
	}
	if code, body := s.deliver("issue_comment", "plain-issue", fixture(t, "github/issue_comment.created.on-issue.json")); code != http.StatusAccepted || !strings.Contains(body, "ignored") {
		t.Errorf("comment on a plain issue: %d %s, want 202 ignored", code, body)
	}
	if code, body := s.deliver("pull_request", "other-branch", fixture(t, "github/pull_request.closed.merged.json")); code != http.StatusAccepted || !strings.Contains(body, "ignored") {
		t.Errorf("ungated pull request: %d %s, want 202 ignored", code, body)
	}

	// The same delivery twice is applied once.
	if code, body := s.deliver("pull_request", "dup-1", opened); code != http.StatusAccepted || !strings.Contains(body, "accepted") {
		t.Fatalf("first delivery: %d %s", code, body)
	}
	if code, body := s.deliver("pull_request", "dup-1", opened); code != http.StatusAccepted || !strings.Contains(body, "duplicate") {
		t.Fatalf("redelivery: %d %s", code, body)
	}
	p := s.settled("Codertocat", "Hello-World", 2)
	n := 0
	for _, e := range p.Evidence.Log {
		if e.Delivery == "dup-1" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("delivery dup-1 applied %d times, want 1", n)
	}
}

// TestFormEncodedDelivery: a hook configured with content type
// application/x-www-form-urlencoded signs the whole form body.
func TestFormEncodedDelivery(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	form := []byte("payload=" + url.QueryEscape(string(fixture(t, "github/pull_request.opened.json"))))
	req, _ := http.NewRequest(http.MethodPost, s.url("/webhooks/github"), bytes.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-GitHub-Delivery", "form-1")
	req.Header.Set("X-Hub-Signature-256", sign(form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("form-encoded delivery: %d", resp.StatusCode)
	}
	if p := s.settled("Codertocat", "Hello-World", 2); p.Latest.Decision.State != "pending" {
		t.Errorf("state %q, want pending", p.Latest.Decision.State)
	}
}

// TestCrashAfterAcknowledge kills the server hard right after it answered
// 202 to a burst of deliveries, while their statuses are still on the way
// to GitHub, restarts it on the same store, and checks that every
// acknowledged delivery is evaluated and its status posted.
func TestCrashAfterAcknowledge(t *testing.T) {
	t.Parallel()
	crashAfterAcknowledge(t, serverOptions{store: filepath.Join(t.TempDir(), "crash.db"), addr: freeAddr(t)}, "crash", 100, nil)
}

// crashAfterAcknowledge runs the crash test on the server opts start
// (their github is the test's): a burst of twenty deliveries (delivery ids
// prefix-1…, pull requests first+1…) is answered 202 while the statuses
// hang, the gatekeeper gets SIGKILL (and crash, when given, kills its store
// and starts it again), the gatekeeper starts again, and every acknowledged
// delivery is evaluated once and its status posted; a redelivery is still a
// duplicate.
func crashAfterAcknowledge(t *testing.T, opts serverOptions, prefix string, first int, crash func()) {
	t.Helper()
	const pulls = 20
	gh := newFakeGitHub(t)
	gh.block = make(chan struct{}) // statuses hang until the restart
	opts.github = gh
	s := startServer(t, opts)

	var opened map[string]any
	if err := json.Unmarshal(fixture(t, "github/pull_request.opened.json"), &opened); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= pulls; i++ {
		// The recorded payload, renumbered: twenty pull requests, each
		// on a head of its own (pull requests sharing a head share one
		// status), described later than GitHub's lagging copy that the
		// fake answers with.
		opened["number"] = first + i
		pr := opened["pull_request"].(map[string]any)
		pr["number"] = first + i
		pr["head"].(map[string]any)["sha"] = fmt.Sprintf("%040x", 0xc0ffee0000+first*100+i)
		pr["updated_at"] = "2030-01-01T00:00:00Z"
		body, _ := json.Marshal(opened)
		if code, resp := s.deliver("pull_request", fmt.Sprintf("%s-%d", prefix, i), body); code != http.StatusAccepted {
			t.Fatalf("delivery %d: %d %s", i, code, resp)
		}
	}
	s.stop(syscall.SIGKILL)
	if crash != nil {
		crash()
	}

	gh.mu.Lock()
	close(gh.block)
	gh.block = nil
	gh.mu.Unlock()
	s.start()
	eventually(t, "a status for every acknowledged pull request", func() bool {
		seen := map[string]bool{}
		for _, p := range gh.Posts() {
			seen[p.Body["target_url"].(string)] = true
		}
		return len(seen) == pulls
	})
	for i := 1; i <= pulls; i++ {
		p := s.settled("Codertocat", "Hello-World", first+i)
		n := 0
		for _, e := range p.Evidence.Log {
			if e.Delivery == fmt.Sprintf("%s-%d", prefix, i) {
				n++
			}
		}
		if n != 1 || p.Latest.Decision.State != "pending" {
			t.Errorf("#%d: delivery applied %d times (want 1), state %q (want pending)", first+i, n, p.Latest.Decision.State)
		}
	}
	// A redelivery of an acknowledged delivery is still a duplicate.
	body, _ := json.Marshal(opened)
	if code, resp := s.deliver("pull_request", fmt.Sprintf("%s-%d", prefix, pulls), body); code != http.StatusAccepted || !strings.Contains(resp, "duplicate") {
		t.Errorf("redelivery after the crash: %d %s, want 202 duplicate", code, resp)
	}
}

// TestStatusRetriedAfterGitHubErrors: GitHub answers 502 a few times; the
// status is posted in the end, never dropped.
func TestStatusRetriedAfterGitHubErrors(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	gh.failures = 3
	s := startServer(t, serverOptions{github: gh})
	if code, body := s.deliver("pull_request", "retry-1", fixture(t, "github/pull_request.opened.json")); code != http.StatusAccepted {
		t.Fatalf("%d %s", code, body)
	}
	eventually(t, "the status after GitHub recovers", func() bool { return len(gh.Posts()) == 1 })
	if st := gh.Posts()[0].Body["state"]; st != "pending" {
		t.Errorf("state %v, want pending", st)
	}
}

// TestBrokenPolicyGivesError: a policy edit that does not compile turns the
// status to error (never success), and fixing it recovers.
func TestBrokenPolicyGivesError(t *testing.T) {
	t.Parallel()
	dir := policyCopy(t)
	gh := newFakeGitHub(t)
	s := startServer(t, serverOptions{github: gh, policies: dir})
	s.deliver("pull_request", "policy-1", fixture(t, "github/pull_request.opened.json"))
	if p := s.settled("Codertocat", "Hello-World", 2); p.Latest.Decision.State != "pending" {
		t.Fatalf("state %q before the edit", p.Latest.Decision.State)
	}

	broken := filepath.Join(dir, "zz_broken.rego")
	if err := os.WriteFile(broken, []byte("package gatekeeper\n\ndecision := {\"state\": \"success\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// No new webhook: the policy change alone re-evaluates the pull request.
	eventually(t, "an error status", func() bool {
		posts := gh.Posts()
		return len(posts) > 0 && posts[len(posts)-1].Body["state"] == "error"
	})
	// The status says where the policy is wrong, whole, and "error" once.
	posts := gh.Posts()
	desc, _ := posts[len(posts)-1].Body["description"].(string)
	if want := "policy error: zz_broken.rego:4: unexpected eof token"; !strings.HasPrefix(desc, want) ||
		strings.Count(strings.ToLower(desc), "error:") != 1 || len([]rune(desc)) > 140 || strings.Contains(desc, dir) {
		t.Errorf("description %q, want it to start %q, within 140 characters", desc, want)
	}
	// Still ready: webhooks must keep being recorded while the policy is
	// broken, since GitHub does not redeliver what a pod out of service lost.
	// The detail names the refused revision; so does the gauge.
	resp, err := http.Get(s.url("/readyz"))
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Policy struct {
			Revision       string `json:"revision"`
			BrokenRevision string `json:"broken_revision"`
			Error          string `json:"error"`
		} `json:"policy"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("readyz %d (%v) while the last good policy runs, want 200", resp.StatusCode, err)
	}
	if p := ready.Policy; p.Revision == "" || p.BrokenRevision == "" || p.BrokenRevision == p.Revision || !strings.HasPrefix(p.Error, "zz_broken.rego:4:") {
		t.Errorf("readyz policy detail %+v, want the good and the refused revision", p)
	}
	resp, err = http.Get(s.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	gauge := fmt.Sprintf(`gatekeeper_policy_ok{broken_revision=%q,revision=%q} 0`, ready.Policy.BrokenRevision, ready.Policy.Revision)
	if !strings.Contains(string(metrics), gauge) {
		t.Errorf("metrics lack %s", gauge)
	}
	// The reload log names the old and the new revision.
	if logs := s.Logs(); !strings.Contains(logs, `"from":"`+ready.Policy.Revision+`","to":"`+ready.Policy.BrokenRevision+`"`) {
		t.Errorf("no log of the refused reload from %s to %s", ready.Policy.Revision, ready.Policy.BrokenRevision)
	}

	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pending again once the policy is fixed", func() bool {
		posts := gh.Posts()
		return posts[len(posts)-1].Body["state"] == "pending"
	})
	for _, p := range gh.Posts() {
		if p.Body["state"] == "success" {
			t.Errorf("a success status was posted: %v", p.Body)
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSlowPolicyIsAnErrorNotAStall: a policy that burns CPU on every real
// pull request's input (but not on the empty input of the load check) is
// cut off at its evaluation deadline: the status says error naming the
// timeout, promptly, and the gatekeeper goes on serving.
func TestSlowPolicyIsAnErrorNotAStall(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	policy := `package gatekeeper

burn := count([1 | some i in numbers.range(1, 1000); some j in numbers.range(1, 1000); some k in numbers.range(1, 1000)])

decision := {"state": "pending", "reasons": [], "waiting": ["a pull request"], "channel": null} if not input.pull_request

decision := {"state": "failure", "reasons": [sprintf("%d", [burn])], "waiting": [], "channel": null} if input.pull_request
`
	if err := os.WriteFile(filepath.Join(dir, "decision.rego"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	gh := newFakeGitHub(t)
	s := startServer(t, serverOptions{github: gh, policies: dir, extra: []string{"GATEKEEPER_EVAL_TIMEOUT=300ms"}})
	start := time.Now()
	s.deliver("pull_request", "slow-1", fixture(t, "github/pull_request.opened.json"))
	eventually(t, "an error status", func() bool {
		posts := gh.Posts()
		return len(posts) > 0 && posts[len(posts)-1].Body["state"] == "error"
	})
	took := time.Since(start)
	posts := gh.Posts()
	if desc := posts[len(posts)-1].Body["description"]; desc != "policy error: evaluation took longer than 300ms" {
		t.Errorf("description %q, want the timeout named", desc)
	}
	if took > 10*time.Second {
		t.Errorf("the error status came %s after the webhook", took)
	}
	t.Logf("error status %s after the webhook", took)
}
