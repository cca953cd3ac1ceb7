package gatekeeper

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PolicyRevision is one policy revision as the gatekeeper served it: the
// files that were compiled (tests left out), keyed by their slash-separated
// path in the policy folder. Revision is the full content hash that names
// them (a decision's PolicyRevision is its first RevisionLen digits).
type PolicyRevision struct {
	Revision string            `json:"revision"`
	Files    map[string]string `json:"files"`
	SavedAt  time.Time         `json:"saved_at"`
}

// RevisionLen is how many hex digits of a revision decisions and people
// use.
const RevisionLen = 12

// Short is the revision as decisions name it.
func (r PolicyRevision) Short() string { return ShortRevision(r.Revision) }

// ShortRevision cuts a revision to RevisionLen digits.
func ShortRevision(rev string) string {
	if len(rev) > RevisionLen {
		return rev[:RevisionLen]
	}
	return rev
}

// Served is what an Evaluator that can say what it serves implements
// (opa.Engine): the files of the revision in force, when its short
// revision is short.
type Served interface {
	Served(short string) (PolicyRevision, bool)
}

// NewDecisionID names a decision record: the pull request, the evaluation
// time and a random suffix, "owner/repo/number/unixnano-xxxxxxxx". The
// id says whose decision it is, so that who may read it is known before
// it is looked up.
func NewDecisionID(key PullKey, at time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%s/%d/%d-%s", key.Owner, key.Repo, key.Number, at.UnixNano(), hex.EncodeToString(b[:]))
}

// RecordID is rec's id; a record kept before ids were given has the one
// its key and time make, without a suffix.
func (rec DecisionRecord) RecordID() string {
	if rec.ID != "" {
		return rec.ID
	}
	return fmt.Sprintf("%s/%s/%d/%d", rec.Key.Owner, rec.Key.Repo, rec.Key.Number, rec.EvaluatedAt.UnixNano())
}

// ParseDecisionID returns the pull request a decision id names.
func ParseDecisionID(id string) (PullKey, error) {
	parts := strings.Split(id, "/")
	if len(parts) != 4 || parts[3] == "" {
		return PullKey{}, fmt.Errorf("decision id %q is not owner/repo/number/stamp: %w", id, ErrInvalid)
	}
	n, err := strconv.Atoi(parts[2])
	k := PullKey{Owner: parts[0], Repo: parts[1], Number: n}
	if err != nil || !k.Valid() {
		return PullKey{}, fmt.Errorf("decision id %q is not owner/repo/number/stamp: %w", id, ErrInvalid)
	}
	return k, nil
}

// PolicyDecision is what the policy itself said for rec: what replay must
// give again under the same revision.
func (rec DecisionRecord) PolicyDecision() Decision {
	if rec.Policy != nil {
		return *rec.Policy
	}
	return rec.Decision
}

// SameVerdict reports whether two decisions of the policy say the same:
// state, reasons, waiting, channel, what passes and vote verdicts.
func SameVerdict(a, b Decision) bool {
	return a.State == b.State && a.Channel == b.Channel &&
		slices.Equal(nonNil(a.Reasons), nonNil(b.Reasons)) && slices.Equal(nonNil(a.Waiting), nonNil(b.Waiting)) &&
		slices.Equal(nonNil(a.Passes), nonNil(b.Passes)) && slices.Equal(a.Votes, b.Votes)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// archived remembers which revisions this process saved, so that each is
// written once.
type archived struct {
	mu   sync.Mutex
	done map[string]bool
}

// archive saves the revision that decided, before the decision that names
// it is recorded, when the evaluator can say what it serves. A failure is logged and tried again on the next
// evaluation: the decision itself is not held up.
func (s *Service) archive(ctx context.Context, short string) {
	sv, ok := s.o.Evaluator.(Served)
	if !ok || short == "" {
		return
	}
	s.archived.mu.Lock()
	done := s.archived.done[short]
	s.archived.mu.Unlock()
	if done {
		return
	}
	rev, ok := sv.Served(short)
	if !ok {
		return // the revision in force changed meanwhile; the next one saves it
	}
	rev.SavedAt = s.o.Clock.Now().UTC()
	if err := s.o.Store.SavePolicy(ctx, rev); err != nil {
		s.log.ErrorContext(ctx, "saving the policy revision for replay", "policy", short, "err", err.Error())
		return
	}
	s.archived.mu.Lock()
	if s.archived.done == nil {
		s.archived.done = map[string]bool{}
	}
	s.archived.done[short] = true
	s.archived.mu.Unlock()
}
