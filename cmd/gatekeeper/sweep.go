package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubapi"
	"github.com/releasegate/gatekeeper/webhooks"
)

// newSweeper returns the delivery sweeper of the repository webhooks
// GATEKEEPER_GITHUB_HOOKS names and, for a GitHub App, of the App's
// webhook; nil in a dry run (GitHub is not written to) or with no hook to
// sweep.
func newSweeper(cfg *Config, gh *githubapi.Client, deliveries gatekeeper.DeliveryLog, metrics *webhooks.Metrics) *githubapi.Sweeper {
	if !cfg.githubAuth() || (len(cfg.hooks) == 0 && !gh.IsApp()) {
		return nil
	}
	return githubapi.NewSweeper(gh, githubapi.SweeperOptions{
		Hooks: cfg.hooks, App: gh.IsApp(), Redelivered: metrics.Redelivered, Seen: deliveries.HasDelivery,
	})
}

// sweeper is what the sweep timer runs: githubapi.Sweeper.
type sweeper interface {
	Sweep(ctx context.Context) (githubapi.SweepResult, error)
}

// runSweeper sweeps at start (deliveries failed while the gatekeeper was
// down) and every interval until ctx ends, on one replica at a time: the
// holder of lease (gatekeeper.SweeperLeaseName, two intervals long). It
// gives the lease up when ctx ends, so that another replica takes the
// sweeper over at its next tick. The caller waits for it before closing
// the store.
func runSweeper(ctx context.Context, s sweeper, lease *gatekeeper.TimerLease, interval time.Duration, log *slog.Logger) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := lease.Release(rctx); err != nil {
			log.Warn("releasing the delivery sweeper's lease", "err", err)
		}
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		sweepTick(ctx, s, lease, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepTick sweeps when this replica holds the sweeper's lease (renewing
// or taking it), and reports whether it swept.
func sweepTick(ctx context.Context, s sweeper, lease *gatekeeper.TimerLease, log *slog.Logger) bool {
	ok, err := lease.Hold(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("sweeping failed webhook deliveries", "err", err)
		}
		return false
	}
	if !ok {
		return false // another replica sweeps
	}
	res, err := s.Sweep(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		log.Error("sweeping failed webhook deliveries", "err", err, "redelivered", res.Redelivered)
	case res.Redelivered > 0 || res.Failed > 0:
		log.Info("swept failed webhook deliveries", "listed", res.Listed, "failed", res.Failed,
			"already_stored", res.Stored, "redelivered", res.Redelivered)
	}
	return true
}
