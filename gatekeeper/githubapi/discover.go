package githubapi

import (
	"context"
	"fmt"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Discoverer = (*Client)(nil)

// maxDiscoverPages bounds one listing of open pull requests into a base:
// 1,000 open pull requests into master is already more than any release
// desk has; the rest are found at the next reconcile or by their webhooks.
const maxDiscoverPages = 10

// OpenPulls lists the open pull requests of owner/repo into base (GET
// /repos/{o}/{r}/pulls?state=open&base=…), so that a pull request whose
// opened delivery was lost is gated all the same. Rate limits are not
// waited for: the next reconcile asks again.
func (c *Client) OpenPulls(ctx context.Context, owner, repo, base string) ([]gatekeeper.PullKey, error) {
	opt := &github.PullRequestListOptions{State: "open", Base: base, ListOptions: github.ListOptions{PerPage: 100}}
	var out []gatekeeper.PullKey
	for page := 0; page < maxDiscoverPages; page++ {
		var pulls []*github.PullRequest
		var next int
		err := c.do(ctx, EndpointListPulls, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			pulls, resp, err = gh.PullRequests.List(ctx, owner, repo, opt)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return out, fmt.Errorf("listing open pull requests of %s/%s into %s: %w", owner, repo, base, err)
		}
		out = appendKeys(out, owner, repo, pulls)
		if next == 0 {
			break
		}
		opt.Page = next
	}
	return out, nil
}

// PullsWithHead lists the open pull requests of owner/repo whose head is
// sha (GET /repos/{o}/{r}/commits/{sha}/pulls): a status in the
// gatekeeper's own context on a commit it knows no pull request of names
// one it missed.
func (c *Client) PullsWithHead(ctx context.Context, owner, repo, sha string) ([]gatekeeper.PullKey, error) {
	var pulls []*github.PullRequest
	err := c.do(ctx, EndpointListPullsForCommit, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		pulls, resp, err = gh.PullRequests.ListPullRequestsWithCommit(ctx, owner, repo, sha, &github.ListOptions{PerPage: 100})
		return resp, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the pull requests of %s/%s with commit %s: %w", owner, repo, sha, err)
	}
	// GitHub lists the pull requests that contain the commit; only those
	// it is the head of, and open, are for the gate.
	kept := pulls[:0]
	for _, p := range pulls {
		if p.GetState() == "open" && p.GetHead().GetSHA() == sha {
			kept = append(kept, p)
		}
	}
	return appendKeys(nil, owner, repo, kept), nil
}

// appendKeys appends the keys of pulls, which GitHub listed for owner/repo.
func appendKeys(out []gatekeeper.PullKey, owner, repo string, pulls []*github.PullRequest) []gatekeeper.PullKey {
	for _, p := range pulls {
		if k := (gatekeeper.PullKey{Owner: owner, Repo: repo, Number: p.GetNumber()}); k.Valid() {
			out = append(out, k)
		}
	}
	return out
}
