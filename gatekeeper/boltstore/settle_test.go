package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var keyC = gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 3}

func jsonOf(rec *gatekeeper.DecisionRecord) ([]byte, error) { return json.Marshal(rec) }

// settled is one Settle's answer.
type settled struct {
	ev   *gatekeeper.Evidence
	done bool
	err  error
}

// queueSettle starts a Settle once the requests before it wait in s's
// queue, and returns once it waits there too (see queueInOrder): it must
// be called while holdCommits holds the commit loop.
func queueSettle(s *Store, key gatekeeper.PullKey, st gatekeeper.Settlement) <-chan settled {
	out := make(chan settled, 1)
	before := len(s.requests)
	go func() {
		ev, done, err := s.Settle(context.Background(), key, st)
		out <- settled{ev, done, err}
	}()
	for len(s.requests) < before+1 {
		runtime.Gosched()
	}
	return out
}

// queueRecord is queueInOrder for one Record.
func queueRecord(s *Store, delivery string, key gatekeeper.PullKey, apply func(*gatekeeper.Evidence)) <-chan error {
	out := make(chan error, 1)
	before := len(s.requests)
	go func() { out <- s.Record(context.Background(), delivery, []gatekeeper.PullKey{key}, apply) }()
	for len(s.requests) < before+1 {
		runtime.Gosched()
	}
	return out
}

// titled is an apply that sets the pull request's title, and counts its
// runs in n.
func titled(title string, n *atomic.Int32) func(*gatekeeper.Evidence) {
	return func(ev *gatekeeper.Evidence) {
		if n != nil {
			n.Add(1)
		}
		ev.PR = &gatekeeper.PullRequest{Key: ev.Key, Title: title}
	}
}

func decisionOf(key gatekeeper.PullKey, id string) *gatekeeper.DecisionRecord {
	return &gatekeeper.DecisionRecord{ID: id, Key: key, Decision: gatekeeper.Decision{State: gatekeeper.Success}}
}

func decisionIDs(t *testing.T, s *Store, key gatekeeper.PullKey) []string {
	t.Helper()
	recs, err := s.Decisions(context.Background(), key, 0)
	if err != nil {
		t.Fatalf("Decisions(%s): %v", key, err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestSettleInAGroupWithRecords: Records and Settles for the same pull
// request waiting together commit as one group, the Records first: the
// Settle writes on the evidence the Record left, and its dequeue, at the
// generation its evaluation read, is refused, since the Record queued the
// pull request again (a fenced dequeue writes no dequeue, and costs the
// Record nothing). A Settle of another pull request at its current
// generation in the same group takes it off the queue.
func TestSettleInAGroupWithRecords(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	defer s.Close()
	ctx := context.Background()
	for _, key := range []gatekeeper.PullKey{keyA, keyC} {
		if err := s.Record(ctx, "d-0-"+key.String(), []gatekeeper.PullKey{key}, logged("d-0")); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	genA, _, _ := s.Generation(ctx, keyA)
	genC, _, _ := s.Generation(ctx, keyC)
	before, _ := s.Evidence(ctx, keyA)

	release, held := holdCommits(t, s)
	var applied atomic.Int32
	stale := queueSettle(s, keyA, gatekeeper.Settlement{Apply: titled("settled", &applied),
		Decision: decisionOf(keyA, "dec-a"), Dequeue: true, Generation: genA})
	rec := queueRecord(s, "d-1", keyA, logged("d-1"))
	current := queueSettle(s, keyC, gatekeeper.Settlement{Decision: decisionOf(keyC, "dec-c"), Dequeue: true, Generation: genC})
	release()
	if err := <-held; err != nil {
		t.Fatalf("held Record: %v", err)
	}
	if err := <-rec; err != nil {
		t.Errorf("Record in a group with Settles: %v", err)
	}
	a := <-stale
	if a.err != nil || a.done {
		t.Errorf("Settle at the generation before a Record of the same group: done %v, err %v; want false, nil", a.done, a.err)
	}
	if n := applied.Load(); n != 1 {
		t.Errorf("the Settle's Apply ran %d times, want once (a group that committed)", n)
	}
	c := <-current
	if c.err != nil || !c.done {
		t.Errorf("Settle at the current generation in the group: done %v, err %v; want true, nil", c.done, c.err)
	}

	// Records first: the Settle wrote on the Record's evidence.
	if a.ev == nil || a.ev.Version != before.Version+2 || a.ev.PR == nil || a.ev.PR.Title != "settled" {
		t.Fatalf("Settle returned %+v; want version %d titled settled", a.ev, before.Version+2)
	}
	ev, err := s.Evidence(ctx, keyA)
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if diff := cmp.Diff(a.ev, ev); diff != "" {
		t.Errorf("evidence stored vs the Settle's (-settle +stored):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"d-0": 1, "d-1": 1}, logCounts(t, s, keyA)); diff != "" {
		t.Errorf("deliveries applied (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dec-a"}, decisionIDs(t, s, keyA)); diff != "" {
		t.Errorf("decisions of %s (-want +got):\n%s", keyA, diff)
	}
	items, err := s.Queued(ctx)
	if err != nil {
		t.Fatalf("Queued: %v", err)
	}
	// keyA queued again by the Record, at a newer generation; keyC gone;
	// keyB held by holdCommits.
	var keys []gatekeeper.PullKey
	for _, it := range items {
		keys = append(keys, it.Key)
		if it.Key == keyA && it.Generation <= genA {
			t.Errorf("%s queued at generation %d, want one newer than %d", keyA, it.Generation, genA)
		}
	}
	if diff := cmp.Diff([]gatekeeper.PullKey{keyA, keyB}, keys); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
	checkCache(t, s)
}

// TestSettleRefusedAloneInAGroup: a Settle that cannot be made (no
// evidence, a panicking Apply) is refused with its own error and writes
// nothing, and the group it was in commits everyone else's writes once:
// the failure of one member must not fail the group (which would run
// every other member's change again, alone).
func TestSettleRefusedAloneInAGroup(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	defer s.Close()
	ctx := context.Background()
	if err := s.Record(ctx, "d-0", []gatekeeper.PullKey{keyA}, logged("d-0")); err != nil {
		t.Fatalf("Record: %v", err)
	}
	gen, _, _ := s.Generation(ctx, keyA)
	missing := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 404}

	release, held := holdCommits(t, s)
	var goodRuns, recRuns, lateRuns atomic.Int32
	good := queueSettle(s, keyA, gatekeeper.Settlement{Apply: titled("good", &goodRuns), Decision: decisionOf(keyA, "dec-good")})
	rec := queueRecord(s, "d-1", keyA, func(ev *gatekeeper.Evidence) { recRuns.Add(1); logged("d-1")(ev) })
	notFound := queueSettle(s, missing, gatekeeper.Settlement{Apply: titled("x", nil), Decision: decisionOf(missing, "dec-404")})
	panicking := queueSettle(s, keyA, gatekeeper.Settlement{Apply: func(*gatekeeper.Evidence) { panic("boom") },
		Decision: decisionOf(keyA, "dec-panic"), Dequeue: true, Generation: gen})
	late := queueSettle(s, keyA, gatekeeper.Settlement{Apply: func(ev *gatekeeper.Evidence) { lateRuns.Add(1); ev.Refusals = nil },
		Decision: decisionOf(keyA, "dec-late")})
	release()
	if err := <-held; err != nil {
		t.Fatalf("held Record: %v", err)
	}
	if err := <-rec; err != nil {
		t.Errorf("Record: %v", err)
	}
	if r := <-notFound; !errors.Is(r.err, gatekeeper.ErrNotFound) {
		t.Errorf("Settle on missing evidence: %v, want ErrNotFound", r.err)
	}
	if r := <-panicking; r.err == nil || !strings.Contains(r.err.Error(), "boom") || r.done {
		t.Errorf("Settle with a panicking Apply: done %v, err %v; want the panic as an error", r.done, r.err)
	}
	if r := <-good; r.err != nil || r.ev == nil || r.ev.PR == nil || r.ev.PR.Title != "good" {
		t.Errorf("good Settle: %+v", r)
	}
	if r := <-late; r.err != nil {
		t.Errorf("Settle after the refused ones: %v", r.err)
	}
	if g, r, l := goodRuns.Load(), recRuns.Load(), lateRuns.Load(); g != 1 || r != 1 || l != 1 {
		t.Errorf("the others' changes ran %d, %d and %d times, want once each: a refused member failed its group", g, r, l)
	}
	if diff := cmp.Diff(map[string]int{"d-0": 1, "d-1": 1}, logCounts(t, s, keyA)); diff != "" {
		t.Errorf("deliveries applied (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dec-late", "dec-good"}, decisionIDs(t, s, keyA)); diff != "" {
		t.Errorf("decisions of %s (-want +got):\n%s", keyA, diff)
	}
	if ids := decisionIDs(t, s, missing); len(ids) != 0 {
		t.Errorf("the refused Settle kept decisions %v", ids)
	}
	if _, ok, _ := s.Generation(ctx, keyA); !ok {
		t.Error("the refused Settle took its pull request off the queue")
	}
	if _, err := s.Evidence(ctx, missing); !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Errorf("evidence of the missing pull request after a refused Settle: %v", err)
	}
	checkCache(t, s)
}

// TestSettleGroupFailsEachAgainAlone: when a group's transaction fails
// (here a Settle whose evidence cannot be encoded, which fails after the
// group wrote), nothing of it is kept, not even in the cache, and each
// member runs again alone with the outcome it would have had alone: the
// Records and the good Settles committed once, the fenced dequeue refused,
// the failing Settle failed.
func TestSettleGroupFailsEachAgainAlone(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	defer s.Close()
	ctx := context.Background()
	for _, key := range []gatekeeper.PullKey{keyA, keyC} {
		if err := s.Record(ctx, "d-0-"+key.String(), []gatekeeper.PullKey{key}, logged("d-0")); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	genA, _, _ := s.Generation(ctx, keyA)
	genC, _, _ := s.Generation(ctx, keyC)
	beforeC, _ := s.Evidence(ctx, keyC)
	var runsA, runsC atomic.Int32
	unencodable := func(ev *gatekeeper.Evidence) {
		ev.PR = &gatekeeper.PullRequest{UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	seen := encodeTime(time.Now())
	rec := &recordReq{delivery: "d-1", keys: []gatekeeper.PullKey{keyA}, apply: logged("d-1"), seen: seen, res: make(chan error, 1)}
	goodC := newSettleReq(keyC, gatekeeper.Settlement{Apply: titled("c", &runsC), Decision: decisionOf(keyC, "dec-c"), Dequeue: true, Generation: genC})
	fenced := newSettleReq(keyA, gatekeeper.Settlement{Apply: titled("a", &runsA), Decision: decisionOf(keyA, "dec-a"), Dequeue: true, Generation: genA})
	bad := newSettleReq(keyA, gatekeeper.Settlement{Apply: unencodable, Decision: decisionOf(keyA, "dec-bad")})
	for _, r := range []*recordReq{goodC, fenced, bad} {
		var err error
		if r.settle.data, err = jsonOf(r.settle.st.Decision); err != nil {
			t.Fatal(err)
		}
	}
	group := []*recordReq{rec, goodC, fenced, bad}
	s.commitGroup(group)
	// The group wrote keyC's and keyA's evidence before it failed: the
	// cache must not keep versions that were rolled back.
	checkCache(t, s)
	if ev, _ := s.Evidence(ctx, keyC); ev.Version != beforeC.Version || ev.PR != nil {
		t.Fatalf("a failed group's Settle was kept: %+v", ev)
	}

	out := make([]error, len(group))
	for i, r := range group {
		out[i] = s.outcome(r)
	}
	if out[0] != nil {
		t.Errorf("Record again alone: %v", out[0])
	}
	if out[1] != nil || !goodC.settle.done || goodC.settle.ev.PR.Title != "c" {
		t.Errorf("good Settle again alone: done %v, err %v", goodC.settle.done, out[1])
	}
	if out[2] != nil || fenced.settle.done {
		t.Errorf("Settle at an old generation again alone: done %v, err %v; want false, nil", fenced.settle.done, out[2])
	}
	if out[3] == nil {
		t.Error("Settle with unencodable evidence succeeded alone")
	}
	if a, c := runsA.Load(), runsC.Load(); a != 2 || c != 2 {
		t.Errorf("Apply ran %d and %d times, want 2 each: in the failed group and alone", a, c)
	}
	if diff := cmp.Diff(map[string]int{"d-0": 1, "d-1": 1}, logCounts(t, s, keyA)); diff != "" {
		t.Errorf("deliveries applied to %s (-want +got):\n%s", keyA, diff)
	}
	if diff := cmp.Diff([]string{"dec-a"}, decisionIDs(t, s, keyA)); diff != "" {
		t.Errorf("decisions of %s (-want +got):\n%s", keyA, diff)
	}
	if diff := cmp.Diff([]string{"dec-c"}, decisionIDs(t, s, keyC)); diff != "" {
		t.Errorf("decisions of %s (-want +got):\n%s", keyC, diff)
	}
	if _, ok, _ := s.Generation(ctx, keyA); !ok {
		t.Errorf("%s left the queue at an old generation", keyA)
	}
	if _, ok, _ := s.Generation(ctx, keyC); ok {
		t.Errorf("%s still queued after its Settle at the current generation", keyC)
	}
	ev, err := s.Evidence(ctx, keyA)
	if err != nil || ev.PR == nil || ev.PR.Title != "a" {
		t.Errorf("evidence of %s: %+v, %v; want the fenced Settle's change", keyA, ev, err)
	}
	checkCache(t, s)
}

// TestSettleAfterClose: a Settle after Close fails, and one accepted
// before Close is committed by it.
func TestSettleAfterClose(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	ctx := context.Background()
	if err := s.Record(ctx, "d-0", []gatekeeper.PullKey{keyA}, logged("d-0")); err != nil {
		t.Fatalf("Record: %v", err)
	}
	gen, _, _ := s.Generation(ctx, keyA)
	release, held := holdCommits(t, s)
	accepted := queueSettle(s, keyA, gatekeeper.Settlement{Apply: titled("before close", nil), Dequeue: true, Generation: gen})
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for {
		s.mu.RLock()
		begun := s.closed
		s.mu.RUnlock()
		if begun {
			break
		}
		runtime.Gosched()
	}
	if _, _, err := s.Settle(ctx, keyA, gatekeeper.Settlement{Apply: titled("after close", nil)}); !errors.Is(err, errClosed) {
		t.Errorf("Settle after Close: %v, want errClosed", err)
	}
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-held; err != nil {
		t.Errorf("held Record: %v", err)
	}
	if r := <-accepted; r.err != nil || !r.done {
		t.Errorf("Settle accepted before Close: done %v, err %v", r.done, r.err)
	}
	s2 := reopenTest(t, s, gatekeeper.SystemClock{}).(*Store)
	defer s2.Close()
	ev, err := s2.Evidence(ctx, keyA)
	if err != nil || ev.PR == nil || ev.PR.Title != "before close" {
		t.Errorf("after reopening: %+v, %v; want the Settle accepted before Close", ev, err)
	}
}

// checkCache fails when the cache holds a version of any evidence that the
// file does not: what a rolled-back transaction cached.
func checkCache(t *testing.T, s *Store) {
	t.Helper()
	s.cache.mu.Lock()
	entries := map[gatekeeper.PullKey]uint64{}
	for k, e := range s.cache.m {
		entries[k] = e.ev.Version
	}
	s.cache.mu.Unlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		for k, v := range entries {
			if stored, ok := storedVersion(tx, k); !ok || stored != v {
				t.Errorf("cache holds %s at version %d, the file at %d", k, v, stored)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
