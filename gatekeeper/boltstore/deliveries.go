package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ForgetDeliveries drops the delivery ids recorded before t, oldest first
// through the time-ordered index, and returns how many it dropped.
func (s *Store) ForgetDeliveries(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("forgetting deliveries before %s: %w", before, err)
	}
	limit := encodeTime(before)
	var n int
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		delivered := tx.Bucket(bucketDelivered)
		deliveries := tx.Bucket(bucketDeliveries)
		// Collect first: deleting under a bbolt cursor can skip the
		// next key.
		var drop [][]byte
		c := delivered.Cursor()
		for k, _ := c.First(); k != nil && len(k) >= 8 && string(k[:8]) < string(limit); k, _ = c.Next() {
			drop = append(drop, append([]byte(nil), k...))
		}
		for _, k := range drop {
			if err := delivered.Delete(k); err != nil {
				return err
			}
			if err := deliveries.Delete(k[8:]); err != nil {
				return err
			}
		}
		n = len(drop)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("forgetting deliveries before %s: %w", before, err)
	}
	return n, nil
}

// encodeTime writes t as 8 big-endian bytes that sort in time order, times
// before 1970 included (the sign bit is flipped).
func encodeTime(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(t.UnixNano())^(1<<63))
}

// deliveredKey is the time-ordered index key: time, then the id, so that
// deliveries recorded in the same nanosecond do not collide.
func deliveredKey(at []byte, delivery string) []byte {
	k := make([]byte, 0, len(at)+len(delivery))
	k = append(k, at...)
	return append(k, delivery...)
}

// HasDelivery reports whether delivery was recorded (and not yet
// forgotten): the delivery sweeper does not ask GitHub to redeliver it.
func (s *Store) HasDelivery(ctx context.Context, delivery string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketDeliveries).Get([]byte(delivery)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("looking up delivery %s: %w", delivery, err)
	}
	return found, nil
}
