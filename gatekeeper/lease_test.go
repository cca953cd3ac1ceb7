package gatekeeper_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
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

func (e *labelEvaluator) Evaluate(_ context.Context, in map[string]any) (gatekeeper.Decision, error) {
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
	labels, _ := in["pull_request"].(map[string]any)["labels"].([]any)
	if slices.Contains(labels, any("blocked")) {
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
