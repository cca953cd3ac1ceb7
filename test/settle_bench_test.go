package test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// BenchmarkReconcileRound is the evaluations of one reconcile on a real
// bbolt file: 200 open release pull requests nothing happened to, each
// evaluated again end to end by the Service (queue, lease, gather from one
// source, decide, record, dequeue; a fixed decision, so that the policy's
// own cost is left out and the store's writes show). Their statuses were
// posted in an earlier round, so nothing is posted. evals/s is the
// evaluations per second.
func BenchmarkReconcileRound(b *testing.B) {
	ctx := context.Background()
	store, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	const pulls = 200
	for n := 1; n <= pulls; n++ {
		key := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: n}
		sha := fmt.Sprintf("%040x", n)
		if err := store.Record(ctx, "opened-"+key.String(), []gatekeeper.PullKey{key}, func(ev *gatekeeper.Evidence) {
			ev.PR = &gatekeeper.PullRequest{Key: key, State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: sha}
		}); err != nil {
			b.Fatal(err)
		}
	}
	pub := gatekeepertest.NewPublisher(false)
	svc, err := gatekeeper.New(gatekeeper.Options{
		Store: store, Publisher: pub,
		Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"a build"}}, "rev1"),
		Sources:   []gatekeeper.Source{okBenchSource{}},
		Gated:     gatekeeper.BranchPairs{{Head: "staging", Base: "master"}},
		Workers:   4, Debounce: -1, Reconcile: time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	drained := func() {
		for {
			q, err := store.Queued(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(q) == 0 {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// The first round posts every status; the rounds measured post none.
	waitCtx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	if _, err := pub.Wait(waitCtx, pulls); err != nil {
		b.Fatal(err)
	}
	drained()
	posted := len(pub.Published())
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := svc.Reconcile(ctx); err != nil {
			b.Fatal(err)
		}
		drained()
	}
	b.ReportMetric(float64(b.N*pulls)/time.Since(start).Seconds(), "evals/s")
	if got := len(pub.Published()); got != posted {
		b.Fatalf("%d statuses posted in rounds where nothing changed", got-posted)
	}
}

// okBenchSource is an evidence source that answers at once with nothing
// new, as an unchanged GitHub does (304s).
type okBenchSource struct{}

func (okBenchSource) Name() string { return "github" }
func (okBenchSource) Gather(context.Context, *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	return nil, nil
}
