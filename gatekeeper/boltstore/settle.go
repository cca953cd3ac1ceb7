package boltstore

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Settler = (*Store)(nil)

// settleReq is a Settle's part of a group commit, and its outcome.
type settleReq struct {
	key  gatekeeper.PullKey
	st   gatekeeper.Settlement
	data []byte // the decision record's JSON, nil for none

	// Set by each run afresh (settleTx).
	ev   *gatekeeper.Evidence
	done bool
	err  error // refused alone, having written nothing
}

// Settle implements gatekeeper.Settler: the evidence change, the decision
// record and the dequeue in one bbolt transaction. It is a request of the
// group commit (see Record): its transaction is the group's, which runs
// the group's Records first, then each Settle on the evidence as they left
// it, and fsyncs once for all of them. The dequeue still holds only at
// st.Generation, so a Record in the same group (which queues the pull
// request again) keeps it queued, as it would have committed first.
//
// A Settle that fails alone (no evidence, a panicking Apply) writes
// nothing and does not fail its group. When the group's transaction fails,
// the Settle runs again alone, so st.Apply may run more than once; only the
// run that commits counts.
func (s *Store) Settle(ctx context.Context, key gatekeeper.PullKey, st gatekeeper.Settlement) (*gatekeeper.Evidence, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("settling %s: %w", key, err)
	}
	if !key.Valid() {
		return nil, false, fmt.Errorf("settling %s: invalid pull request key: %w", key, gatekeeper.ErrInvalid)
	}
	req := newSettleReq(key, st)
	if st.Decision != nil {
		if st.Decision.Key != key {
			return nil, false, fmt.Errorf("settling %s: a decision of %s: %w", key, st.Decision.Key, gatekeeper.ErrInvalid)
		}
		var err error
		if req.settle.data, err = json.Marshal(st.Decision); err != nil {
			return nil, false, fmt.Errorf("encoding decision for %s: %w", key, err)
		}
	}
	if err := s.submit(req); err != nil {
		return nil, false, fmt.Errorf("settling %s: %w", key, err)
	}
	return req.settle.ev, req.settle.done, nil
}

// newSettleReq is the group commit's request for a Settle of st on key.
func newSettleReq(key gatekeeper.PullKey, st gatekeeper.Settlement) *recordReq {
	return &recordReq{settle: &settleReq{key: key, st: st}, res: make(chan error, 1)}
}

// settleTx makes sr's writes in tx: the evidence change, the decision
// record, the dequeue. What can refuse the Settle alone (no evidence,
// evidence that does not decode, a panicking Apply) is checked before
// anything is written, and is sr.err, not an error: the group's other
// writes stand. An error returned (a write that failed) fails tx.
func (s *Store) settleTx(tx *bolt.Tx, sr *settleReq) error {
	sr.ev, sr.done, sr.err = nil, false, nil
	key, st := sr.key, sr.st
	ev, stored, err := s.loadEvidence(tx, key, st.Apply != nil)
	if err == nil && ev == nil {
		err = gatekeeper.ErrNotFound
	}
	if err == nil && st.Apply != nil {
		err = applyTo(ev, key, st.Apply)
	}
	if err != nil {
		sr.err = err
		return nil
	}
	if st.Apply != nil {
		if err := s.storeEvidence(tx, key, ev, stored); err != nil {
			return err
		}
	}
	if sr.data != nil {
		if err := addDecision(tx, key, sr.data); err != nil {
			return err
		}
	}
	done := false
	if st.Dequeue {
		if done, err = dequeue(tx, key, st.Generation); err != nil {
			return err
		}
	}
	sr.ev, sr.done = ev, done
	return nil
}
