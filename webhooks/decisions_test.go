package webhooks_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/webhooks"
)

// TestDecisionsOnlyWhatTheViewerMayRead: the decisions API lists, and
// gives one by one, only decisions of repositories GitHub lets the viewer
// read: alice reads Codertocat/Hello-World, bob reads nothing, and nobody
// reads acme/secret. A repository one may not read answers 404 exactly as
// one never seen.
func TestDecisionsOnlyWhatTheViewerMayRead(t *testing.T) {
	t.Parallel()
	r := newAuthRig(t, "https://gate.example", testKey)
	ctx := context.Background()
	hello := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}
	secret := gatekeeper.PullKey{Owner: "acme", Repo: "secret", Number: 1}
	if err := r.store.Record(ctx, "secret-delivery", []gatekeeper.PullKey{secret}, func(*gatekeeper.Evidence) {}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	ids := map[gatekeeper.PullKey]string{}
	for _, k := range []gatekeeper.PullKey{hello, secret} {
		rec := gatekeeper.DecisionRecord{ID: gatekeeper.NewDecisionID(k, at), Key: k, HeadSHA: "abc",
			Decision:    gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"QA"}, PolicyRevision: "3fa2c1e9abcd"},
			EvaluatedAt: at, Input: &gatekeeper.Input{Version: gatekeeper.InputVersion}}
		if err := r.store.AddDecision(ctx, rec); err != nil {
			t.Fatal(err)
		}
		ids[k] = rec.ID
	}
	alice, bob := "Authorization: Bearer "+r.fake.Token("alice"), "Authorization: Bearer "+r.fake.Token("bob")
	list := func(path, who string) (int, []gatekeeper.DecisionRecord) {
		t.Helper()
		w := r.request(t, path, nil, who)
		var l webhooks.DecisionList
		if w.Code == http.StatusOK {
			if err := json.Unmarshal(w.Body.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
		}
		return w.Code, l.Decisions
	}
	if code, got := list("/api/v1/decisions", alice); code != http.StatusOK || len(got) != 1 || got[0].Key != hello || got[0].ID != ids[hello] || got[0].Input != nil {
		t.Errorf("alice's list: %d %+v, want Hello-World's decision alone, with its id, without input", code, got)
	}
	if code, got := list("/api/v1/decisions", bob); code != http.StatusOK || len(got) != 0 {
		t.Errorf("bob's list: %d %+v, want empty", code, got)
	}
	if code, _ := list("/api/v1/decisions?repo=Codertocat/Hello-World", bob); code != http.StatusNotFound {
		t.Errorf("bob asking for Hello-World's decisions: %d, want 404", code)
	}
	if code, got := list("/api/v1/decisions?repo=Codertocat/Hello-World&since=2026-12-01T10:30:00Z", alice); code != http.StatusOK || len(got) != 1 {
		t.Errorf("alice since the decision: %d %d, want it", code, len(got))
	}
	if code, got := list("/api/v1/decisions?repo=Codertocat/Hello-World&since=2026-12-01T10:31:00Z", alice); code != http.StatusOK || len(got) != 0 {
		t.Errorf("alice since after the decision: %d %d, want none", code, len(got))
	}
	for _, bad := range []string{"?since=yesterday", "?repo=nope", "?limit=0"} {
		if code, _ := list("/api/v1/decisions"+bad, alice); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	if code, _ := list("/api/v1/decisions", ""); code != http.StatusUnauthorized {
		t.Errorf("nobody signed in: %d, want 401", code)
	}
	one := func(id, who string) int {
		t.Helper()
		return r.request(t, "/api/v1/decisions/"+id, nil, who).Code
	}
	if code := one(ids[hello], alice); code != http.StatusOK {
		t.Errorf("alice's decision: %d", code)
	}
	for who, id := range map[string]string{bob: ids[hello], alice: ids[secret]} {
		if code := one(id, who); code != http.StatusNotFound {
			t.Errorf("%s for %s: %d, want 404", who[:30], id, code)
		}
	}
	w := r.request(t, "/api/v1/decisions/"+ids[hello], nil, alice)
	var got webhooks.StoredDecision
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Decision.Input == nil || got.Decision.ID != ids[hello] {
		t.Errorf("alice's decision: %v %+v", err, got.Decision)
	}
}
