package main

import (
	"net/http"
	"sync"
)

// drainingHandler serves requests until Close, which waits for the ones
// running. http.Server.Shutdown gives up on requests still running when its
// timeout ends (and Close does not wait for them at all); the store they
// use must outlive every one of them, so serve closes it only after this
// Close returns. A request that arrives after Close is answered 503.
type drainingHandler struct {
	next http.Handler
	// gate is read-locked by every request and write-locked by Close:
	// Lock waits for the requests running, and a request arriving while
	// Close waits queues behind it and then sees closed.
	gate   sync.RWMutex
	closed bool
}

func newDrainingHandler(next http.Handler) *drainingHandler {
	return &drainingHandler{next: next}
}

func (d *drainingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.gate.RLock()
	defer d.gate.RUnlock()
	if d.closed {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	d.next.ServeHTTP(w, r)
}

// Close waits for the requests running and refuses those that come later.
func (d *drainingHandler) Close() {
	d.gate.Lock()
	d.closed = true
	d.gate.Unlock()
}
