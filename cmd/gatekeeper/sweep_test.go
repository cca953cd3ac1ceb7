package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"github.com/releasegate/gatekeeper/gatekeeper/githubapi"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
)

// hookLog is a fake GitHub answering the listing of a repository webhook's
// deliveries (none failed), counting the listings by token: each replica
// below has its own, so the count says which one swept.
type hookLog struct {
	mu     sync.Mutex
	listed map[string]int
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.listed[r.Header.Get("Authorization")]++
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte("[]"))
}

func (h *hookLog) count(token string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.listed["Bearer "+token]
}

// replica is one gatekeeper's sweeper: its Service on the shared store, the
// Service's lease on the sweeper, and a real GitHub client with its own
// token.
type replica struct {
	token string
	sw    *githubapi.Sweeper
	lease *gatekeeper.TimerLease
}

func newReplica(t *testing.T, store gatekeeper.Store, github, id string, ttl time.Duration) *replica {
	t.Helper()
	svc, err := gatekeeper.New(gatekeeper.Options{
		Store: store, ReplicaID: id,
		Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending}, "rev1"),
		Publisher: gatekeepertest.NewPublisher(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	gh, err := githubapi.New(githubapi.Options{BaseURL: github + "/", Token: "token-" + id, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	sw := githubapi.NewSweeper(gh, githubapi.SweeperOptions{Hooks: []githubapi.Hook{{Owner: "acme", Repo: "shop", ID: 7}}})
	return &replica{token: "token-" + id, sw: sw, lease: svc.TimerLease(gatekeeper.SweeperLeaseName, ttl)}
}

// TestSweeperRunsOnOneReplica: two replicas on one store tick the sweeper
// every period; only the lease holder lists the deliveries. When it stops
// (runSweeper gives the lease up) the other sweeps at its next tick; when
// that one dies without giving it up, the first takes over once the lease
// expires. On bbolt the lease lives in the process (two Services on one
// Store, a clock moved by hand); on Redis in the server (two clients of
// one real redis-server, a short real lease).
func TestSweeperRunsOnOneReplica(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	tests := []struct {
		name string
		ttl  time.Duration
		// open returns the two replicas' stores, and expire lets the
		// lease of a replica that stopped ticking run out.
		open func(t *testing.T) (a, b gatekeeper.Store, expire func(t *testing.T, tick func() bool))
	}{
		{name: "bolt", ttl: time.Minute, open: func(t *testing.T) (gatekeeper.Store, gatekeeper.Store, func(*testing.T, func() bool)) {
			clock := gatekeepertest.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
			s, err := boltstore.Open(filepath.Join(t.TempDir(), "gatekeeper.db"), boltstore.WithClock(clock))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, s, func(t *testing.T, tick func() bool) {
				if tick() {
					t.Fatal("took the sweeper over while the other replica's lease ran")
				}
				clock.Advance(time.Minute + time.Second)
				if !tick() {
					t.Fatal("did not take the sweeper over once the lease expired")
				}
			}
		}},
		{name: "redis", ttl: 2 * time.Second, open: func(t *testing.T) (gatekeeper.Store, gatekeeper.Store, func(*testing.T, func() bool)) {
			stores := make([]gatekeeper.Store, 2)
			for i := range stores {
				s, err := redisstore.Open(context.Background(), srv.URL(0), redisstore.WithPrefix("sweep"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				stores[i] = s
			}
			return stores[0], stores[1], func(t *testing.T, tick func() bool) {
				// Redis drops the lease by itself; wait for it, bounded.
				for deadline := time.Now().Add(10 * time.Second); !tick(); time.Sleep(50 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("did not take the sweeper over after the lease's expiry")
					}
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			log := slog.New(slog.DiscardHandler)
			hooks := &hookLog{listed: map[string]int{}}
			github := httptest.NewServer(hooks)
			t.Cleanup(github.Close)
			sa, sb, expire := tt.open(t)
			a := newReplica(t, sa, github.URL, "a", tt.ttl)
			b := newReplica(t, sb, github.URL, "b", tt.ttl)
			tick := func(r *replica) func() bool { return func() bool { return sweepTick(ctx, r.sw, r.lease, log) } }

			// Three periods, each replica ticking once, in either order.
			for i, order := range [][]*replica{{a, b}, {b, a}, {a, b}} {
				swept := 0
				for _, r := range order {
					if tick(r)() {
						swept++
					}
				}
				if swept != 1 {
					t.Fatalf("period %d: %d replicas swept, want 1", i+1, swept)
				}
			}
			if got, other := hooks.count(a.token), hooks.count(b.token); got != 3 || other != 0 {
				t.Fatalf("listings by a, b = %d, %d; want 3, 0 (a took the lease first)", got, other)
			}

			// a stops: runSweeper ends (its context done) and gives the lease up.
			stopped, cancel := context.WithCancel(ctx)
			cancel()
			runSweeper(stopped, a.sw, a.lease, time.Hour, log)
			if !tick(b)() {
				t.Fatal("b did not take the sweeper over after a stopped")
			}
			if got := hooks.count(b.token); got != 1 {
				t.Errorf("listings by b after a stopped = %d, want 1", got)
			}

			// b dies without giving the lease up: a takes over at expiry.
			expire(t, tick(a))
			if got := hooks.count(a.token); got != 4 {
				t.Errorf("listings by a = %d, want 4 (3, then once after b died)", got)
			}
		})
	}
}
