package githubapi

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Publisher = (*Publisher)(nil)

// Publisher sets commit statuses through the REST API
// (POST /repos/{owner}/{repo}/statuses/{sha}), or only logs them in a dry
// run. It is safe for concurrent use.
type Publisher struct {
	c   *Client // nil in a dry run
	log *slog.Logger

	mu    sync.Mutex
	login string // the creator GitHub named in the last 201 answer

	// posted counts the statuses posted per commit and context, against
	// Budget.MaxStatusesPerContext.
	posted *postCounts
}

// NewPublisher returns a Publisher that posts statuses through c.
func NewPublisher(c *Client) *Publisher {
	return &Publisher{c: c, log: c.log, posted: newPostCounts(c.budget.MaxStatusesPerContext)}
}

// NewDryRun returns a Publisher that logs each status at info level (repo,
// pr, sha, context, state, description, target_url) and posts nothing. It
// is what runs without GitHub credentials. A nil logger uses slog.Default().
func NewDryRun(logger *slog.Logger) *Publisher {
	if logger == nil {
		logger = slog.Default()
	}
	return &Publisher{log: logger}
}

// DryRun reports whether statuses are only logged.
func (p *Publisher) DryRun() bool { return p.c == nil }

// Login returns the login GitHub named as the creator of the last status
// posted (the creator.login of POST …/statuses/{sha}'s answer: the token's
// user, or an app's bot user), "" in a dry run. Before the first post it
// is a GitHub App's bot login ("<slug>[bot]") once Client.AppLogin has
// read it, else "".
func (p *Publisher) Login() string {
	p.mu.Lock()
	login := p.login
	p.mu.Unlock()
	if login == "" {
		login = p.c.knownAppLogin()
	}
	return login
}

// Publish sets the commit status st on sha of key's repository. It refuses,
// with an error wrapping gatekeeper.ErrInvalid and without calling GitHub,
// a status GitHub would reject: an invalid key or state, an empty sha or
// context, or a description over gatekeeper.MaxDescription characters. A
// 422 from GitHub also wraps ErrInvalid. Transient failures and rate limits
// are retried within the Client's Retry bounds; an error means the status
// was not sent. A dry run validates the same way, then only logs.
func (p *Publisher) Publish(ctx context.Context, key gatekeeper.PullKey, sha string, st gatekeeper.Status) error {
	if err := validate(key, sha, st); err != nil {
		return fmt.Errorf("setting status on %s at %s: %w", key, shortSHA(sha), err)
	}
	attrs := []slog.Attr{
		slog.String("repo", key.Owner+"/"+key.Repo),
		slog.Int("pr", key.Number),
		slog.String("sha", sha),
		slog.String("context", st.Context),
		slog.String("state", string(st.State)),
		slog.String("description", st.Description),
		slog.String("target_url", st.TargetURL),
	}
	if p.DryRun() {
		p.log.LogAttrs(ctx, slog.LevelInfo, "commit status not posted (dry run)", attrs...)
		return nil
	}
	status := &github.RepoStatus{
		State:       github.String(string(st.State)),
		Description: github.String(st.Description),
		Context:     github.String(st.Context),
	}
	// An empty target_url is left out rather than sent as "", which
	// GitHub would store as a link to nowhere.
	if st.TargetURL != "" {
		status.TargetURL = github.String(st.TargetURL)
	}
	// GitHub keeps 1,000 statuses per commit and context and refuses
	// more; well before that, refuse and say so loudly.
	countKey := key.Owner + "/" + key.Repo + "\x00" + sha + "\x00" + st.Context
	if n, ok := p.posted.reserve(countKey); !ok {
		p.log.LogAttrs(ctx, slog.LevelError, "commit status refused: too many posted on this commit and context",
			append(attrs, slog.Int("posted", n), slog.Int("max", p.c.budget.MaxStatusesPerContext))...)
		return fmt.Errorf("setting status %q on %s at %s: %w (%d posted, at most %d)",
			st.Context, key, shortSHA(sha), ErrStatusCap, n, p.c.budget.MaxStatusesPerContext)
	}
	var created *github.RepoStatus
	err := p.c.do(ctx, EndpointCreateStatus, waitForLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		created, resp, err = gh.Repositories.CreateStatus(ctx, key.Owner, key.Repo, sha, status)
		return resp, err
	})
	if err != nil {
		p.posted.release(countKey)
		return fmt.Errorf("setting status %q on %s at %s: %w", st.Context, key, shortSHA(sha), err)
	}
	if login := created.GetCreator().GetLogin(); login != "" {
		p.mu.Lock()
		p.login = login
		p.mu.Unlock()
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "commit status posted", attrs...)
	return nil
}

// validate refuses what GitHub would refuse with a 422, and an empty
// context, which GitHub would post as "default" where no required check
// looks.
func validate(key gatekeeper.PullKey, sha string, st gatekeeper.Status) error {
	switch {
	case !key.Valid():
		return fmt.Errorf("%w pull request key %+v", gatekeeper.ErrInvalid, key)
	case sha == "":
		return fmt.Errorf("%w: empty sha", gatekeeper.ErrInvalid)
	case !st.State.Valid():
		return fmt.Errorf("%w state %q: want pending, success, failure or error", gatekeeper.ErrInvalid, st.State)
	case st.Context == "":
		return fmt.Errorf("%w: empty status context", gatekeeper.ErrInvalid)
	case utf8.RuneCountInString(st.Description) > gatekeeper.MaxDescription:
		return fmt.Errorf("%w description: %d characters, GitHub allows %d",
			gatekeeper.ErrInvalid, utf8.RuneCountInString(st.Description), gatekeeper.MaxDescription)
	}
	return nil
}

// shortSHA abbreviates a sha for error messages.
func shortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

var _ gatekeeper.StatusChecker = (*Publisher)(nil)

// Newest implements gatekeeper.StatusChecker: the newest status in
// context on sha (GET /repos/{o}/{r}/commits/{sha}/statuses, newest
// first, up to 100 statuses looked at) and its creator's login. The
// gatekeeper asks only after a post whose outcome it never recorded, so
// that a status that landed is not posted twice. A dry run has none.
func (p *Publisher) Newest(ctx context.Context, key gatekeeper.PullKey, sha, context string) (gatekeeper.Status, string, bool, error) {
	if p.DryRun() {
		return gatekeeper.Status{}, "", false, nil
	}
	var list []*github.RepoStatus
	err := p.c.do(ctx, EndpointListStatuses, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		list, resp, err = gh.Repositories.ListStatuses(ctx, key.Owner, key.Repo, sha, &github.ListOptions{PerPage: 100})
		return resp, err
	})
	if err != nil {
		return gatekeeper.Status{}, "", false, fmt.Errorf("reading the statuses of %s at %s: %w", key, shortSHA(sha), err)
	}
	for _, st := range list {
		if st.GetContext() != context {
			continue
		}
		return gatekeeper.Status{Context: context, State: gatekeeper.State(st.GetState()), Description: st.GetDescription(),
			TargetURL: st.GetTargetURL()}, st.GetCreator().GetLogin(), true, nil
	}
	return gatekeeper.Status{}, "", false, nil
}
