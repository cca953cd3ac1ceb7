package githubapi

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Source = (*Source)(nil)

// SourceName is the Source's Name, the key of its entry in
// Evidence.Sources and in the policy input.
const SourceName = "github"

// Event names of the events Gather returns.
const (
	EventPullRequest = "github.pull_request"
	EventReview      = "github.review"
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
	// a burst of evaluations of one pull request costs two calls, not two
	// per evaluation.
	MaxAge time.Duration
}

// Source fills gaps in a pull request's evidence from the REST API: the pull
// request itself (GET /repos/{o}/{r}/pulls/{n}) and every review on it
// (GET …/pulls/{n}/reviews, 100 per page), so that a snapshot missing
// because only an issue_comment or status event arrived, or an approval
// whose webhook was lost, is recovered. It is safe for concurrent use.
//
// When it fetches: when the evidence has no pull request snapshot, when the
// last fetch is older than MaxAge (measured on the Client's Clock), or when
// the last Gather recorded in ev.Sources["github"] failed. Otherwise Gather
// returns no events and makes no call. The last fetch is the newest
// EventPullRequest entry in ev.Log, so the rule needs no state of its own,
// holds across replicas, and is not fooled by the Service stamping
// Sources["github"].CheckedAt after a Gather that skipped; should 200 newer
// events push the entry out of the bounded log, Gather fetches again, which
// is the safe direction.
//
// Rate limits are not waited for: Gather fails at once with ErrRateLimited,
// and the domain treats the missing source as "not a pass" until it
// answers again.
type Source struct {
	c      *Client
	maxAge time.Duration
}

// NewSource returns a Source that reads through c.
func NewSource(c *Client, opts SourceOptions) *Source {
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	return &Source{c: c, maxAge: opts.MaxAge}
}

// Name returns SourceName.
func (s *Source) Name() string { return SourceName }

// Gather returns, when a fetch is due (see Source), one EventPullRequest
// event carrying the current snapshot followed by one EventReview event per
// review in GitHub's (chronological) order. Review states keep the REST
// spelling (APPROVED). It fails when either call fails; a 404 means the
// pull request is gone or the token cannot see it.
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
	if !s.due(ev, now) {
		return nil, nil
	}

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
	snap := PullRequestFromGitHub(pr)
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
		rv := ReviewFromGitHub(r)
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

// due reports whether Gather should ask GitHub (see Source).
func (s *Source) due(ev *gatekeeper.Evidence, now time.Time) bool {
	if ev.PR == nil {
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
