package githubapi

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
)

// EndpointGetReview names GET …/pulls/{n}/reviews/{id}, a claimed review
// read back, in the call metrics.
const EndpointGetReview = "get_review"

// EventClaim carries what GitHub's REST API said of one claim a webhook
// brought (a review or comment read back one by one): the review or
// comment as GitHub has it (Confirmed), or the claim marked Disputed.
const EventClaim = "github.claim"

// maxClaimChecks bounds the claims one Gather reads back one by one; the
// rest wait for the next Gather (the gate waits for them meanwhile).
const maxClaimChecks = 20

// claimGrace is how long after a claim's own time a 404 is taken for a
// lagging GitHub replica rather than a contradiction: the claim stays
// awaited and is asked about again at the next Gather.
const claimGrace = time.Minute

// confirm reads back from GitHub each claim of ev that waits for it
// (gatekeeper.Review.Awaited, gatekeeper.Comment.Awaited) once the events
// of this Gather are folded in: GET …/pulls/{n}/reviews/{id} per review,
// GET …/issues/comments/{id} per comment, at most maxClaimChecks, newest
// first. Each claim is read once: what GitHub shows confirms it or
// replaces it, what it contradicts (404, another author, command, state or
// time: an edit since is the edit's webhook to bring) is returned Disputed and logged as suspicious. A claim younger
// than claimGrace that GitHub does not have yet stays awaited.
func (s *Source) confirm(ctx context.Context, key gatekeeper.PullKey, ev *gatekeeper.Evidence, gathered []gatekeeper.Event, now time.Time) ([]gatekeeper.Event, error) {
	work := &gatekeeper.Evidence{Key: ev.Key, PR: ev.PR, Heads: ev.Heads,
		Reviews: append([]gatekeeper.Review(nil), ev.Reviews...), Comments: append([]gatekeeper.Comment(nil), ev.Comments...)}
	for _, e := range gathered {
		work.Apply(e)
	}
	type claim struct {
		at      time.Time
		review  *gatekeeper.Review
		comment *gatekeeper.Comment
	}
	var todo []claim
	for _, r := range work.Reviews {
		if r.Awaited() {
			todo = append(todo, claim{at: r.SubmittedAt, review: &r})
		}
	}
	for _, c := range work.Comments {
		switch {
		case c.Awaited() && c.DeletionClaimed != "":
			todo = append(todo, claim{at: c.DeletionClaimedAt, comment: &c})
		case c.Awaited():
			todo = append(todo, claim{at: c.UpdatedAt, comment: &c})
		}
	}
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].at.After(todo[j].at) })
	var out []gatekeeper.Event
	for _, c := range todo[:min(len(todo), maxClaimChecks)] {
		var e gatekeeper.Event
		var err error
		if c.review != nil {
			e, err = s.confirmReview(ctx, key, *c.review, now)
		} else {
			e, err = s.confirmComment(ctx, key, *c.comment, now)
		}
		if err != nil {
			return out, err
		}
		if e.Name != "" {
			out = append(out, e)
		}
	}
	return out, nil
}

// confirmReview reads the claimed review r back.
func (s *Source) confirmReview(ctx context.Context, key gatekeeper.PullKey, r gatekeeper.Review, now time.Time) (gatekeeper.Event, error) {
	var got *github.PullRequestReview
	err := s.c.do(ctx, EndpointGetReview, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		got, resp, err = gh.PullRequests.GetReview(ctx, key.Owner, key.Repo, key.Number, r.ID)
		return resp, err
	})
	var why string
	switch {
	case notFound(err):
		if now.Sub(r.SubmittedAt) < claimGrace {
			return gatekeeper.Event{}, nil
		}
		why = fmt.Sprintf("GitHub has no review %d on %s", r.ID, key)
	case err != nil:
		return gatekeeper.Event{}, fmt.Errorf("reading back review %d of %s: %w", r.ID, key, err)
	default:
		rv := githubevents.Review(got)
		rv.Confirmed = true
		if rv.User != r.User || rv.State != gatekeeper.NormalizeReviewState(r.State) || rv.CommitID != r.CommitID {
			// GitHub's word replaces the claim.
			s.suspicious(ctx, key, "review", r.ID, fmt.Sprintf("claimed %s %s on %s, GitHub has %s %s on %s",
				r.User, r.State, r.CommitID, rv.User, rv.State, rv.CommitID))
		}
		return gatekeeper.Event{Name: EventClaim, Received: now, Key: key, SHA: rv.CommitID, Review: &rv}, nil
	}
	s.suspicious(ctx, key, "review", r.ID, why)
	d := r
	d.Disputed = why
	return gatekeeper.Event{Name: EventClaim, Received: now, Key: key, SHA: r.CommitID, Review: &d}, nil
}

// confirmComment reads the claimed comment c back.
func (s *Source) confirmComment(ctx context.Context, key gatekeeper.PullKey, c gatekeeper.Comment, now time.Time) (gatekeeper.Event, error) {
	var got *github.IssueComment
	err := s.c.do(ctx, EndpointGetComment, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		got, resp, err = gh.Issues.GetComment(ctx, key.Owner, key.Repo, c.ID)
		return resp, err
	})
	if c.DeletionClaimed != "" {
		return s.confirmDeletion(ctx, key, c, got, err, now)
	}
	var why string
	switch {
	case notFound(err):
		if now.Sub(c.UpdatedAt) < claimGrace {
			return gatekeeper.Event{}, nil
		}
		why = fmt.Sprintf("GitHub has no comment %d", c.ID)
	case err != nil:
		return gatekeeper.Event{}, fmt.Errorf("reading back comment %d of %s: %w", c.ID, key, err)
	default:
		gc := githubevents.Comment(got)
		gc.Fetched, gc.Confirmed = true, true
		shown := gc
		probe := gatekeeper.Evidence{Comments: []gatekeeper.Comment{c}}
		probe.Apply(gatekeeper.Event{Name: EventClaim, Comment: &shown})
		if len(probe.Comments) == 1 && probe.Comments[0].Confirmed {
			return gatekeeper.Event{Name: EventClaim, Received: now, Key: key, Comment: &gc}, nil
		}
		why = fmt.Sprintf("GitHub has comment %d by %s at %s saying otherwise", c.ID, gc.User, gc.UpdatedAt.Format(time.RFC3339))
		s.suspicious(ctx, key, "comment", c.ID, why)
		// With GitHub's own version: the domain puts it back when it
		// is safe to (a forged edit of a NOGO must not drop the NOGO).
		shown.Disputed = why
		shown.Body, shown.Command = "", nil
		if cmd, ok := gatekeeper.ParseCommand(gc.Body); ok {
			shown.Command = &cmd
		}
		return gatekeeper.Event{Name: EventClaim, Received: now, Key: key, Comment: &shown}, nil
	}
	s.suspicious(ctx, key, "comment", c.ID, why)
	d := gatekeeper.Comment{ID: c.ID, User: c.User, Command: c.Command, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Disputed: why}
	return gatekeeper.Event{Name: EventClaim, Received: now, Key: key, Comment: &d}, nil
}

// confirmDeletion settles a webhook's claim that the author of the NOGO c
// deleted it (or edited the NOGO away), from GitHub's answer to GET
// …/issues/comments/{id}: a 404 confirms it (the NOGO goes), and so does,
// for an edit, the comment shown without the NOGO (GitHub's version
// replaces it as the author's edit); the NOGO shown refutes it (the NOGO
// stands, and the claim is logged as suspicious). Within claimGrace of the
// comment's last edit a 404, and of the claim a comment shown, may be a
// lagging replica: the claim stays awaited.
func (s *Source) confirmDeletion(ctx context.Context, key gatekeeper.PullKey, c gatekeeper.Comment, got *github.IssueComment, err error, now time.Time) (gatekeeper.Event, error) {
	switch {
	case notFound(err):
		if now.Sub(c.UpdatedAt) < claimGrace {
			return gatekeeper.Event{}, nil
		}
		d := gatekeeper.Comment{ID: c.ID, User: c.User, Command: c.Command, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
			Deleted: true, Fetched: true, Confirmed: true, EditedBy: c.DeletionClaimed}
		return gatekeeper.Event{Name: EventClaim, Received: now, Key: key, Comment: &d}, nil
	case err != nil:
		return gatekeeper.Event{}, fmt.Errorf("reading back deleted comment %d of %s: %w", c.ID, key, err)
	case now.Sub(c.DeletionClaimedAt) < claimGrace:
		return gatekeeper.Event{}, nil
	}
	gc := githubevents.Comment(got)
	gc.Confirmed = true
	if cmd, ok := gatekeeper.ParseCommand(gc.Body); c.EditClaimed && gc.User == c.User && (!ok || cmd.Kind != "nogo") {
		// GitHub shows the NOGO taken away, as the webhook said its
		// author did: the edit is theirs.
		gc.EditedBy = c.DeletionClaimed
		return gatekeeper.Event{Name: EventClaim, Received: now, Key: key, Comment: &gc}, nil
	}
	what := "deleted"
	if c.EditClaimed {
		what = "edited away the NOGO of"
	}
	why := fmt.Sprintf("a webhook says %s %s comment %d, GitHub still has it", c.DeletionClaimed, what, c.ID)
	s.suspicious(ctx, key, "comment deletion", c.ID, why)
	gc.Fetched = true
	return gatekeeper.Event{Name: EventClaim, Received: now, Key: key, Comment: &gc}, nil
}

// suspicious logs a claim GitHub contradicts: someone holding the webhook
// secret signed a delivery GitHub never sent.
func (s *Source) suspicious(ctx context.Context, key gatekeeper.PullKey, kind string, id int64, why string) {
	s.c.log.LogAttrs(ctx, slog.LevelWarn, "suspicious webhook claim: GitHub contradicts it, it does not count",
		slog.String("pr", key.String()), slog.String("kind", kind), slog.Int64("id", id), slog.String("why", why))
}
