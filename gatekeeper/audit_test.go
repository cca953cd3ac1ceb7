package gatekeeper_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// servingEvaluator is the fake Evaluator that can say which files it
// serves, as opa.Engine does.
type servingEvaluator struct {
	*gatekeepertest.Evaluator
	rev gatekeeper.PolicyRevision
}

func (s *servingEvaluator) Served(short string) (gatekeeper.PolicyRevision, bool) {
	return s.rev, short == s.rev.Short()
}

// TestDecisionNamesAStoredRevision: the revision a decision names is in
// the store by the time the decision is, every record has an id that
// finds it again, and when the gatekeeper's own rules change what the
// policy said (here: a success while something is awaited becomes
// pending), the record keeps the policy's own answer for replay.
func TestDecisionNamesAStoredRevision(t *testing.T) {
	t.Parallel()
	rev := gatekeeper.PolicyRevision{Revision: "9f1e0c3d2a44" + strings.Repeat("0", 52), Files: map[string]string{"decision.rego": "package gatekeeper\n"}}
	said := gatekeeper.Decision{State: gatekeeper.Success, Waiting: []string{"QA approval"}, PolicyRevision: rev.Short()}
	ev := &servingEvaluator{Evaluator: gatekeepertest.NewEvaluator(said, rev.Short()), rev: rev}
	h := start(t, ev)
	h.accept(t, opened(head, time.Now()))
	h.wait(t, 1)
	h.settle(t)
	ctx := context.Background()
	stored, err := h.store.Policy(ctx, rev.Short())
	if err != nil || stored.Revision != rev.Revision || stored.Files["decision.rego"] != rev.Files["decision.rego"] || stored.SavedAt.IsZero() {
		t.Fatalf("stored revision %+v, %v; want the served files", stored, err)
	}
	recs, err := h.store.Decisions(ctx, key, 10)
	if err != nil || len(recs) == 0 {
		t.Fatalf("decisions %v, %v", recs, err)
	}
	rec := recs[0]
	if rec.ID == "" || !strings.HasPrefix(rec.ID, "acme/shop/7/") {
		t.Errorf("record id %q, want acme/shop/7/…", rec.ID)
	}
	if rec.Decision.State != gatekeeper.Pending || rec.Policy == nil || rec.Policy.State != gatekeeper.Success {
		t.Errorf("decision %s, policy's own %+v; want pending, and success kept as the policy said", rec.Decision.State, rec.Policy)
	}
	got, gotRev, err := h.svc.Decision(ctx, rec.ID)
	if err != nil || got.ID != rec.ID || gotRev.Revision != rev.Revision || got.Input == nil {
		t.Errorf("Decision(%s) = %+v, %s, %v", rec.ID, got.ID, gotRev.Revision, err)
	}
	if _, _, err := h.svc.Decision(ctx, "acme/shop/7/1-00000000"); !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Errorf("an unknown id: %v, want ErrNotFound", err)
	}
	if _, _, err := h.svc.Decision(ctx, "acme/shop/seven/1"); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("a malformed id: %v, want ErrInvalid", err)
	}
}
