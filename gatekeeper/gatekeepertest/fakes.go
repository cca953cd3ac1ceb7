package gatekeepertest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Evaluator is a gatekeeper.Evaluator that returns a set decision and keeps
// every input it was asked to evaluate.
type Evaluator struct {
	mu       sync.Mutex
	decision gatekeeper.Decision
	err      error
	ready    error
	revision string
	inputs   []any
}

var _ gatekeeper.Evaluator = (*Evaluator)(nil)

// NewEvaluator returns an Evaluator that answers d, is ready, and reports
// revision as its policy revision.
func NewEvaluator(d gatekeeper.Decision, revision string) *Evaluator {
	return &Evaluator{decision: d, revision: revision}
}

// Decide sets what later evaluations return; a non-nil err is returned
// wrapped in gatekeeper.ErrPolicy, as a broken policy would be.
func (e *Evaluator) Decide(d gatekeeper.Decision, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.decision, e.err = d, err
}

// SetReady sets what Ready returns: nil for a loaded policy.
func (e *Evaluator) SetReady(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ready = err
}

// Evaluate implements gatekeeper.Evaluator.
func (e *Evaluator) Evaluate(_ context.Context, input any) (gatekeeper.Decision, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inputs = append(e.inputs, input)
	d := e.decision
	d.Reasons = append([]string(nil), d.Reasons...)
	d.Waiting = append([]string(nil), d.Waiting...)
	d.Passes = append([]string(nil), d.Passes...)
	if e.err != nil {
		return d, fmt.Errorf("evaluating data.gatekeeper.decision: %w: %w", gatekeeper.ErrPolicy, e.err)
	}
	return d, nil
}

// Revision implements gatekeeper.Evaluator.
func (e *Evaluator) Revision() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.revision
}

// Ready implements gatekeeper.Evaluator.
func (e *Evaluator) Ready() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ready
}

// Inputs returns the input documents evaluated so far, oldest first, as
// plain maps (a *gatekeeper.Input through its Map).
func (e *Evaluator) Inputs() []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]map[string]any, len(e.inputs))
	for i, in := range e.inputs {
		switch x := in.(type) {
		case *gatekeeper.Input:
			out[i] = x.Map()
		case map[string]any:
			out[i] = x
		}
	}
	return out
}

// Published is one status a Publisher was asked to send.
type Published struct {
	Key    gatekeeper.PullKey
	SHA    string
	Status gatekeeper.Status
}

// Publisher is a gatekeeper.Publisher that keeps the statuses it is asked
// to send instead of sending them.
type Publisher struct {
	dryRun bool

	mu        sync.Mutex
	err       error
	published []Published
	changed   chan struct{} // closed and replaced on every Publish
}

var _ gatekeeper.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher whose DryRun reports dryRun.
func NewPublisher(dryRun bool) *Publisher {
	return &Publisher{dryRun: dryRun, changed: make(chan struct{})}
}

// Fail makes later Publish calls return err (nil: succeed again). A failed
// call is not kept: the status was not sent.
func (p *Publisher) Fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// Publish implements gatekeeper.Publisher.
func (p *Publisher) Publish(_ context.Context, key gatekeeper.PullKey, sha string, st gatekeeper.Status) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return fmt.Errorf("posting status for %s@%s: %w", key, sha, p.err)
	}
	p.published = append(p.published, Published{Key: key, SHA: sha, Status: st})
	close(p.changed)
	p.changed = make(chan struct{})
	return nil
}

// DryRun implements gatekeeper.Publisher.
func (p *Publisher) DryRun() bool { return p.dryRun }

// PublisherLogin is the creator login a Publisher that is not a dry run
// reports, as GitHub would for the token's user.
const PublisherLogin = "gatekeeper-bot"

// Login implements gatekeeper.Publisher: PublisherLogin, "" in a dry run.
func (p *Publisher) Login() string {
	if p.dryRun {
		return ""
	}
	return PublisherLogin
}

// Published returns the statuses sent so far, oldest first.
func (p *Publisher) Published() []Published {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Published(nil), p.published...)
}

// Wait blocks until at least n statuses were sent, and returns them; it
// gives up with ctx's error. It lets a test follow the Service's
// asynchronous workers without sleeping.
func (p *Publisher) Wait(ctx context.Context, n int) ([]Published, error) {
	for {
		p.mu.Lock()
		got, changed := p.published, p.changed
		p.mu.Unlock()
		if len(got) >= n {
			return append([]Published(nil), got...), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return append([]Published(nil), got...), fmt.Errorf("waiting for %d statuses, have %d: %w", n, len(got), ctx.Err())
		}
	}
}

// Clock is a gatekeeper.Clock that stands still until Set or Advance moves
// it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

var _ gatekeeper.Clock = (*Clock)(nil)

// NewClock returns a Clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now implements gatekeeper.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
