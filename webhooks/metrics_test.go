package webhooks_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	opened := readFixture(t, "pull_request.opened.json")
	h.deliver(t, "pull_request", "delivery-1", opened)
	h.deliver(t, "pull_request", "delivery-1", opened)
	h.deliver(t, "issue_comment", "delivery-2", readFixture(t, "issue_comment.created.on-issue.json"))
	h.deliver(t, "made-up-event", "delivery-3", opened, func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", sign("wrong", opened)) })
	// What the Service and the GitHub client report through their hooks.
	h.metrics.Evaluated(1500*time.Millisecond, gatekeeper.Failure)
	h.metrics.Published(gatekeeper.Failure, nil)
	h.metrics.Published(gatekeeper.Failure, errors.New("502 from GitHub"))
	h.metrics.QueueDepth(3)
	h.metrics.GitHubCall("POST /repos/{owner}/{repo}/statuses/{sha}", "201")

	w := h.get(t, "/metrics")
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{
		`gatekeeper_webhooks_total{event="pull_request",result="accepted",source="github"} 1`,
		`gatekeeper_webhooks_total{event="pull_request",result="duplicate",source="github"} 1`,
		`gatekeeper_webhooks_total{event="issue_comment",result="ignored",source="github"} 1`,
		// An unauthenticated request's event header is not trusted as a label.
		`gatekeeper_webhooks_total{event="unverified",result="unauthorized",source="github"} 1`,
		`gatekeeper_evaluations_total{state="failure"} 1`,
		`gatekeeper_evaluation_duration_seconds_bucket{le="2.5"} 1`,
		`gatekeeper_evaluation_duration_seconds_bucket{le="1"} 0`,
		`gatekeeper_status_posts_total{state="failure"} 2`,
		`gatekeeper_status_post_failures_total{state="failure"} 1`,
		`gatekeeper_queue_depth 3`,
		`gatekeeper_github_api_calls_total{code="201",endpoint="POST /repos/{owner}/{repo}/statuses/{sha}"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics do not contain %s", want)
		}
	}
	if strings.Contains(body, "made-up-event") {
		t.Errorf("an unauthenticated header became a label value")
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}
