package githubapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
)

var _ gatekeeper.Source = (*Source)(nil)

// SourceName is the Source's Name, the key of its entry in
// Evidence.Sources and in the policy input.
const SourceName = "github"

// Event names of the events Gather returns.
const (
	EventPullRequest = "github.pull_request"
	EventReview      = "github.review"
	// EventComment carries one conversation comment as the comments list
	// shows it (Comment.Fetched set); EventCommentDeleted one comment the
	// evidence knows that the list no longer shows (Deleted and Fetched
	// set, with the body the evidence knew).
	EventComment        = "github.comment"
	EventCommentDeleted = "github.comment.deleted"
	// EventCommentsCursor carries the comments cursor the next read of
	// the comments list starts from.
	EventCommentsCursor = "github.comments_cursor"
	// EventStatus carries one commit status of the head (Check.Kind
	// "status"), EventCheckRun one check run (Check.Kind "check_run").
	EventStatus   = "github.status"
	EventCheckRun = "github.check_run"
	// EventChecks carries nothing but its SHA: it records that the
	// statuses and check runs of that head were fetched, even when there
	// were none, so that the next Gather knows whether to fetch again.
	EventChecks = "github.checks"
)

// reviewsPerPage is the REST maximum; fewer pages mean fewer calls.
const reviewsPerPage = 100

// maxReviewPages bounds pagination, so that a server whose Link header
// never ends cannot keep a worker busy (100 pages are 10,000 reviews).
const maxReviewPages = 100

// DefaultMaxAge is how long a fetch is trusted by default.
const DefaultMaxAge = 5 * time.Minute

// SourceOptions configure a Source.
type SourceOptions struct {
	// MaxAge is how long a fetch stands before GitHub is asked again
	// (default DefaultMaxAge). Webhooks carry the
	// live changes; the Source only recovers the ones lost on the way, so
	// a burst of evaluations of one pull request costs six calls, not
	// five per evaluation.
	MaxAge time.Duration
	// StatusContext is the gatekeeper's own status context (default
	// "release-gate"). The combined status does not say who posted a
	// status; the Source reads it, for every context, from the list of
	// statuses, so that the Service can tell its own from anybody else's
	// and a status set by hand over another system's is seen as such.
	StatusContext string
}

// Source fills gaps in a pull request's evidence from the REST API: the pull
// request itself (GET /repos/{o}/{r}/pulls/{n}) and every review on it
// (GET …/pulls/{n}/reviews, 100 per page), so that a snapshot missing
// because only an issue_comment or status event arrived, or an approval
// whose webhook was lost, is recovered. It is safe for concurrent use.
//
// With the reviews it reads the pull request's conversation comments
// (GET /repos/{o}/{r}/issues/{n}/comments, 100 per page): GitHub never
// redelivers a lost issue_comment webhook, and a GO or NOGO whose webhook
// was lost would otherwise never count. It asks only for the comments
// created or edited since the last read (since=, the cursor kept in
// Evidence.CommentsCursor), at most 20 pages per Gather; a longer list is
// read on at the next Gather. Every comment listed is returned, commands or
// not (the domain keeps only commands), marked Comment.Fetched: the list
// does not say who edited a comment, so the domain never lets it override
// what a webhook said. A list read since a time cannot show a deletion, so
// it then asks GitHub (GET …/issues/comments/{id}) about each comment whose
// unseen deletion would wrongly pass the gate (a person's latest /go or
// /withdraw, a lift of a standing NOGO), unless written less than a minute
// ago; one GitHub no longer has is returned as deleted, and the domain drops
// it (a NOGO stays, since GitHub cannot say who deleted it). The cost of a
// read follows what changed and the number of voters, not the length of the
// conversation.
//
// It also fetches the commit statuses (GET …/commits/{sha}/status) and
// check runs (GET …/commits/{sha}/check-runs, both 100 per page) of the
// current head (and, when the gatekeeper's own context is among the
// statuses, GET …/commits/{sha}/statuses, newest first, until its newest
// status there, for the creator the combined status leaves out). status
// and check_run webhooks name only a sha, and one that
// arrives before the gatekeeper knows that sha as the head (a CI system
// posting within a second of the push, before pull_request.synchronize is
// processed) is routed to no pull request; without this fetch a failure it
// reported could go unseen. Every status is returned, the gatekeeper's own
// context included: the Service compares it with what it published.
//
// When it fetches the pull request, its reviews and its comments: when the
// evidence has no pull request snapshot, when the last fetch is older than
// MaxAge (measured on the Client's Clock), or when the last Gather recorded
// in ev.Sources["github"] failed. The last fetch is the newest EventPullRequest entry in ev.Log, so
// the rule needs no state of its own, holds across replicas, and is not
// fooled by the Service stamping Sources["github"].CheckedAt after a Gather
// that skipped; should 200 newer events push the entry out of the bounded
// log, Gather fetches again, which is the safe direction.
//
// When it fetches the statuses and check runs: by the same rules, with the
// newest EventChecks entry as the last fetch, and also whenever that entry
// names another sha than the current head, the head being the one the
// evidence has once this Gather's pull request snapshot (if any) is folded
// in. Otherwise Gather returns no events and makes no call.
//
// Rate limits are not waited for: Gather fails at once with ErrRateLimited,
// and the domain treats the missing source as "not a pass" until it
// answers again.
type Source struct {
	c       *Client
	maxAge  time.Duration
	context string
}

// NewSource returns a Source that reads through c.
func NewSource(c *Client, opts SourceOptions) *Source {
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.StatusContext == "" {
		opts.StatusContext = "release-gate"
	}
	return &Source{c: c, maxAge: opts.MaxAge, context: opts.StatusContext}
}

// Name returns SourceName.
func (s *Source) Name() string { return SourceName }

// Gather returns, when a fetch of the pull request is due (see Source), one
// EventPullRequest event carrying the current snapshot followed by one
// EventReview event per review in GitHub's (chronological) order (review
// states keep the REST spelling, APPROVED), one EventComment per comment
// in the order of creation and one EventCommentDeleted per known comment
// gone from the list. When a fetch of the head's checks is due it then
// returns one EventStatus per status, one EventCheckRun per check run (its
// state mapped by githubevents.CheckRunState) and EventChecks.
//
// It fails when any call fails. A failure of the pull request or its
// reviews returns no events (a 404 means the pull request is gone or the
// token cannot see it); a failure of the comments returns the events
// gathered before and besides it (the checks are still fetched when due),
// with no EventCommentDeleted; a failure of the statuses or check runs
// returns the events gathered before and besides it, without EventChecks.
func (s *Source) Gather(ctx context.Context, ev *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	if ev == nil {
		return nil, fmt.Errorf("gathering github evidence: %w: nil evidence", gatekeeper.ErrInvalid)
	}
	key := ev.Key
	if !key.Valid() && ev.PR != nil {
		key = ev.PR.Key
	}
	if !key.Valid() {
		return nil, fmt.Errorf("gathering github evidence: %w pull request key %+v", gatekeeper.ErrInvalid, key)
	}
	now := s.c.clock.Now()
	var events []gatekeeper.Event
	var errComments error
	head := ev.HeadSHA()
	if s.due(ev, now) {
		var err error
		if events, err = s.pull(ctx, key, now); err != nil {
			return nil, err
		}
		// The head the evidence will have once the snapshot is folded
		// in: Apply keeps the newer of two snapshots, and a lagging
		// GitHub replica can answer with an older one than a webhook
		// brought.
		folded := gatekeeper.Evidence{PR: ev.PR}
		folded.Apply(events[0])
		head = folded.HeadSHA()

		comments, err := s.comments(ctx, key, ev, now)
		events = append(events, comments...)
		errComments = err
	}
	if head == "" || !s.checksDue(ev, head, now) {
		return events, errComments
	}
	checks, err := s.checks(ctx, key, head, now)
	return append(events, checks...), errors.Join(errComments, err)
}

// pull fetches the pull request and its reviews: one EventPullRequest
// followed by one EventReview per review.
func (s *Source) pull(ctx context.Context, key gatekeeper.PullKey, now time.Time) ([]gatekeeper.Event, error) {
	var pr *github.PullRequest
	err := s.c.do(ctx, EndpointGetPull, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		pr, resp, err = gh.PullRequests.Get(ctx, key.Owner, key.Repo, key.Number)
		return resp, err
	})
	if err != nil {
		return nil, fmt.Errorf("fetching pull request %s: %w", key, err)
	}
	// Without a repository of the request's, the conversion keys the
	// snapshot by base.repo, and the repository's id comes from there.
	snap := githubevents.PullRequest(pr, nil)
	// The request named the pull request; a payload that does not (or a
	// renamed repository) must not move the evidence to another key.
	snap.Key = key

	reviews, err := s.reviews(ctx, key)
	if err != nil {
		return nil, err
	}
	events := make([]gatekeeper.Event, 0, 1+len(reviews))
	events = append(events, gatekeeper.Event{
		Name:        EventPullRequest,
		Received:    now,
		Key:         key,
		SHA:         snap.HeadSHA,
		PullRequest: &snap,
	})
	for _, r := range reviews {
		if r == nil {
			continue
		}
		rv := githubevents.Review(r)
		events = append(events, gatekeeper.Event{
			Name:     EventReview,
			Received: now,
			Key:      key,
			SHA:      rv.CommitID,
			Review:   &rv,
		})
	}
	return events, nil
}

// due reports whether Gather should fetch the pull request (see Source).
func (s *Source) due(ev *gatekeeper.Evidence, now time.Time) bool {
	if ev.PR == nil {
		return true
	}
	if ev.PR.RepoID != 0 && ev.PR.HeadRepoID == 0 {
		// A snapshot stored before the head's repository was recorded
		// looks like a deleted fork's (never a release): read it again
		// rather than fail a release until MaxAge has passed.
		return true
	}
	if last, ok := ev.Sources[SourceName]; ok && !last.OK {
		return true
	}
	for i := len(ev.Log) - 1; i >= 0; i-- {
		if ev.Log[i].Event == EventPullRequest {
			return now.Sub(ev.Log[i].At) >= s.maxAge
		}
	}
	return true
}

// reviews lists every review of key, following the Link header's next page.
func (s *Source) reviews(ctx context.Context, key gatekeeper.PullKey) ([]*github.PullRequestReview, error) {
	var all []*github.PullRequestReview
	opts := &github.ListOptions{PerPage: reviewsPerPage}
	for pages := 1; ; pages++ {
		var page []*github.PullRequestReview
		var next int
		err := s.c.do(ctx, EndpointListReviews, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			page, resp, err = gh.PullRequests.ListReviews(ctx, key.Owner, key.Repo, key.Number, opts)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("fetching reviews for %s (page %d): %w", key, max(opts.Page, 1), err)
		}
		all = append(all, page...)
		if next == 0 {
			return all, nil
		}
		if next <= opts.Page || pages >= maxReviewPages {
			return nil, fmt.Errorf("fetching reviews for %s: pagination did not end after page %d", key, max(opts.Page, 1))
		}
		opts.Page = next
	}
}
