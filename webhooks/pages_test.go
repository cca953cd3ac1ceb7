package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
	"github.com/releasegate/gatekeeper/webhooks"
)

// evaluated delivers the opened fixture with its title replaced by markup,
// runs the Service until it has published a status, and returns the
// harness: the pull request then has evidence, a decision and a status.
func evaluated(t *testing.T, decision gatekeeper.Decision, dryRun bool) *harness {
	t.Helper()
	h := buildHarness(t, dryRun, openPages)
	h.eval.Decide(decision, nil)
	e, err := githubevents.Parse("pull_request", "delivery-1", readFixture(t, "pull_request.opened.json"))
	if err != nil {
		t.Fatal(err)
	}
	e.PullRequest.Title = `<script>alert("x")</script> & release`
	if out, err := h.svc.Accept(context.Background(), e); err != nil || out != gatekeeper.Accepted {
		t.Fatalf("Accept = %v, %v", out, err)
	}
	h.runService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.posted(ctx, t, e.Key)
	return h
}

// posted waits until a status about key was posted and recorded: the page
// shows it from then on (it is recorded just after the post).
func (h *harness) posted(ctx context.Context, t *testing.T, key gatekeeper.PullKey) {
	t.Helper()
	if _, err := h.pub.Wait(ctx, 1); err != nil {
		t.Fatalf("no status was published: %v", err)
	}
	for {
		ev, err := h.store.Evidence(ctx, key)
		if err == nil && ev.Published != nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the status posted was never recorded: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestPullPage(t *testing.T) {
	t.Parallel()
	decision := gatekeeper.Decision{
		State:   gatekeeper.Failure,
		Reasons: []string{"coverage 71.2% < 80% threshold", "vulnerability scan: 2 critical findings"},
		Waiting: []string{"approval from QA", "pipeline stage deploy-preprod"},
		Passes:  []string{"build stage clone passed on build #57", "approved by SRE <b>@sre-dan</b> on the head"},
	}
	tests := []struct {
		name    string
		dryRun  bool
		want    []string
		notWant []string
	}{
		{
			name: "failing decision",
			want: []string{
				"Blocked", `class="banner state-failure"`,
				"What fails", "coverage 71.2% &lt; 80% threshold", "vulnerability scan: 2 critical findings",
				"What we are waiting for", "approval from QA", "pipeline stage deploy-preprod",
				"What passes", "build stage clone passed on build #57", "approved by SRE &lt;b&gt;@sre-dan&lt;/b&gt; on the head",
				"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; release",
				helloHead, "rev-1", "Decision history", "Evidence log", "pull_request.opened", "delivery-1",
				"Failing: coverage 71.2% &lt; 80% threshold",
			},
			notWant: []string{`<script>alert`, "<b>@sre-dan", "dry run: not posted"},
		},
		{
			name:   "dry run",
			dryRun: true,
			want:   []string{"dry run: not posted"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := evaluated(t, decision, tt.dryRun)
			w := h.get(t, "/pulls/Codertocat/Hello-World/2")
			if w.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			page := w.Body.String()
			for _, s := range tt.want {
				if !strings.Contains(page, s) {
					t.Errorf("page does not contain %q", s)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(page, s) {
					t.Errorf("page contains %q", s)
				}
			}
			if t.Failed() {
				t.Logf("page:\n%s", page)
			}
		})
	}
}

func TestPullPageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		path     string
		wantCode int
		want     string
	}{
		{name: "never seen", path: "/pulls/Codertocat/Hello-World/99", wantCode: http.StatusNotFound, want: "has not seen Codertocat/Hello-World#99"},
		{name: "not a number", path: "/pulls/Codertocat/Hello-World/abc", wantCode: http.StatusBadRequest, want: "not a positive integer"},
		{name: "zero", path: "/pulls/Codertocat/Hello-World/0", wantCode: http.StatusBadRequest, want: "not a positive integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, openPages)
			w := h.get(t, tt.path)
			if w.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("page does not say %q:\n%s", tt.want, w.Body)
			}
		})
	}
}

func TestPullAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, openPages)
	if w := h.deliver(t, "pull_request", "delivery-1", readFixture(t, "pull_request.opened.json")); w.Code != http.StatusAccepted {
		t.Fatalf("delivering: status %d; body %s", w.Code, w.Body)
	}
	tests := []struct {
		name     string
		path     string
		wantCode int
	}{
		{name: "known", path: "/api/v1/pulls/Codertocat/Hello-World/2", wantCode: http.StatusOK},
		{name: "unknown", path: "/api/v1/pulls/Codertocat/Hello-World/3", wantCode: http.StatusNotFound},
		{name: "bad number", path: "/api/v1/pulls/Codertocat/Hello-World/two", wantCode: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := h.get(t, tt.path)
			if w.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			if tt.wantCode != http.StatusOK {
				if decode(t, w)["error"] == nil {
					t.Errorf("error body names no error: %s", w.Body)
				}
				return
			}
			var got gatekeeper.PullView
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("decoding PullView: %v", err)
			}
			want, err := h.svc.Pull(context.Background(), helloKey, 20)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, &got); diff != "" {
				t.Errorf("PullView mismatch (-want +got):\n%s", diff)
			}
			if got.Evidence == nil || got.Evidence.PR == nil || got.Evidence.PR.HeadSHA != helloHead || !got.Queued {
				t.Errorf("PullView = %+v, want the opened pull request, queued", got)
			}
			if got.TargetURL != "https://gate.example/pulls/Codertocat/Hello-World/2" {
				t.Errorf("TargetURL = %q", got.TargetURL)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		path      string
		break_    func(*harness)
		wantCode  int
		wantError string
	}{
		{name: "live", path: "/healthz", wantCode: http.StatusOK},
		{name: "live while the store is down", path: "/healthz", break_: func(h *harness) { h.store.Fail(errors.New("down")) }, wantCode: http.StatusOK},
		{name: "ready", path: "/readyz", wantCode: http.StatusOK},
		{name: "no policy loaded", path: "/readyz", break_: func(h *harness) { h.eval.SetReady(errors.New("no policy loaded yet")) }, wantCode: http.StatusServiceUnavailable, wantError: "no policy loaded yet"},
		{name: "store down", path: "/readyz", break_: func(h *harness) { h.store.Fail(errors.New("connection refused")) }, wantCode: http.StatusServiceUnavailable, wantError: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, openPages)
			if tt.break_ != nil {
				tt.break_(h)
			}
			w := h.get(t, tt.path)
			if w.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			body := decode(t, w)
			if tt.wantError != "" {
				if msg, _ := body["error"].(string); !strings.Contains(msg, tt.wantError) {
					t.Errorf("error = %q, want the reason %q", msg, tt.wantError)
				}
			}
		})
	}
}

// TestPullPageShowsReleaseEvidence: the build, votes, links and checklist of
// the head are on the page, and evidence of older heads is marked stale.
func TestPullPageShowsReleaseEvidence(t *testing.T) {
	t.Parallel()
	h := buildHarness(t, true, openPages)
	h.eval.Decide(gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"build stage deploy + integration tests failed"}}, nil)
	e, err := githubevents.Parse("pull_request", "delivery-1", readFixture(t, "pull_request.opened.json"))
	if err != nil {
		t.Fatal(err)
	}
	e.PullRequest.Body = "Release of acme/shop#12\n- [x] Release notes\n- [ ] DR plan"
	ctx := context.Background()
	cov := 84.25
	events := []gatekeeper.Event{e,
		{Delivery: "jenkins-1", Name: "jenkins.completed", Key: helloKey, Build: &gatekeeper.Build{
			JobPath: "job/Codertocat/job/Hello-World/job/PR-2-merge", JobName: "PR-2-merge", Number: 7, Key: helloKey,
			Strategy: "merge", HeadSHA: helloHead, MergeSHA: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", Result: "FAILURE",
			Stages:          []gatekeeper.Stage{{Name: "Checkout", Key: "clone", Status: "SUCCESS"}, {Name: "Deploy", Key: "deploy", Status: "FAILED"}},
			Tests:           &gatekeeper.TestSummary{Total: 42, Passed: 40, Skipped: 2},
			Coverage:        &gatekeeper.Coverage{Line: cov, Source: "coverage"},
			Vulnerabilities: &gatekeeper.VulnCounts{Medium: 4, Report: "trivy.json", Suppressed: gatekeeper.Severities{High: 1}},
			ChartVersion:    "hello-world-1-2-3-1a2b3c4",
		}},
		{Delivery: "jenkins-0", Name: "jenkins.completed", Key: helloKey, Build: &gatekeeper.Build{JobPath: "job/x/job/PR-2", Number: 3, Key: helloKey, HeadSHA: "0000000000000000000000000000000000000001"}},
		{Delivery: "comment-1", Name: "issue_comment.created", Key: helloKey, Comment: &gatekeeper.Comment{ID: 5, User: "qa-lead", Body: "/nogo smoke tests red", CreatedAt: time.Now(), UpdatedAt: time.Now()}},
		{Delivery: "push-1", Name: "push", SHA: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
			Repo:    &gatekeeper.Repo{ID: 186853002, Owner: "Codertocat", Name: "Hello-World"},
			BaseTip: &gatekeeper.BaseTip{Ref: "master", SHA: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", At: time.Now(), Source: "push"}},
	}
	for _, ev := range events {
		if _, err := h.svc.Accept(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	h.runService(t)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := h.pub.Wait(wctx, 1); err != nil {
		t.Fatal(err)
	}
	resp := h.get(t, "/pulls/Codertocat/Hello-World/2")
	body := resp.Body.String()
	if resp.Code != http.StatusOK {
		t.Fatalf("page %d: %s", resp.Code, body)
	}
	for _, want := range []string{
		"PR-2-merge #7", "FAILURE", "Deploy", "FAILED", "40 passed, 0 failed, 2 skipped of 42", "84.25% lines",
		"0 critical, 0 high, 4 medium, 0 low; suppressed in the report: 0 critical, 1 high, 0 medium, 0 low", "hello-world-1-2-3-1a2b3c4", "pinned",
		"1 build(s) of older heads", "qa-lead", "nogo", "smoke tests red",
		"acme/shop#12", "not checked in ZenHub yet", "☑ Release notes", "☐ DR plan",
		"Tip of master: <code title=\"f95f852bd8fca8fcc58a9a2d6c842781e32a215e\">f95f852bd8fc</code>", "a base Jenkins did not name: it does not count",
		// Without JENKINS_URL a build is what notifications claim.
		"unverified", "the gatekeeper has no JENKINS_URL",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
}

// openPages serves pages and API without sign-in (GATEKEEPER_UI_AUTH=none),
// for the tests of what they show; auth_test.go tests who may see it.
func openPages(o *webhooks.Options) { o.Auth.Mode = webhooks.AuthNone }

// TestPullPageNamesAForeignReleaseGate: a release-gate check run from
// another app and a release-gate status set by someone else's login are
// named on the page, and never shown as the gatekeeper's own.
func TestPullPageNamesAForeignReleaseGate(t *testing.T) {
	t.Parallel()
	h := evaluated(t, gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"approval from QA"}}, false)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	hello := &gatekeeper.Repo{ID: 186853002, Owner: "Codertocat", Name: "Hello-World"}
	for _, e := range []gatekeeper.Event{
		{Name: "check_run.completed", SHA: helloHead, Repo: hello, Check: &gatekeeper.Check{Kind: "check_run", Name: "release-gate", SHA: helloHead,
			State: "success", UpdatedAt: at, Creator: "github-actions"}},
		{Name: "status", SHA: helloHead, Repo: hello, Check: &gatekeeper.Check{Kind: "status", Name: "release-gate", SHA: helloHead,
			State: "success", Description: "LGTM", UpdatedAt: at, Creator: "hurried-manager"}},
	} {
		if _, err := h.svc.Accept(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := h.pub.Wait(ctx, 2); err != nil {
		t.Fatalf("no correction was published: %v", err)
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		body = h.get(t, "/pulls/Codertocat/Hello-World/2").Body.String()
		if strings.Contains(body, "hurried-manager") && strings.Contains(body, "from someone else (github-actions)") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{
		"a release-gate check run from someone else (github-actions) is on this commit",
		"a release-gate status from someone else (hurried-manager) is on this commit",
		"<td>github-actions</td>", "<td>hurried-manager</td>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestPullPageShowsALiftedNogo: a NOGO stands on the page with the lift
// that names its author, who lifted it and why, and the policy's verdict
// on the lift.
func TestPullPageShowsALiftedNogo(t *testing.T) {
	t.Parallel()
	h := buildHarness(t, true, openPages)
	h.eval.Decide(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"GO vote by QA"}, Votes: []gatekeeper.VoteVerdict{
		{CommentID: 6, User: "rm-grace", Verdict: "counted", Why: "lifted qa-lead's NOGO"},
	}}, nil)
	e, err := githubevents.Parse("pull_request", "delivery-1", readFixture(t, "pull_request.opened.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cast, lifted := time.Now().Add(-time.Minute), time.Now()
	events := []gatekeeper.Event{e,
		{Delivery: "comment-1", Name: "issue_comment.created", Key: helloKey, Comment: &gatekeeper.Comment{ID: 5, User: "qa-lead", Body: "/nogo smoke tests red", CreatedAt: cast, UpdatedAt: cast}},
		{Delivery: "comment-2", Name: "issue_comment.created", Key: helloKey, Comment: &gatekeeper.Comment{ID: 6, User: "rm-grace", Body: "/lift @qa-lead smoke tests fixed upstream", CreatedAt: lifted, UpdatedAt: lifted}},
	}
	for _, ev := range events {
		if _, err := h.svc.Accept(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	h.runService(t)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := h.pub.Wait(wctx, 1); err != nil {
		t.Fatal(err)
	}
	resp := h.get(t, "/pulls/Codertocat/Hello-World/2")
	body := resp.Body.String()
	if resp.Code != http.StatusOK {
		t.Fatalf("page %d: %s", resp.Code, body)
	}
	for _, want := range []string{
		"NOGOs standing", "smoke tests red", "lifted</span> by rm-grace: smoke tests fixed upstream", "lifted qa-lead&#39;s NOGO",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
}

// TestPullPageNamesACheckTakenOver: a status set by hand over another
// system's (dev-mallory's success over ci-bot's failing ci/build) is
// named on the page, beside the verdict that counts, ci-bot's.
func TestPullPageNamesACheckTakenOver(t *testing.T) {
	t.Parallel()
	h := evaluated(t, gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"approval from QA"}}, false)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	hello := &gatekeeper.Repo{ID: 186853002, Owner: "Codertocat", Name: "Hello-World"}
	for _, e := range []gatekeeper.Event{
		{Name: "status", SHA: helloHead, Repo: hello, Check: &gatekeeper.Check{Kind: "status", Name: "ci/build", SHA: helloHead,
			State: "failure", Description: "tests failed", UpdatedAt: at, Creator: "ci-bot"}},
		{Name: "status", SHA: helloHead, Repo: hello, Check: &gatekeeper.Check{Kind: "status", Name: "ci/build", SHA: helloHead,
			State: "success", Description: "<b>fine</b>", UpdatedAt: at.Add(time.Minute), Creator: "dev-mallory"}},
	} {
		if _, err := h.svc.Accept(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		body = h.get(t, "/pulls/Codertocat/Hello-World/2").Body.String()
		if strings.Contains(body, "dev-mallory") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{
		"<td>ci-bot <span class=\"muted\">(also reported by dev-mallory)</span></td>",
		"<span class=\"pill state-failure\">failure</span> <span class=\"pill bad\">taken over: set to success by dev-mallory</span>",
		"<td>tests failed</td>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>fine</b>") {
		t.Errorf("the page shows the taken-over description unescaped")
	}
}
