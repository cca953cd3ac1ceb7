package gatekeeper

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// State is a commit status state.
type State string

// The commit status states. A policy may return Success, Failure or Pending;
// Error is the gatekeeper's own: a broken policy or an internal failure.
const (
	Pending State = "pending"
	Success State = "success"
	Failure State = "failure"
	Error   State = "error"
)

// Valid reports whether s is one of the four commit status states.
func (s State) Valid() bool {
	switch s {
	case Pending, Success, Failure, Error:
		return true
	}
	return false
}

// Decision is what the policy (data.gatekeeper.decision) said, plus what the
// Service added to it.
type Decision struct {
	State State `json:"state"`
	// Reasons name what fails; Waiting names what is still missing.
	Reasons []string `json:"reasons"`
	Waiting []string `json:"waiting"`
	// Channel is alpha, beta or stable, or "" (the policy's null).
	Channel string `json:"channel,omitempty"`
	// PolicyRevision is the content hash of the policy that decided.
	PolicyRevision string `json:"policy_revision"`
	// Passes names what passes: each requirement the policy found met,
	// with its evidence ("coverage 84.2% ≥ 80%"), in the policy's order.
	// Optional (a policy may leave it out); it never changes State.
	Passes []string `json:"passes,omitempty"`
	// Votes says, for each vote on the current head, whether the policy
	// counted or refused it, so that the voter can be told once.
	Votes []VoteVerdict `json:"votes,omitempty"`
	// Summary, when set, is the commit status description instead of one
	// built from Reasons and Waiting. The Service sets it for errors,
	// whose Reasons carry details (file paths, another system's error
	// text, host names) for the signed-in details page only: GitHub shows
	// a status description to everyone who can see the commit.
	Summary string `json:"summary,omitempty"`
	// LastGood is what the last good policy revision decided while the
	// policy folder holds a revision that is refused: shown on the details
	// page, marked as such, and never the status.
	LastGood *Decision `json:"last_good,omitempty"`
}

// VoteVerdict is the policy's verdict on one vote comment.
type VoteVerdict struct {
	CommentID int64  `json:"comment_id"`
	User      string `json:"user"`
	Verdict   string `json:"verdict"` // "counted" or "refused"
	Why       string `json:"why,omitempty"`
}

// DecisionRecord is one evaluation, kept for the audit trail.
type DecisionRecord struct {
	// ID names the record (see NewDecisionID, RecordID).
	ID       string   `json:"id,omitempty"`
	Key      PullKey  `json:"key"`
	HeadSHA  string   `json:"head_sha"`
	Decision Decision `json:"decision"`
	// Policy is what the policy itself said, when the gatekeeper's own
	// rules made Decision something else (a broken policy, a pull request
	// that is not a release, someone else's status in its context): what
	// a replay under the same revision gives again.
	Policy      *Decision `json:"policy,omitempty"`
	Description string    `json:"description"`
	EvaluatedAt time.Time `json:"evaluated_at"`
	// EvidenceVersion is the Evidence.Version the decision was made on.
	EvidenceVersion uint64 `json:"evidence_version"`
	// Input is the policy input document the decision was made on.
	Input *Input `json:"input,omitempty"`
	// Duration of the evaluation, gathering included.
	Duration time.Duration `json:"duration_ns"`
}

// MaxDescription is GitHub's limit on a commit status description; a longer
// one is refused with 422.
const MaxDescription = 140

// Description renders the decision as a commit status description of at most
// MaxDescription characters, naming what fails first, then what is awaited.
func (d Decision) Description() string {
	if d.Summary != "" {
		return truncate(d.Summary, MaxDescription)
	}
	var s string
	switch d.State {
	case Success:
		s = "All release checks pass"
		if d.Channel != "" {
			s += " (channel " + d.Channel + ")"
		}
	case Failure:
		s = listed("Failing: ", d.Reasons)
		if len(d.Reasons) == 0 {
			s = "Failing"
		}
	case Error:
		s = listed("Error: ", d.Reasons)
		if len(d.Reasons) == 0 {
			s = "Error evaluating the release policy"
		}
	default:
		s = listed("Waiting for: ", d.Waiting)
		if len(d.Waiting) == 0 {
			s = "Evaluating"
		}
	}
	return truncate(s, MaxDescription)
}

// listed joins items after prefix, and when they do not all fit says how
// many more there are, so the first items are always shown whole if they can be.
func listed(prefix string, items []string) string {
	if len(items) == 0 {
		return ""
	}
	s := prefix + items[0]
	for i := 1; i < len(items); i++ {
		more := " (+" + strconv.Itoa(len(items)-i) + " more)"
		next := s + "; " + items[i]
		rest := ""
		if i < len(items)-1 {
			rest = " (+" + strconv.Itoa(len(items)-i-1) + " more)"
		}
		if utf8.RuneCountInString(next+rest) > MaxDescription {
			return s + more
		}
		s = next
	}
	return s
}

// truncate shortens s to at most n characters, ending in "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
