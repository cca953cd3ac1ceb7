package webhooks

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestEveryFamilyAtZeroFromTheStart: a fresh Metrics, before anything
// happened, shows every family it registers, so that a dry run's first
// scrape is complete. A family added to own later is covered as well.
func TestEveryFamilyAtZeroFromTheStart(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	m.KnownGitHubEndpoints("get_pull", "create_status")
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := w.Body.String()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	var families int
	for _, c := range m.own {
		descs := make(chan *prometheus.Desc, 8)
		c.Describe(descs)
		close(descs)
		for d := range descs {
			name := fqName.FindStringSubmatch(d.String())
			if name == nil {
				t.Fatalf("no name in %s", d)
			}
			families++
			if !strings.Contains(body, "# TYPE "+name[1]+" ") {
				t.Errorf("a fresh /metrics has no %s family", name[1])
			}
		}
	}
	if families < 7 {
		t.Errorf("only %d families registered", families)
	}
	for _, want := range []string{
		`gatekeeper_github_api_calls_total{code="error",endpoint="get_pull"} 0`,
		`gatekeeper_github_api_calls_total{code="error",endpoint="create_status"} 0`,
		`gatekeeper_github_api_calls_total{code="304",endpoint="get_pull"} 0`,
		`gatekeeper_github_rate_limit_remaining{resource="core"} -1`,
		`gatekeeper_status_lag_seconds_count 0`,
		`gatekeeper_evaluations_total{state="pending"} 0`,
		`gatekeeper_status_posts_total{state="success"} 0`,
		`gatekeeper_webhooks_total{event="unverified",result="unauthorized",source="jenkins"} 0`,
		`gatekeeper_webhooks_total{event="build",result="accepted",source="jenkins"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("a fresh /metrics does not show %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}
