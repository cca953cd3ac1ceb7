package boltstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	bolt "go.etcd.io/bbolt"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// errClosed is returned by Record after Close.
var errClosed = errors.New("store is closed")

// errSolo tells a Record whose group failed to commit on its own, so that
// the failure is charged to the Record that caused it.
var errSolo = errors.New("commit alone")

// recordReq is one Record, or one Settle (settle set), waiting for a group
// commit.
type recordReq struct {
	delivery string
	keys     []gatekeeper.PullKey
	apply    func(*gatekeeper.Evidence)
	seen     []byte     // time recorded, encoded
	dup      bool       // set by the transaction that commits
	settle   *settleReq // a Settle's request; nil for a Record
	res      chan error // buffered; nil, ErrDuplicate, errSolo or the failure
}

// Record marks delivery as seen, applies apply to the evidence of every key
// (once per distinct key), and queues the keys, in one transaction.
//
// Records are committed in groups: one goroutine (commitLoop) takes every
// Record waiting, runs them in order in one write transaction, and fsyncs
// once for all of them. While one group commits the next one gathers, so a
// lone Record waits for nothing but its own fsync, and under load the cost
// of the fsync is shared. Before it takes a group the loop yields to the
// goroutines ready to run, so that the handlers already under way join it
// rather than wait for the next commit. Within a group each pull request's
// evidence is decoded once, every apply runs on it in turn, and it is
// encoded once, so a burst of webhooks about the same pull request (the daily release) costs
// one read-modify-write, not one per webhook.
//
// If the group's transaction fails, each of its Records runs again in a
// transaction of its own, so apply may run more than once; every run starts
// from the evidence as committed, and only the run that commits counts.
func (s *Store) Record(ctx context.Context, delivery string, keys []gatekeeper.PullKey, apply func(*gatekeeper.Evidence)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("recording delivery %s: %w", delivery, err)
	}
	keys, err := gatekeeper.DistinctKeys(keys)
	if err != nil {
		return fmt.Errorf("recording delivery %s: %w", delivery, err)
	}
	req := &recordReq{
		delivery: delivery, keys: keys, apply: apply,
		seen: encodeTime(s.clock.Now()),
		res:  make(chan error, 1),
	}
	if err := s.submit(req); err != nil {
		return fmt.Errorf("recording delivery %s: %w", delivery, err)
	}
	return nil
}

// submit hands req to commitLoop and returns its outcome: nil,
// ErrDuplicate, or its failure. A request whose group failed to commit
// runs again alone, in a transaction of its own (see Record).
func (s *Store) submit(req *recordReq) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	s.requests <- req
	s.mu.RUnlock()
	return s.outcome(req)
}

// outcome waits for req's group to commit, and when the group failed runs
// req again alone.
func (s *Store) outcome(req *recordReq) error {
	err := <-req.res
	if !errors.Is(err, errSolo) {
		return err
	}
	group := []*recordReq{req}
	err = s.update(group, func(tx *bolt.Tx) error {
		if err := s.recordGroup(tx, group); err != nil {
			return err
		}
		if req.settle != nil {
			// Alone, a Settle that fails alone fails the transaction,
			// which wrote nothing for it.
			return req.settle.err
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case req.dup:
		return gatekeeper.ErrDuplicate
	}
	return nil
}

// update runs fn in a write transaction. When the transaction fails, the
// cache forgets the evidence of every pull request group writes: fn may
// have cached versions that were rolled back. (loadEvidence would never
// serve them, as it checks the version the file holds; forgetting them
// keeps the cache to what was committed, so that no reasoning about
// versions reused after a rollback is needed.)
func (s *Store) update(group []*recordReq, fn func(*bolt.Tx) error) error {
	err := s.db.Update(fn)
	if err != nil {
		for _, req := range group {
			s.cache.forget(req.keys...)
			if req.settle != nil {
				s.cache.forget(req.settle.key)
			}
		}
	}
	return err
}

// commitLoop commits the waiting Records and Settles in groups until
// requests is closed. It is the only goroutine that receives from requests.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	for first := range s.requests {
		// The send that woke this loop made it the next goroutine to
		// run, ahead of every other one ready to run: on one processor
		// (GOMAXPROCS=1, the pinned server) it would commit the first
		// Record alone while the handlers behind it, some of them about
		// to call Record, wait; a few connections then cycle with the
		// loop in groups of one or two, and the rest, woken by the
		// network poller into the scheduler's global queue, wait
		// hundreds of milliseconds. Yielding once lets every goroutine
		// ready to run go first, so their Records join this group. A
		// lone Record loses nothing: with nothing else ready, Gosched
		// returns at once.
		runtime.Gosched()
		group := []*recordReq{first}
	gather:
		for len(group) < s.maxBatch {
			select {
			case req, ok := <-s.requests:
				if !ok {
					break gather
				}
				group = append(group, req)
			default:
				break gather
			}
		}
		s.commitGroup(group)
	}
}

// commitGroup commits group in one transaction and answers each request:
// errSolo to all when the transaction failed, else each its own outcome.
func (s *Store) commitGroup(group []*recordReq) {
	err := s.update(group, func(tx *bolt.Tx) error { return s.recordGroup(tx, group) })
	for _, req := range group {
		switch {
		case err != nil:
			req.res <- errSolo
		case req.settle != nil && req.settle.err != nil:
			// Refused alone (no evidence, a panicking Apply): nothing
			// was written for it, and the others' writes committed.
			req.res <- req.settle.err
		case req.dup:
			req.res <- gatekeeper.ErrDuplicate
		default:
			req.res <- nil
		}
	}
}

// recordGroup runs the Records of a group, in order, in tx, then its
// Settles, in order (settleTx), each on the evidence as the Records and
// the Settles before it left it. It may run more than once on the same
// requests (see Record), so it sets every request's outcome afresh and
// keeps no other state between runs. A Settle refused alone (settleReq's
// err) wrote nothing and does not fail the group; an error returned
// fails the whole transaction.
func (s *Store) recordGroup(tx *bolt.Tx, group []*recordReq) error {
	deliveries := tx.Bucket(bucketDeliveries)
	delivered := tx.Bucket(bucketDelivered)
	evidence := map[gatekeeper.PullKey]*gatekeeper.Evidence{}
	logs := map[gatekeeper.PullKey]storedLog{} // each log as the file holds it
	var touched []gatekeeper.PullKey           // in first-touched order, for stable writes
	for _, req := range group {
		req.dup = false
		if req.settle != nil {
			continue // after the Records
		}
		if req.delivery != "" {
			// A delivery seen earlier in this group is found here too:
			// its Put is visible to the rest of the transaction.
			if deliveries.Get([]byte(req.delivery)) != nil {
				req.dup = true
				continue
			}
			if err := deliveries.Put([]byte(req.delivery), req.seen); err != nil {
				return fmt.Errorf("marking delivery %s seen: %w", req.delivery, err)
			}
			if err := delivered.Put(deliveredKey(req.seen, req.delivery), nil); err != nil {
				return fmt.Errorf("marking delivery %s seen: %w", req.delivery, err)
			}
		}
		for _, key := range req.keys {
			ev, ok := evidence[key]
			if !ok {
				var err error
				var stored storedLog
				if ev, stored, err = s.loadEvidence(tx, key, true); err != nil {
					return err
				}
				if ev == nil {
					ev = &gatekeeper.Evidence{Key: key}
					stored.apart = true // nothing stored: nothing to rewrite
				}
				evidence[key] = ev
				logs[key] = stored
				touched = append(touched, key)
			}
			if err := applyTo(ev, key, req.apply); err != nil {
				return err
			}
		}
	}
	// One write and one new generation per pull request, after every
	// change of the group is in.
	for _, key := range touched {
		if err := s.storeEvidence(tx, key, evidence[key], logs[key]); err != nil {
			return err
		}
		if _, err := enqueue(tx, key); err != nil {
			return err
		}
	}
	for _, req := range group {
		if req.settle != nil {
			if err := s.settleTx(tx, req.settle); err != nil {
				return err
			}
		}
	}
	return nil
}
