package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// leaseTTL is short, so that the suite can wait for a lease to expire on a
// store whose expiry follows the server's clock (Redis) as well as on one
// whose expiry follows the suite's Clock (the clock is advanced too).
const leaseTTL = 300 * time.Millisecond

// leaser returns s as a gatekeeper.Leaser; every store shared by replicas
// must be one, and the in-process ones are too.
func leaser(t *testing.T, s gatekeeper.Store) gatekeeper.Leaser {
	t.Helper()
	l, ok := s.(gatekeeper.Leaser)
	if !ok {
		t.Fatalf("%T is not a gatekeeper.Leaser", s)
	}
	return l
}

// expire waits until a lease of leaseTTL taken now has expired, by both
// the suite's clock and the wall clock.
func expire(clock *Clock) {
	clock.Advance(3 * leaseTTL)
	time.Sleep(2 * leaseTTL)
}

func acquire(t *testing.T, l gatekeeper.Leaser, key gatekeeper.PullKey, owner string, ttl time.Duration) (uint64, bool) {
	t.Helper()
	tok, ok, err := l.Acquire(context.Background(), key, owner, ttl)
	if err != nil {
		t.Fatalf("Acquire(%s, %s): %v", key, owner, err)
	}
	if ok == (tok == 0) {
		t.Fatalf("Acquire(%s, %s) = token %d, ok %v: a token when and only when ok", key, owner, tok, ok)
	}
	return tok, ok
}

func fenced(t *testing.T, l gatekeeper.Leaser, key gatekeeper.PullKey, tok uint64) bool {
	t.Helper()
	ok, err := l.Fenced(context.Background(), key, tok)
	if err != nil {
		t.Fatalf("Fenced(%s, %d): %v", key, tok, err)
	}
	return ok
}

func renew(t *testing.T, l gatekeeper.Leaser, key gatekeeper.PullKey, owner string, tok uint64) bool {
	t.Helper()
	ok, err := l.Renew(context.Background(), key, owner, tok, leaseTTL)
	if err != nil {
		t.Fatalf("Renew(%s, %s, %d): %v", key, owner, tok, err)
	}
	return ok
}

// testLease checks the lease's life: one holder at a time, renewal and
// release by the holder only, tokens that only grow, and a lease that
// expires unless renewed, after which its old token is fenced off.
func testLease(t *testing.T, open Opener) {
	s, clock := openStore(t, open)
	l := leaser(t, s)
	ctx := context.Background()

	t1, ok := acquire(t, l, pr1, "a", time.Minute)
	if !ok {
		t.Fatal("first Acquire refused")
	}
	if _, ok := acquire(t, l, pr1, "b", time.Minute); ok {
		t.Fatal("a second holder got a live lease")
	}
	if _, ok := acquire(t, l, pr1, "a", time.Minute); ok {
		t.Fatal("the holder got its live lease twice (two of its workers would evaluate at once)")
	}
	if !fenced(t, l, pr1, t1) {
		t.Fatal("the live lease's token is fenced off")
	}
	if fenced(t, l, pr1, t1+1) || fenced(t, l, pr2, t1) {
		t.Fatal("a token that was never given for the key counts as live")
	}
	if renew(t, l, pr1, "b", t1) || renew(t, l, pr1, "a", t1+1) {
		t.Fatal("Renew by another owner, or with another token, succeeded")
	}
	if !renew(t, l, pr1, "a", t1) {
		t.Fatal("the holder's Renew was refused")
	}

	// Another key is another lease.
	t2, ok := acquire(t, l, pr2, "b", time.Minute)
	if !ok || t2 <= t1 {
		t.Fatalf("Acquire of another key = %d, %v; want a larger token than %d", t2, ok, t1)
	}

	// Release by anyone else changes nothing; by the holder frees the key.
	if err := l.Release(ctx, pr1, "b", t1); err != nil {
		t.Fatal(err)
	}
	if !fenced(t, l, pr1, t1) {
		t.Fatal("another owner's Release freed the lease")
	}
	if err := l.Release(ctx, pr1, "a", t1); err != nil {
		t.Fatal(err)
	}
	if fenced(t, l, pr1, t1) {
		t.Fatal("a released lease's token is still live")
	}
	t3, ok := acquire(t, l, pr1, "b", leaseTTL)
	if !ok || t3 <= t2 {
		t.Fatalf("Acquire after Release = %d, %v; want a token larger than %d", t3, ok, t2)
	}
	if renew(t, l, pr1, "a", t1) {
		t.Fatal("the old holder renewed a lease that was released and taken")
	}

	// Expiry: nobody renews; the next holder gets a newer token and the
	// old one is fenced off, whatever its holder does when it wakes up.
	expire(clock)
	if fenced(t, l, pr1, t3) {
		t.Fatal("an expired lease's token is still live")
	}
	if renew(t, l, pr1, "b", t3) {
		t.Fatal("an expired lease was renewed")
	}
	t4, ok := acquire(t, l, pr1, "c", time.Minute)
	if !ok || t4 <= t3 {
		t.Fatalf("Acquire after expiry = %d, %v; want a token larger than %d", t4, ok, t3)
	}
	if err := l.Release(ctx, pr1, "b", t3); err != nil {
		t.Fatal(err)
	}
	if !fenced(t, l, pr1, t4) || fenced(t, l, pr1, t3) {
		t.Fatal("the expired holder's Release touched the new lease")
	}

	// A renewed lease outlives its first ttl.
	t5, ok := acquire(t, l, pr3, "a", leaseTTL)
	if !ok {
		t.Fatal("Acquire of a third key refused")
	}
	for range 3 {
		clock.Advance(leaseTTL / 2)
		time.Sleep(leaseTTL / 2)
		if !renew(t, l, pr3, "a", t5) {
			t.Fatal("a lease renewed every half ttl expired")
		}
	}
	if !fenced(t, l, pr3, t5) {
		t.Fatal("a renewed lease is not live")
	}

	if _, _, err := l.Acquire(ctx, pr2, "a", 0); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("Acquire with ttl 0 = %v, want ErrInvalid", err)
	}
}

// testLeaseConcurrent has many owners race for one free lease: exactly
// one gets it.
func testLeaseConcurrent(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	l := leaser(t, s)
	const owners = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	tokens := map[uint64]bool{}
	for i := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := string(rune('a' + i))
			tok, ok, err := l.Acquire(context.Background(), pr1, owner, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				winners = append(winners, owner)
				tokens[tok] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 || len(tokens) != 1 {
		t.Fatalf("%d owners got the lease (%v), want exactly 1", len(winners), winners)
	}
}

// testNamedLease checks the leases on names (a commit, the reconcile
// timer): one holder at a time, fenced, renewed and released by the holder
// only, expiring unless renewed, with tokens from the pull requests'
// sequence, and never the lease of a pull request.
func testNamedLease(t *testing.T, open Opener) {
	s, clock := openStore(t, open)
	l := leaser(t, s)
	n, ok := s.(gatekeeper.NamedLeaser)
	if !ok {
		t.Fatalf("%T is not a gatekeeper.NamedLeaser", s)
	}
	ctx := context.Background()
	must := func(ok bool, err error) bool {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	const commit = "commit:acme/widget@0123456789abcdef"
	tp, _ := acquire(t, l, pr1, "a", time.Minute)
	t1, ok, err := n.AcquireName(ctx, commit, "a", leaseTTL)
	if !must(ok, err) || t1 <= tp {
		t.Fatalf("AcquireName = %d, %v; want a token larger than the pull request's %d", t1, ok, tp)
	}
	if _, ok, err := n.AcquireName(ctx, commit, "b", time.Minute); must(ok, err) {
		t.Fatal("a second holder got a live named lease")
	}
	if _, ok, err := n.AcquireName(ctx, pr1.String(), "b", time.Minute); !must(ok, err) {
		t.Fatal("a name spelled like a pull request's key met that pull request's lease")
	}
	if !must(n.FencedName(ctx, commit, t1)) || must(n.FencedName(ctx, commit, t1+1)) || must(n.FencedName(ctx, "reconciler", t1)) {
		t.Fatal("FencedName is wrong about the live token")
	}
	if must(n.RenewName(ctx, commit, "b", t1, leaseTTL)) || !must(n.RenewName(ctx, commit, "a", t1, leaseTTL)) {
		t.Fatal("RenewName by another owner succeeded, or by the holder was refused")
	}
	if err := n.ReleaseName(ctx, commit, "b", t1); err != nil || !must(n.FencedName(ctx, commit, t1)) {
		t.Fatalf("another owner's ReleaseName freed the lease (%v)", err)
	}

	// Expiry: the next holder gets a newer token; the old one is fenced off.
	expire(clock)
	if must(n.FencedName(ctx, commit, t1)) || must(n.RenewName(ctx, commit, "a", t1, leaseTTL)) {
		t.Fatal("an expired named lease is still live")
	}
	t2, ok, err := n.AcquireName(ctx, commit, "b", time.Minute)
	if !must(ok, err) || t2 <= t1 {
		t.Fatalf("AcquireName after expiry = %d, %v; want a token larger than %d", t2, ok, t1)
	}
	if err := n.ReleaseName(ctx, commit, "b", t2); err != nil || must(n.FencedName(ctx, commit, t2)) {
		t.Fatalf("the holder's ReleaseName left the lease live (%v)", err)
	}
	if _, _, err := n.AcquireName(ctx, commit, "a", 0); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("AcquireName with ttl 0 = %v, want ErrInvalid", err)
	}
}
