package gatekeeper_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// slowSource is a Jenkins that answers (with nothing new) after delay, or
// never (until its context ends) for the pull requests in stall.
type slowSource struct {
	delay time.Duration
	mu    sync.Mutex
	stall map[gatekeeper.PullKey]bool
	calls atomic.Int32
}

func (s *slowSource) Name() string { return "jenkins" }
func (s *slowSource) Gather(ctx context.Context, ev *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	s.calls.Add(1)
	s.mu.Lock()
	d := s.delay
	if s.stall[ev.Key] {
		d = time.Hour
	}
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(d):
		return nil, nil
	}
}

func (s *slowSource) stallOn(k gatekeeper.PullKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stall == nil {
		s.stall = map[gatekeeper.PullKey]bool{}
	}
	s.stall[k] = true
}

// A source slower than GatherTimeout but healthy is not pending for ever:
// its answer, when it comes, queues the pull request again and is used,
// without asking again; meanwhile nothing is posted (a pass waits for it,
// and an old status does not flap to pending).
func TestSlowSourceAnswerIsUsed(t *testing.T) {
	t.Parallel()
	src := &slowSource{delay: 300 * time.Millisecond}
	h := startWith(t, gatekeeper.Options{Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Success}, "rev1"),
		Sources: []gatekeeper.Source{src}, GatherTimeout: 50 * time.Millisecond})
	h.accept(t, opened(head, t0))
	got := h.wait(t, 1)
	if got[0].Status.State != gatekeeper.Success {
		t.Errorf("first status %+v, want success once the slow source answered", got[0].Status)
	}
	h.settle(t)
	if n := src.calls.Load(); n != 1 {
		t.Errorf("the source was asked %d times, want once (its late answer is used, not asked for again)", n)
	}
	if got := h.pub.Published(); len(got) != 1 {
		t.Errorf("published %+v, want only the success", got)
	}
}

// The defect: a source that stalls held the evaluation, so a decision
// that got worse meanwhile (a NOGO) was not posted while the old success
// stood. Now what the stored evidence says is posted after GatherTimeout
// when it is not a pass.
func TestSlowSourceDoesNotHoldBackAWorseDecision(t *testing.T) {
	t.Parallel()
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Success}, "rev1")
	src := &slowSource{}
	h := startWith(t, gatekeeper.Options{Evaluator: ev, Sources: []gatekeeper.Source{src}, GatherTimeout: 100 * time.Millisecond})
	h.accept(t, opened(head, t0))
	if got := h.wait(t, 1); got[0].Status.State != gatekeeper.Success {
		t.Fatalf("first status %+v, want success", got[0].Status)
	}
	h.settle(t)
	src.stallOn(key)
	ev.Decide(gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"QA veto by qa-carol"}}, nil)
	asked := time.Now()
	if err := h.svc.Enqueue(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := h.pub.Wait(ctx, 2)
	if err != nil {
		t.Fatalf("5s after the decision turned to failure, the old success still stands (the source stalls): %v", err)
	}
	if got[1].Status.State != gatekeeper.Failure {
		t.Errorf("second status %+v, want failure", got[1].Status)
	}
	t.Logf("failure posted %s after it was asked for", time.Since(asked).Round(time.Millisecond))
}

// A source that stalls on one pull request holds a worker for at most
// GatherTimeout: another pull request, on the only worker, is decided
// meanwhile. The stalled one posts no pass.
func TestStalledSourceHoldsNoWorker(t *testing.T) {
	t.Parallel()
	src := &slowSource{}
	stalled := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 8}
	src.stallOn(stalled)
	h := startWith(t, gatekeeper.Options{Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Success}, "rev1"),
		Sources: []gatekeeper.Source{src}, GatherTimeout: 100 * time.Millisecond, Workers: 1})
	first := opened("1111111111111111111111111111111111111111", t0)
	first.Key, first.PullRequest.Key = stalled, stalled
	h.accept(t, first)
	time.Sleep(20 * time.Millisecond) // the stalled one is taken first
	h.accept(t, opened(head, t0))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := h.pub.Wait(ctx, 1)
	if err != nil {
		t.Fatalf("no status within 5s: one stalled source holds the only worker")
	}
	if got[0].Key != key || got[0].Status.State != gatekeeper.Success {
		t.Errorf("first status %+v %+v, want success for %s", got[0].Key, got[0].Status, key)
	}
	for _, p := range h.pub.Published() {
		if p.Key == stalled {
			t.Errorf("posted %+v for the pull request whose source never answered", p.Status)
		}
	}
}
