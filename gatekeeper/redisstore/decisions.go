package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/releasegate/gatekeeper/gatekeeper"
)

// AddDecision pushes rec onto its pull request's records and drops all but
// the newest gatekeeper.MaxDecisions, in one step.
func (s *Store) AddDecision(ctx context.Context, rec gatekeeper.DecisionRecord) error {
	if !rec.Key.Valid() {
		return fmt.Errorf("adding decision for %s: invalid pull request key: %w", rec.Key, gatekeeper.ErrInvalid)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding decision for %s: %w", rec.Key, err)
	}
	if _, err := s.run(ctx, addDecisionScript, s.prefix, rec.Key.String(), string(data), gatekeeper.MaxDecisions); err != nil {
		return fmt.Errorf("adding decision for %s: %w", rec.Key, err)
	}
	return nil
}

// Decisions returns up to limit records for key, newest first; a limit of
// zero or less returns every record kept.
func (s *Store) Decisions(ctx context.Context, key gatekeeper.PullKey, limit int) ([]gatekeeper.DecisionRecord, error) {
	stop := int64(-1)
	if limit > 0 {
		stop = int64(limit) - 1
	}
	items, err := s.rdb.LRange(ctx, s.key("dec", key.String()), 0, stop).Result()
	if err != nil {
		return nil, fmt.Errorf("listing decisions for %s: %w", key, err)
	}
	out := make([]gatekeeper.DecisionRecord, 0, len(items))
	for i, it := range items {
		var rec gatekeeper.DecisionRecord
		if err := json.Unmarshal([]byte(it), &rec); err != nil {
			return nil, fmt.Errorf("decoding decision %d of %s: %w", i, key, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// ForgetDeliveries drops the delivery ids recorded before t and returns how
// many it dropped. Times are kept to the microsecond: an id recorded within
// the microsecond of t, after it, may go too.
func (s *Store) ForgetDeliveries(ctx context.Context, before time.Time) (int, error) {
	// Score < ceil(before in µs): every id recorded before t goes.
	us := before.UnixMicro()
	if before.Sub(time.UnixMicro(us)) > 0 {
		us++
	}
	if us > math.MinInt64 {
		us-- // ZREMRANGEBYSCORE's max is inclusive
	}
	n, err := s.rdb.ZRemRangeByScore(ctx, s.key("delivered"), "-inf", fmt.Sprint(us)).Result()
	if err != nil {
		return 0, fmt.Errorf("forgetting deliveries before %s: %w", before, err)
	}
	return int(n), nil
}

// HasDelivery reports whether delivery was recorded (and not yet
// forgotten): the delivery sweeper does not ask GitHub to redeliver it.
func (s *Store) HasDelivery(ctx context.Context, delivery string) (bool, error) {
	err := s.rdb.ZScore(ctx, s.key("delivered"), delivery).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	default:
		return false, fmt.Errorf("looking up delivery %s: %w", delivery, err)
	}
}
