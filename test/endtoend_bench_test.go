package test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/githubapi"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// endToEndPulls is how many pull requests BenchmarkEndToEnd opens.
const endToEndPulls = 1000

// BenchmarkEndToEnd is issue 10's end-to-end figure: 1,000 pull requests
// into a gated base, one recorded pull_request.opened delivery each,
// accepted by the Service on a real bbolt file and evaluated by its
// workers with the real default policy, in a dry run (nothing posted),
// until the queue is empty. It reports evals/s, and inproc-evals/s: the
// same 1,000 pull requests' inputs evaluated by the Engine alone, from as
// many goroutines as there are cores, in the same run (the in-process
// figure the end-to-end one is held to).
func BenchmarkEndToEnd(b *testing.B) {
	ctx := context.Background()
	raw, err := os.ReadFile("testdata/fixtures/github/pull_request.opened.json")
	if err != nil {
		b.Fatal(err)
	}
	opened, err := githubevents.Parse("pull_request", "opened", raw)
	if err != nil {
		b.Fatal(err)
	}
	engine, err := opa.Load(ctx, "../policies")
	if err != nil {
		b.Fatal(err)
	}
	gated := gatekeeper.BranchPairs{{Head: opened.PullRequest.HeadRef, Base: opened.PullRequest.BaseRef}}
	var e2e, inproc float64
	for b.Loop() {
		b.StopTimer()
		store, err := boltstore.Open(filepath.Join(b.TempDir(), "e2e.db"))
		if err != nil {
			b.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		svc, err := gatekeeper.New(gatekeeper.Options{
			Store: store, Evaluator: engine, Publisher: githubapi.NewDryRun(log), Logger: log,
			Gated: gated, PublicURL: "http://127.0.0.1", Debounce: -1, Reconcile: time.Hour,
		})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { svc.Run(runCtx); close(done) }()
		b.StartTimer()

		start := time.Now()
		for n := 1; n <= endToEndPulls; n++ {
			e := opened
			pr := *opened.PullRequest
			pr.Key.Number = n
			pr.HeadSHA = fmt.Sprintf("%040x", n)
			e.PullRequest, e.Key, e.SHA = &pr, pr.Key, pr.HeadSHA
			e.Delivery = fmt.Sprintf("e2e-%d", n)
			if out, err := svc.Accept(ctx, e); err != nil || out != gatekeeper.Accepted {
				b.Fatalf("Accept #%d = %s, %v", n, out, err)
			}
		}
		waitEmpty(b, store)
		e2e = endToEndPulls / time.Since(start).Seconds()

		b.StopTimer()
		cancel()
		<-done
		inproc = inProcess(b, engine, store, gated)
		store.Close()
		b.StartTimer()
	}
	b.ReportMetric(e2e, "evals/s")
	b.ReportMetric(inproc, "inproc-evals/s")
}

// waitEmpty waits, at most two minutes, for the store's queue to empty.
func waitEmpty(b *testing.B, store gatekeeper.Store) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		q, err := store.Queued(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(q) == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatal("the queue did not empty within two minutes")
}

// inProcess evaluates the inputs of every pull request in store with
// engine alone, from GOMAXPROCS goroutines, and returns evaluations/s.
func inProcess(b *testing.B, engine *opa.Engine, store gatekeeper.Store, gated gatekeeper.BranchPairs) float64 {
	ctx := context.Background()
	keys, err := store.Pulls(ctx)
	if err != nil || len(keys) != endToEndPulls {
		b.Fatalf("Pulls = %d, %v; want %d", len(keys), err, endToEndPulls)
	}
	inputs := make([]*gatekeeper.Input, len(keys))
	now := time.Now()
	for i, k := range keys {
		ev, err := store.Evidence(ctx, k)
		if err != nil {
			b.Fatal(err)
		}
		inputs[i] = gatekeeper.BuildInput(ev, gatekeeper.InputOptions{Now: now, Gated: gated, StatusContext: "release-gate"})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(inputs)); i = next.Add(1) - 1 {
				if _, err := engine.Evaluate(ctx, inputs[i]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(len(inputs)) / time.Since(start).Seconds()
}
