package gatekeeper

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Names of the leases whose holder alone runs a timer's job.
const (
	// reconcilerLeaseName: the reconcile timer (Service.ReconcileTick).
	reconcilerLeaseName = "reconciler"
	// SweeperLeaseName: the delivery sweeper, which lists a webhook's
	// recent deliveries from GitHub and asks for the failed ones again.
	// Two replicas sweeping at once would spend the rate limit twice and
	// ask for the same redeliveries twice.
	SweeperLeaseName = "delivery-sweeper"
)

// TimerLease gives a timer's job to one replica at a time: every replica
// ticks, and Hold tells the one whose tick should run the job. The holder
// renews the lease at each tick, so its ttl must outlast one tick (two
// ticks is the rule used here); when the holder stops (Release) another
// replica takes the job over at its next tick, and when it dies without
// releasing, once the lease expires. It is safe for concurrent use.
type TimerLease struct {
	leaser NamedLeaser
	name   string
	owner  string
	ttl    time.Duration

	mu    sync.Mutex
	token uint64 // 0: not held
}

// NewTimerLease returns owner's TimerLease on the lease called name.
func NewTimerLease(l NamedLeaser, name, owner string, ttl time.Duration) *TimerLease {
	return &TimerLease{leaser: l, name: name, owner: owner, ttl: ttl}
}

// TimerLease returns this replica's TimerLease called name, on the
// Service's NamedLeaser (the Store's, shared by every replica of it).
func (s *Service) TimerLease(name string, ttl time.Duration) *TimerLease {
	return NewTimerLease(s.o.NamedLeaser, name, s.o.ReplicaID, ttl)
}

// Hold reports whether this replica holds the lease, renewing it when it
// did or taking it when it is free.
func (t *TimerLease) Hold(ctx context.Context) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != 0 {
		ok, err := t.leaser.RenewName(ctx, t.name, t.owner, t.token, t.ttl)
		if err != nil {
			return false, fmt.Errorf("renewing the %s lease: %w", t.name, err)
		}
		if ok {
			return true, nil
		}
		t.token = 0
	}
	token, ok, err := t.leaser.AcquireName(ctx, t.name, t.owner, t.ttl)
	if err != nil {
		return false, fmt.Errorf("taking the %s lease: %w", t.name, err)
	}
	if ok {
		t.token = token
	}
	return ok, nil
}

// Release gives the lease up when held (at shutdown), so that another
// replica takes the job over at its next tick rather than at expiry.
func (t *TimerLease) Release(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == 0 {
		return nil
	}
	token := t.token
	t.token = 0
	if err := t.leaser.ReleaseName(ctx, t.name, t.owner, token); err != nil {
		return fmt.Errorf("releasing the %s lease: %w", t.name, err)
	}
	return nil
}
