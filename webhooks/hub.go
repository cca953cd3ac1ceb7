package webhooks

import (
	"sync"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Hub is a small publish/subscribe of decisions for the GO/NOGO board's
// live updates (server-sent events): the Service's Decided hook publishes
// every decision record it keeps, and each open board subscribes. It never
// blocks the publisher: a subscriber that falls behind by more than its
// buffer is told to reload instead of being waited for. The zero value is
// not usable; NewHub makes one. A nil *Hub publishes nothing.
//
// A Hub is one process's: with several replicas on one Redis, a board sees
// at once the decisions its own replica makes, and the others' when it
// next loads (the page says when it was drawn).
type Hub struct {
	mu     sync.Mutex
	subs   map[*subscription]struct{}
	closed chan struct{}
	once   sync.Once
}

// subscription is one board's queue of pull requests decided anew.
type subscription struct {
	keys chan gatekeeper.PullKey
	// lost is closed (once) when the buffer overflowed: the board reloads.
	lost     chan struct{}
	lostOnce sync.Once
}

// hubBuffer is how many decisions a board may lag behind before it is
// told to reload.
const hubBuffer = 64

// NewHub returns an empty Hub.
func NewHub() *Hub {
	return &Hub{subs: map[*subscription]struct{}{}, closed: make(chan struct{})}
}

// Close ends every board's stream (server shutdown: http.Server.Shutdown
// waits for open connections, and a stream never ends by itself). Boards
// reconnect to the next server.
func (h *Hub) Close() {
	if h != nil {
		h.once.Do(func() { close(h.closed) })
	}
}

// done is closed by Close.
func (h *Hub) done() <-chan struct{} { return h.closed }

// Publish tells every subscriber that rec was decided. It is the
// gatekeeper.Options.Decided hook.
func (h *Hub) Publish(rec gatekeeper.DecisionRecord) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.keys <- rec.Key:
		default:
			s.lostOnce.Do(func() { close(s.lost) })
		}
	}
}

// subscribe adds a subscriber; cancel removes it.
func (h *Hub) subscribe() (s *subscription, cancel func()) {
	s = &subscription{keys: make(chan gatekeeper.PullKey, hubBuffer), lost: make(chan struct{})}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
	}
}

// subscribers counts the boards listening (for tests and metrics).
func (h *Hub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
