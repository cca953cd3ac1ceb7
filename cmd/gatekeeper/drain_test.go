package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// http.Server.Shutdown returns at its timeout with a request still running;
// drainingHandler.Close waits for it, and refuses requests after it, so
// that serve closes the store only when no request can use it.
func TestDrainingHandlerOutlastsShutdownTimeout(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var running atomic.Int32
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		running.Add(1)
		defer running.Add(-1)
		close(entered)
		<-release
		time.Sleep(50 * time.Millisecond) // still using the store after the release
		w.WriteHeader(http.StatusAccepted)
	})
	d := newDrainingHandler(slow)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/webhooks/github", "application/json", nil)
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown returned nil with a request running; the test needs it to time out")
	}
	_ = srv.Close()
	if running.Load() != 1 {
		t.Fatal("the request should still be running after Shutdown's timeout")
	}
	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a request was running")
	case <-time.After(30 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the request ended")
	}
	if n := running.Load(); n != 0 {
		t.Fatalf("%d requests running after Close", n)
	}

	// After Close: 503, and the handler is not called.
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("after Close: status %d, want 503", rec.Code)
	}
}
