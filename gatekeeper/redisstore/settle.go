package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Settler = (*Store)(nil)

// Settle implements gatekeeper.Settler. The decision record and the
// dequeue are one script (one round trip); an evidence change goes first
// through the group commit, whose compare-and-set with other replicas'
// writes it keeps, so that with Apply it is two round trips instead of
// three. Each step is atomic; when the second fails the pull request stays
// queued with its evidence written, and is evaluated again.
func (s *Store) Settle(ctx context.Context, key gatekeeper.PullKey, st gatekeeper.Settlement) (*gatekeeper.Evidence, bool, error) {
	if !key.Valid() {
		return nil, false, fmt.Errorf("settling %s: invalid pull request key: %w", key, gatekeeper.ErrInvalid)
	}
	data := ""
	if st.Decision != nil {
		if st.Decision.Key != key {
			return nil, false, fmt.Errorf("settling %s: a decision of %s: %w", key, st.Decision.Key, gatekeeper.ErrInvalid)
		}
		b, err := json.Marshal(st.Decision)
		if err != nil {
			return nil, false, fmt.Errorf("encoding decision for %s: %w", key, err)
		}
		data = string(b)
	}
	var ev *gatekeeper.Evidence
	var err error
	if st.Apply != nil {
		ev, err = s.Update(ctx, key, st.Apply)
	} else {
		ev, err = s.Evidence(ctx, key)
	}
	if err != nil {
		return nil, false, fmt.Errorf("settling %s: %w", key, err)
	}
	if data == "" && !st.Dequeue {
		return ev, false, nil
	}
	gen := ""
	if st.Dequeue {
		gen = strconv.FormatUint(st.Generation, 10)
	}
	n, err := s.run(ctx, settleScript, s.prefix, key.String(), data, gatekeeper.MaxDecisions, gen)
	if err != nil {
		return nil, false, fmt.Errorf("settling %s: %w", key, err)
	}
	return ev, n == int64(1), nil
}
