package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var (
	_ gatekeeper.Leaser      = (*Store)(nil)
	_ gatekeeper.NamedLeaser = (*Store)(nil)
)

// Acquire implements gatekeeper.Leaser: replicas sharing the server and
// prefix share the leases. Expiry follows the Redis server's clock.
func (s *Store) Acquire(ctx context.Context, key gatekeeper.PullKey, owner string, ttl time.Duration) (uint64, bool, error) {
	return s.acquire(ctx, key.String(), owner, ttl)
}

// Renew implements gatekeeper.Leaser.
func (s *Store) Renew(ctx context.Context, key gatekeeper.PullKey, owner string, token uint64, ttl time.Duration) (bool, error) {
	return s.renew(ctx, key.String(), owner, token, ttl)
}

// Release implements gatekeeper.Leaser.
func (s *Store) Release(ctx context.Context, key gatekeeper.PullKey, owner string, token uint64) error {
	return s.release(ctx, key.String(), owner, token)
}

// Fenced implements gatekeeper.Leaser.
func (s *Store) Fenced(ctx context.Context, key gatekeeper.PullKey, token uint64) (bool, error) {
	return s.fenced(ctx, key.String(), token)
}

// AcquireName implements gatekeeper.NamedLeaser, with the pull requests'
// fencing sequence.
func (s *Store) AcquireName(ctx context.Context, name, owner string, ttl time.Duration) (uint64, bool, error) {
	return s.acquire(ctx, gatekeeper.NamedLeaseField(name), owner, ttl)
}

// RenewName implements gatekeeper.NamedLeaser.
func (s *Store) RenewName(ctx context.Context, name, owner string, token uint64, ttl time.Duration) (bool, error) {
	return s.renew(ctx, gatekeeper.NamedLeaseField(name), owner, token, ttl)
}

// ReleaseName implements gatekeeper.NamedLeaser.
func (s *Store) ReleaseName(ctx context.Context, name, owner string, token uint64) error {
	return s.release(ctx, gatekeeper.NamedLeaseField(name), owner, token)
}

// FencedName implements gatekeeper.NamedLeaser.
func (s *Store) FencedName(ctx context.Context, name string, token uint64) (bool, error) {
	return s.fenced(ctx, gatekeeper.NamedLeaseField(name), token)
}

func (s *Store) acquire(ctx context.Context, field, owner string, ttl time.Duration) (uint64, bool, error) {
	if ttl < time.Millisecond {
		return 0, false, fmt.Errorf("leasing %s: ttl %s is not at least 1ms: %w", field, ttl, gatekeeper.ErrInvalid)
	}
	v, err := s.run(ctx, acquireScript, s.prefix, field, owner, ttl.Milliseconds())
	if err != nil {
		return 0, false, fmt.Errorf("leasing %s: %w", field, err)
	}
	t, ok := v.(int64)
	if !ok || t < 0 {
		return 0, false, fmt.Errorf("leasing %s: unexpected reply %v", field, v)
	}
	return uint64(t), t > 0, nil
}

func (s *Store) renew(ctx context.Context, field, owner string, token uint64, ttl time.Duration) (bool, error) {
	if ttl < time.Millisecond {
		return false, fmt.Errorf("renewing the lease on %s: ttl %s is not at least 1ms: %w", field, ttl, gatekeeper.ErrInvalid)
	}
	v, err := s.run(ctx, renewScript, s.prefix, field, owner, strconv.FormatUint(token, 10), ttl.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("renewing the lease on %s: %w", field, err)
	}
	return v == int64(1), nil
}

func (s *Store) release(ctx context.Context, field, owner string, token uint64) error {
	if _, err := s.run(ctx, releaseScript, s.prefix, field, owner, strconv.FormatUint(token, 10)); err != nil {
		return fmt.Errorf("releasing the lease on %s: %w", field, err)
	}
	return nil
}

func (s *Store) fenced(ctx context.Context, field string, token uint64) (bool, error) {
	v, err := fencedScript.Run(ctx, s.rdb, nil, s.prefix, field, strconv.FormatUint(token, 10)).Result()
	if err != nil {
		return false, fmt.Errorf("checking the lease on %s: %w", field, err)
	}
	return v == int64(1), nil
}
