package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// scheduler hands queued pull requests to a fixed pool of workers. The
// durable queue is the Store; what the scheduler decides is the machine's
// (machine.go), and this loop only feeds it: notifications, outcomes, the
// time. Of several replicas sharing a store, each evaluates a pull request
// only under its lease (lease.go): one that another replica holds waits a
// pause and is tried again, and what a replica that died left queued is
// found by the rescan once its lease expired.
//
//   - a pull request is never evaluated by two workers at once: while it
//     runs, new notifications for it only set "again", and it is queued once
//     more when the worker finishes;
//   - a pull request whose evaluation failed waits for its backoff before it
//     is handed out again, even if notifications arrive meanwhile;
//   - notifications are best effort (a full channel drops them): the queue is
//     read back from the Store at start and every Rescan, so nothing queued is
//     forgotten.
type scheduler struct {
	s     *Service
	marks chan PullKey
	// now is the machine's clock: the real one. (Service.Clock is the
	// decisions' clock; tests stop it, and time must still pass here.)
	now func() time.Time
}

func newScheduler(s *Service) *scheduler {
	return &scheduler{s: s, marks: make(chan PullKey, 4096), now: time.Now}
}

// notify tells the dispatcher that key was queued in the Store. It never
// blocks: it runs on the webhook request path.
func (sc *scheduler) notify(key PullKey) {
	select {
	case sc.marks <- key:
	default: // the next rescan finds it in the Store
	}
}

type outcome struct {
	key PullKey
	err error
}

// busyPause is how long a pull request whose lease another replica holds
// waits before this replica tries again.
func (s *Service) busyPause() time.Duration {
	return max(s.o.LeaseTTL/10, 50*time.Millisecond)
}

func (sc *scheduler) run(ctx context.Context) error {
	s := sc.s
	// Evaluations in flight outlive ctx for up to DrainTimeout.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	work := make(chan PullKey)
	done := make(chan outcome)
	var wg sync.WaitGroup
	for range s.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				sc.work(workCtx, k, func(err error) { done <- outcome{k, err} })
			}
		}()
	}
	m := newMachine(s.o.Debounce, s.busyPause(), s.backoff)

	// The timers' jobs (rescan, reconcile, delivery-id janitor) run one of
	// each at a time, tracked: run returns only after they have, so that
	// the caller may close the Store.
	var chores sync.WaitGroup
	defer chores.Wait()
	chore := func(running *atomic.Bool, f func(context.Context)) {
		if !running.CompareAndSwap(false, true) {
			return // the last one is still at it
		}
		chores.Add(1)
		go func() {
			defer chores.Done()
			defer running.Store(false)
			f(ctx)
		}()
	}
	var rescanning, reconciling, forgetting, lookingUp atomic.Bool
	rescanned := make(chan []PullKey, 1)
	rescan := func(ctx context.Context) {
		items, err := s.o.Store.Queued(ctx)
		if err != nil {
			s.log.ErrorContext(ctx, "reading the queue", "err", err)
			return
		}
		keys := make([]PullKey, len(items))
		for i, it := range items {
			keys[i] = it.Key
		}
		select {
		case rescanned <- keys:
		case <-ctx.Done():
		}
	}
	chore(&rescanning, rescan)

	rescanTick := time.NewTicker(s.o.Rescan)
	defer rescanTick.Stop()
	reconcileTick := time.NewTicker(s.o.Reconcile)
	defer reconcileTick.Stop()
	janitorTick := time.NewTicker(time.Hour)
	defer janitorTick.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()

	for {
		now := sc.now()
		var out chan PullKey
		next, ok := m.peek(now)
		if ok {
			out = work
		}
		if at, ok := m.wake(); ok {
			wake.Reset(max(at.Sub(now), 0))
		} else {
			wake.Reset(time.Hour)
		}
		s.o.Observer.QueueDepth(m.depth())
		select {
		case <-ctx.Done():
			sc.drain(m.inFlight(), done, cancelWork)
			close(work)
			wg.Wait()
			chores.Wait() // then the caller may close the Store
			sc.s.releaseReconciler(context.WithoutCancel(ctx))
			return nil
		case k := <-sc.marks:
			m.notify(k, sc.now())
		case keys := <-rescanned:
			for _, k := range keys {
				m.notify(k, sc.now())
			}
		case out <- next:
			m.next(now)
		case o := <-done:
			sc.finished(ctx, m, o)
		case <-wake.C:
		case <-rescanTick.C:
			chore(&rescanning, rescan)
		case <-reconcileTick.C:
			chore(&reconciling, sc.reconcile)
		case <-janitorTick.C:
			chore(&forgetting, sc.forget)
		case <-s.disc.wake:
			chore(&lookingUp, s.lookUp)
		}
	}
}

// finished gives the machine an evaluation's outcome, and logs failures.
func (sc *scheduler) finished(ctx context.Context, m *machine, o outcome) {
	now := sc.now()
	switch {
	case o.err == nil:
		m.finish(o.key, succeeded, now)
	case errors.Is(o.err, errBusy):
		m.finish(o.key, busyElsewhere, now)
		sc.s.log.DebugContext(ctx, "another replica holds the lease; trying again later", "pr", o.key.String(),
			"retry_in", sc.s.busyPause().String())
	case errors.Is(o.err, ErrLeaseLost):
		// Taken over while it ran: the newer holder has it. Look again
		// after the pause, in case that one died too.
		sc.s.log.WarnContext(ctx, "evaluation stopped: lease lost", "pr", o.key.String(), "err", o.err)
		m.finish(o.key, busyElsewhere, now)
	default:
		m.finish(o.key, failed, now)
		if !errors.Is(o.err, errRetry) {
			sc.s.log.ErrorContext(ctx, "evaluating", "pr", o.key.String(), "attempt", m.attempts(o.key),
				"retry_in", m.slots[o.key].at.Sub(now).String(), "err", o.err)
		}
	}
}

// work evaluates key under its lease, and hands what the evaluation
// posts to the post queue: the worker does not wait for GitHub. finish is
// called once with the outcome, by the worker or by the post queue, after
// the lease was given up.
func (sc *scheduler) work(ctx context.Context, key PullKey, finish func(error)) {
	l, err := sc.s.acquire(ctx, key)
	if err != nil {
		finish(err)
		return
	}
	end := func(err error) {
		if err != nil && l.lost() && !errors.Is(err, ErrLeaseLost) {
			err = fmt.Errorf("%w: %w", ErrLeaseLost, err)
		}
		l.end()
		finish(err)
	}
	post, err := sc.safeEvaluate(l.ctx, key)
	if err != nil || post == nil {
		end(err)
		return
	}
	sc.s.postQ.submit(key, func() { end(safely(func() error { return post(l.ctx) })) })
}

// drain waits for the n evaluations in flight, cancelling them after
// DrainTimeout. What they had not finished stays queued in the Store.
func (sc *scheduler) drain(n int, done <-chan outcome, cancel context.CancelFunc) {
	timer := time.NewTimer(sc.s.o.DrainTimeout)
	defer timer.Stop()
	for n > 0 {
		select {
		case <-done:
			n--
		case <-timer.C:
			cancel()
		}
	}
}

// safeEvaluate turns a panic in one evaluation into an error, so that one
// bad pull request cannot stop the workers.
func (sc *scheduler) safeEvaluate(ctx context.Context, key PullKey) (post func(context.Context) error, err error) {
	err = safely(func() error {
		var err error
		post, err = sc.s.evaluate(ctx, key)
		return err
	})
	return post, err
}

// safely runs f, turning a panic into an error.
func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while evaluating: %v", r)
		}
	}()
	return f()
}

// reconcile runs Service.Reconcile on the timer.
func (sc *scheduler) reconcile(ctx context.Context) {
	if _, err := sc.s.ReconcileTick(ctx); err != nil {
		sc.s.log.ErrorContext(ctx, "reconciling", "err", err)
	}
}

func (sc *scheduler) forget(ctx context.Context) {
	s := sc.s
	n, err := s.o.Store.ForgetDeliveries(ctx, s.o.Clock.Now().Add(-s.o.DeliveryTTL))
	if err != nil {
		s.log.ErrorContext(ctx, "forgetting old delivery ids", "err", err)
		return
	}
	s.log.DebugContext(ctx, "forgot old delivery ids", "count", n)
}
