package gatekeeper_test

import (
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// lagObserver records StatusLag besides the plain Observer calls.
type lagObserver struct {
	mu   sync.Mutex
	lags []time.Duration
}

func (o *lagObserver) Evaluated(time.Duration, gatekeeper.State) {}
func (o *lagObserver) Published(gatekeeper.State, error)         {}
func (o *lagObserver) QueueDepth(int)                            {}
func (o *lagObserver) StatusLag(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lags = append(o.lags, d)
}

func (o *lagObserver) list() []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Duration(nil), o.lags...)
}

// TestStatusLagFromNewestDelivery: a posted status reports the time since
// the newest delivery the evaluation saw was accepted.
func TestStatusLagFromNewestDelivery(t *testing.T) {
	t.Parallel()
	obs := &lagObserver{}
	h := startWith(t, gatekeeper.Options{Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"x"}}, "rev1"), Observer: obs})
	e := opened(head, time.Now())
	e.Delivery = "d-1"
	// Accepted 42 s ago (a backlog): the status is 42 s late.
	e.Received = time.Now().Add(-42 * time.Second)
	h.accept(t, e)
	h.wait(t, 1)
	h.settle(t)
	lags := obs.list()
	if len(lags) != 1 || lags[0] < 42*time.Second || lags[0] > 52*time.Second {
		t.Fatalf("lags %v, want one of about 42s", lags)
	}
}
