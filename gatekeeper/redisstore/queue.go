package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Enqueue queues key with a new generation.
func (s *Store) Enqueue(ctx context.Context, key gatekeeper.PullKey) error {
	if !key.Valid() {
		return fmt.Errorf("queueing %s: invalid pull request key: %w", key, gatekeeper.ErrInvalid)
	}
	if _, err := s.run(ctx, enqueueScript, s.prefix, key.String()); err != nil {
		return fmt.Errorf("queueing %s: %w", key, err)
	}
	return nil
}

// Queued returns every queued pull request with its generation, in key order.
func (s *Store) Queued(ctx context.Context) ([]gatekeeper.QueueItem, error) {
	m, err := s.rdb.HGetAll(ctx, s.key("queue")).Result()
	if err != nil {
		return nil, fmt.Errorf("listing the queue: %w", err)
	}
	fields := make([]string, 0, len(m))
	for f := range m {
		fields = append(fields, f)
	}
	keys, err := parseKeys(fields)
	if err != nil {
		return nil, fmt.Errorf("listing the queue: %w", err)
	}
	out := make([]gatekeeper.QueueItem, 0, len(keys))
	for _, k := range keys {
		gen, err := strconv.ParseUint(m[k.String()], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("listing the queue: generation of %s: %w", k, err)
		}
		out = append(out, gatekeeper.QueueItem{Key: k, Generation: gen})
	}
	return out, nil
}

// Generation returns key's queue generation, and false when it is not queued.
func (s *Store) Generation(ctx context.Context, key gatekeeper.PullKey) (uint64, bool, error) {
	v, err := s.rdb.HGet(ctx, s.key("queue"), key.String()).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading generation of %s: %w", key, err)
	}
	gen, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("reading generation of %s: %w", key, err)
	}
	return gen, true, nil
}

// Done removes key from the queue if its generation is still gen.
func (s *Store) Done(ctx context.Context, key gatekeeper.PullKey, gen uint64) (bool, error) {
	n, err := s.run(ctx, doneScript, s.prefix, key.String(), strconv.FormatUint(gen, 10))
	if err != nil {
		return false, fmt.Errorf("marking %s done at generation %d: %w", key, gen, err)
	}
	return n == int64(1), nil
}
