package gatekeeper_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// labelEvaluator fails a pull request labelled "blocked" and passes any
// other; hold, while open, holds its evaluations (a replica busy, then
// paused, mid-evaluation). It counts evaluations running at once across
// every Service that shares it.
type labelEvaluator struct {
	hold    chan struct{} // nil: no holding
	entered chan struct{}
	shared  *concurrency
}

type concurrency struct {
	mu                  sync.Mutex
	running, maxRunning int
}

func (c *concurrency) enter() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running++
	c.maxRunning = max(c.maxRunning, c.running)
}

func (c *concurrency) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running--
}

func (e *labelEvaluator) Evaluate(_ context.Context, input any) (gatekeeper.Decision, error) {
	if e.shared != nil {
		e.shared.enter()
		defer e.shared.leave()
	}
	if e.hold != nil {
		e.entered <- struct{}{}
		<-e.hold
	}
	if e.shared != nil {
		time.Sleep(5 * time.Millisecond) // long enough to overlap if allowed
	}
	var labels []string
	if in, _ := input.(*gatekeeper.Input); in != nil && in.PullRequest != nil {
		labels = in.PullRequest.Labels
	}
	if slices.Contains(labels, "blocked") {
		return gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"blocked"}}, nil
	}
	return gatekeeper.Decision{State: gatekeeper.Success}, nil
}
func (e *labelEvaluator) Revision() string { return "label" }
func (e *labelEvaluator) Ready() error     { return nil }

// pausable is a Leaser whose Renew hangs while paused: the renewals of a
// process that SIGSTOP froze.
type pausable struct {
	gatekeeper.Leaser
	mu     sync.Mutex
	paused chan struct{} // non-nil while paused; closed to resume
}

func (p *pausable) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = make(chan struct{})
}

func (p *pausable) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.paused)
	p.paused = nil
}

func (p *pausable) Renew(ctx context.Context, key gatekeeper.PullKey, owner string, token uint64, ttl time.Duration) (bool, error) {
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	if paused != nil {
		<-paused
	}
	return p.Leaser.Renew(ctx, key, owner, token, ttl)
}

// leaseCounter is an Observer that counts the steps refused for a lost lease.
type leaseCounter struct {
	lost atomic.Int64
}

func (*leaseCounter) Evaluated(time.Duration, gatekeeper.State) {}
func (*leaseCounter) Published(gatekeeper.State, error)         {}
func (*leaseCounter) QueueDepth(int)                            {}
func (c *leaseCounter) LeaseLost(string)                        { c.lost.Add(1) }

const testTTL = 300 * time.Millisecond

// TestPausedReplicaCannotPostAnOlderDecision: replica A is mid-evaluation
// of a pull request that would pass when it is frozen; new evidence (the
// "blocked" label) reaches replica B, which takes the lease over once A's
// expired and posts failure; then A wakes up and must not post its older
// success over B's failure.
func TestPausedReplicaCannotPostAnOlderDecision(t *testing.T) {
	t.Parallel()
	store := gatekeepertest.NewStore(gatekeeper.SystemClock{})
	frozen := &pausable{Leaser: store}
	evA := &labelEvaluator{hold: make(chan struct{}), entered: make(chan struct{}, 10)}
	obsA := &leaseCounter{}
	a := startWith(t, gatekeeper.Options{Store: store, Evaluator: evA, Leaser: frozen, LeaseTTL: testTTL, ReplicaID: "a", Observer: obsA})
	t.Cleanup(func() { // a failure must not leave A held for ever
		select {
		case <-evA.hold:
		default:
			close(evA.hold)
		}
	})
	a.accept(t, opened(head, t0))
	select {
	case <-evA.entered: // A holds the lease and evaluates the unlabelled pull request
	case <-time.After(10 * time.Second):
		t.Fatal("A never evaluated")
	}
	frozen.pause()
	t.Cleanup(func() {
		frozen.mu.Lock()
		defer frozen.mu.Unlock()
		if frozen.paused != nil {
			close(frozen.paused)
			frozen.paused = nil
		}
	})
	b := startWith(t, gatekeeper.Options{Store: store, Evaluator: &labelEvaluator{}, LeaseTTL: testTTL, ReplicaID: "b"})
	paused := time.Now()

	blocked := opened(head, t0.Add(time.Minute))
	blocked.PullRequest.Labels = []string{"blocked"}
	b.accept(t, blocked)
	got := b.wait(t, 1)
	took := time.Since(paused)
	if got[0].Status.State != gatekeeper.Failure {
		t.Fatalf("B posted %s, want failure", got[0].Status.State)
	}
	if took > testTTL+2*time.Second {
		t.Errorf("B took the work over %s after A froze, want within the lease ttl (%s) and 2s", took, testTTL)
	}

	// A wakes up and finishes its old evaluation.
	frozen.resume()
	close(evA.hold)
	deadline := time.Now().Add(5 * time.Second)
	for obsA.lost.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if obsA.lost.Load() == 0 {
		t.Fatal("A never noticed it lost the lease")
	}
	time.Sleep(3 * testTTL) // time for a late post to show
	a.stop()
	b.stop()
	if p := a.pub.Published(); len(p) != 0 {
		t.Fatalf("A posted %v after losing its lease", p)
	}
	if p := b.pub.Published(); p[len(p)-1].Status.State != gatekeeper.Failure {
		t.Fatalf("the last status is %s, want B's failure", p[len(p)-1].Status.State)
	}
	recs, err := store.Decisions(context.Background(), key, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Decision.State == gatekeeper.Success {
			t.Errorf("A recorded its older success after losing its lease: %+v", r.Decision)
		}
	}
}

// TestReplicasNeverEvaluateOnePullAtOnce sends a stream of events for one
// pull request to two replicas in turn: each is evaluated, and never by
// both at once.
func TestReplicasNeverEvaluateOnePullAtOnce(t *testing.T) {
	t.Parallel()
	store := gatekeepertest.NewStore(gatekeeper.SystemClock{})
	shared := &concurrency{}
	a := startWith(t, gatekeeper.Options{Store: store, Evaluator: &labelEvaluator{shared: shared}, LeaseTTL: testTTL, ReplicaID: "a", Debounce: -1})
	b := startWith(t, gatekeeper.Options{Store: store, Evaluator: &labelEvaluator{shared: shared}, LeaseTTL: testTTL, ReplicaID: "b", Debounce: -1})
	for i := range 40 {
		e := opened(head, t0.Add(time.Duration(i)*time.Second))
		if i%2 == 0 {
			a.accept(t, e)
		} else {
			b.accept(t, e)
		}
		time.Sleep(2 * time.Millisecond)
	}
	last := opened(head, t0.Add(time.Hour))
	last.PullRequest.Labels = []string{"blocked"}
	b.accept(t, last)
	b.settle(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.maxRunning != 1 {
		t.Errorf("%d evaluations of one pull request ran at once on two replicas", shared.maxRunning)
	}
	recs, err := store.Decisions(context.Background(), key, 1)
	if err != nil || len(recs) != 1 || recs[0].Decision.State != gatekeeper.Failure {
		t.Errorf("latest decision %+v (%v), want the last event's failure", recs, err)
	}
}

// losingLeaser is a Leaser whose lease is gone (taken over) once lost is
// set: Renew reports false and Acquire refuses.
type losingLeaser struct {
	gatekeeper.Leaser
	lost atomic.Bool
}

func (l *losingLeaser) Acquire(ctx context.Context, k gatekeeper.PullKey, owner string, ttl time.Duration) (uint64, bool, error) {
	if l.lost.Load() {
		return 0, false, nil
	}
	return l.Leaser.Acquire(ctx, k, owner, ttl)
}

func (l *losingLeaser) Renew(ctx context.Context, k gatekeeper.PullKey, owner string, token uint64, ttl time.Duration) (bool, error) {
	if l.lost.Load() {
		return false, nil
	}
	return l.Leaser.Renew(ctx, k, owner, token, ttl)
}

// flakySettler is a store whose first Settle fails (Redis briefly away)
// and, meanwhile, the lease is taken over.
type flakySettler struct {
	*boltstore.Store
	leaser  *losingLeaser
	settles atomic.Int64
}

func (f *flakySettler) Settle(ctx context.Context, k gatekeeper.PullKey, st gatekeeper.Settlement) (*gatekeeper.Evidence, bool, error) {
	if f.settles.Add(1) == 1 {
		f.leaser.lost.Store(true)
		return nil, false, errors.New("connection refused")
	}
	return f.Store.Settle(ctx, k, st)
}

// TestDryRunRecordRetryChecksTheLease: a dry run records its evaluation in
// the single write that settles the post, asked again while the store is
// briefly away; a replica that lost its lease in those seconds must not
// record on the retry.
func TestDryRunRecordRetryChecksTheLease(t *testing.T) {
	t.Parallel()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "gate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	leaser := &losingLeaser{Leaser: gatekeepertest.NewStore(gatekeeper.SystemClock{})}
	store := &flakySettler{Store: bs, leaser: leaser}
	obs := &leaseCounter{}
	svc, stop := runService(t, gatekeeper.Options{
		Store: store, Leaser: leaser, Publisher: gatekeepertest.NewPublisher(true), Evaluator: &labelEvaluator{}, Observer: obs,
		Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "master"}}, PublicURL: "https://gate.example/", Debounce: -1,
	})
	if out, err := svc.Accept(context.Background(), opened(head, t0)); err != nil || out != gatekeeper.Accepted {
		t.Fatalf("Accept = %s, %v", out, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for obs.lost.Load() == 0 && store.settles.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the record was neither retried nor refused")
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop()
	recs, err := bs.Decisions(context.Background(), key, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("recorded %+v after losing the lease", recs)
	}
	if obs.lost.Load() == 0 {
		t.Error("the lost lease was not counted")
	}
}
