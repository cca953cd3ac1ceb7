package gatekeeper_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// appPublisher is the fake Publisher as a GitHub App "release-gate" posts.
type appPublisher struct{ *gatekeepertest.Publisher }

func (appPublisher) Login() string { return "release-gate[bot]" }

// checklister records the checklist calls.
type checklister struct {
	mu    sync.Mutex
	calls []gatekeeper.Decision
}

func (c *checklister) Checklist(_ context.Context, _ gatekeeper.PullKey, _ string, _ gatekeeper.Status, dec gatekeeper.Decision) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, dec)
	return nil
}

// Own: the App's slug is "release-gate".
func (c *checklister) Own(ch gatekeeper.Check) bool { return ch.Creator == "release-gate" }

func (c *checklister) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

func (c *countingEvaluator) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// TestOwnChecklistRun: the App's own "release-gate checklist" run is no
// check of the policy and no news; its "Re-evaluate" button, its re-run
// and its suite's re-run each evaluate the pull request again; another
// App's run of that name is evidence like any check.
func TestOwnChecklistRun(t *testing.T) {
	t.Parallel()
	ev := &countingEvaluator{}
	pub := appPublisher{gatekeepertest.NewPublisher(false)}
	cl := &checklister{}
	h := startWith(t, gatekeeper.Options{Evaluator: ev, Publisher: pub, Checklist: cl})
	h.pub = pub.Publisher
	h.accept(t, opened(head, t0))
	h.wait(t, 1)
	h.settle(t)
	if cl.n() != 1 || cl.calls[0].State != gatekeeper.Pending || len(cl.calls[0].Waiting) != 1 {
		t.Fatalf("checklist calls %+v, want one with the decision", cl.calls)
	}
	own := func(action string, at time.Duration) gatekeeper.Event {
		return gatekeeper.Event{Name: "check_run." + action, Delivery: action, SHA: head, Repo: acmeShop,
			Check: &gatekeeper.Check{Kind: "check_run", Name: gatekeeper.ChecklistName, SHA: head, State: "failure", UpdatedAt: t0.Add(at), Creator: "release-gate"}}
	}
	if out := h.accept(t, own("completed", time.Minute)); out != gatekeeper.Ignored {
		t.Errorf("own run completed: %s, want ignored", out)
	}
	before := ev.n()
	for i, e := range []gatekeeper.Event{
		own("requested_action", 2*time.Minute),
		own("rerequested", 3*time.Minute),
		{Name: "check_suite.rerequested", Delivery: "suite", SHA: head, Repo: acmeShop},
	} {
		if out := h.accept(t, e); out != gatekeeper.Accepted {
			t.Fatalf("%s: %s, want accepted", e.Name, out)
		}
		deadline := time.Now().Add(10 * time.Second)
		for ev.n() < before+i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no evaluation", e.Name)
			}
			time.Sleep(2 * time.Millisecond)
		}
		h.settle(t)
	}
	got, err := h.store.Evidence(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got.Checks {
		if c.Name == gatekeeper.ChecklistName {
			t.Errorf("own checklist run in the evidence: %+v", c)
		}
	}
	// Another App's run of the same name is kept (and fails the policy's
	// checks[] by its state, as any check would).
	foreign := own("completed", 4*time.Minute)
	foreign.Delivery, foreign.Check.Creator = "foreign", "other-app"
	if out := h.accept(t, foreign); out != gatekeeper.Accepted {
		t.Fatalf("foreign run: %s, want accepted", out)
	}
	h.settle(t)
	got, _ = h.store.Evidence(context.Background(), key)
	found := false
	for _, c := range got.Checks {
		found = found || (c.Name == gatekeeper.ChecklistName && c.Creator == "other-app")
	}
	if !found {
		t.Errorf("another App's %q run not in the evidence: %+v", gatekeeper.ChecklistName, got.Checks)
	}
	if n := len(pub.Published()); n != 1 {
		t.Errorf("%d statuses for an unchanged decision, want 1", n)
	}
}

// TestNoChecklistInDryRun: a dry run posts no check run either.
func TestNoChecklistInDryRun(t *testing.T) {
	t.Parallel()
	cl := &checklister{}
	h := startWith(t, gatekeeper.Options{Evaluator: &countingEvaluator{}, Publisher: gatekeepertest.NewPublisher(true), Checklist: cl})
	h.accept(t, opened(head, t0))
	h.wait(t, 1)
	h.settle(t)
	if cl.n() != 0 {
		t.Errorf("%d checklist calls in a dry run, want 0", cl.n())
	}
}
