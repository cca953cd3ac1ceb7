package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Settler = (*Store)(nil)

// Settle implements gatekeeper.Settler: one atomic step on the server.
// With Apply it is a request of the group commit (commitScript), which
// writes the evidence under its compare-and-set with other replicas'
// writes and then the decision record and the dequeue; without, one
// script (settleScript) writes the record and the dequeue.
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
	gen := ""
	if st.Dequeue {
		gen = strconv.FormatUint(st.Generation, 10)
	}
	if st.Apply != nil {
		// One commit: the evidence (compare-and-set against other
		// replicas' writes, as Update), then the record and the dequeue.
		req := &writeReq{ctx: ctx, keys: []gatekeeper.PullKey{key}, apply: st.Apply, update: true,
			settle: &settleArgs{decision: data, gen: gen}}
		if err := s.submit(req); err != nil {
			return nil, false, fmt.Errorf("settling %s: %w", key, err)
		}
		return req.out, req.dequeued, nil
	}
	ev, err := s.Evidence(ctx, key)
	if err != nil {
		return nil, false, fmt.Errorf("settling %s: %w", key, err)
	}
	if data == "" && !st.Dequeue {
		return ev, false, nil
	}
	n, err := s.run(ctx, settleScript, s.prefix, key.String(), data, gatekeeper.MaxDecisions, gen)
	if err != nil {
		return nil, false, fmt.Errorf("settling %s: %w", key, err)
	}
	return ev, n == int64(1), nil
}

// settleArgs are a Settle's parts of a group commit.
type settleArgs struct {
	decision string // the record's JSON, "" for none
	gen      string // the generation to dequeue at, "" for none
}
