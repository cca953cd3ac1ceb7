package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Update applies fn to the existing evidence of key and returns it as
// written. fn runs exactly once. Update commits alone: it is the worker's
// path, not the webhooks'.
func (s *Store) Update(ctx context.Context, key gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (*gatekeeper.Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("updating evidence of %s: %w", key, err)
	}
	if !key.Valid() {
		return nil, fmt.Errorf("updating evidence of %s: invalid pull request key: %w", key, gatekeeper.ErrInvalid)
	}
	var ev *gatekeeper.Evidence
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		ev, err = writeEvidence(tx, key, fn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("updating evidence of %s: %w", key, err)
	}
	return ev, nil
}

// writeEvidence applies fn to the evidence of key, which must exist, and
// writes it back.
func writeEvidence(tx *bolt.Tx, key gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (*gatekeeper.Evidence, error) {
	ev, err := loadEvidence(tx, key)
	if err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, gatekeeper.ErrNotFound
	}
	if err := applyTo(ev, key, fn); err != nil {
		return nil, err
	}
	if err := storeEvidence(tx, key, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// loadEvidence decodes the evidence of key, or returns nil when there is none.
func loadEvidence(tx *bolt.Tx, key gatekeeper.PullKey) (*gatekeeper.Evidence, error) {
	data := tx.Bucket(bucketEvidence).Get([]byte(key.String()))
	if data == nil {
		return nil, nil
	}
	ev := &gatekeeper.Evidence{}
	if err := json.Unmarshal(data, ev); err != nil {
		return nil, fmt.Errorf("decoding evidence of %s: %w", key, err)
	}
	return ev, nil
}

// applyTo runs fn on ev as one write: the store owns Key and Version, so
// whatever fn does to them is overwritten, and Version goes up by one. A
// panic in fn becomes an error, so that it cannot take down the goroutine
// that commits other requests' writes.
func applyTo(ev *gatekeeper.Evidence, key gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("applying a change to %s: panic: %v", key, p)
		}
	}()
	version := ev.Version
	fn(ev)
	ev.Key = key
	ev.Version = version + 1
	return nil
}

// storeEvidence encodes and writes ev, and indexes its head shas.
func storeEvidence(tx *bolt.Tx, key gatekeeper.PullKey, ev *gatekeeper.Evidence) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding evidence of %s: %w", key, err)
	}
	if err := tx.Bucket(bucketEvidence).Put([]byte(key.String()), data); err != nil {
		return fmt.Errorf("writing evidence of %s: %w", key, err)
	}
	heads := tx.Bucket(bucketHeads)
	for _, h := range ev.Heads {
		if h.SHA == "" {
			continue
		}
		hk := headKey(h.SHA, key)
		// Get before Put: a Put of an unchanged key still dirties its page.
		if heads.Get(hk) != nil {
			continue
		}
		if err := heads.Put(hk, nil); err != nil {
			return fmt.Errorf("indexing head %s of %s: %w", h.SHA, key, err)
		}
	}
	return nil
}

// Evidence returns the evidence of key, or an error wrapping ErrNotFound.
func (s *Store) Evidence(ctx context.Context, key gatekeeper.PullKey) (*gatekeeper.Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loading evidence of %s: %w", key, err)
	}
	var ev *gatekeeper.Evidence
	err := s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketEvidence).Get([]byte(key.String()))
		if data == nil {
			return gatekeeper.ErrNotFound
		}
		ev = &gatekeeper.Evidence{}
		return json.Unmarshal(data, ev)
	})
	if err != nil {
		return nil, fmt.Errorf("loading evidence of %s: %w", key, err)
	}
	return ev, nil
}

// Pulls lists every pull request with evidence, in key order.
func (s *Store) Pulls(ctx context.Context) ([]gatekeeper.PullKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing pull requests: %w", err)
	}
	var out []gatekeeper.PullKey
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEvidence).ForEach(func(k, _ []byte) error {
			key, err := gatekeeper.ParsePullKey(string(k))
			if err != nil {
				return err
			}
			out = append(out, key)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing pull requests: %w", err)
	}
	return out, nil
}

// PullsForSHA lists the pull requests whose head has ever been sha, in key
// order.
func (s *Store) PullsForSHA(ctx context.Context, sha string) ([]gatekeeper.PullKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("finding pull requests for %s: %w", sha, err)
	}
	if sha == "" {
		return nil, nil
	}
	prefix := append([]byte(sha), 0)
	var out []gatekeeper.PullKey
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHeads).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			key, err := gatekeeper.ParsePullKey(string(k[len(prefix):]))
			if err != nil {
				return err
			}
			out = append(out, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finding pull requests for %s: %w", sha, err)
	}
	return out, nil
}

// headKey is the heads bucket's key. A sha never contains the separator, so
// a prefix scan on sha+"\x00" finds exactly that sha's pull requests.
func headKey(sha string, key gatekeeper.PullKey) []byte {
	k := make([]byte, 0, len(sha)+1+32)
	k = append(k, sha...)
	k = append(k, 0)
	return append(k, key.String()...)
}

// distinct checks the keys and drops repeats, so that apply runs once per
// pull request.
func distinct(keys []gatekeeper.PullKey) ([]gatekeeper.PullKey, error) {
	out := make([]gatekeeper.PullKey, 0, len(keys))
	seen := make(map[gatekeeper.PullKey]bool, len(keys))
	for _, k := range keys {
		if !k.Valid() {
			return nil, fmt.Errorf("pull request key %q: %w", k, gatekeeper.ErrInvalid)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}
