package gatekeeper_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// brokenWrites is a store whose evidence writes fail while broken is set,
// as a full disk would; reads still work.
type brokenWrites struct {
	*gatekeepertest.Store
	broken atomic.Bool
	failed atomic.Int32
}

var errFull = errors.New("no space left on device")

func (s *brokenWrites) Update(ctx context.Context, key gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (*gatekeeper.Evidence, error) {
	if s.broken.Load() {
		s.failed.Add(1)
		return nil, fmt.Errorf("updating evidence of %s: %w", key, errFull)
	}
	return s.Store.Update(ctx, key, fn)
}

// okSource is an evidence source that always answers, with nothing new.
type okSource struct{ name string }

func (s okSource) Name() string { return s.name }
func (s okSource) Gather(context.Context, *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	return nil, nil
}

// TestStoreFailureIsNotGitHubs: the store cannot write while GitHub and
// every other source answer. No status may blame GitHub ("github evidence
// unavailable"): before, a failed write of what the sources gathered
// marked every source unavailable and the status said so. Nothing is
// posted while the store cannot record it; the log names the store; once
// the store heals, the status is the policy's.
func TestStoreFailureIsNotGitHubs(t *testing.T) {
	t.Parallel()
	store := &brokenWrites{Store: gatekeepertest.NewStore(nil)}
	store.broken.Store(true)
	pub := gatekeepertest.NewPublisher(false)
	logs := &gatekeepertest.LogBuffer{}
	svc, err := gatekeeper.New(gatekeeper.Options{
		Store: store, Publisher: pub,
		Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Success}, "rev1"),
		Sources:   []gatekeeper.Source{okSource{"github"}, okSource{"jenkins"}},
		Gated:     gatekeeper.BranchPairs{{Head: "staging", Base: "master"}},
		Logger:    slog.New(slog.NewJSONHandler(logs, nil)),
		Workers:   2, Debounce: -1, Reconcile: time.Hour,
		RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, SourceErrorLimit: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.Accept(ctx, opened(head, t0)); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	// Several attempts fail on the store (a bound on a hung test, not a
	// performance assertion).
	deadline := time.Now().Add(10 * time.Second)
	for store.failed.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d store writes were tried", store.failed.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := pub.Published(); len(got) != 0 {
		t.Errorf("statuses posted while the store could not record them: %+v", got)
	}
	store.broken.Store(false)
	waitCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	got, err := pub.Wait(waitCtx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		if strings.Contains(p.Status.Description, "github") || p.Status.State != gatekeeper.Success {
			t.Errorf("status %s %q, want the policy's success: the store's failure was taken for a source's", p.Status.State, p.Status.Description)
		}
	}
	var named bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, errFull.Error()) {
			continue
		}
		if strings.Contains(line, "in the store") {
			named = true
		} else {
			t.Errorf("a log line with the store's error does not name the store: %s", line)
		}
	}
	if !named {
		t.Error("no log line names the store's failure")
	}
}
