package githubapi

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Source = (*MergedSource)(nil)

// MergedSourceName is the MergedSource's Name.
const MergedSourceName = "github-merged"

// EventMergedPulls is the name of the event MergedSource.Gather returns.
const EventMergedPulls = "github.merged_pulls"

// Defaults of MergedSourceOptions.
const (
	DefaultMergedMaxAge = 5 * time.Minute
	// DefaultMaxCommits is far above a daily release; a release that
	// large fails closed (see MergedSource) rather than pass half-read.
	DefaultMaxCommits = 1000
	// DefaultMaxPullPages is 1,000 closed pull requests, newest first.
	DefaultMaxPullPages = 10
)

// perPage is the REST maximum page size.
const perPage = 100

// mergeSlack widens the date at which the closed-pull-request listing
// stops, against committer clocks that disagree with GitHub's.
const mergeSlack = 24 * time.Hour

// MergedSourceOptions configure a MergedSource.
type MergedSourceOptions struct {
	// MaxAge is how long a list stands for the same head before it is
	// read again (default DefaultMergedMaxAge).
	MaxAge time.Duration
	// Gated limits the source to gated pull requests (the release pairs);
	// empty means every open pull request.
	Gated gatekeeper.BranchPairs
	// MaxCommits bounds the commits read from the comparison (default
	// DefaultMaxCommits).
	MaxCommits int
	// MaxPullPages bounds the pages of closed pull requests read
	// (default DefaultMaxPullPages).
	MaxPullPages int
}

// MergedSource lists the pull requests merged into a release pull request's
// head branch since its base: the commits of
// GET /repos/{o}/{r}/compare/{base_tip}...{head_sha} (100 a page; base_tip
// is the base branch's tip by GET /repos/{o}/{r}/branches/{base_ref}, so
// that the comparison is between two commits and no tag named like the
// branch can stand in for it), and the
// closed pull requests into the head branch
// (GET /repos/{o}/{r}/pulls?state=closed&base={head_ref}&sort=updated&direction=desc)
// whose merge_commit_sha is one of those commits. Each becomes a
// gatekeeper.MergedPull with the issue links of its body and branch. It is
// safe for concurrent use.
//
// When it reads: for an open (gated) pull request with a known head, when
// ev.MergedPullsAt is zero or older than MaxAge, or when the last list was
// read for another head (the newest EventMergedPulls entry of ev.Log names
// the head it was read for; should the bounded log have dropped it, the
// list is read again, the safe direction). Otherwise it makes no call.
// Without a pull request snapshot it does nothing: Source fetches one, and
// the next evaluation reads the list.
//
// Budget: one branch read (conditional: an unchanged tip is a free 304),
// ceil(commits/100) compare calls plus at most MaxPullPages list
// calls. The listing stops early once pull requests were last updated a day
// before the oldest compared commit (updated_at is never before merged_at).
// A comparison with more than MaxCommits commits, or a listing that reaches
// MaxPullPages before that point, is an error, not a shorter list: a list
// missing a merged pull request would let the policy pass without checking
// its issue link. Commits pushed to the head branch without a pull request
// appear in no MergedPull.
//
// Rate limits are not waited for (as for Source).
type MergedSource struct {
	c            *Client
	maxAge       time.Duration
	gated        gatekeeper.BranchPairs
	maxCommits   int
	maxPullPages int

	mu sync.Mutex
	// listings is the last listing of closed pull requests per
	// repository and head branch, shared by every pull request from that
	// branch (see sharedListing); bounded by maxListings.
	listings map[string]*mergedListing
}

// mergedListing is what one read of the closed pull requests into a head
// branch found, for the comparison it was read for.
type mergedListing struct {
	// readAt is when the listing was read, after the comparison.
	readAt time.Time
	// commits is the comparison the listing was read for.
	commits map[string]bool
	// byMerge is the merged pull requests found, by merge commit: more
	// than one can share one (GitHub names a commit pushed to the head
	// branch as the merge of every pull request whose head it is).
	byMerge map[string][]gatekeeper.MergedPull
}

// maxListings bounds the listings kept: one per release branch.
const maxListings = 64

// NewMergedSource returns a MergedSource that reads through c.
func NewMergedSource(c *Client, opts MergedSourceOptions) *MergedSource {
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMergedMaxAge
	}
	if opts.MaxCommits <= 0 {
		opts.MaxCommits = DefaultMaxCommits
	}
	if opts.MaxPullPages <= 0 {
		opts.MaxPullPages = DefaultMaxPullPages
	}
	return &MergedSource{c: c, maxAge: opts.MaxAge, gated: opts.Gated, maxCommits: opts.MaxCommits, maxPullPages: opts.MaxPullPages,
		listings: map[string]*mergedListing{}}
}

// Name returns MergedSourceName.
func (s *MergedSource) Name() string { return MergedSourceName }

// Gather returns, when a read is due (see MergedSource), one
// EventMergedPulls event whose MergedPulls replaces the list, ordered by
// number, received when the listing was read (see listed). An empty
// comparison gives an empty list, not nil. Before it comes an EventBaseTip
// with the base branch's tip the comparison starts from, read now.
func (s *MergedSource) Gather(ctx context.Context, ev *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	if ev == nil {
		return nil, fmt.Errorf("gathering merged pull requests: %w: nil evidence", gatekeeper.ErrInvalid)
	}
	now := s.c.clock.Now()
	if !s.due(ev, now) {
		return nil, nil
	}
	pr := ev.PR
	key := ev.Key
	if !key.Valid() {
		key = pr.Key
	}
	if !key.Valid() {
		return nil, fmt.Errorf("gathering merged pull requests: %w pull request key %+v", gatekeeper.ErrInvalid, key)
	}

	// The base branch's tip by the branch read (a tag of the same name
	// cannot stand in for it), and the comparison between two commits,
	// not names. BaseTipSource sees the tip and makes no call of its own.
	tip, err := s.c.branchTip(ctx, key, pr.BaseRef)
	if err != nil {
		return nil, err
	}
	events := []gatekeeper.Event{baseTipEvent(key, pr.BaseRef, tip, now)}
	commits, oldest, err := s.compare(ctx, key, tip, pr.HeadSHA)
	if err != nil {
		return nil, err
	}
	list, readAt := []gatekeeper.MergedPull{}, now
	if len(commits) > 0 {
		if list, readAt, err = s.listed(ctx, key, pr.HeadRef, commits, oldest, now); err != nil {
			return nil, err
		}
	}
	return append(events, gatekeeper.Event{
		Name: EventMergedPulls,
		// When the listing was read: a shared one keeps its age, so
		// that the next read is due MaxAge after it, not after now.
		Received:    readAt,
		Key:         key,
		SHA:         pr.HeadSHA,
		MergedPulls: &list,
	}), nil
}

// listed returns the pull requests merged into headRef whose merge commit
// is in commits, and when the listing they come from was read.
//
// A listing another pull request's Gather read less than MaxAge ago for a
// comparison that holds every one of commits answers without a call: each
// of commits was on GitHub before that listing was read (it was compared
// first), so the pull request that merged it was merged by then and is on
// that listing, within its early stop (commits' oldest date is no older
// than that comparison's). A commit the shared comparison lacks (a merge
// since) makes the listing be read again. Either way the list is as
// complete as a read of its own; only its age is shared, and kept.
func (s *MergedSource) listed(ctx context.Context, key gatekeeper.PullKey, headRef string, commits map[string]bool, oldest, now time.Time) ([]gatekeeper.MergedPull, time.Time, error) {
	lk := key.Owner + "/" + key.Repo + "\x00" + headRef
	s.mu.Lock()
	l := s.listings[lk]
	s.mu.Unlock()
	if l != nil && !l.readAt.After(now) && now.Sub(l.readAt) < s.maxAge && subset(commits, l.commits) {
		return l.pick(commits), l.readAt, nil
	}
	found, err := s.merged(ctx, key, headRef, commits, oldest)
	if err != nil {
		return nil, time.Time{}, err
	}
	l = &mergedListing{readAt: now, commits: commits, byMerge: found}
	s.mu.Lock()
	if len(s.listings) >= maxListings {
		for k := range s.listings { // forget one: it is read again
			delete(s.listings, k)
			break
		}
	}
	s.listings[lk] = l
	s.mu.Unlock()
	return l.pick(commits), now, nil
}

// pick returns the listed pull requests merged by one of commits, ordered
// by number.
func (l *mergedListing) pick(commits map[string]bool) []gatekeeper.MergedPull {
	out := []gatekeeper.MergedPull{}
	for sha, ps := range l.byMerge {
		if commits[sha] {
			out = append(out, ps...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// subset reports whether every key of a is in b.
func subset(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// due reports whether Gather should read the list (see MergedSource).
func (s *MergedSource) due(ev *gatekeeper.Evidence, now time.Time) bool {
	pr := ev.PR
	if pr == nil || pr.HeadSHA == "" || pr.BaseRef == "" || pr.HeadRef == "" || pr.State == "closed" {
		return false
	}
	if len(s.gated) > 0 && !s.gated.Release(pr) {
		return false // not a release (another branch, or a fork): it fails anyway
	}
	if ev.MergedPullsAt.IsZero() || now.Sub(ev.MergedPullsAt) >= s.maxAge {
		return true
	}
	for i := len(ev.Log) - 1; i >= 0; i-- {
		if ev.Log[i].Event == EventMergedPulls {
			return ev.Log[i].SHA != pr.HeadSHA
		}
	}
	return true
}

// compare returns the set of commits on head and not on base (both commit
// shas), and the oldest committer date among them (zero when any commit
// lacks one, which turns the early stop of merged off).
func (s *MergedSource) compare(ctx context.Context, key gatekeeper.PullKey, base, head string) (map[string]bool, time.Time, error) {
	shas := map[string]bool{}
	var oldest time.Time
	dated := true
	opts := &github.ListOptions{PerPage: perPage}
	total := 0
	for {
		var comp *github.CommitsComparison
		var next int
		err := s.c.do(ctx, EndpointCompareCommits, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			comp, resp, err = gh.Repositories.CompareCommits(ctx, key.Owner, key.Repo, base, head, opts)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("comparing %s...%s in %s/%s (page %d): %w", shortSHA(base), shortSHA(head), key.Owner, key.Repo, max(opts.Page, 1), err)
		}
		total = comp.GetTotalCommits()
		for _, c := range comp.Commits {
			if c.GetSHA() == "" {
				continue
			}
			shas[c.GetSHA()] = true
			d := c.GetCommit().GetCommitter().GetDate()
			switch {
			case d.IsZero():
				dated = false
			case oldest.IsZero() || d.Before(oldest):
				oldest = d.Time
			}
		}
		if next == 0 || len(shas) >= s.maxCommits {
			break
		}
		if next <= opts.Page {
			return nil, time.Time{}, fmt.Errorf("comparing %s...%s in %s/%s: pagination did not end after page %d", shortSHA(base), shortSHA(head), key.Owner, key.Repo, max(opts.Page, 1))
		}
		opts.Page = next
	}
	if total > len(shas) {
		return nil, time.Time{}, fmt.Errorf("comparing %s...%s in %s/%s: %d commits, more than the %d read (raise the commit limit)",
			shortSHA(base), shortSHA(head), key.Owner, key.Repo, total, len(shas))
	}
	if !dated {
		oldest = time.Time{}
	}
	return shas, oldest, nil
}

// merged lists the closed pull requests into headRef, newest update first,
// and keeps those whose merge commit is in commits, by merge commit (all
// of them: two can share one).
func (s *MergedSource) merged(ctx context.Context, key gatekeeper.PullKey, headRef string, commits map[string]bool, oldest time.Time) (map[string][]gatekeeper.MergedPull, error) {
	stopBefore := time.Time{}
	if !oldest.IsZero() {
		stopBefore = oldest.Add(-mergeSlack)
	}
	opts := &github.PullRequestListOptions{
		State: "closed", Base: headRef, Sort: "updated", Direction: "desc",
		ListOptions: github.ListOptions{PerPage: perPage},
	}
	out := map[string][]gatekeeper.MergedPull{}
	for pages := 1; ; pages++ {
		var page []*github.PullRequest
		var next int
		err := s.c.do(ctx, EndpointListPulls, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			page, resp, err = gh.PullRequests.List(ctx, key.Owner, key.Repo, opts)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("listing pull requests merged into %s of %s/%s (page %d): %w", headRef, key.Owner, key.Repo, max(opts.Page, 1), err)
		}
		done := next == 0
		for _, p := range page {
			if !stopBefore.IsZero() && p.GetUpdatedAt().Before(stopBefore) {
				done = true // every later one was updated earlier still
				break
			}
			// The list endpoint has merged_at, not merged.
			if p.MergedAt != nil && commits[p.GetMergeCommitSHA()] {
				sha := p.GetMergeCommitSHA()
				if !slices.ContainsFunc(out[sha], func(m gatekeeper.MergedPull) bool { return m.Number == p.GetNumber() }) {
					// (a pull request updated while the pages are read can
					// appear on two of them: once is enough)
					out[sha] = append(out[sha], mergedPull(p, key))
				}
			}
		}
		if done {
			break
		}
		if pages >= s.maxPullPages {
			return nil, fmt.Errorf("listing pull requests merged into %s of %s/%s: %d pages read and older ones remain (raise the page limit)",
				headRef, key.Owner, key.Repo, pages)
		}
		if next <= opts.Page {
			return nil, fmt.Errorf("listing pull requests merged into %s of %s/%s: pagination did not end after page %d", headRef, key.Owner, key.Repo, max(opts.Page, 1))
		}
		opts.Page = next
	}
	return out, nil
}

// mergedPull converts a merged pull request of key's repository; short
// issue references (#12) resolve to that repository.
func mergedPull(p *github.PullRequest, key gatekeeper.PullKey) gatekeeper.MergedPull {
	head := p.GetHead().GetRef()
	return gatekeeper.MergedPull{
		Number:  p.GetNumber(),
		Title:   p.GetTitle(),
		Author:  p.GetUser().GetLogin(),
		HeadRef: head,
		Links:   gatekeeper.ParseIssueLinks(p.GetBody(), head, key.Owner, key.Repo),
	}
}
