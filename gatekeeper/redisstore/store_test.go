package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
	"github.com/releasegate/gatekeeper/gatekeeper/storetest"
)

// prefixes makes every store in a test binary a prefix of its own, so that
// the suite's parallel subtests can share one server.
var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("t%d", prefixes.Add(1)) }

// opener opens fresh stores on srv, each under a new prefix.
func opener(srv *redistest.Server, opts ...Option) storetest.Opener {
	return func(t *testing.T, clock gatekeeper.Clock) gatekeeper.Store {
		t.Helper()
		return open(t, srv, append([]Option{WithClock(clock), WithPrefix(newPrefix())}, opts...)...)
	}
}

func open(t testing.TB, srv *redistest.Server, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), srv.URL(0), opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", srv.URL(0), err)
	}
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	storetest.Run(t, opener(srv))
	storetest.RunDurability(t, opener(srv), func(t *testing.T, closed gatekeeper.Store, clock gatekeeper.Clock) gatekeeper.Store {
		return open(t, srv, WithClock(clock), WithPrefix(closed.(*Store).prefix[1:len(closed.(*Store).prefix)-1]))
	})
}

var (
	keyA = gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 1}
	keyB = gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 2}
)

// logged is a Record closure that logs delivery d, so that the evidence
// tells how often it was applied.
func logged(d string) func(*gatekeeper.Evidence) {
	return func(ev *gatekeeper.Evidence) {
		ev.Apply(gatekeeper.Event{Delivery: d, Name: "status", Received: time.Unix(0, 0)})
	}
}

func logCounts(t *testing.T, s gatekeeper.Store, key gatekeeper.PullKey) map[string]int {
	t.Helper()
	ev, err := s.Evidence(context.Background(), key)
	if err != nil {
		t.Fatalf("Evidence(%s): %v", key, err)
	}
	n := map[string]int{}
	for _, l := range ev.Log {
		n[l.Delivery]++
	}
	return n
}

// TestReplicasShareOneServer: two stores on one prefix are two replicas.
// Their writes to one pull request race; each is applied exactly once,
// because the commit script refuses a write made on evidence another
// replica changed meanwhile, and the loser reads and applies again.
func TestReplicasShareOneServer(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := newPrefix()
	stores := []*Store{open(t, srv, WithPrefix(prefix)), open(t, srv, WithPrefix(prefix))}
	for _, s := range stores {
		defer s.Close()
	}
	ctx := context.Background()
	// Each replica runs a few writers, each writing one at a time, so that
	// the two replicas' groups interleave many times.
	const writers, n = 3, 25 // 151 writes: the evidence log keeps 200
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*n+2)
	want := map[string]int{}
	for r, s := range stores {
		for w := range writers {
			for i := range n {
				want[fmt.Sprintf("r%d-w%d-%d", r, w, i)] = 1
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					d := fmt.Sprintf("r%d-w%d-%d", r, w, i)
					if i%4 == 3 { // some Updates too: they race the Records
						_, err := s.Update(ctx, keyA, logged(d))
						if errors.Is(err, gatekeeper.ErrNotFound) {
							err = s.Record(ctx, d, []gatekeeper.PullKey{keyA}, logged(d))
						}
						errs <- err
						continue
					}
					errs <- s.Record(ctx, d, []gatekeeper.PullKey{keyA}, logged(d))
				}
			}()
		}
	}
	// And both replicas take the same delivery: one wins.
	var dupWins atomic.Int32
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Record(ctx, "shared", []gatekeeper.PullKey{keyA}, logged("shared"))
			if err == nil {
				dupWins.Add(1)
			} else if !errors.Is(err, gatekeeper.ErrDuplicate) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("write: %v", err)
		}
	}
	if dupWins.Load() != 1 {
		t.Errorf("the shared delivery was accepted by %d replicas, want 1", dupWins.Load())
	}
	want["shared"] = 1
	for i, s := range stores {
		if diff := cmp.Diff(want, logCounts(t, s, keyA)); diff != "" {
			t.Errorf("replica %d: times each write was applied (-want +got):\n%s", i, diff)
		}
	}
	ev, err := stores[0].Evidence(ctx, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Version != uint64(len(want)) {
		t.Errorf("Version = %d after %d writes", ev.Version, len(want))
	}
}

// TestCrashKeepsAcknowledged: what Record acknowledged survives a SIGKILL
// of redis-server under appendonly yes / appendfsync always: the evidence,
// the queue entry and the delivery id.
func TestCrashKeepsAcknowledged(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := newPrefix()
	s := open(t, srv, WithPrefix(prefix))
	ctx := context.Background()
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := fmt.Sprintf("d-%d", i)
			if err := s.Record(ctx, d, []gatekeeper.PullKey{keyA, keyB}, logged(d)); err != nil {
				t.Errorf("Record(%s): %v", d, err)
			}
		}()
	}
	wg.Wait()
	srv.Kill()
	s.Close()
	srv.Restart(t)

	s = open(t, srv, WithPrefix(prefix))
	defer s.Close()
	for _, key := range []gatekeeper.PullKey{keyA, keyB} {
		if got := logCounts(t, s, key); len(got) != n {
			t.Errorf("%s after the crash: %d deliveries applied, want %d", key, len(got), n)
		}
		if _, ok, err := s.Generation(ctx, key); err != nil || !ok {
			t.Errorf("%s after the crash: queued %t, %v; want queued", key, ok, err)
		}
	}
	if err := s.Record(ctx, "d-7", []gatekeeper.PullKey{keyA}, logged("d-7")); !errors.Is(err, gatekeeper.ErrDuplicate) {
		t.Errorf("Record(d-7) after the crash: err = %v, want ErrDuplicate", err)
	}
}

// TestWaitReplicas: with WithWaitReplicas a write waits for a replica; with
// no replica in time it fails with ErrReplicas, and the write, made on the
// primary, is a duplicate when the sender tries again.
func TestWaitReplicas(t *testing.T) {
	t.Parallel()
	// No delay before the replica's first sync (the default waits 5 s for
	// more replicas to share it).
	primary := redistest.Start(t, "--repl-diskless-sync-delay", "0")
	ctx := context.Background()

	alone := open(t, primary, WithPrefix(newPrefix()), WithWaitReplicas(1, 50*time.Millisecond))
	defer alone.Close()
	err := alone.Record(ctx, "d-1", []gatekeeper.PullKey{keyA}, logged("d-1"))
	if !errors.Is(err, ErrReplicas) {
		t.Fatalf("Record with no replica: err = %v, want ErrReplicas", err)
	}
	if err := alone.Record(ctx, "d-1", []gatekeeper.PullKey{keyA}, logged("d-1")); !errors.Is(err, gatekeeper.ErrDuplicate) {
		t.Errorf("Record(d-1) again: err = %v, want ErrDuplicate", err)
	}

	redistest.Start(t, "--replicaof", "127.0.0.1", portOf(primary.Addr))
	s := open(t, primary, WithPrefix(newPrefix()), WithWaitReplicas(1, time.Second))
	defer s.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Record(ctx, "", []gatekeeper.PullKey{keyB}, logged("r"))
		if err == nil {
			break
		}
		if !errors.Is(err, ErrReplicas) || time.Now().After(deadline) {
			t.Fatalf("Record with a replica attached: %v", err)
		}
	}
	for name, write := range map[string]func() error{
		"Enqueue":     func() error { return s.Enqueue(ctx, keyB) },
		"AddDecision": func() error { return s.AddDecision(ctx, gatekeeper.DecisionRecord{Key: keyB}) },
		"Update": func() error {
			_, err := s.Update(ctx, keyB, logged("u"))
			return err
		},
	} {
		if err := write(); err != nil {
			t.Errorf("%s with a replica: %v", name, err)
		}
	}
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}

// TestPassword: a server that requires a password refuses a store without
// it, and takes the one WithPassword (REDIS_PASSWORD) gives.
func TestPassword(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--requirepass", "s3cret-for-tests")
	if s, err := Open(context.Background(), srv.URL(0)); err == nil {
		s.Close()
		t.Fatal("Open without the password succeeded")
	}
	s := open(t, srv, WithPassword("s3cret-for-tests"))
	defer s.Close()
	if err := s.Record(context.Background(), "d-1", []gatekeeper.PullKey{keyA}, logged("d-1")); err != nil {
		t.Errorf("Record: %v", err)
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url string
		ok  bool
	}{
		{"redis://127.0.0.1:6379/0", true},
		{"redis://redis.internal:6380/3", true},
		{"rediss://redis.example.com:6380/0", true},
		{"redis://gatekeeper@127.0.0.1:6379/0", true}, // an ACL user, password from REDIS_PASSWORD
		{"redis://:pw@127.0.0.1:6379/0", false},
		{"redis://user:pw@127.0.0.1:6379/0", false},
		{"redis:///0", false},
		{"redis://127.0.0.1:6379/zero", false},
		{"redis://127.0.0.1:6379/0?bogus=1", false},
		{"http://127.0.0.1:6379/0", false},
	}
	for _, tt := range tests {
		err := CheckURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("CheckURL(%q) = %v, want ok %t", tt.url, err, tt.ok)
		}
		if err != nil && !errors.Is(err, gatekeeper.ErrInvalid) {
			t.Errorf("CheckURL(%q) = %v, want ErrInvalid", tt.url, err)
		}
	}
}

// TestRecordPanics: a Record whose apply panics fails alone; the writes
// grouped with it are made.
func TestRecordPanics(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, srv, WithPrefix(newPrefix()))
	defer s.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := fmt.Sprintf("d-%d", i)
			apply := logged(d)
			if i%5 == 0 {
				apply = func(*gatekeeper.Evidence) { panic("boom") }
			}
			errs[i] = s.Record(ctx, d, []gatekeeper.PullKey{keyA}, apply)
		}()
	}
	wg.Wait()
	want := map[string]int{}
	for i, err := range errs {
		if (err != nil) != (i%5 == 0) {
			t.Errorf("Record(d-%d): err = %v", i, err)
		}
		if i%5 != 0 {
			want[fmt.Sprintf("d-%d", i)] = 1
		}
	}
	if diff := cmp.Diff(want, logCounts(t, s, keyA)); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	// A delivery whose apply panicked was not marked seen.
	if err := s.Record(ctx, "d-0", []gatekeeper.PullKey{keyA}, logged("d-0")); err != nil {
		t.Errorf("Record(d-0) after its panic: %v", err)
	}
}

// TestClosed: writes after Close fail; closing twice is harmless.
func TestClosed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, srv, WithPrefix(newPrefix()))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Record(context.Background(), "d-1", []gatekeeper.PullKey{keyA}, logged("d-1")); err == nil {
		t.Error("Record after Close succeeded")
	}
}

// TestRedisRestart: after redis-server is killed and started again, the
// store's pooled connections are dead; the next writes find that out
// before they send anything (go-redis checks an idle connection), so no
// write fails for it, and nothing acknowledged before is lost.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, srv, WithPrefix(newPrefix()))
	defer s.Close()
	ctx := context.Background()
	burst := func(round string) {
		t.Helper()
		var wg sync.WaitGroup
		for i := range 16 { // several pooled connections
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := fmt.Sprintf("%s-%d", round, i)
				if err := s.Record(ctx, d, []gatekeeper.PullKey{keyA}, logged(d)); err != nil {
					t.Errorf("Record(%s): %v", d, err)
				}
				if _, err := s.Evidence(ctx, keyB); !errors.Is(err, gatekeeper.ErrNotFound) {
					t.Errorf("Evidence(%s): %v", keyB, err)
				}
			}()
		}
		wg.Wait()
	}
	burst("before")
	srv.Kill()
	srv.Restart(t)
	burst("after")
	if got := len(logCounts(t, s, keyA)); got != 32 {
		t.Errorf("%d deliveries applied, want 32", got)
	}
}

// TestPingNeedsAWrite: a server that answers PING and reads but refuses
// writes (here for want of a replica; equally a read-only replica, a full
// memory with noeviction or a failing snapshot) is not ready.
func TestPingNeedsAWrite(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, srv, WithPrefix(newPrefix()))
	defer s.Close()
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping on a healthy server: %v", err)
	}
	if err := s.rdb.ConfigSet(ctx, "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	defer s.rdb.ConfigSet(ctx, "min-replicas-to-write", "0")
	if _, err := s.Queued(ctx); err != nil {
		t.Fatalf("reads still work: %v", err)
	}
	err := s.Ping(ctx)
	if err == nil {
		t.Fatal("Ping succeeds on a server that refuses writes")
	}
	t.Log(err)
}

// TestOpenIndexesOlderData: evidence written before the pull request index
// existed is indexed by the first Open that finds the index unbuilt.
func TestOpenIndexesOlderData(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := context.Background()
	prefix := newPrefix()
	s := open(t, srv, WithPrefix(prefix))
	pr := &gatekeeper.PullRequest{Key: keyA, RepoID: 42, State: "open", BaseRef: "master", HeadSHA: "abc"}
	err := s.Record(ctx, "d-1", []gatekeeper.PullKey{keyA}, func(ev *gatekeeper.Evidence) {
		ev.Apply(gatekeeper.Event{Name: "pull_request.opened", Received: time.Unix(1, 0), Key: keyA, PullRequest: pr})
	})
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	// What a server written by an earlier version holds: no index.
	idx, err := s.rdb.Keys(ctx, s.key("idx", "*")).Result()
	if err != nil || len(idx) == 0 {
		t.Fatalf("index keys = %v, %v; want some", idx, err)
	}
	if err := s.rdb.Del(ctx, append(idx, s.key("indexed"))...).Err(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, srv, WithPrefix(prefix))
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

// TestLogReadFromTheServer: the log written apart, an entry at a time,
// reads back from the server (another replica's store, whose cache never
// holds the version just written) as it was written, whatever the writes
// did to it.
func TestLogReadFromTheServer(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := newPrefix()
	s := open(t, srv, WithPrefix(prefix))
	defer s.Close()
	r := open(t, srv, WithPrefix(prefix))
	defer r.Close()
	storetest.FillLog(t, s, keyA, "d", func(key gatekeeper.PullKey) *gatekeeper.Evidence {
		ev, err := r.Evidence(context.Background(), key)
		if err != nil {
			t.Fatalf("Evidence: %v", err)
		}
		return ev
	})
	// The two replicas append in turn, each on the other's writes.
	ctx := context.Background()
	for i := range 6 {
		w := []*Store{s, r}[i%2]
		if err := w.Record(ctx, fmt.Sprintf("turn-%d", i), []gatekeeper.PullKey{keyA}, logged(fmt.Sprintf("turn-%d", i))); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	evS, err := s.Evidence(ctx, keyA)
	if err != nil {
		t.Fatal(err)
	}
	evR, err := r.Evidence(ctx, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(evS, evR); diff != "" {
		t.Errorf("the replicas read different evidence (-s +r):\n%s", diff)
	}
	n, err := s.rdb.LLen(ctx, s.key("log", keyA.String())).Result()
	if err != nil || n != int64(gatekeeper.MaxLog) || len(evS.Log) != gatekeeper.MaxLog {
		t.Errorf("log list has %d entries (%v), evidence %d; want %d", n, err, len(evS.Log), gatekeeper.MaxLog)
	}
	for i := range 6 {
		if got, want := evS.Log[gatekeeper.MaxLog-6+i].Delivery, fmt.Sprintf("turn-%d", i); got != want {
			t.Errorf("log entry %d from the end is %s, want %s", 6-i, got, want)
		}
	}
}

// TestOlderFormatEvidence: evidence written before the log was kept apart
// (the whole Evidence as JSON, its log inline, no list) reads as it was,
// and the next write moves its log into the list. A list already there (a
// replica of an older version wrote the evidence whole over a newer one's)
// is not its log and is replaced.
func TestOlderFormatEvidence(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := context.Background()
	prefix := newPrefix()
	s := open(t, srv, WithPrefix(prefix))
	defer s.Close()
	old, data := storetest.OlderFormat(t, keyA)
	field := keyA.String()
	if err := s.rdb.Set(ctx, s.key("ev", field), data, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.HSet(ctx, s.key("ver"), field, "7:older").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.RPush(ctx, s.key("log", field), `{"event":"stale"}`, `{"event":"stale"}`).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Evidence(ctx, keyA)
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if diff := cmp.Diff(old, got); diff != "" {
		t.Errorf("older-format evidence read (-want +got):\n%s", diff)
	}
	next := gatekeeper.Event{Name: "status", Delivery: "new-1", Received: time.Unix(1000, 0).UTC(), Key: keyA}
	if err := s.Record(ctx, "new-1", []gatekeeper.PullKey{keyA}, func(ev *gatekeeper.Evidence) { ev.Apply(next) }); err != nil {
		t.Fatalf("Record: %v", err)
	}
	old.Apply(next)
	old.Version++
	head, err := s.rdb.Get(ctx, s.key("ev", field)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(head, `"log":`) || !strings.Contains(head, `"log_apart":true`) {
		t.Errorf("evidence after a write: %.300s…; want its log apart", head)
	}
	list, err := s.rdb.LRange(ctx, s.key("log", field), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var log []gatekeeper.LogEntry
	for _, e := range list {
		var l gatekeeper.LogEntry
		if err := json.Unmarshal([]byte(e), &l); err != nil {
			t.Fatalf("log entry %q: %v", e, err)
		}
		log = append(log, l)
	}
	if diff := cmp.Diff(old.Log, log); diff != "" {
		t.Errorf("log list after a write (-want +got):\n%s", diff)
	}
	fresh := open(t, srv, WithPrefix(prefix))
	defer fresh.Close()
	got, err = fresh.Evidence(ctx, keyA)
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if diff := cmp.Diff(old, got); diff != "" {
		t.Errorf("evidence rewritten and read by another store (-want +got):\n%s", diff)
	}
}
