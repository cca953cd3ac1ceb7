package gatekeeper_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// doneHeld is a Store whose Done for one pull request waits until release
// is closed: the last write of that pull request's post hangs.
type doneHeld struct {
	*gatekeepertest.Store
	key     gatekeeper.PullKey
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (s *doneHeld) Done(ctx context.Context, k gatekeeper.PullKey, gen uint64) (bool, error) {
	if k == s.key {
		s.once.Do(func() { close(s.entered) })
		<-s.release
	}
	return s.Store.Done(ctx, k, gen)
}

// TestPostSlotFreedBeforeStoreWrite: with one post slot per repository, a
// pull request whose status is posted but whose store write hangs does not
// hold its repository's next post: the slot goes back once nothing more
// goes to GitHub, and the lease and the queue entry stay with the
// evaluation until its write ends.
func TestPostSlotFreedBeforeStoreWrite(t *testing.T) {
	t.Parallel()
	first := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 1}
	second := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 2}
	store := &doneHeld{Store: gatekeepertest.NewStore(gatekeeper.SystemClock{}), key: first,
		entered: make(chan struct{}), release: make(chan struct{})}
	pub := gatekeepertest.NewPublisher(false)
	svc, _ := runService(t, gatekeeper.Options{
		Store: store, Publisher: pub,
		Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending}, "rev"),
		Gated:     gatekeeper.BranchPairs{{Head: "staging", Base: "master"}},
		PublicURL: "https://gate.example/", Workers: 4, Debounce: time.Millisecond,
		RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, SourceErrorLimit: 3,
		PostsPerRepo: 1,
	})
	// Registered after runService's: runs first, so that a failing test
	// does not leave the held write (and the Service's stop) hanging.
	var released sync.Once
	releaseWrite := func() { released.Do(func() { close(store.release) }) }
	t.Cleanup(releaseWrite)
	ctx := context.Background()
	openedAs := func(k gatekeeper.PullKey, sha string) gatekeeper.Event {
		e := opened(sha, t0)
		e.Key, e.PullRequest.Key = k, k
		return e
	}
	if _, err := svc.Accept(ctx, openedAs(first, "1111111111111111111111111111111111111111")); err != nil {
		t.Fatal(err)
	}
	<-store.entered // its status posted, its store write hanging
	if _, err := svc.Accept(ctx, openedAs(second, "2222222222222222222222222222222222222222")); err != nil {
		t.Fatal(err)
	}
	// The second's status is posted while the first still writes (the
	// 10 s bound is only a hung test's).
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := pub.Wait(wctx, 2)
	if err != nil {
		t.Fatalf("the second pull request's status waited for the first's store write: %v", err)
	}
	if got[1].Key != second {
		t.Errorf("second status posted for %s, want %s", got[1].Key, second)
	}
	if _, queued, _ := store.Generation(ctx, first); !queued {
		t.Error("the first pull request left the queue before its write ended")
	}
	releaseWrite()
	for {
		if _, queued, _ := store.Generation(ctx, first); !queued {
			break
		}
		if wctx.Err() != nil {
			t.Fatal("the first pull request never left the queue")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
