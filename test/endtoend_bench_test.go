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

// endToEndSenders is how many deliveries BenchmarkEndToEnd hands to Accept
// at once: GitHub delivers over many connections at a time, and the
// receiver calls Accept from each request's goroutine (16: the connections
// of the pinned acknowledgement figure). One sender at a time would
// measure a thousand fsyncs in a row, each Accept waiting for its own
// before the next delivery may arrive, which no receiver sees.
const endToEndSenders = 16

// BenchmarkEndToEnd is issue 10's end-to-end figure: 1,000 pull requests
// into a gated base, one recorded pull_request.opened delivery each,
// accepted by the Service on a real bbolt file and evaluated by its
// workers with the real default policy, in a dry run (nothing posted),
// until every pull request has its decision recorded and the queue is
// empty. It reports evals/s, and inproc-evals/s: the same 1,000 pull
// requests' inputs evaluated by the Engine alone, from as many goroutines
// as there are cores, in the same run (the in-process figure the
// end-to-end one is held to). On a shared machine the CPU each costs
// (cpu-ms/eval, inproc-cpu-ms/eval: the process's user and system time
// over the pull requests) says what the wall-clock figures cannot;
// accept-s is when the last Accept returned.
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
	events := make([]gatekeeper.Event, endToEndPulls)
	for i := range events {
		n := i + 1
		e := opened
		pr := *opened.PullRequest
		pr.Key.Number = n
		pr.HeadSHA = fmt.Sprintf("%040x", n)
		e.PullRequest, e.Key, e.SHA = &pr, pr.Key, pr.HeadSHA
		e.Delivery = fmt.Sprintf("e2e-%d", n)
		events[i] = e
	}
	var e2e, inproc, e2eCPU, inprocCPU, accepted float64
	for b.Loop() {
		b.StopTimer()
		store, err := boltstore.Open(filepath.Join(b.TempDir(), "e2e.db"))
		if err != nil {
			b.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		decided := newDecidedCount(endToEndPulls)
		svc, err := gatekeeper.New(gatekeeper.Options{
			Store: store, Evaluator: engine, Publisher: githubapi.NewDryRun(log), Logger: log,
			Gated: gated, PublicURL: "http://127.0.0.1", Debounce: -1, Reconcile: time.Hour,
			Decided: decided.add,
		})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { svc.Run(runCtx); close(done) }()
		b.StartTimer()

		start, cpu0 := time.Now(), cpuTime()
		var next atomic.Int64
		var sent sync.WaitGroup
		for range endToEndSenders {
			sent.Add(1)
			go func() {
				defer sent.Done()
				for i := next.Add(1) - 1; i < int64(len(events)); i = next.Add(1) - 1 {
					if out, err := svc.Accept(ctx, events[i]); err != nil || out != gatekeeper.Accepted {
						b.Errorf("Accept #%d = %s, %v", i+1, out, err)
						return
					}
				}
			}()
		}
		sent.Wait()
		accepted = time.Since(start).Seconds()
		if b.Failed() {
			b.FailNow()
		}
		decided.wait(b)
		waitEmpty(b, store)
		e2e = endToEndPulls / time.Since(start).Seconds()
		e2eCPU = (cpuTime() - cpu0).Seconds() * 1000 / endToEndPulls

		b.StopTimer()
		cancel()
		<-done
		cpu1 := cpuTime()
		inproc = inProcess(b, engine, store, gated)
		inprocCPU = (cpuTime() - cpu1).Seconds() * 1000 / endToEndPulls
		store.Close()
		b.StartTimer()
	}
	b.ReportMetric(e2e, "evals/s")
	b.ReportMetric(inproc, "inproc-evals/s")
	b.ReportMetric(e2eCPU, "cpu-ms/eval")
	b.ReportMetric(inprocCPU, "inproc-cpu-ms/eval")
	b.ReportMetric(accepted, "accept-s")
}

// decidedCount counts the distinct pull requests whose decision the
// Service recorded (Options.Decided), and tells when all of them have one:
// waiting on it costs the Service nothing, where reading the queue back
// every few milliseconds takes CPU from the workers being measured.
type decidedCount struct {
	mu   sync.Mutex
	seen map[gatekeeper.PullKey]bool
	want int
	all  chan struct{}
}

func newDecidedCount(want int) *decidedCount {
	return &decidedCount{seen: map[gatekeeper.PullKey]bool{}, want: want, all: make(chan struct{})}
}

func (d *decidedCount) add(rec gatekeeper.DecisionRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen[rec.Key] {
		return
	}
	d.seen[rec.Key] = true
	if len(d.seen) == d.want {
		close(d.all)
	}
}

// wait waits, at most two minutes, until every pull request was decided.
func (d *decidedCount) wait(b *testing.B) {
	select {
	case <-d.all:
	case <-time.After(2 * time.Minute):
		d.mu.Lock()
		defer d.mu.Unlock()
		b.Fatalf("%d of %d pull requests decided within two minutes", len(d.seen), d.want)
	}
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
