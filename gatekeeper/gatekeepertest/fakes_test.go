package gatekeepertest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"github.com/releasegate/gatekeeper/gatekeeper/storetest"
)

// TestStoreConformance holds the in-memory Store to the same suite as the
// real stores, so that tests using it see what production would.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock gatekeeper.Clock) gatekeeper.Store {
		return gatekeepertest.NewStore(clock)
	})
}

var key = gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 7}

func TestStoreFailAndRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := gatekeepertest.NewStore(nil)
	apply := func(ev *gatekeeper.Evidence) {}
	if err := s.Record(ctx, "d1", []gatekeeper.PullKey{key}, apply); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if err := s.Record(ctx, "d1", []gatekeeper.PullKey{key}, apply); !errors.Is(err, gatekeeper.ErrDuplicate) {
		t.Fatalf("second Record = %v, want ErrDuplicate", err)
	}
	down := errors.New("connection refused")
	s.Fail(down)
	calls := []struct {
		name string
		err  error
	}{
		{"Record", s.Record(ctx, "d2", []gatekeeper.PullKey{key}, apply)},
		{"Ping", s.Ping(ctx)},
		{"Enqueue", s.Enqueue(ctx, key)},
	}
	for _, c := range calls {
		if !errors.Is(c.err, down) {
			t.Errorf("%s while failing = %v, want %v", c.name, c.err, down)
		}
	}
	if _, err := s.Evidence(ctx, key); !errors.Is(err, down) {
		t.Errorf("Evidence while failing = %v, want %v", err, down)
	}
	s.Fail(nil)
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after healing = %v", err)
	}

	got := s.Records()
	if len(got) != 3 {
		t.Fatalf("Records() has %d calls, want 3: %+v", len(got), got)
	}
	if got[0].Err != nil || !errors.Is(got[1].Err, gatekeeper.ErrDuplicate) || !errors.Is(got[2].Err, down) {
		t.Errorf("Records() errors = %v, %v, %v; want nil, duplicate, down", got[0].Err, got[1].Err, got[2].Err)
	}
	if diff := cmp.Diff([]string{"d1", "d1", "d2"}, []string{got[0].Delivery, got[1].Delivery, got[2].Delivery}); diff != "" {
		t.Errorf("Records() deliveries mismatch (-want +got):\n%s", diff)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
}

func TestEvaluator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"QA"}}, "rev-9")
	d, err := e.Evaluate(ctx, map[string]any{"n": 1})
	if err != nil || d.State != gatekeeper.Pending || e.Revision() != "rev-9" || e.Ready() != nil {
		t.Fatalf("Evaluate = %+v, %v; Revision %q; Ready %v", d, err, e.Revision(), e.Ready())
	}
	e.Decide(gatekeeper.Decision{State: gatekeeper.Success}, errors.New("rego_parse_error"))
	if _, err := e.Evaluate(ctx, map[string]any{"n": 2}); !errors.Is(err, gatekeeper.ErrPolicy) {
		t.Errorf("Evaluate after Decide(err) = %v, want ErrPolicy", err)
	}
	e.SetReady(errors.New("no policy"))
	if e.Ready() == nil {
		t.Error("Ready after SetReady(err) = nil")
	}
	want := []map[string]any{{"n": 1}, {"n": 2}}
	if diff := cmp.Diff(want, e.Inputs()); diff != "" {
		t.Errorf("Inputs mismatch (-want +got):\n%s", diff)
	}
}

func TestPublisher(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := gatekeepertest.NewPublisher(true)
	if !p.DryRun() {
		t.Error("DryRun = false, want true")
	}
	st := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Failure, Description: "Failing: QA"}
	p.Fail(errors.New("502"))
	if err := p.Publish(ctx, key, "abc", st); err == nil {
		t.Error("Publish while failing succeeded")
	}
	p.Fail(nil)

	waited := make(chan []gatekeepertest.Published, 1)
	go func() {
		got, err := p.Wait(ctx, 1)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		waited <- got
	}()
	if err := p.Publish(ctx, key, "abc", st); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	want := []gatekeepertest.Published{{Key: key, SHA: "abc", Status: st}}
	if diff := cmp.Diff(want, <-waited); diff != "" {
		t.Errorf("Wait mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, p.Published()); diff != "" {
		t.Errorf("Published mismatch (-want +got):\n%s", diff)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Wait(cancelled, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait for more than was published = %v, want context.Canceled", err)
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	c := gatekeepertest.NewClock(t0)
	c.Advance(time.Minute)
	if got := c.Now(); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("Now after Advance = %s", got)
	}
	c.Set(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Errorf("Now after Set = %s", got)
	}
}
