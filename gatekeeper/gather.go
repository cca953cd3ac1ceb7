package gatekeeper

import (
	"context"
	"sync"
	"time"
)

// DefaultGatherTimeout is how long an evaluation waits for one evidence
// source before it goes on without that source's answer.
const DefaultGatherTimeout = 10 * time.Second

const (
	// gatherCap bounds one source's work for one pull request, however
	// long the evaluations stopped waiting for it: then it is an error,
	// counted towards SourceErrorLimit. (Each call has its own timeout;
	// this catches a source that is slow call after call.)
	gatherCap = 5 * time.Minute
	// gatherFresh is how long the answer of a source that overran is kept
	// for the next evaluation of its pull request (which its end queued).
	// An older one is dropped and the source asked again.
	gatherFresh = time.Minute
)

// gathers lets a source that is slow keep working after the evaluation
// that asked it stopped waiting, so that one slow outside system holds
// neither a worker nor the evidence already stored, and so that a
// slow-but-healthy source (ZenHub waiting out its rate limit) still
// answers: its answer queues the pull request again and is used by the
// next evaluation instead of asking again. One call per source and pull
// request at a time.
//
// An answer is about the head it was asked about (the evidence the call
// started with): it is used only by an evaluation of that same head. When
// the head has moved meanwhile (a push while the merged-pulls list was
// being paged), the old head's answer is dropped, never judged as the new
// head's, and the source is asked again about the new one once the old
// call has ended; until then the source counts as slow, which never lets
// a success through.
type gathers struct {
	mu    sync.Mutex
	calls map[gatherKey]*gatherCall
	base  context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

type gatherKey struct {
	source string
	key    PullKey
}

type gatherCall struct {
	started time.Time
	// head is the head sha of the evidence the call was asked about.
	head string
	done chan struct{}
	// Set before done is closed.
	ended  time.Time
	events []Event
	err    error
	// abandoned: an evaluation stopped waiting; the call's end queues the
	// pull request again. Guarded by gathers.mu.
	abandoned bool
}

func newGathers() *gathers {
	ctx, cancel := context.WithCancel(context.Background())
	return &gathers{calls: map[gatherKey]*gatherCall{}, base: ctx, stop: cancel}
}

// close cancels the calls still running and waits for them; calls made
// later (a Service run again) start afresh.
func (g *gathers) close() {
	g.mu.Lock()
	stop := g.stop
	g.base, g.stop = context.WithCancel(context.Background())
	g.mu.Unlock()
	stop()
	g.wg.Wait()
}

// ask returns src's answer about ev: the events and error of its Gather,
// or slow when it did not answer within the timeout counted from when it
// was asked (an evaluation after the first that gave up does not wait
// again). A slow call goes on and queues the pull request when it ends.
func (s *Service) ask(ctx context.Context, src Source, ev *Evidence) (events []Event, err error, slow bool) {
	g := s.gathers
	k := gatherKey{source: src.Name(), key: ev.Key}
	head := ev.HeadSHA()
	now := time.Now()
	g.mu.Lock()
	c := g.calls[k]
	if c != nil && c.head != head {
		if c.ended.IsZero() {
			// Still working on another head: its answer is not this
			// head's. The call goes on (one at a time) and queues the
			// pull request when it ends; this head is asked about
			// then.
			c.abandoned = true
			g.mu.Unlock()
			return nil, nil, true
		}
		c = nil // an answer about another head: ask again
	}
	if c != nil && !c.ended.IsZero() && now.Sub(c.ended) > gatherFresh {
		c = nil // an old answer: ask again
	}
	if c == nil {
		for ok, old := range g.calls {
			if !old.ended.IsZero() && now.Sub(old.ended) > gatherFresh {
				delete(g.calls, ok) // answers nobody came back for
			}
		}
		c = &gatherCall{started: now, head: head, done: make(chan struct{})}
		g.calls[k] = c
		g.wg.Add(1)
		go s.call(g, g.base, k, c, src, ev.Clone())
	}
	g.mu.Unlock()

	timer := time.NewTimer(max(time.Until(c.started.Add(s.o.GatherTimeout)), 0))
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-c.done:
		if g.calls[k] == c {
			delete(g.calls, k) // used: the next evaluation asks again
		}
		return c.events, c.err, false
	default:
	}
	c.abandoned = true
	if ctx.Err() != nil {
		return nil, ctx.Err(), false
	}
	return nil, nil, true
}

// call runs one Gather, bounded by gatherCap and the service's life.
func (s *Service) call(g *gathers, base context.Context, k gatherKey, c *gatherCall, src Source, ev *Evidence) {
	defer g.wg.Done()
	ctx, cancel := context.WithTimeout(base, gatherCap)
	events, err := src.Gather(ctx, ev)
	cancel()
	g.mu.Lock()
	c.ended, c.events, c.err = time.Now(), events, err
	close(c.done)
	abandoned := c.abandoned
	g.mu.Unlock()
	if !abandoned || base.Err() != nil {
		return
	}
	took := c.ended.Sub(c.started)
	s.log.InfoContext(base, "a slow evidence source answered; evaluating again", "source", k.source, "pr", k.key.String(),
		"took", took.Round(time.Millisecond).String(), "err", err)
	if err := s.Enqueue(base, k.key); err != nil {
		s.log.ErrorContext(base, "queueing a pull request after a slow source answered", "source", k.source, "pr", k.key.String(), "err", err)
	}
}
