package test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDryRunMetricsHaveEveryFamily: a newcomer's first scrape, of a dry run
// that has received nothing yet, shows every gatekeeper family (at zero),
// so that dashboards and alerts can be built before the first delivery.
func TestDryRunMetricsHaveEveryFamily(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	resp, err := http.Get(s.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	for _, family := range []string{
		"gatekeeper_webhooks_total",
		"gatekeeper_queue_depth",
		"gatekeeper_evaluation_duration_seconds",
		"gatekeeper_evaluations_total",
		"gatekeeper_status_posts_total",
		"gatekeeper_status_post_failures_total",
		"gatekeeper_github_api_calls_total",
	} {
		if !strings.Contains(body, "# TYPE "+family+" ") {
			t.Errorf("/metrics has no %s family", family)
		}
	}
	for _, zero := range []string{
		`gatekeeper_evaluations_total{state="success"} 0`,
		`gatekeeper_status_post_failures_total{state="error"} 0`,
		`gatekeeper_webhooks_total{event="unverified",result="unauthorized",source="github"} 0`,
		`gatekeeper_github_api_calls_total{code="error",endpoint="create_status"} 0`,
	} {
		if !strings.Contains(body, zero) {
			t.Errorf("/metrics does not show %s", zero)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}
