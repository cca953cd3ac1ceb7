package boltstore

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Settler = (*Store)(nil)

// Settle implements gatekeeper.Settler: the evidence change, the decision
// record and the dequeue in one bbolt transaction (one fsync).
func (s *Store) Settle(ctx context.Context, key gatekeeper.PullKey, st gatekeeper.Settlement) (*gatekeeper.Evidence, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("settling %s: %w", key, err)
	}
	if !key.Valid() {
		return nil, false, fmt.Errorf("settling %s: invalid pull request key: %w", key, gatekeeper.ErrInvalid)
	}
	var data []byte
	if st.Decision != nil {
		if st.Decision.Key != key {
			return nil, false, fmt.Errorf("settling %s: a decision of %s: %w", key, st.Decision.Key, gatekeeper.ErrInvalid)
		}
		var err error
		if data, err = json.Marshal(st.Decision); err != nil {
			return nil, false, fmt.Errorf("encoding decision for %s: %w", key, err)
		}
	}
	var ev *gatekeeper.Evidence
	var done bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if st.Apply != nil {
			ev, err = s.writeEvidence(tx, key, st.Apply)
		} else {
			if ev, _, err = s.loadEvidence(tx, key, false); err == nil && ev == nil {
				err = gatekeeper.ErrNotFound
			}
		}
		if err != nil {
			return err
		}
		if data != nil {
			if err := addDecision(tx, key, data); err != nil {
				return err
			}
		}
		if st.Dequeue {
			done, err = dequeue(tx, key, st.Generation)
		}
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("settling %s: %w", key, err)
	}
	return ev, done, nil
}
