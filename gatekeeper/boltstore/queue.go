package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Enqueue queues key with a new generation.
func (s *Store) Enqueue(ctx context.Context, key gatekeeper.PullKey) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("queueing %s: %w", key, err)
	}
	if !key.Valid() {
		return fmt.Errorf("queueing %s: invalid pull request key: %w", key, gatekeeper.ErrInvalid)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		_, err := enqueue(tx, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("queueing %s: %w", key, err)
	}
	return nil
}

// enqueue gives key the next generation. Generations come from one counter
// for the whole queue, so a generation is never handed out twice: a worker
// holding a generation from before key was last removed can never remove a
// newer entry by mistake.
func enqueue(tx *bolt.Tx, key gatekeeper.PullKey) (uint64, error) {
	b := tx.Bucket(bucketQueue)
	gen, err := b.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("raising generation of %s: %w", key, err)
	}
	if err := b.Put([]byte(key.String()), encodeUint(gen)); err != nil {
		return 0, fmt.Errorf("queueing %s: %w", key, err)
	}
	return gen, nil
}

// Queued returns every queued pull request with its generation, in key order.
func (s *Store) Queued(ctx context.Context) ([]gatekeeper.QueueItem, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing the queue: %w", err)
	}
	var out []gatekeeper.QueueItem
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
			key, err := gatekeeper.ParsePullKey(string(k))
			if err != nil {
				return err
			}
			gen, err := decodeUint(v)
			if err != nil {
				return fmt.Errorf("generation of %s: %w", key, err)
			}
			out = append(out, gatekeeper.QueueItem{Key: key, Generation: gen})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing the queue: %w", err)
	}
	return out, nil
}

// Generation returns key's queue generation, and false when it is not queued.
func (s *Store) Generation(ctx context.Context, key gatekeeper.PullKey) (uint64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, fmt.Errorf("reading generation of %s: %w", key, err)
	}
	var (
		gen uint64
		ok  bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketQueue).Get([]byte(key.String()))
		if v == nil {
			return nil
		}
		var err error
		gen, err = decodeUint(v)
		ok = err == nil
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("reading generation of %s: %w", key, err)
	}
	return gen, ok, nil
}

// Done removes key from the queue if its generation is still gen.
func (s *Store) Done(ctx context.Context, key gatekeeper.PullKey, gen uint64) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("marking %s done: %w", key, err)
	}
	var done bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		done, err = dequeue(tx, key, gen)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("marking %s done at generation %d: %w", key, gen, err)
	}
	return done, nil
}

func encodeUint(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}

func decodeUint(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("want 8 bytes, have %d", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// dequeue removes key from the queue in tx if its generation is still gen,
// and reports whether it did.
func dequeue(tx *bolt.Tx, key gatekeeper.PullKey, gen uint64) (bool, error) {
	b := tx.Bucket(bucketQueue)
	k := []byte(key.String())
	v := b.Get(k)
	if v == nil {
		return false, nil
	}
	cur, err := decodeUint(v)
	if err != nil {
		return false, err
	}
	if cur != gen {
		return false, nil
	}
	return true, b.Delete(k)
}
