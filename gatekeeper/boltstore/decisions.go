package boltstore

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// AddDecision appends rec to its pull request's records and drops all but
// the newest gatekeeper.MaxDecisions.
func (s *Store) AddDecision(ctx context.Context, rec gatekeeper.DecisionRecord) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("adding decision for %s: %w", rec.Key, err)
	}
	if !rec.Key.Valid() {
		return fmt.Errorf("adding decision for %s: invalid pull request key: %w", rec.Key, gatekeeper.ErrInvalid)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding decision for %s: %w", rec.Key, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error { return addDecision(tx, rec.Key, data) })
	if err != nil {
		return fmt.Errorf("adding decision for %s: %w", rec.Key, err)
	}
	return nil
}

// Decisions returns up to limit records for key, newest first; a limit of
// zero or less returns every record kept. A pull request without records
// gives an empty list, not an error.
func (s *Store) Decisions(ctx context.Context, key gatekeeper.PullKey, limit int) ([]gatekeeper.DecisionRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing decisions for %s: %w", key, err)
	}
	if limit <= 0 {
		limit = int(^uint(0) >> 1)
	}
	var out []gatekeeper.DecisionRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDecisions).Bucket([]byte(key.String()))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var rec gatekeeper.DecisionRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decoding decision %x: %w", k, err)
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing decisions for %s: %w", key, err)
	}
	return out, nil
}

// addDecision appends one encoded decision record of key in tx, keeping
// the newest MaxDecisions.
func addDecision(tx *bolt.Tx, key gatekeeper.PullKey, data []byte) error {
	b, err := tx.Bucket(bucketDecisions).CreateBucketIfNotExists([]byte(key.String()))
	if err != nil {
		return err
	}
	// Sequences are consecutive and only the oldest are ever
	// deleted, so the kept keys are exactly (seq-MaxDecisions, seq].
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := b.Put(encodeUint(seq), data); err != nil {
		return err
	}
	if seq <= gatekeeper.MaxDecisions {
		return nil
	}
	oldest := seq - gatekeeper.MaxDecisions // newest key to drop
	var drop [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n, err := decodeUint(k)
		if err != nil {
			return err
		}
		if n > oldest {
			break
		}
		drop = append(drop, append([]byte(nil), k...))
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
