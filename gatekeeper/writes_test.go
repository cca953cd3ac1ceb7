package gatekeeper_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// writeCounter is a real bbolt store that counts the worker's writes
// (each one a transaction with its fsync).
type writeCounter struct {
	*boltstore.Store
	mu     sync.Mutex
	writes []string
}

func (w *writeCounter) count(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, name)
}

func (w *writeCounter) counted() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

func (w *writeCounter) Settle(ctx context.Context, k gatekeeper.PullKey, st gatekeeper.Settlement) (*gatekeeper.Evidence, bool, error) {
	w.count("Settle")
	return w.Store.Settle(ctx, k, st)
}

func (w *writeCounter) Update(ctx context.Context, k gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (*gatekeeper.Evidence, error) {
	w.count("Update")
	return w.Store.Update(ctx, k, fn)
}

func (w *writeCounter) AddDecision(ctx context.Context, rec gatekeeper.DecisionRecord) error {
	w.count("AddDecision")
	return w.Store.AddDecision(ctx, rec)
}

func (w *writeCounter) Done(ctx context.Context, k gatekeeper.PullKey, gen uint64) (bool, error) {
	w.count("Done")
	return w.Store.Done(ctx, k, gen)
}

// firstEvaluation accepts a new gated pull request on a counting bbolt
// store, waits until it left the queue, and returns the worker's writes
// and the evidence and decisions stored.
func firstEvaluation(t *testing.T, pub *gatekeepertest.Publisher) ([]string, *gatekeeper.Evidence, []gatekeeper.DecisionRecord) {
	t.Helper()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "gate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() }) // after the service has stopped (cleanups run last first)
	store := &writeCounter{Store: bs}
	svc, stop := runService(t, gatekeeper.Options{
		Store: store, Publisher: pub, Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"QA"}}, "rev1"),
		Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "master"}}, PublicURL: "https://gate.example/", Debounce: -1,
	})
	if out, err := svc.Accept(context.Background(), opened(head, time.Now())); err != nil || out != gatekeeper.Accepted {
		t.Fatalf("Accept = %s, %v", out, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, queued, err := store.Generation(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if !queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pull request never left the queue")
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop()
	ev, err := store.Evidence(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := store.Decisions(context.Background(), key, 10)
	if err != nil {
		t.Fatal(err)
	}
	return store.counted(), ev, recs
}

// TestDryRunEvaluationIsOneWrite: in a dry run the status is only logged,
// so there is no post whose outcome could be lost and no outbox to keep:
// the first evaluation of a pull request, which "posts" its status,
// records the decision, the status and the dequeue in one store write.
func TestDryRunEvaluationIsOneWrite(t *testing.T) {
	t.Parallel()
	writes, ev, recs := firstEvaluation(t, gatekeepertest.NewPublisher(true))
	if len(writes) != 1 || writes[0] != "Settle" {
		t.Errorf("the worker wrote %v, want one Settle", writes)
	}
	if ev.Published == nil || !ev.Published.DryRun || ev.Published.State != gatekeeper.Pending {
		t.Errorf("published = %+v, want the dry-run pending status", ev.Published)
	}
	if ev.Posting != nil {
		t.Errorf("posting = %+v, want none left", ev.Posting)
	}
	if len(recs) != 1 || recs[0].Decision.State != gatekeeper.Pending {
		t.Errorf("decisions = %+v, want the one pending decision", recs)
	}
}

// TestPostedEvaluationKeepsItsOutbox: a status really sent is recorded as
// about to be sent first (the outbox), then as sent with the dequeue: two
// writes, so that a post whose outcome was lost is not sent twice.
func TestPostedEvaluationKeepsItsOutbox(t *testing.T) {
	t.Parallel()
	pub := gatekeepertest.NewPublisher(false)
	writes, ev, recs := firstEvaluation(t, pub)
	if len(writes) != 2 || writes[0] != "Settle" || writes[1] != "Settle" {
		t.Errorf("the worker wrote %v, want two Settles (outbox, then posted)", writes)
	}
	if len(pub.Published()) != 1 {
		t.Errorf("%d statuses posted, want 1", len(pub.Published()))
	}
	if ev.Published == nil || ev.Published.DryRun || ev.Posting != nil {
		t.Errorf("published = %+v, posting = %+v; want the status sent and no outbox entry left", ev.Published, ev.Posting)
	}
	if len(recs) != 1 {
		t.Errorf("%d decisions, want 1", len(recs))
	}
}
