package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// bucketPolicies holds each policy revision served, keyed by its short
// revision. It is created by the first SavePolicy: a file written before
// revisions were kept opens unchanged.
var bucketPolicies = []byte("policies")

// SavePolicy keeps rev under its short revision; a revision kept already
// is left as it is.
func (s *Store) SavePolicy(ctx context.Context, rev gatekeeper.PolicyRevision) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("saving policy revision %s: %w", rev.Short(), err)
	}
	if len(rev.Revision) < gatekeeper.RevisionLen {
		return fmt.Errorf("saving policy revision %q: too short: %w", rev.Revision, gatekeeper.ErrInvalid)
	}
	data, err := json.Marshal(rev)
	if err != nil {
		return fmt.Errorf("encoding policy revision %s: %w", rev.Short(), err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketPolicies)
		if err != nil {
			return err
		}
		if b.Get([]byte(rev.Short())) != nil {
			return nil
		}
		return b.Put([]byte(rev.Short()), data)
	})
	if err != nil {
		return fmt.Errorf("saving policy revision %s: %w", rev.Short(), err)
	}
	return nil
}

// Policy returns the revision a short or full revision names.
func (s *Store) Policy(ctx context.Context, revision string) (gatekeeper.PolicyRevision, error) {
	var rev gatekeeper.PolicyRevision
	if err := ctx.Err(); err != nil {
		return rev, fmt.Errorf("loading policy revision %s: %w", revision, err)
	}
	var data []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketPolicies); b != nil && len(revision) >= gatekeeper.RevisionLen {
			data = append([]byte(nil), b.Get([]byte(gatekeeper.ShortRevision(revision)))...)
		}
		return nil
	})
	if err != nil {
		return rev, fmt.Errorf("loading policy revision %s: %w", revision, err)
	}
	if len(data) == 0 {
		return rev, fmt.Errorf("policy revision %s: %w", revision, gatekeeper.ErrNotFound)
	}
	if err := json.Unmarshal(data, &rev); err != nil {
		return rev, fmt.Errorf("decoding policy revision %s: %w", revision, err)
	}
	if !strings.HasPrefix(rev.Revision, revision) {
		return gatekeeper.PolicyRevision{}, fmt.Errorf("policy revision %s: %w", revision, gatekeeper.ErrNotFound)
	}
	return rev, nil
}
