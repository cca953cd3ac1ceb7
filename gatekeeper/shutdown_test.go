package gatekeeper_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// guardedStore is a real bbolt store that records every call made while
// it is closing or closed, and every call still running when Close is
// called: what a goroutine left behind by shutdown would do.
type guardedStore struct {
	gatekeeper.Store
	// slowPulls, when set, is called inside Pulls before the real read:
	// a reconcile that is still reading when shutdown begins.
	slowPulls func(ctx context.Context)

	mu       sync.Mutex
	closed   bool
	inflight int
	bad      []string
}

func (g *guardedStore) enter(name string) func() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.bad = append(g.bad, name+" after Close")
	}
	g.inflight++
	return func() {
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
	}
}

// violations is what touched the store around its Close.
func (g *guardedStore) violations() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.bad...)
}

func (g *guardedStore) Close() error {
	g.mu.Lock()
	if g.inflight > 0 {
		g.bad = append(g.bad, fmt.Sprintf("Close with %d calls running", g.inflight))
	}
	g.closed = true
	g.mu.Unlock()
	return g.Store.Close()
}

func (g *guardedStore) Record(ctx context.Context, d string, keys []gatekeeper.PullKey, apply func(*gatekeeper.Evidence)) error {
	defer g.enter("Record")()
	return g.Store.Record(ctx, d, keys, apply)
}

func (g *guardedStore) Update(ctx context.Context, k gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (*gatekeeper.Evidence, error) {
	defer g.enter("Update")()
	return g.Store.Update(ctx, k, fn)
}

func (g *guardedStore) Evidence(ctx context.Context, k gatekeeper.PullKey) (*gatekeeper.Evidence, error) {
	defer g.enter("Evidence")()
	return g.Store.Evidence(ctx, k)
}

func (g *guardedStore) Pulls(ctx context.Context) ([]gatekeeper.PullKey, error) {
	defer g.enter("Pulls")()
	if g.slowPulls != nil {
		g.slowPulls(ctx)
	}
	return g.Store.Pulls(ctx)
}

func (g *guardedStore) PullsForSHA(ctx context.Context, sha string) ([]gatekeeper.PullKey, error) {
	defer g.enter("PullsForSHA")()
	return g.Store.PullsForSHA(ctx, sha)
}

func (g *guardedStore) Enqueue(ctx context.Context, k gatekeeper.PullKey) error {
	defer g.enter("Enqueue")()
	return g.Store.Enqueue(ctx, k)
}

func (g *guardedStore) Queued(ctx context.Context) ([]gatekeeper.QueueItem, error) {
	defer g.enter("Queued")()
	return g.Store.Queued(ctx)
}

func (g *guardedStore) Generation(ctx context.Context, k gatekeeper.PullKey) (uint64, bool, error) {
	defer g.enter("Generation")()
	return g.Store.Generation(ctx, k)
}

func (g *guardedStore) Done(ctx context.Context, k gatekeeper.PullKey, gen uint64) (bool, error) {
	defer g.enter("Done")()
	return g.Store.Done(ctx, k, gen)
}

func (g *guardedStore) AddDecision(ctx context.Context, rec gatekeeper.DecisionRecord) error {
	defer g.enter("AddDecision")()
	return g.Store.AddDecision(ctx, rec)
}

func (g *guardedStore) Decisions(ctx context.Context, k gatekeeper.PullKey, limit int) ([]gatekeeper.DecisionRecord, error) {
	defer g.enter("Decisions")()
	return g.Store.Decisions(ctx, k, limit)
}

func (g *guardedStore) ForgetDeliveries(ctx context.Context, before time.Time) (int, error) {
	defer g.enter("ForgetDeliveries")()
	return g.Store.ForgetDeliveries(ctx, before)
}

func (g *guardedStore) Ping(ctx context.Context) error {
	defer g.enter("Ping")()
	return g.Store.Ping(ctx)
}

func openGuarded(t *testing.T) *guardedStore {
	t.Helper()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "gate.db"))
	if err != nil {
		t.Fatal(err)
	}
	g := &guardedStore{Store: bs}
	t.Cleanup(func() { _ = g.Store.Close() })
	return g
}

// lingering stands for a slow dependency: it notices ctx's end, then takes
// a while to return, as a real HTTP client or a bbolt transaction does.
const lingering = 150 * time.Millisecond

// runThenClose runs svc until started fires, then shuts down as serve does
// (cancel, wait for Run, close the store) and returns what touched the
// store around Close.
func runThenClose(t *testing.T, svc *gatekeeper.Service, store *guardedStore, started <-chan struct{}) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = svc.Run(ctx); close(done) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the goroutine under test never started")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	// Whatever Run left running would touch the store now.
	time.Sleep(2 * lingering)
	return store.violations()
}

// A reconcile started by the timer is awaited by Run: without that, shutdown
// closed the store under a reconcile still reading it (item 16).
func TestShutdownAwaitsReconcile(t *testing.T) {
	t.Parallel()
	store := openGuarded(t)
	if err := store.Record(context.Background(), "d1", []gatekeeper.PullKey{key}, func(ev *gatekeeper.Evidence) {
		ev.PR = opened(head, t0).PullRequest
	}); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var once sync.Once
	store.slowPulls = func(ctx context.Context) {
		once.Do(func() { close(started) })
		<-ctx.Done()
		time.Sleep(lingering)
	}
	svc, err := gatekeeper.New(gatekeeper.Options{
		Store: store, Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending}, "r1"),
		Publisher: gatekeepertest.NewPublisher(false), Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "master"}},
		PublicURL: "https://gate.example", Workers: 1, Reconcile: 10 * time.Millisecond, Debounce: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if bad := runThenClose(t, svc, store, started); len(bad) > 0 {
		t.Errorf("the store was used around Close: %v", bad)
	}
}

// blockingNotifier is a Slack notifier whose post is in flight when
// shutdown begins.
type blockingNotifier struct {
	started chan struct{}
	once    sync.Once
}

func (n *blockingNotifier) Notify(ctx context.Context, _ gatekeeper.Notification) error {
	n.once.Do(func() { close(n.started) })
	<-ctx.Done()
	time.Sleep(lingering)
	return ctx.Err()
}

// A notification in flight is awaited, and so is what the worker writes
// after it, before the store closes.
func TestShutdownAwaitsNotifierInFlight(t *testing.T) {
	t.Parallel()
	store := openGuarded(t)
	n := &blockingNotifier{started: make(chan struct{})}
	svc, err := gatekeeper.New(gatekeeper.Options{
		Store: store, Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Success}, "r1"),
		Publisher: gatekeepertest.NewPublisher(false), Notifier: n,
		Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "master"}}, PublicURL: "https://gate.example",
		Workers: 1, Debounce: time.Millisecond, DrainTimeout: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Accept(context.Background(), opened(head, t0)); err != nil {
		t.Fatal(err)
	}
	if bad := runThenClose(t, svc, store, n.started); len(bad) > 0 {
		t.Errorf("the store was used around Close: %v", bad)
	}
}
