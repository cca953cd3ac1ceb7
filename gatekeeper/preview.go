package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DecisionQuery chooses stored decisions: of one repository ("" for every
// one), evaluated at or after Since, at most Limit (newest first).
type DecisionQuery struct {
	Owner, Repo string
	Since       time.Time
	Limit       int
}

// MaxDecisionList bounds one listing of stored decisions.
const MaxDecisionList = 1000

// Decisions lists stored decision records, newest first, without their
// input documents (Decision has them). readable says which repositories
// the caller may read; an error from it stops the listing.
func (s *Service) Decisions(ctx context.Context, q DecisionQuery, readable func(owner, repo string) (bool, error)) ([]DecisionRecord, error) {
	if q.Limit <= 0 || q.Limit > MaxDecisionList {
		q.Limit = MaxDecisionList
	}
	var keys []PullKey
	var err error
	if q.Owner != "" {
		keys, err = s.o.Store.PullsIndexed(ctx, RepoTerm(q.Owner, q.Repo))
	} else {
		keys, err = s.o.Store.Pulls(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("listing pull requests: %w", err)
	}
	may := map[string]bool{}
	var out []DecisionRecord
	for _, k := range keys {
		if q.Owner != "" && (!strings.EqualFold(k.Owner, q.Owner) || !strings.EqualFold(k.Repo, q.Repo)) {
			continue
		}
		repo := k.Owner + "/" + k.Repo
		ok, seen := may[repo]
		if !seen {
			if ok, err = readable(k.Owner, k.Repo); err != nil {
				return nil, err
			}
			may[repo] = ok
		}
		if !ok {
			continue
		}
		recs, err := s.o.Store.Decisions(ctx, k, MaxDecisions)
		if err != nil {
			return nil, fmt.Errorf("loading decisions for %s: %w", k, err)
		}
		for _, r := range recs {
			if r.EvaluatedAt.Before(q.Since) {
				break // newest first
			}
			r.ID, r.Input = r.RecordID(), nil
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b DecisionRecord) int { return b.EvaluatedAt.Compare(a.EvaluatedAt) })
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// Decision returns the stored decision id names, and the policy revision
// it was made under (Revision empty when the store does not have it: a
// decision made before revisions were kept).
func (s *Service) Decision(ctx context.Context, id string) (DecisionRecord, PolicyRevision, error) {
	key, err := ParseDecisionID(id)
	if err != nil {
		return DecisionRecord{}, PolicyRevision{}, err
	}
	recs, err := s.o.Store.Decisions(ctx, key, MaxDecisions)
	if err != nil {
		return DecisionRecord{}, PolicyRevision{}, fmt.Errorf("loading decisions for %s: %w", key, err)
	}
	for _, r := range recs {
		if r.RecordID() != id {
			continue
		}
		r.ID = id
		rev, err := s.o.Store.Policy(ctx, r.Decision.PolicyRevision)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return r, PolicyRevision{}, err
		}
		return r, rev, nil
	}
	return DecisionRecord{}, PolicyRevision{}, fmt.Errorf("decision %s: %w", id, ErrNotFound)
}

// PreviewRow is one open release pull request under the policy in force
// and a candidate.
type PreviewRow struct {
	Key       PullKey  `json:"key"`
	Title     string   `json:"title"`
	HeadSHA   string   `json:"head_sha"`
	InForce   Decision `json:"in_force"`
	Candidate Decision `json:"candidate"`
	// Flips: the state differs. Changed: the state is the same, and the
	// reasons or what is awaited differ.
	Flips   bool `json:"flips"`
	Changed bool `json:"changed"`
	// Errors of either evaluation (a broken or slow candidate).
	InForceError   string `json:"in_force_error,omitempty"`
	CandidateError string `json:"candidate_error,omitempty"`
}

// Preview evaluates the latest evidence of every open release pull request
// the caller may read (readable) under the policy in force and under
// candidate, as the worker would now (same input, no sources asked), and
// posts nothing. Rows are in pull request order.
func (s *Service) Preview(ctx context.Context, candidate Evaluator, readable func(owner, repo string) (bool, error)) ([]PreviewRow, error) {
	keys, err := s.o.Store.Pulls(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing pull requests: %w", err)
	}
	slices.SortFunc(keys, func(a, b PullKey) int { return strings.Compare(a.String(), b.String()) })
	now := s.o.Clock.Now()
	var rows []PreviewRow
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ev, err := s.o.Store.Evidence(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("loading evidence for %s: %w", k, err)
		}
		pr := ev.PR
		if pr == nil || pr.State != "open" || pr.Merged || !s.o.Gated.Release(pr) {
			continue
		}
		if ok, err := readable(k.Owner, k.Repo); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		in := BuildInput(ev, InputOptions{Now: now, Gated: s.o.Gated, StatusContext: s.o.StatusContext, VerifyBuilds: s.o.VerifyBuilds, StageKeys: s.o.StageKeys})
		row := PreviewRow{Key: k, Title: pr.Title, HeadSHA: pr.HeadSHA}
		var ierr, cerr error
		row.InForce, ierr = s.o.Evaluator.Evaluate(ctx, in)
		row.Candidate, cerr = candidate.Evaluate(ctx, in)
		if ierr != nil {
			row.InForce, row.InForceError = Decision{State: Error, PolicyRevision: row.InForce.PolicyRevision}, ierr.Error()
		}
		if cerr != nil {
			row.Candidate, row.CandidateError = Decision{State: Error, PolicyRevision: row.Candidate.PolicyRevision}, cerr.Error()
		}
		row.Flips = row.InForce.State != row.Candidate.State
		row.Changed = !row.Flips && !SameVerdict(reasonsOnly(row.InForce), reasonsOnly(row.Candidate))
		rows = append(rows, row)
	}
	return rows, nil
}

// reasonsOnly leaves out the vote verdicts and what passes: Changed is
// about what fails and what is awaited (a threshold edit that only
// rewords a pass, "coverage 84.2% ≥ 82%", changes nothing to act on).
func reasonsOnly(d Decision) Decision {
	d.Votes, d.Passes = nil, nil
	return d
}
