package gatekeeper_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// storeDownAfterPost is a Publisher whose first post is accepted by GitHub
// just as the store goes down for a moment (Redis restarting): the
// gatekeeper cannot record what it posted right then.
type storeDownAfterPost struct {
	*gatekeepertest.Publisher
	store *gatekeepertest.Store
	once  sync.Once
}

func (p *storeDownAfterPost) Publish(ctx context.Context, key gatekeeper.PullKey, sha string, st gatekeeper.Status) error {
	if err := p.Publisher.Publish(ctx, key, sha, st); err != nil {
		return err
	}
	p.once.Do(func() {
		p.store.Fail(errors.New("connection refused"))
		time.AfterFunc(300*time.Millisecond, func() { p.store.Fail(nil) })
	})
	return nil
}

// TestPostedStatusNotRecordedIsNotPostedAgain: GitHub has the status, the
// store was down when the gatekeeper went to record it. The status must
// not be posted a second time once the store is back (found by
// test/TestBurstRedisRestarted: a status posted twice in a row).
func TestPostedStatusNotRecordedIsNotPostedAgain(t *testing.T) {
	t.Parallel()
	store := gatekeepertest.NewStore(gatekeeper.SystemClock{})
	pub := &storeDownAfterPost{Publisher: gatekeepertest.NewPublisher(false), store: store}
	h := startWith(t, gatekeeper.Options{Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending}, "rev1"), Store: store, Publisher: pub})
	h.accept(t, opened(head, time.Now()))
	// Off the queue, asked of a store that answers again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, queued, err := store.Generation(context.Background(), key)
		if err == nil && !queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pull request never left the queue (%v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := pub.Published(); len(got) != 1 {
		t.Errorf("%d statuses posted, want 1: %+v", len(got), got)
	}
	ev, err := store.Evidence(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Published == nil {
		t.Error("the status posted is not recorded")
	}
}
