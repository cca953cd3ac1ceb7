package gatekeeper

import (
	"context"
	"fmt"
	"time"
)

// commitLeaseName is the NamedLeaser name a replica holds while it reads
// the statuses of the pull requests sharing commit sha, posts the commit's
// status and records it: two replicas posting for two pull requests on one
// head would otherwise each read the other's older post and leave a stale
// status standing.
func commitLeaseName(key PullKey, sha string) string {
	return "commit:" + key.Owner + "/" + key.Repo + "@" + sha
}

// commitLease is a held lease on a commit.
type commitLease struct {
	s     *Service
	name  string
	token uint64
	stop  chan struct{}
	done  chan struct{}
}

// leaseCommit takes the lease on key's commit sha, waiting while another
// replica holds it (a post is short) until ctx ends or two lease ttls have
// passed, after which it returns an error wrapping errRetry.
func (s *Service) leaseCommit(ctx context.Context, key PullKey, sha string) (*commitLease, error) {
	name := commitLeaseName(key, sha)
	pause := min(s.o.LeaseTTL/50, 50*time.Millisecond)
	giveUp := time.Now().Add(2 * s.o.LeaseTTL)
	for {
		token, ok, err := s.o.NamedLeaser.AcquireName(ctx, name, s.o.ReplicaID, s.o.LeaseTTL)
		if err != nil {
			return nil, fmt.Errorf("leasing %s: %w", name, err)
		}
		if ok {
			c := &commitLease{s: s, name: name, token: token, stop: make(chan struct{}), done: make(chan struct{})}
			go c.renewing(ctx)
			return c, nil
		}
		if time.Now().After(giveUp) {
			return nil, fmt.Errorf("another replica holds %s: %w", name, errRetry)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, context.Cause(ctx)
		case <-t.C:
		}
	}
}

// fence renews the commit lease right before the post, so that it is good
// for a whole ttl, and returns an error wrapping errRetry when it was lost
// (this replica was paused past it): a newer holder may have posted since
// the statuses were read.
func (c *commitLease) fence(ctx context.Context) error {
	ok, err := c.s.o.NamedLeaser.RenewName(ctx, c.name, c.s.o.ReplicaID, c.token, c.s.o.LeaseTTL)
	if err != nil {
		return fmt.Errorf("checking the lease on %s: %w", c.name, err)
	}
	if !ok {
		c.s.leaseLost("commit")
		return fmt.Errorf("lease on %s lost before posting: %w", c.name, errRetry)
	}
	return nil
}

// renewing renews the lease every ttl/3 until end, so that a post that
// GitHub keeps waiting (Publish retries) keeps it.
func (c *commitLease) renewing(ctx context.Context) {
	defer close(c.done)
	ttl := c.s.o.LeaseTTL
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl/3)
			ok, err := c.s.o.NamedLeaser.RenewName(rctx, c.name, c.s.o.ReplicaID, c.token, ttl)
			cancel()
			if err == nil && !ok {
				c.s.log.WarnContext(ctx, "a commit's lease was lost while posting on it", "lease", c.name, "token", c.token)
				return
			}
		}
	}
}

// end stops renewing and gives the commit lease up.
func (c *commitLease) end(ctx context.Context) {
	close(c.stop)
	<-c.done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.s.o.LeaseTTL/3)
	defer cancel()
	if err := c.s.o.NamedLeaser.ReleaseName(ctx, c.name, c.s.o.ReplicaID, c.token); err != nil {
		c.s.log.WarnContext(ctx, "releasing a commit's lease", "lease", c.name, "err", err)
	}
}

// reconcileTTL is how long the reconciler lease lasts: two ticks, so the
// holder renews it in time at each tick, and another replica takes the
// timer over within two ticks of the holder's death.
func (s *Service) reconcileTTL() time.Duration { return 2 * s.o.Reconcile }

// ReconcileTick is the reconcile timer's tick: Reconcile when this replica
// holds the reconciler lease, else nothing. It reports whether it
// reconciled.
func (s *Service) ReconcileTick(ctx context.Context) (bool, error) {
	ok, err := s.reconciler.Hold(ctx)
	if err != nil || !ok {
		return false, err
	}
	return true, s.Reconcile(ctx)
}

// releaseReconciler gives the reconciler lease up (at shutdown), so that
// another replica takes the timer over at its next tick.
func (s *Service) releaseReconciler(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.o.LeaseTTL/3)
	defer cancel()
	if err := s.reconciler.Release(ctx); err != nil {
		s.log.WarnContext(ctx, "releasing the reconciler lease", "err", err)
	}
}
