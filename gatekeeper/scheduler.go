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
// durable queue is the Store; the scheduler keeps only hints in memory:
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
}

func newScheduler(s *Service) *scheduler {
	return &scheduler{s: s, marks: make(chan PullKey, 4096)}
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
				done <- outcome{k, sc.safeEvaluate(workCtx, k)}
			}
		}()
	}
	stop := make(chan struct{})
	defer close(stop)
	retry := make(chan PullKey)

	var (
		queue     []PullKey
		inQueue   = map[PullKey]bool{}
		running   = map[PullKey]bool{}
		again     = map[PullKey]bool{}
		attempts  = map[PullKey]int{}
		notBefore = map[PullKey]time.Time{}
	)
	add := func(k PullKey) {
		switch {
		case running[k]:
			again[k] = true
		case inQueue[k]:
		case s.o.Clock.Now().Before(notBefore[k]):
			// its retry timer will add it
		default:
			queue = append(queue, k)
			inQueue[k] = true
		}
	}
	// later queues k after d; until then notifications for k add nothing.
	later := func(k PullKey, d time.Duration) {
		notBefore[k] = s.o.Clock.Now().Add(d)
		time.AfterFunc(d, func() {
			select {
			case retry <- k:
			case <-stop:
			}
		})
	}
	// notified handles new evidence for k: a burst of webhooks (a push
	// brings the synchronize, then statuses and check runs) is taken in
	// one evaluation after Debounce, rather than one evaluation each.
	notified := func(k PullKey) {
		_, armed := notBefore[k] // a debounce or a retry is on its way
		switch {
		case running[k]:
			again[k] = true
		case inQueue[k], armed:
		case s.o.Debounce <= 0:
			add(k)
		default:
			later(k, s.o.Debounce)
		}
	}
	rescan := func() {
		items, err := s.o.Store.Queued(ctx)
		if err != nil {
			s.log.ErrorContext(ctx, "reading the queue", "err", err)
			return
		}
		for _, it := range items {
			notified(it.Key)
		}
	}
	rescan()

	// background runs the timer's reconcile and delivery-id janitor, one of
	// each at a time; run returns only after they have, so that the caller
	// may close the Store.
	var background sync.WaitGroup
	var reconciling, forgetting atomic.Bool
	spawn := func(busy *atomic.Bool, job func(context.Context)) {
		if !busy.CompareAndSwap(false, true) {
			return // the previous one is still at it
		}
		background.Add(1)
		go func() {
			defer background.Done()
			defer busy.Store(false)
			job(ctx)
		}()
	}

	rescanTick := time.NewTicker(s.o.Rescan)
	defer rescanTick.Stop()
	reconcileTick := time.NewTicker(s.o.Reconcile)
	defer reconcileTick.Stop()
	janitorTick := time.NewTicker(time.Hour)
	defer janitorTick.Stop()

	for {
		var out chan PullKey
		var next PullKey
		if len(queue) > 0 {
			out, next = work, queue[0]
		}
		select {
		case <-ctx.Done():
			sc.drain(running, done, cancelWork)
			close(work)
			wg.Wait()
			background.Wait()
			return nil
		case k := <-sc.marks:
			notified(k)
		case out <- next:
			queue = queue[1:]
			delete(inQueue, next)
			running[next] = true
		case o := <-done:
			delete(running, o.key)
			if o.err != nil {
				attempts[o.key]++
				d := s.backoff(attempts[o.key])
				if !errors.Is(o.err, errRetry) {
					s.log.ErrorContext(ctx, "evaluating", "pr", o.key.String(), "attempt", attempts[o.key], "retry_in", d.String(), "err", o.err)
				}
				later(o.key, d)
			} else {
				delete(attempts, o.key)
			}
			if again[o.key] {
				delete(again, o.key)
				notified(o.key)
			}
		case k := <-retry:
			delete(notBefore, k)
			add(k)
		case <-rescanTick.C:
			rescan()
		case <-reconcileTick.C:
			spawn(&reconciling, sc.reconcile)
		case <-janitorTick.C:
			spawn(&forgetting, sc.forget)
		}
		s.o.Observer.QueueDepth(len(queue) + len(running))
	}
}

// drain waits for the evaluations in flight, cancelling them after
// DrainTimeout. What they had not finished stays queued in the Store.
func (sc *scheduler) drain(running map[PullKey]bool, done <-chan outcome, cancel context.CancelFunc) {
	timer := time.NewTimer(sc.s.o.DrainTimeout)
	defer timer.Stop()
	for len(running) > 0 {
		select {
		case o := <-done:
			delete(running, o.key)
		case <-timer.C:
			cancel()
		}
	}
}

// safeEvaluate turns a panic in one evaluation into an error, so that one
// bad pull request cannot stop the workers.
func (sc *scheduler) safeEvaluate(ctx context.Context, key PullKey) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while evaluating: %v", r)
		}
	}()
	return sc.s.evaluate(ctx, key)
}

// reconcile runs Service.Reconcile on the timer.
func (sc *scheduler) reconcile(ctx context.Context) {
	if err := sc.s.Reconcile(ctx); err != nil {
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
