package githubapi

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Source = (*BaseTipSource)(nil)

// BaseTipSourceName is the BaseTipSource's Name.
const BaseTipSourceName = "base-branch"

// EventBaseTip carries a base branch's tip as GitHub's REST API reads it.
const EventBaseTip = "github.base_tip"

// BaseTipSource reads the tip of a pull request's base branch (GET
// /repos/{o}/{r}/branches/{base}): a PR-merge build counts only when it
// merged that commit. Push webhooks to the base carry its moves as they
// happen; this read makes up for a lost one, and tells the tip before the
// first push.
//
// It reads when the evidence has no tip of the pull request's base (none
// yet, or one of another branch after a retarget), when its last read is
// older than MaxAge (the newest EventBaseTip entry in ev.Log, measured on
// the Client's Clock), or when its last Gather failed. MergedSource, which
// runs before it, reads the same branch first (its comparison starts from
// that commit) and returns it as an EventBaseTip too: after it, this
// source makes no call. Otherwise it returns
// nothing and makes no call. Rate limits are not waited for.
type BaseTipSource struct {
	c      *Client
	maxAge time.Duration
}

// NewBaseTipSource returns a BaseTipSource that reads through c; maxAge ≤ 0
// means DefaultMaxAge.
func NewBaseTipSource(c *Client, maxAge time.Duration) *BaseTipSource {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return &BaseTipSource{c: c, maxAge: maxAge}
}

// Name returns BaseTipSourceName.
func (s *BaseTipSource) Name() string { return BaseTipSourceName }

// Gather returns one EventBaseTip event when a read is due (see
// BaseTipSource), and nothing while GitHub has not described the pull
// request yet.
func (s *BaseTipSource) Gather(ctx context.Context, ev *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	if ev == nil || ev.PR == nil || ev.PR.BaseRef == "" {
		return nil, nil
	}
	key := ev.Key
	if !key.Valid() {
		key = ev.PR.Key
	}
	if !key.Valid() {
		return nil, fmt.Errorf("reading the base branch tip: %w pull request key %+v", gatekeeper.ErrInvalid, key)
	}
	base, now := ev.PR.BaseRef, s.c.clock.Now()
	if !s.due(ev, base, now) {
		return nil, nil
	}
	sha, err := s.c.branchTip(ctx, key, base)
	if err != nil {
		return nil, err
	}
	return []gatekeeper.Event{baseTipEvent(key, base, sha, now)}, nil
}

// branchTip reads the commit branch base of key's repository points at
// (GET /repos/{o}/{r}/branches/{base}: a branch by name, never a tag
// that shares it; conditional, so an unchanged tip is a free 304).
func (c *Client) branchTip(ctx context.Context, key gatekeeper.PullKey, base string) (string, error) {
	var b *github.Branch
	err := c.do(ctx, EndpointGetBranch, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		b, resp, err = gh.Repositories.GetBranch(ctx, key.Owner, key.Repo, base, 0)
		return resp, err
	})
	if err != nil {
		return "", fmt.Errorf("reading the tip of %s in %s/%s: %w", base, key.Owner, key.Repo, err)
	}
	sha := b.GetCommit().GetSHA()
	if !isSHA(sha) {
		return "", fmt.Errorf("reading the tip of %s in %s/%s: github named no commit (%q)", base, key.Owner, key.Repo, sha)
	}
	return sha, nil
}

// baseTipEvent is the EventBaseTip of branch base's tip sha, read now.
func baseTipEvent(key gatekeeper.PullKey, base, sha string, now time.Time) gatekeeper.Event {
	return gatekeeper.Event{
		Name: EventBaseTip, Received: now, Key: key, SHA: sha,
		BaseTip: &gatekeeper.BaseTip{Ref: base, SHA: sha, At: now, Source: "github"},
	}
}

// due reports whether Gather should read the tip of base.
func (s *BaseTipSource) due(ev *gatekeeper.Evidence, base string, now time.Time) bool {
	if ev.BaseTip == nil || ev.BaseTip.Ref != base {
		return true
	}
	if last, ok := ev.Sources[BaseTipSourceName]; ok && !last.OK {
		return true
	}
	for i := len(ev.Log) - 1; i >= 0; i-- {
		if ev.Log[i].Event == EventBaseTip {
			return now.Sub(ev.Log[i].At) >= s.maxAge
		}
	}
	return true
}

// isSHA reports whether s is a 40-digit hexadecimal commit sha.
func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}
