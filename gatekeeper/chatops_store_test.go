package gatekeeper_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// TestSummaryClaimedOncePerDay runs two Services, as two replicas would,
// on one real bbolt store: of the two claims of a day exactly one wins,
// and the next day can be claimed again. The summary lists the open pull
// requests into a gated base, with what their decision still waits for
// from people.
func TestSummaryClaimedOncePerDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := gatekeepertest.NewClock(time.Date(2024, 5, 6, 10, 30, 0, 0, time.UTC))
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	gated, err := gatekeeper.ParseBranchPairs("staging:master")
	if err != nil {
		t.Fatal(err)
	}
	newService := func() *gatekeeper.Service {
		svc, err := gatekeeper.New(gatekeeper.Options{
			Store: store, Clock: clock, Gated: gated, PublicURL: "https://gate.example",
			Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending}, "rev"),
			Publisher: gatekeepertest.NewPublisher(false),
		})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b := newService(), newService()
	wins := 0
	for _, svc := range []*gatekeeper.Service{a, b, a} {
		ok, err := svc.Claim(ctx, "slack-summary:2024-05-06")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d claims of one day won, want 1", wins)
	}
	if ok, err := b.Claim(ctx, "slack-summary:2024-05-07"); err != nil || !ok {
		t.Fatalf("the next day: %v %v, want claimed", ok, err)
	}

	open := gatekeeper.PullKey{Owner: "o", Repo: "r", Number: 1}
	for i, pr := range []gatekeeper.PullRequest{
		{Key: open, Title: "Release 2.14", State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: "aaaa"},
		{Key: gatekeeper.PullKey{Owner: "o", Repo: "r", Number: 2}, State: "closed", HeadRef: "staging", BaseRef: "master", HeadSHA: "bbbb"},
		{Key: gatekeeper.PullKey{Owner: "o", Repo: "r", Number: 3}, State: "open", HeadRef: "feature", BaseRef: "develop", HeadSHA: "cccc"},
	} {
		pr := pr
		if err := store.Record(ctx, "d"+string(rune('0'+i)), []gatekeeper.PullKey{pr.Key}, func(ev *gatekeeper.Evidence) {
			ev.Apply(gatekeeper.Event{Key: pr.Key, PullRequest: &pr})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.AddDecision(ctx, gatekeeper.DecisionRecord{Key: open, HeadSHA: "aaaa", Description: "Waiting for approval by QA",
		Decision: gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"Jenkins PR-merge build", "approval by QA, SRE", "GO vote by QA"}}}); err != nil {
		t.Fatal(err)
	}
	rows, err := a.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []gatekeeper.SummaryRow{{Key: open, HeadSHA: "aaaa", Title: "Release 2.14", State: gatekeeper.Pending, Description: "Waiting for approval by QA",
		TargetURL: "https://gate.example/pulls/o/r/1", Missing: []string{"approval by QA, SRE", "GO vote by QA"}}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}
