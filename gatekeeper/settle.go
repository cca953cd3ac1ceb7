package gatekeeper

import (
	"context"
	"fmt"
)

// Settlement is what one evaluation writes, in one store transaction.
type Settlement struct {
	// Apply, when set, changes the pull request's evidence (which must
	// exist): what the sources gathered, the status about to be posted or
	// the one posted. Like Store.Update's fn it may run more than once.
	Apply func(*Evidence)
	// Decision, when set, is appended as Store.AddDecision appends.
	Decision *DecisionRecord
	// Dequeue takes the pull request off the queue if its generation is
	// still Generation, as Store.Done.
	Dequeue    bool
	Generation uint64
}

// Settler is a Store that makes an evaluation's writes in one transaction
// (boltstore and redisstore): one fsync, one round trip, instead of one for
// the evidence, one for the decision record and one for the queue.
type Settler interface {
	// Settle makes st's writes together or not at all, and returns the
	// evidence as written (as read, when st.Apply is nil) and whether the
	// pull request left the queue.
	Settle(ctx context.Context, key PullKey, st Settlement) (*Evidence, bool, error)
}

// settles reports whether the Store writes a Settlement in one
// transaction (all or nothing).
func (s *Service) settles() bool {
	_, ok := s.o.Store.(Settler)
	return ok
}

// settle writes st through the Store's Settle when it has one, else one
// write after the other (evidence, decision, queue). Its errors name the
// store: a store failure is never taken for GitHub's.
func (s *Service) settle(ctx context.Context, key PullKey, st Settlement) (*Evidence, bool, error) {
	if sr, ok := s.o.Store.(Settler); ok {
		ev, done, err := sr.Settle(ctx, key, st)
		if err != nil {
			return nil, false, fmt.Errorf("recording the evaluation of %s in the store: %w", key, err)
		}
		return ev, done, nil
	}
	var ev *Evidence
	var err error
	if st.Apply != nil {
		ev, err = s.o.Store.Update(ctx, key, st.Apply)
	} else {
		ev, err = s.o.Store.Evidence(ctx, key)
	}
	if err != nil {
		return nil, false, fmt.Errorf("recording the evidence of %s in the store: %w", key, err)
	}
	if st.Decision != nil {
		if err := s.o.Store.AddDecision(ctx, *st.Decision); err != nil {
			return nil, false, fmt.Errorf("recording the decision for %s in the store: %w", key, err)
		}
	}
	done := false
	if st.Dequeue {
		if done, err = s.o.Store.Done(ctx, key, st.Generation); err != nil {
			return nil, false, fmt.Errorf("dequeueing %s in the store: %w", key, err)
		}
	}
	return ev, done, nil
}
