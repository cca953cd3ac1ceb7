package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// testClaim: a delivery recorded with no pull request keys is a once-only
// claim (the daily Go/NoGo summary, Service.Claim): of concurrent claims
// exactly one wins, the others are ErrDuplicate, and no pull request is
// created or queued.
func testClaim(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Record(ctx, "slack-summary:2026-03-02", nil, func(*gatekeeper.Evidence) {})
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, gatekeeper.ErrDuplicate):
			t.Errorf("claim: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent claims won, want 1", won, concurrency)
	}
	if err := s.Record(ctx, "slack-summary:2026-03-03", nil, func(*gatekeeper.Evidence) {}); err != nil {
		t.Errorf("another day's claim: %v", err)
	}
	if pulls, err := s.Pulls(ctx); err != nil || len(pulls) != 0 {
		t.Errorf("pulls after claims: %v %v, want none", pulls, err)
	}
	if q, err := s.Queued(ctx); err != nil || len(q) != 0 {
		t.Errorf("queue after claims: %v %v, want empty", q, err)
	}
}
