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

// mergedSource lists the pull requests merged into the head it is asked
// about, as githubapi.MergedSource does: for headA #1 (linked to an
// issue), for any other head #1 and #2 (no link). A call about headA
// stalls until release is closed.
type mergedSource struct {
	headA   string
	release chan struct{}
	asked   atomic.Int32
}

func (s *mergedSource) Name() string { return "github-merged" }
func (s *mergedSource) Gather(ctx context.Context, ev *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	s.asked.Add(1)
	linked := gatekeeper.MergedPull{Number: 1, Links: []gatekeeper.IssueRef{{Owner: "acme", Repo: "shop", Number: 11}}}
	list := []gatekeeper.MergedPull{linked, {Number: 2}}
	if ev.HeadSHA() == s.headA {
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		list = list[:1]
	}
	return []gatekeeper.Event{{Name: "github.merged_pulls", Key: ev.Key, SHA: ev.HeadSHA(), MergedPulls: &list}}, nil
}

// linkPolicy passes when every merged pull request is linked to an
// issue, fails when one is not, and waits while the list is not known:
// people.rego's link rule, in short.
type linkPolicy struct{}

func (linkPolicy) Revision() string { return "links" }
func (linkPolicy) Ready() error     { return nil }
func (linkPolicy) Evaluate(_ context.Context, input any) (gatekeeper.Decision, error) {
	in := input.(*gatekeeper.Input)
	if !in.Links.MergedPullsKnown {
		return gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"merged pull requests"}}, nil
	}
	for _, p := range in.Links.MergedPulls {
		if len(p.Links) == 0 {
			return gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"unlinked merged pull request"}}, nil
		}
	}
	return gatekeeper.Decision{State: gatekeeper.Success}, nil
}

// F4: a slow source's answer is about the head it was asked about. When
// the head moves while the source is still working on the old one, its
// answer (head A's merged pull requests, all linked) is never judged as
// the new head's (which brought an unlinked one): no success on head B.
func TestSlowAnswerForOldHeadNotUsedForNewHead(t *testing.T) {
	t.Parallel()
	headB := "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
	src := &mergedSource{headA: head, release: make(chan struct{})}
	h := startWith(t, gatekeeper.Options{Evaluator: linkPolicy{}, Sources: []gatekeeper.Source{src}, GatherTimeout: 20 * time.Millisecond})
	h.accept(t, opened(head, t0))
	// Head A is asked about, and stalls.
	deadline := time.Now().Add(10 * time.Second)
	for src.asked.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the source was never asked")
		}
		time.Sleep(time.Millisecond)
	}
	h.settle(t)
	pushed := opened(headB, t0.Add(time.Minute))
	pushed.Name = "pull_request.synchronize"
	h.accept(t, pushed)
	h.settle(t)
	close(src.release) // head A's answer comes, after the push
	for n := 1; ; n++ {
		got := h.wait(t, n)
		p := got[n-1]
		if p.SHA != headB || p.Status.State == gatekeeper.Pending {
			continue
		}
		if p.Status.State != gatekeeper.Failure {
			t.Errorf("head B's status %+v, want failure (its own merged pull request #2 is unlinked; head A's list was judged as B's)", p.Status)
		}
		return
	}
}
