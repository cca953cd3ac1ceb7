package gatekeeper_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// overlapPublisher is a Publisher, shared by replicas, that counts the
// posts on one commit running at once, each long enough to overlap
// another if the replicas let it.
type overlapPublisher struct {
	*gatekeepertest.Publisher
	firstDelay          time.Duration // how long the first post takes
	first               atomic.Bool
	mu                  sync.Mutex
	running, maxRunning map[string]int
}

func (p *overlapPublisher) Publish(ctx context.Context, key gatekeeper.PullKey, sha string, st gatekeeper.Status) error {
	p.mu.Lock()
	p.running[sha]++
	p.maxRunning[sha] = max(p.maxRunning[sha], p.running[sha])
	p.mu.Unlock()
	if p.firstDelay > 0 && p.first.CompareAndSwap(false, true) {
		time.Sleep(p.firstDelay)
	} else {
		time.Sleep(5 * time.Millisecond)
	}
	defer func() {
		p.mu.Lock()
		p.running[sha]--
		p.mu.Unlock()
	}()
	return p.Publisher.Publish(ctx, key, sha, st)
}

// TestReplicasNeverPostOnOneCommitAtOnce: #2 and #5 share a head; replica
// A hears only #2's events and replica B only #5's, whose labels flip so
// that the shared status keeps changing. The posts on the commit never
// overlap across the replicas (keyedLocks serialise them only within one),
// and the status that stands at the end names both pull requests' last
// decisions.
func TestReplicasNeverPostOnOneCommitAtOnce(t *testing.T) {
	t.Parallel()
	store := gatekeepertest.NewStore(gatekeeper.SystemClock{})
	pub := &overlapPublisher{Publisher: gatekeepertest.NewPublisher(false), running: map[string]int{}, maxRunning: map[string]int{}}
	a := startWith(t, gatekeeper.Options{Store: store, Publisher: pub, Evaluator: &labelEvaluator{}, LeaseTTL: testTTL, ReplicaID: "a", Debounce: -1})
	b := startWith(t, gatekeeper.Options{Store: store, Publisher: pub, Evaluator: &labelEvaluator{}, LeaseTTL: testTTL, ReplicaID: "b", Debounce: -1})
	for i := range 30 {
		at := t0.Add(time.Duration(i) * time.Second)
		e2, e5 := pullAt(2, head, at), pullAt(5, head, at)
		if i%2 == 0 {
			e2.PullRequest.Labels = []string{"blocked"}
		} else {
			e5.PullRequest.Labels = []string{"blocked"}
		}
		a.accept(t, e2)
		b.accept(t, e5)
		time.Sleep(3 * time.Millisecond)
	}
	// Last: #2 passes, #5 is blocked.
	last := t0.Add(time.Hour)
	e5 := pullAt(5, head, last)
	e5.PullRequest.Labels = []string{"blocked"}
	a.accept(t, pullAt(2, head, last))
	b.accept(t, e5)
	settled(t, store, gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 2}, gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 5})
	a.stop()
	b.stop()

	pub.mu.Lock()
	defer pub.mu.Unlock()
	if pub.maxRunning[head] != 1 {
		t.Errorf("%d posts on one commit ran at once on two replicas, want 1", pub.maxRunning[head])
	}
	posts := pub.Published()
	if len(posts) == 0 {
		t.Fatal("nothing posted")
	}
	st := posts[len(posts)-1].Status
	const want = "#5: Failing: blocked; #2: All release checks pass"
	if st.State != gatekeeper.Failure || st.Description != want {
		t.Errorf("the status standing on the shared head is %s %q, want failure %q (both last decisions)", st.State, st.Description, want)
	}
}

// settled waits until keys have left the queue.
func settled(t *testing.T, store *gatekeepertest.Store, keys ...gatekeeper.PullKey) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, k := range keys {
		for {
			if _, queued, _ := store.Generation(context.Background(), k); !queued {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never left the queue", k)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// pullsCounter is a Store that counts the listings of its pull requests:
// each reconcile lists them once.
type pullsCounter struct {
	*gatekeepertest.Store
	n atomic.Int64
}

func (c *pullsCounter) Pulls(ctx context.Context) ([]gatekeeper.PullKey, error) {
	c.n.Add(1)
	return c.Store.Pulls(ctx)
}

// TestOneReplicaReconcilesPerTick: two replicas on one store, reconciling
// every 50ms. Together they reconcile about once a tick, not once a tick
// each; when the reconciling replica stops, the other takes over.
func TestOneReplicaReconcilesPerTick(t *testing.T) {
	t.Parallel()
	const every = 50 * time.Millisecond
	shared := gatekeepertest.NewStore(gatekeeper.SystemClock{})
	run := func(id string) (*pullsCounter, func()) {
		c := &pullsCounter{Store: shared}
		svc, err := gatekeeper.New(gatekeeper.Options{Store: c, Publisher: gatekeepertest.NewPublisher(false),
			Evaluator: &labelEvaluator{}, Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "master"}},
			PublicURL: "https://gate.example/", Reconcile: every, LeaseTTL: testTTL, ReplicaID: id})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { svc.Run(ctx); close(done) }()
		var once sync.Once
		stop := func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(stop)
		return c, stop
	}
	a, stopA := run("a")
	b, stopB := run("b")
	began := time.Now()
	time.Sleep(20 * every)
	na, nb := a.n.Load(), b.n.Load()
	ticks := int64(time.Since(began) / every)
	if na+nb > ticks+2 || na+nb < ticks/3 {
		t.Errorf("two replicas reconciled %d+%d times in %d ticks, want about one a tick between them", na, nb, ticks)
	}

	// The reconciling replica (or the one that did most) stops: the
	// other takes the timer over within the reconciler lease (two ticks).
	other, stopLeader := b, stopA
	if nb > na {
		other, stopLeader = a, stopB
	}
	stopLeader()
	before := other.n.Load()
	time.Sleep(10 * every)
	if got := other.n.Load() - before; got < 4 {
		t.Errorf("the remaining replica reconciled %d times in 10 ticks after the other stopped, want at least 4", got)
	}
}

// TestSlowPostKeepsTheCommitLease: replica A's post on the shared head
// takes three lease ttls (GitHub slow, Publish retrying); replica B, asked
// to post for the other pull request on that head meanwhile, waits for it
// rather than taking the expired lease over.
func TestSlowPostKeepsTheCommitLease(t *testing.T) {
	t.Parallel()
	store := gatekeepertest.NewStore(gatekeeper.SystemClock{})
	pub := &overlapPublisher{Publisher: gatekeepertest.NewPublisher(false), firstDelay: 3 * testTTL,
		running: map[string]int{}, maxRunning: map[string]int{}}
	a := startWith(t, gatekeeper.Options{Store: store, Publisher: pub, Evaluator: &labelEvaluator{}, LeaseTTL: testTTL, ReplicaID: "a", Debounce: -1})
	b := startWith(t, gatekeeper.Options{Store: store, Publisher: pub, Evaluator: &labelEvaluator{}, LeaseTTL: testTTL, ReplicaID: "b", Debounce: -1})
	a.accept(t, pullAt(2, head, t0))
	deadline := time.Now().Add(10 * time.Second)
	for !pub.first.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	e5 := pullAt(5, head, t0)
	e5.PullRequest.Labels = []string{"blocked"}
	b.accept(t, e5)
	settled(t, store, gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 2}, gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 5})
	a.stop()
	b.stop()
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if pub.maxRunning[head] != 1 {
		t.Errorf("%d posts on one commit ran at once while the first was slow, want 1", pub.maxRunning[head])
	}
}
