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
func newSweeper(cfg *Config, gh *githubapi.Client, store gatekeeper.Store, metrics *webhooks.Metrics) *githubapi.Sweeper {
	if !cfg.githubAuth() || (len(cfg.hooks) == 0 && !gh.IsApp()) {
		return nil
	}
	o := githubapi.SweeperOptions{Hooks: cfg.hooks, App: gh.IsApp(), Redelivered: metrics.Redelivered}
	if dc, ok := store.(gatekeeper.DeliveryChecker); ok {
		o.Seen = dc.HasDelivery
	}
	return githubapi.NewSweeper(gh, o)
}

// runSweeper sweeps at start (deliveries failed while the gatekeeper was
// down) and every interval until ctx ends; the caller waits for it before
// closing the store.
func runSweeper(ctx context.Context, s *githubapi.Sweeper, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := s.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("sweeping failed webhook deliveries", "err", err, "redelivered", res.Redelivered)
		case res.Redelivered > 0 || res.Failed > 0:
			log.Info("swept failed webhook deliveries", "listed", res.Listed, "failed", res.Failed,
				"already_stored", res.Stored, "redelivered", res.Redelivered)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
