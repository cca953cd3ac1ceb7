package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/storetest"
)

func openTest(t *testing.T, clock gatekeeper.Clock) gatekeeper.Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "gatekeeper.db"), WithClock(clock))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func reopenTest(t *testing.T, closed gatekeeper.Store, clock gatekeeper.Clock) gatekeeper.Store {
	t.Helper()
	s, err := Open(closed.(*Store).Path(), WithClock(clock))
	if err != nil {
		t.Fatalf("reopening %s: %v", closed.(*Store).Path(), err)
	}
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, openTest)
	storetest.RunDurability(t, openTest, reopenTest)
}

var (
	keyA = gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 1}
	keyB = gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 2}
)

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatekeeper.db")
	first, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer first.Close()

	second, err := Open(path, WithLockTimeout(50*time.Millisecond))
	if !errors.Is(err, ErrLocked) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("Open of a locked file: err = %v, want ErrLocked", err)
	}

	// Once the first lets go, the file opens again.
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	third, err := Open(path, WithLockTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := third.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "nested", "gatekeeper.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("store file: %v", err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
}

func TestOpenInvalid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		opts []Option
	}{
		{name: "empty path", path: ""},
		{name: "zero lock timeout", path: filepath.Join(dir, "a.db"), opts: []Option{WithLockTimeout(0)}},
		{name: "zero batch size", path: filepath.Join(dir, "c.db"), opts: []Option{WithMaxBatchSize(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path, tt.opts...)
			if !errors.Is(err, gatekeeper.ErrInvalid) {
				if s != nil {
					s.Close()
				}
				t.Errorf("Open: err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestOpenNotADatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatekeeper.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a bolt file\n", 1024)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a file that is not a bolt database succeeded")
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "gatekeeper.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := context.Background()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping on a closed store succeeded")
	}
	if err := s.Record(ctx, "d-1", []gatekeeper.PullKey{keyA}, func(*gatekeeper.Evidence) {}); err == nil {
		t.Error("Record on a closed store succeeded")
	}
}

func TestInvalidKeys(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	defer s.Close()
	ctx := context.Background()
	bad := gatekeeper.PullKey{Owner: "acme", Repo: "shop"} // no number
	tests := []struct {
		name string
		call func() error
	}{
		{"Record", func() error {
			return s.Record(ctx, "d-1", []gatekeeper.PullKey{keyA, bad}, func(*gatekeeper.Evidence) {})
		}},
		{"Update", func() error {
			_, err := s.Update(ctx, bad, func(*gatekeeper.Evidence) {})
			return err
		}},
		{"Enqueue", func() error { return s.Enqueue(ctx, bad) }},
		{"AddDecision", func() error { return s.AddDecision(ctx, gatekeeper.DecisionRecord{Key: bad}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, gatekeeper.ErrInvalid) {
				t.Errorf("%s with key %v: err = %v, want ErrInvalid", tt.name, bad, err)
			}
		})
	}
	// The rejected Record changed nothing, and its delivery id is still new.
	if _, err := s.Evidence(ctx, keyA); !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Errorf("Evidence(%s) after a rejected Record: err = %v, want ErrNotFound", keyA, err)
	}
	if err := s.Record(ctx, "d-1", []gatekeeper.PullKey{keyA}, func(*gatekeeper.Evidence) {}); err != nil {
		t.Errorf("Record(d-1) after it was rejected: %v", err)
	}
}

// TestRecordOwnsKeyAndVersion: a closure cannot move evidence to another key
// or wind its version back.
func TestRecordOwnsKeyAndVersion(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{})
	defer s.Close()
	ctx := context.Background()
	for i, d := range []string{"d-1", "d-2"} {
		err := s.Record(ctx, d, []gatekeeper.PullKey{keyA}, func(ev *gatekeeper.Evidence) {
			ev.Key = keyB
			ev.Version = 0
		})
		if err != nil {
			t.Fatalf("Record(%s): %v", d, err)
		}
		ev, err := s.Evidence(ctx, keyA)
		if err != nil {
			t.Fatalf("Evidence(%s): %v", keyA, err)
		}
		if ev.Key != keyA || ev.Version != uint64(i+1) {
			t.Errorf("after Record(%s): Key %v, Version %d; want %v, %d", d, ev.Key, ev.Version, keyA, i+1)
		}
	}
}

// TestRecordRepeatedKey: a key named twice is applied once.
func TestRecordRepeatedKey(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{})
	defer s.Close()
	ctx := context.Background()
	err := s.Record(ctx, "d-1", []gatekeeper.PullKey{keyA, keyA}, func(ev *gatekeeper.Evidence) {
		ev.Apply(gatekeeper.Event{Delivery: "d-1", Name: "status"})
	})
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	ev, err := s.Evidence(ctx, keyA)
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if len(ev.Log) != 1 {
		t.Errorf("log has %d entries, want 1", len(ev.Log))
	}
}

// TestGenerationNeverReused: generations come from one counter, so a
// generation handed out before Done is never handed out again.
func TestGenerationNeverReused(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{})
	defer s.Close()
	ctx := context.Background()
	seen := map[uint64]bool{}
	for range 3 {
		for _, key := range []gatekeeper.PullKey{keyA, keyB} {
			if err := s.Enqueue(ctx, key); err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
			gen, ok, err := s.Generation(ctx, key)
			if err != nil || !ok {
				t.Fatalf("Generation(%s) = %d, %t, %v", key, gen, ok, err)
			}
			if seen[gen] {
				t.Fatalf("generation %d handed out twice", gen)
			}
			seen[gen] = true
			if ok, err := s.Done(ctx, key, gen); err != nil || !ok {
				t.Fatalf("Done(%s, %d) = %t, %v", key, gen, ok, err)
			}
		}
	}
}

func TestDecisionsEdges(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{})
	defer s.Close()
	ctx := context.Background()
	for n := range 3 {
		rec := gatekeeper.DecisionRecord{Key: keyA, EvidenceVersion: uint64(n + 1)}
		if err := s.AddDecision(ctx, rec); err != nil {
			t.Fatalf("AddDecision: %v", err)
		}
	}
	tests := []struct {
		name  string
		key   gatekeeper.PullKey
		limit int
		want  []uint64
	}{
		{name: "no records", key: keyB, limit: 10, want: nil},
		{name: "zero limit is all", key: keyA, limit: 0, want: []uint64{3, 2, 1}},
		{name: "negative limit is all", key: keyA, limit: -1, want: []uint64{3, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := s.Decisions(ctx, tt.key, tt.limit)
			if err != nil {
				t.Fatalf("Decisions: %v", err)
			}
			var got []uint64
			for _, r := range recs {
				got = append(got, r.EvidenceVersion)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("evidence versions (-want +got):\n%s", diff)
			}
		})
	}
}

// groupRecord is one Record of a group commit.
type groupRecord struct {
	delivery string
	keys     []gatekeeper.PullKey
	apply    func(*gatekeeper.Evidence)
}

// holdCommits parks s's commit loop inside a transaction (committing a
// Record of its own on keyB) until release is called, so that Records
// queue up behind it. done yields the parked Record's error.
func holdCommits(t *testing.T, s *Store) (release func(), done <-chan error) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.Record(context.Background(), "d-hold", []gatekeeper.PullKey{keyB}, func(*gatekeeper.Evidence) {
			select {
			case <-entered: // a re-run: do not wait again
			default:
				close(entered)
				<-gate
			}
		})
	}()
	<-entered
	return func() { close(gate) }, errc
}

// queueInOrder starts the Records one after the other, each once the one
// before it is waiting in s's queue, so that the next group takes them in
// this order. It must be called while holdCommits holds the commit loop.
func queueInOrder(s *Store, recs ...groupRecord) []chan error {
	out := make([]chan error, len(recs))
	for i, r := range recs {
		out[i] = make(chan error, 1)
		go func() {
			out[i] <- s.Record(context.Background(), r.delivery, r.keys, r.apply)
		}()
		for len(s.requests) < i+1 {
			runtime.Gosched()
		}
	}
	return out
}

func logCounts(t *testing.T, s *Store, key gatekeeper.PullKey) map[string]int {
	t.Helper()
	ev, err := s.Evidence(context.Background(), key)
	if err != nil {
		t.Fatalf("Evidence(%s): %v", key, err)
	}
	got := map[string]int{}
	for _, l := range ev.Log {
		got[l.Delivery]++
	}
	return got
}

// logged is an apply that leaves a log entry naming the delivery.
func logged(d string) func(*gatekeeper.Evidence) {
	return func(ev *gatekeeper.Evidence) { ev.Apply(gatekeeper.Event{Delivery: d, Name: "status"}) }
}

// TestGroupCommit: Records waiting together are committed as one group, in
// the order they arrived, each applied once, with one new generation.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	defer s.Close()
	ctx := context.Background()
	if err := s.Record(ctx, "d-0", []gatekeeper.PullKey{keyA}, logged("d-0")); err != nil {
		t.Fatalf("Record: %v", err)
	}
	genBefore, _, err := s.Generation(ctx, keyA)
	if err != nil {
		t.Fatalf("Generation: %v", err)
	}

	release, held := holdCommits(t, s)
	var recs []groupRecord
	var want []string
	for i := 1; i <= 5; i++ {
		d := fmt.Sprintf("d-%d", i)
		recs = append(recs, groupRecord{d, []gatekeeper.PullKey{keyA}, logged(d)})
		want = append(want, d)
	}
	recs = append(recs, groupRecord{"d-3", []gatekeeper.PullKey{keyA}, logged("d-3 again")})
	results := queueInOrder(s, recs...)
	release()
	if err := <-held; err != nil {
		t.Fatalf("held Record: %v", err)
	}
	for i, c := range results {
		err := <-c
		if i == len(results)-1 {
			if !errors.Is(err, gatekeeper.ErrDuplicate) {
				t.Errorf("repeat of d-3 in the same group: err = %v, want ErrDuplicate", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Record(%s): %v", recs[i].delivery, err)
		}
	}

	ev, err := s.Evidence(ctx, keyA)
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	var got []string
	for _, l := range ev.Log[1:] {
		got = append(got, l.Delivery)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries applied, in order (-want +got):\n%s", diff)
	}
	if ev.Version != 6 {
		t.Errorf("Version = %d, want 6: one per Record applied", ev.Version)
	}
	items, err := s.Queued(ctx)
	if err != nil {
		t.Fatalf("Queued: %v", err)
	}
	// keyB was queued by the held Record: one generation for it, and the
	// group of five raised keyA's by exactly one.
	wantItems := []gatekeeper.QueueItem{{Key: keyA, Generation: genBefore + 2}, {Key: keyB, Generation: genBefore + 1}}
	if diff := cmp.Diff(wantItems, items); diff != "" {
		t.Errorf("Queued (-want +got):\n%s", diff)
	}
}

// TestGroupRetry makes the last Record of a group fail, which rolls the
// group back and runs each of its Records again alone: they must still be
// applied exactly once, a duplicate must still be reported as one, and the
// failed Record must leave no trace.
func TestGroupRetry(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	defer s.Close()
	ctx := context.Background()
	both := []gatekeeper.PullKey{keyA, keyB}
	if err := s.Record(ctx, "d-old", both, logged("d-old")); err != nil {
		t.Fatalf("seeding: %v", err)
	}

	var (
		mu    sync.Mutex
		calls = map[string]int{}
	)
	counted := func(d string) func(*gatekeeper.Evidence) {
		apply := logged(d)
		return func(ev *gatekeeper.Evidence) {
			mu.Lock()
			calls[d]++
			mu.Unlock()
			apply(ev)
		}
	}
	// A time past year 9999 cannot be encoded as JSON, so this Record's
	// group fails after every apply ran.
	unencodable := func(ev *gatekeeper.Evidence) {
		ev.PR = &gatekeeper.PullRequest{UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	release, held := holdCommits(t, s)
	results := queueInOrder(s,
		groupRecord{"d-1", both, counted("d-1")},
		groupRecord{"d-2", both, counted("d-2")},
		groupRecord{"d-old", both, counted("d-old")},
		groupRecord{"d-bad", both, unencodable},
	)
	release()
	if err := <-held; err != nil {
		t.Fatalf("held Record: %v", err)
	}
	errs := make([]error, len(results))
	for i, c := range results {
		errs[i] = <-c
	}
	if errs[0] != nil || errs[1] != nil {
		t.Errorf("Records in a group with a failing one: %v, %v", errs[0], errs[1])
	}
	if !errors.Is(errs[2], gatekeeper.ErrDuplicate) {
		t.Errorf("duplicate in a failed group: err = %v, want ErrDuplicate", errs[2])
	}
	if errs[3] == nil || errors.Is(errs[3], gatekeeper.ErrDuplicate) {
		t.Errorf("failing Record: err = %v, want an encoding error", errs[3])
	}
	// Each ran once per key in the failed group and once alone.
	if diff := cmp.Diff(map[string]int{"d-1": 4, "d-2": 4}, calls); diff != "" {
		t.Errorf("apply calls (-want +got):\n%s", diff)
	}
	for _, key := range both {
		if diff := cmp.Diff(map[string]int{"d-old": 1, "d-1": 1, "d-2": 1}, logCounts(t, s, key)); diff != "" {
			t.Errorf("deliveries applied to %s (-want +got):\n%s", key, diff)
		}
		ev, err := s.Evidence(ctx, key)
		if err != nil {
			t.Fatalf("Evidence(%s): %v", key, err)
		}
		if ev.PR != nil {
			t.Errorf("the failed Record's change reached %s", key)
		}
	}
	// The failed Record's delivery id was not kept.
	if err := s.Record(ctx, "d-bad", nil, nil); err != nil {
		t.Errorf("Record(d-bad) again after it failed: %v", err)
	}
}

// TestRecordGroupRerun: a request found to be a duplicate in a group that
// then failed must not stay marked as one when it runs again alone, where
// the copy it collided with was rolled back.
func TestRecordGroupRerun(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	defer s.Close()
	seen := encodeTime(time.Now())
	first := &recordReq{delivery: "d-x", keys: []gatekeeper.PullKey{keyA}, apply: logged("d-x"), seen: seen}
	second := &recordReq{delivery: "d-x", keys: []gatekeeper.PullKey{keyA}, apply: logged("d-x"), seen: seen}
	bad := &recordReq{keys: []gatekeeper.PullKey{keyA}, seen: seen, apply: func(ev *gatekeeper.Evidence) {
		ev.PR = &gatekeeper.PullRequest{UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	}}
	err := s.db.Update(func(tx *bolt.Tx) error { return s.recordGroup(tx, []*recordReq{first, second, bad}) })
	if err == nil {
		t.Fatal("group with an unencodable change committed")
	}
	if !second.dup {
		t.Fatal("second copy of d-x not found a duplicate within its group")
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return s.recordGroup(tx, []*recordReq{second}) }); err != nil {
		t.Fatalf("second copy alone: %v", err)
	}
	if second.dup {
		t.Error("second copy alone still marked a duplicate, though it was committed")
	}
	if diff := cmp.Diff(map[string]int{"d-x": 1}, logCounts(t, s, keyA)); diff != "" {
		t.Errorf("deliveries applied (-want +got):\n%s", diff)
	}
}

// TestRecordPanics: a panicking apply fails its own Record only; the commit
// loop carries on.
func TestRecordPanics(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	defer s.Close()
	ctx := context.Background()
	err := s.Record(ctx, "d-panic", []gatekeeper.PullKey{keyA}, func(*gatekeeper.Evidence) { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Record with a panicking apply: err = %v, want the panic as an error", err)
	}
	if err := s.Record(ctx, "d-1", []gatekeeper.PullKey{keyA}, logged("d-1")); err != nil {
		t.Fatalf("Record after a panic: %v", err)
	}
	if diff := cmp.Diff(map[string]int{"d-1": 1}, logCounts(t, s, keyA)); diff != "" {
		t.Errorf("deliveries applied (-want +got):\n%s", diff)
	}
}

// TestCloseCommitsAccepted: Records accepted before Close are committed and
// durable; Records after Close fail.
func TestCloseCommitsAccepted(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	release, held := holdCommits(t, s)
	results := queueInOrder(s,
		groupRecord{"d-1", []gatekeeper.PullKey{keyA}, logged("d-1")},
		groupRecord{"d-2", []gatekeeper.PullKey{keyA}, logged("d-2")},
	)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	// Release the commit loop only once Close has begun: it must wait for
	// the queued Records.
	for {
		s.mu.RLock()
		begun := s.closed
		s.mu.RUnlock()
		if begun {
			break
		}
		runtime.Gosched()
	}
	release()
	// When Close returns, what it accepted is on disk, whether or not the
	// Records' callers have seen their answers yet.
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2 := reopenTest(t, s, gatekeeper.SystemClock{}).(*Store)
	defer s2.Close()
	if diff := cmp.Diff(map[string]int{"d-1": 1, "d-2": 1}, logCounts(t, s2, keyA)); diff != "" {
		t.Errorf("deliveries durable after Close (-want +got):\n%s", diff)
	}
	if err := <-held; err != nil {
		t.Errorf("held Record: %v", err)
	}
	for i, c := range results {
		if err := <-c; err != nil {
			t.Errorf("Record %d accepted before Close: %v", i+1, err)
		}
	}
	if err := s.Record(context.Background(), "d-3", []gatekeeper.PullKey{keyA}, logged("d-3")); err == nil {
		t.Error("Record after Close succeeded")
	}
}

// TestForgetManyInOneNanosecond: deliveries stamped with the same time are
// all kept apart and all forgotten.
func TestForgetManyInOneNanosecond(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	s := openTest(t, clock)
	defer s.Close()
	ctx := context.Background()
	for i := range 10 {
		if err := s.Record(ctx, fmt.Sprintf("d-%d", i), nil, nil); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	n, err := s.ForgetDeliveries(ctx, clock.Now().Add(time.Nanosecond))
	if err != nil || n != 10 {
		t.Errorf("ForgetDeliveries = %d, %v; want 10, nil", n, err)
	}
}

// TestCacheNeverServesUncommittedEvidence: a write that is rolled back
// leaves its evidence in the cache; it must never be read, neither before
// nor after the next committed write of the same version.
func TestCacheNeverServesUncommittedEvidence(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	key := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 7}
	title := func(t string) func(*gatekeeper.Evidence) {
		return func(ev *gatekeeper.Evidence) { ev.PR = &gatekeeper.PullRequest{Key: key, Title: t} }
	}
	if err := s.Record(ctx, "d1", []gatekeeper.PullKey{key}, title("committed")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = s.db.Update(func(tx *bolt.Tx) error {
		if _, err := s.writeEvidence(tx, key, title("rolled back")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update = %v, want the forced failure", err)
	}
	for i := 0; i < 2; i++ { // a miss, then what the miss cached
		ev, err := s.Evidence(ctx, key)
		if err != nil || ev.PR.Title != "committed" || ev.Version != 1 {
			t.Fatalf("read %d after a rolled-back write: %+v, %v; want the committed version 1", i, ev.PR, err)
		}
	}
	if err := s.Record(ctx, "d2", []gatekeeper.PullKey{key}, title("second")); err != nil {
		t.Fatal(err)
	}
	ev, err := s.Evidence(ctx, key)
	if err != nil || ev.PR.Title != "second" || ev.Version != 2 {
		t.Fatalf("after the next write: %+v, %v; want version 2 titled second", ev.PR, err)
	}
	// What a reader changes stays with the reader.
	ev.PR.Title = "changed by a caller"
	if again, _ := s.Evidence(ctx, key); again.PR.Title != "second" {
		t.Errorf("a caller's change reached the store: %q", again.PR.Title)
	}
}

// TestPingWrites: Ping commits a write, so that a file that reads but
// cannot be written (a full disk) is not ready.
func TestPingWrites(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	defer s.Close()
	st := s.db.Stats()
	before := st.TxStats.GetWrite()
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	st = s.db.Stats()
	if after := st.TxStats.GetWrite(); after <= before {
		t.Errorf("Ping wrote nothing (page writes %d, then %d)", before, after)
	}
}

// TestOpenIndexesOlderFile: a file written before the pull request index
// existed gets it when opened, from the evidence it holds.
func TestOpenIndexesOlderFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gatekeeper.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	pr := &gatekeeper.PullRequest{Key: keyA, RepoID: 42, State: "open", BaseRef: "master", HeadSHA: "abc"}
	err = s.Record(ctx, "d-1", []gatekeeper.PullKey{keyA}, func(ev *gatekeeper.Evidence) {
		ev.Apply(gatekeeper.Event{Name: "pull_request.opened", Received: time.Unix(1, 0), Key: keyA, PullRequest: pr})
	})
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketIndex) }); err != nil {
		t.Fatalf("dropping the index, as a file of an earlier version lacks it: %v", err)
	}
	db.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()
	for _, terms := range [][]string{
		{gatekeeper.RepoTerm("acme", "shop")},
		gatekeeper.BaseTerms(42, "acme", "renamed", "master"),
	} {
		got, err := s.PullsIndexed(ctx, terms...)
		if err != nil {
			t.Fatalf("PullsIndexed(%q): %v", terms, err)
		}
		if diff := cmp.Diff([]gatekeeper.PullKey{keyA}, got); diff != "" {
			t.Errorf("PullsIndexed(%q) (-want +got):\n%s", terms, diff)
		}
	}
}

// TestLogReadFromTheFile: the log written apart, an entry at a time, reads
// back from the file (not the cache) as it was written, whatever the
// writes did to it.
func TestLogReadFromTheFile(t *testing.T) {
	t.Parallel()
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	defer s.Close()
	storetest.FillLog(t, s, keyA, "d", func(key gatekeeper.PullKey) *gatekeeper.Evidence {
		s.cache.mu.Lock()
		s.cache.m = nil
		s.cache.mu.Unlock()
		ev, err := s.Evidence(context.Background(), key)
		if err != nil {
			t.Fatalf("Evidence: %v", err)
		}
		return ev
	})
}

// TestOlderFormatEvidence: evidence written before the log was kept apart
// (the whole Evidence as JSON, its log inline) reads as it was, and the
// next write moves its log into the log bucket. Entries of the pull
// request already in the log bucket (a file a newer gatekeeper wrote, then
// an older one) are not its log and are dropped.
func TestOlderFormatEvidence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gatekeeper.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	old, data := storetest.OlderFormat(t, keyA)
	// keyB as a file of a version before versions were kept apart.
	oldB := &gatekeeper.Evidence{Key: keyB, Version: 3, Log: []gatekeeper.LogEntry{{Delivery: "b-1", Event: "status", At: time.Unix(5, 0).UTC()}}}
	dataB, err := json.Marshal(oldB)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketEvidence).Put([]byte(keyA.String()), data); err != nil {
			return err
		}
		if err := tx.Bucket(bucketVersions).Put([]byte(keyA.String()), binary.BigEndian.AppendUint64(nil, old.Version)); err != nil {
			return err
		}
		for i := range 3 { // stale entries, not keyA's log
			if err := tx.Bucket(bucketLog).Put(logKey(keyA, uint64(100+i)), []byte(`{"event":"stale"}`)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketEvidence).Put([]byte(keyB.String()), dataB)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	// reopen opens the file again and reads both pull requests' evidence
	// through the store.
	reopen := func(what string) {
		t.Helper()
		s, err = Open(path)
		if err != nil {
			t.Fatalf("reopening: %v", err)
		}
		opened := s
		t.Cleanup(func() { opened.Close() })
		for _, want := range []*gatekeeper.Evidence{old, oldB} {
			got, err := s.Evidence(ctx, want.Key)
			if err != nil {
				t.Fatalf("Evidence(%s): %v", want.Key, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("evidence of %s %s (-want +got):\n%s", want.Key, what, diff)
			}
		}
	}
	reopen("in the older format, read")
	// The next write rewrites it in the new format.
	next := gatekeeper.Event{Name: "status", Delivery: "new-1", Received: time.Unix(1000, 0).UTC(), Key: keyA}
	for _, key := range []gatekeeper.PullKey{keyA, keyB} {
		if err := s.Record(ctx, "new-"+key.String(), []gatekeeper.PullKey{key}, func(ev *gatekeeper.Evidence) { ev.Apply(next) }); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	old.Apply(next)
	old.Version++
	oldB.Apply(next)
	oldB.Version++
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for _, want := range []*gatekeeper.Evidence{old, oldB} {
			head := tx.Bucket(bucketEvidence).Get([]byte(want.Key.String()))
			if strings.Contains(string(head), `"log":`) || !strings.Contains(string(head), `"log_apart":true`) {
				t.Errorf("evidence of %s after a write: %.300s…; want its log apart", want.Key, head)
			}
			log, err := readLog(tx, want.Key)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want.Log, log); diff != "" {
				t.Errorf("log bucket of %s after a write (-want +got):\n%s", want.Key, diff)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	reopen("rewritten and read")
}

// TestGroupTakesRecordsReadyToRun starts sixteen Records at once on one
// processor (the pinned server's case): they must share commits. Before
// the commit loop yielded, the first Record's request woke the loop, which
// the scheduler ran next, ahead of the fifteen other Records ready to run:
// it committed a group of one, and each Record after it paid its own
// commit (sixteen commits), while Records whose connections were parked
// waited behind the ones cycling with the loop.
func TestGroupTakesRecordsReadyToRun(t *testing.T) {
	s := openTest(t, gatekeeper.SystemClock{}).(*Store)
	defer s.Close()
	ctx := context.Background()
	if err := s.Record(ctx, "d-0", []gatekeeper.PullKey{keyA}, logged("d-0")); err != nil {
		t.Fatalf("Record: %v", err)
	}
	genBefore, _, err := s.Generation(ctx, keyA)
	if err != nil {
		t.Fatalf("Generation: %v", err)
	}

	// Without fsync a commit never blocks in the kernel long enough for
	// the runtime to hand the processor to another thread meanwhile (a
	// slow fsync would, and mask the order asked for here).
	s.db.NoSync = true
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const n = 16
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		d := fmt.Sprintf("d-%d", i)
		go func() {
			<-start
			errs <- s.Record(ctx, d, []gatekeeper.PullKey{keyA}, logged(d))
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("Record: %v", err)
		}
	}

	// Each group raises keyA's generation by one.
	genAfter, _, err := s.Generation(ctx, keyA)
	if err != nil {
		t.Fatalf("Generation: %v", err)
	}
	if groups := genAfter - genBefore; groups > 2 {
		t.Errorf("%d Records ready to run at once took %d commits, want at most 2 (the first, and one for the rest)", n, groups)
	}
}
