package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	// listOpen asks for a discovery round (Service.discover).
	listOpen chan struct{}
	// now is the machine's clock: the real one. (Service.Clock is the
	// decisions' clock; tests stop it, and time must still pass here.)
	now func() time.Time
}

func newScheduler(s *Service) *scheduler {
	return &scheduler{s: s, marks: make(chan PullKey, 4096), listOpen: make(chan struct{}, 1), now: time.Now}
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

	// The chores each run in a goroutine of their own, one run at a time,
	// so that a slow one (GitHub listing open pull requests) holds back
	// nothing but itself. They only queue work: what they find reaches
	// this loop through the Store and notify, or rescanned. run returns
	// only after they have, so that the caller may close the Store.
	var chores sync.WaitGroup
	defer chores.Wait()
	chore := func(f func()) {
		chores.Add(1)
		go func() {
			defer chores.Done()
			f()
		}()
	}
	rescanned := make(chan []PullKey, 1)
	chore(func() { every(ctx, s.o.Rescan, true, func(ctx context.Context) { sc.rescan(ctx, rescanned) }) })
	chore(func() { every(ctx, s.o.Reconcile, false, sc.reconcile) })
	chore(func() { every(ctx, time.Hour, false, sc.forget) })
	chore(func() { on(ctx, sc.listOpen, s.discover) })
	chore(func() { on(ctx, s.disc.wake, s.lookUp) })
	chore(func() { s.revisitAtWindowEdges(ctx) })

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
		}
	}
}

// every calls f every d until ctx ends, first at once when now is true.
// f never runs beside itself: of the ticks it overran one waits, to run
// it again at once, and the others are dropped (time.Ticker).
func every(ctx context.Context, d time.Duration, now bool, f func(context.Context)) {
	if now {
		f(ctx)
	}
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f(ctx)
		}
	}
}

// on calls f at every signal on c until ctx ends.
func on(ctx context.Context, c <-chan struct{}, f func(context.Context)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c:
			f(ctx)
		}
	}
}

// rescan reads the queue back from the Store, for the loop to notify.
func (sc *scheduler) rescan(ctx context.Context, to chan<- []PullKey) {
	items, err := sc.s.o.Store.Queued(ctx)
	if err != nil {
		sc.s.log.ErrorContext(ctx, "reading the queue", "err", err)
		return
	}
	keys := make([]PullKey, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	select {
	case to <- keys:
	case <-ctx.Done():
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

// reconcile runs Service.Reconcile on the timer, and asks the replica
// that did for a discovery round: that one runs apart (discover), so that
// GitHub listing slowly never delays the next reconcile.
func (sc *scheduler) reconcile(ctx context.Context) {
	held, err := sc.s.ReconcileTick(ctx)
	if err != nil {
		sc.s.log.ErrorContext(ctx, "reconciling", "err", err)
	}
	if held {
		select {
		case sc.listOpen <- struct{}{}:
		default: // one is asked for already
		}
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

// revisitAtWindowEdges evaluates every open gated pull request again as
// soon as the release window opens or closes (Options.WindowEdge), on
// the decisions' clock: a success posted inside the window turns pending
// at the close, not at whatever evaluation comes next. It looks at the
// clock at least every Rescan, so that a policy change moving the window
// and a clock that jumps are caught too.
func (s *Service) revisitAtWindowEdges(ctx context.Context) {
	if s.o.WindowEdge == nil {
		return
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	var edge time.Time // the edge waited for; zero: none
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := s.o.Clock.Now()
		if !edge.IsZero() && !now.Before(edge) {
			s.log.InfoContext(ctx, "the release window opened or closed: evaluating every open pull request again", "edge", edge)
			if err := s.Reconcile(ctx); err != nil {
				s.log.ErrorContext(ctx, "re-evaluating at the release window's edge", "err", err)
			}
		}
		wait := s.o.Rescan
		edge = time.Time{}
		if next, ok := s.o.WindowEdge(now); ok && next.After(now) {
			edge, wait = next, min(wait, next.Sub(now))
		}
		timer.Reset(wait)
	}
}
