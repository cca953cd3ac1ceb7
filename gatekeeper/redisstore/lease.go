package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Leaser = (*Store)(nil)

// Acquire implements gatekeeper.Leaser: replicas sharing the server and
// prefix share the leases. Expiry follows the Redis server's clock.
func (s *Store) Acquire(ctx context.Context, key gatekeeper.PullKey, owner string, ttl time.Duration) (uint64, bool, error) {
	if ttl < time.Millisecond {
		return 0, false, fmt.Errorf("leasing %s: ttl %s is not at least 1ms: %w", key, ttl, gatekeeper.ErrInvalid)
	}
	v, err := s.run(ctx, acquireScript, s.prefix, key.String(), owner, ttl.Milliseconds())
	if err != nil {
		return 0, false, fmt.Errorf("leasing %s: %w", key, err)
	}
	t, ok := v.(int64)
	if !ok || t < 0 {
		return 0, false, fmt.Errorf("leasing %s: unexpected reply %v", key, v)
	}
	return uint64(t), t > 0, nil
}

// Renew implements gatekeeper.Leaser.
func (s *Store) Renew(ctx context.Context, key gatekeeper.PullKey, owner string, token uint64, ttl time.Duration) (bool, error) {
	if ttl < time.Millisecond {
		return false, fmt.Errorf("renewing the lease on %s: ttl %s is not at least 1ms: %w", key, ttl, gatekeeper.ErrInvalid)
	}
	v, err := s.run(ctx, renewScript, s.prefix, key.String(), owner, strconv.FormatUint(token, 10), ttl.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("renewing the lease on %s: %w", key, err)
	}
	return v == int64(1), nil
}

// Release implements gatekeeper.Leaser.
func (s *Store) Release(ctx context.Context, key gatekeeper.PullKey, owner string, token uint64) error {
	if _, err := s.run(ctx, releaseScript, s.prefix, key.String(), owner, strconv.FormatUint(token, 10)); err != nil {
		return fmt.Errorf("releasing the lease on %s: %w", key, err)
	}
	return nil
}

// Fenced implements gatekeeper.Leaser.
func (s *Store) Fenced(ctx context.Context, key gatekeeper.PullKey, token uint64) (bool, error) {
	v, err := fencedScript.Run(ctx, s.rdb, nil, s.prefix, key.String(), strconv.FormatUint(token, 10)).Result()
	if err != nil {
		return false, fmt.Errorf("checking the lease on %s: %w", key, err)
	}
	return v == int64(1), nil
}
