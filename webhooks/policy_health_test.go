package webhooks_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
	"github.com/releasegate/gatekeeper/webhooks"
)

// TestPullPageKeepsLastGoodDecision: while the policy is broken the page
// shows the full error and what the last good revision decided, marked as
// such, instead of "Nothing is missing".
func TestPullPageKeepsLastGoodDecision(t *testing.T) {
	t.Parallel()
	h := buildHarness(t, false, openPages)
	lastGood := gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"approval from QA", "Jenkins PR-merge build of ec26c3e"}, PolicyRevision: "aaaaaaaaaaaa"}
	h.eval.Decide(lastGood, errors.New("policy revision 3fa2c1e9abcd does not load: decision.rego:12: unexpected eof token"))
	e, err := githubevents.Parse("pull_request", "delivery-1", readFixture(t, "pull_request.opened.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Accept(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	h.runService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := h.pub.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	page := h.get(t, "/pulls/Codertocat/Hello-World/2").Body.String()
	for _, s := range []string{
		"decision.rego:12: unexpected eof token", "What the last good policy said", "For the record only",
		"aaaaaaaaaaaa", "approval from QA", "Jenkins PR-merge build of ec26c3e",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("page does not contain %q", s)
		}
	}
	if strings.Contains(page, "Nothing is missing") {
		t.Error(`page says "Nothing is missing" while the policy is broken`)
	}
	if t.Failed() {
		t.Logf("page:\n%s", page)
	}
}

// TestPolicyHealthOnReadyzAndMetrics: /readyz stays 200 while the last good
// revision serves, and says which revision is refused; so does the
// gatekeeper_policy_ok gauge.
func TestPolicyHealthOnReadyzAndMetrics(t *testing.T) {
	t.Parallel()
	health := gatekeeper.PolicyHealth{Revision: "aaaaaaaaaaaa", BrokenRevision: "3fa2c1e9abcd", Error: "decision.rego:12: unexpected eof token"}
	h := newHarness(t, openPages, func(o *webhooks.Options) {
		o.Policy = func() gatekeeper.PolicyHealth { return health }
	})
	w := h.get(t, "/readyz")
	if w.Code != http.StatusOK {
		t.Fatalf("readyz %d while the last good policy runs, want 200", w.Code)
	}
	body := decode(t, w)
	p, _ := body["policy"].(map[string]any)
	if p["revision"] != "aaaaaaaaaaaa" || p["broken_revision"] != "3fa2c1e9abcd" || p["error"] != health.Error {
		t.Errorf("readyz policy detail %v", body["policy"])
	}
	m := h.get(t, "/metrics").Body.String()
	want := `gatekeeper_policy_ok{broken_revision="3fa2c1e9abcd",revision="aaaaaaaaaaaa"} 0`
	if !strings.Contains(m, want) {
		t.Errorf("metrics lack %q", want)
	}

	health = gatekeeper.PolicyHealth{Revision: "3fa2c1e9abcd"}
	if m := h.get(t, "/metrics").Body.String(); !strings.Contains(m, `gatekeeper_policy_ok{broken_revision="",revision="3fa2c1e9abcd"} 1`) {
		t.Errorf("after the fix, metrics:\n%s", grepLines(m, "gatekeeper_policy_ok"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
