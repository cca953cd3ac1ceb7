package test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// firstStatus runs one Service (o, with a fresh test store and publisher
// on a clock stopped at at) over evidence seeded with ev: events are
// delivered through Service.Accept as webhooks would be, in that order,
// before the Service runs, so that the first evaluation sees them all. It
// returns the first status published, and the Service and publisher for
// what the test does next; the Service runs until the test ends.
func firstStatus(t *testing.T, o gatekeeper.Options, ev *gatekeeper.Evidence, at time.Time, events ...gatekeeper.Event) (gatekeepertest.Published, *gatekeeper.Service, *gatekeepertest.Publisher) {
	t.Helper()
	ctx := context.Background()
	store := gatekeepertest.NewStore(gatekeepertest.NewClock(at))
	pub := gatekeepertest.NewPublisher(false)
	o.Store, o.Publisher, o.Clock = store, pub, gatekeepertest.NewClock(at)
	svc, err := gatekeeper.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Record(ctx, "seed", []gatekeeper.PullKey{ev.Key}, func(cur *gatekeeper.Evidence) { *cur = *ev.Clone() }); err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		e.Delivery = fmt.Sprintf("event-%d", i)
		if _, err := svc.Accept(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Enqueue(ctx, ev.Key); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitCtx, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	got, err := pub.Wait(waitCtx, 1)
	if err != nil {
		t.Fatal(err)
	}
	return got[0], svc, pub
}
