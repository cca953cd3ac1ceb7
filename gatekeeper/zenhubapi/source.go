package zenhubapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/httpretry"
)

var _ gatekeeper.Source = (*Source)(nil)

// SourceName is the Source's Name, the key of its entry in
// Evidence.Sources and in the policy input.
const SourceName = "zenhub"

// EventIssueCheck is the name of the events Gather returns.
const EventIssueCheck = "zenhub.issue"

// Defaults of Options.
const (
	// DefaultTTL is how long a lookup stands. Issues rarely leave ZenHub;
	// the pipeline is informative, and a quarter of an hour is fresh
	// enough for it.
	DefaultTTL = 15 * time.Minute
	// DefaultMaxCalls is half of ZenHub's per-minute limit, leaving the
	// rest to whoever else uses the token.
	DefaultMaxCalls = 50
)

// RepoIDFunc returns GitHub's numeric id of owner/repo; an error wrapping
// gatekeeper.ErrNotFound means there is no such repository (or the token
// cannot see it). githubapi's (*Client).RepoID is one.
type RepoIDFunc func(ctx context.Context, owner, repo string) (int64, error)

// Options configure a Source. Token is required.
type Options struct {
	// BaseURL is ZenHub's REST root (ZENHUB_API_URL): DefaultBaseURL when
	// empty, https://HOST/api/ for ZenHub Enterprise. A missing trailing
	// slash is added.
	BaseURL string
	// Token (ZENHUB_TOKEN) is sent as X-Authentication-Token.
	Token string
	// HTTPClient carries timeouts and transport settings; the default has
	// a 30s overall timeout.
	HTTPClient *http.Client
	// RepoID resolves the repository of an issue outside the pull
	// request's own repository. Nil: such a link is an error.
	RepoID RepoIDFunc
	// TTL is how long a lookup stands (default DefaultTTL).
	TTL time.Duration
	// MaxCalls bounds the ZenHub lookups of one Gather (default
	// DefaultMaxCalls); see Source for what happens past it.
	MaxCalls int
	// Logger receives retries and deferred lookups (default: discarded).
	Logger *slog.Logger
	// Observe, when set, is called once per HTTP attempt with
	// EndpointGetIssue and the HTTP status code, CodeError or CodeCanceled.
	// It must be safe for concurrent use and fast.
	Observe func(endpoint, code string)
	// Clock stamps lookups and measures TTLs (default: system).
	Clock gatekeeper.Clock
	// Sleep waits d or until ctx ends, returning ctx.Err() then (default:
	// a timer). Tests pass one that only advances their Clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Retry bounds retries; zero fields take defaults.
	Retry Retry
}

// Source verifies in ZenHub every issue that the pull request (its body and
// head branch, gatekeeper.ParseIssueLinks) and the pull requests merged into
// it (Evidence.MergedPulls) link to. It is safe for concurrent use.
//
// A link looked up less than TTL ago (Evidence.IssueChecks[ref].CheckedAt)
// is not looked up again. Never-looked-up links go first, in the order they
// appear (the pull request's own, then the merged pull requests'), then the
// expired ones, oldest first. One Gather makes at most MaxCalls lookups;
// the rest wait for the next Gather (the next event or the Service's
// reconcile pass), and the policy sees a never-looked-up link as not yet
// verified, which waits, never passes.
//
// A repository RepoID reports as not found gives Found false without asking
// ZenHub: an issue in a repository that GitHub does not show cannot be
// verified. When a lookup fails, Gather returns the checks it made, which
// are facts, together with the error.
type Source struct {
	c        *client
	repoID   RepoIDFunc
	ttl      time.Duration
	maxCalls int
}

// New returns a Source for opts. It returns an error wrapping
// gatekeeper.ErrInvalid when BaseURL is not an absolute http(s) URL or
// Token is empty.
func New(opts Options) (*Source, error) {
	raw := opts.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("parsing ZenHub API URL %q: %w: want an absolute http(s) URL", raw, gatekeeper.ErrInvalid)
	}
	// "p1/…" resolves against the base, which must end in a slash to
	// keep its last element ("/api" → "/api/p1/…").
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	if opts.Token == "" {
		return nil, fmt.Errorf("configuring ZenHub: %w: empty token", gatekeeper.ErrInvalid)
	}
	c := &client{
		base:    base,
		token:   opts.Token,
		http:    opts.HTTPClient,
		log:     opts.Logger,
		observe: opts.Observe,
		clock:   opts.Clock,
		sleep:   opts.Sleep,
		retry:   opts.Retry.withDefaults(),
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.observe == nil {
		c.observe = func(string, string) {}
	}
	if c.clock == nil {
		c.clock = gatekeeper.SystemClock{}
	}
	if c.sleep == nil {
		c.sleep = httpretry.SleepContext
	}
	s := &Source{c: c, repoID: opts.RepoID, ttl: opts.TTL, maxCalls: opts.MaxCalls}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.maxCalls <= 0 {
		s.maxCalls = DefaultMaxCalls
	}
	return s, nil
}

// Name returns SourceName.
func (s *Source) Name() string { return SourceName }

// lookup is one link due for a lookup.
type lookup struct {
	ref     gatekeeper.IssueRef
	order   int
	checked time.Time // zero when never looked up
}

// Gather returns one EventIssueCheck event per link it looked up (see
// Source).
func (s *Source) Gather(ctx context.Context, ev *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	if ev == nil {
		return nil, fmt.Errorf("gathering zenhub evidence: %w: nil evidence", gatekeeper.ErrInvalid)
	}
	key := ev.Key
	if !key.Valid() && ev.PR != nil {
		key = ev.PR.Key
	}
	if !key.Valid() {
		return nil, fmt.Errorf("gathering zenhub evidence: %w pull request key %+v", gatekeeper.ErrInvalid, key)
	}
	now := s.c.clock.Now()
	due := s.due(ev, key, now)
	if len(due) > s.maxCalls {
		s.c.log.LogAttrs(ctx, slog.LevelWarn, "zenhub lookups deferred to the next gather",
			slog.String("pr", key.String()), slog.Int("due", len(due)), slog.Int("max_calls", s.maxCalls))
		due = due[:s.maxCalls]
	}

	ids := map[string]int64{} // this Gather's repository ids
	var events []gatekeeper.Event
	for _, l := range due {
		check, err := s.check(ctx, ev, key, l.ref, ids)
		if err != nil {
			return events, fmt.Errorf("looking up %s in zenhub: %w", l.ref, err)
		}
		check.CheckedAt = now
		events = append(events, gatekeeper.Event{Name: EventIssueCheck, Received: now, Key: key, IssueCheck: &check})
	}
	return events, nil
}

// due lists the links to look up, in budget order.
func (s *Source) due(ev *gatekeeper.Evidence, key gatekeeper.PullKey, now time.Time) []lookup {
	var refs []gatekeeper.IssueRef
	if ev.PR != nil {
		refs = gatekeeper.ParseIssueLinks(ev.PR.Body, ev.PR.HeadRef, key.Owner, key.Repo)
	}
	for _, p := range ev.MergedPulls {
		refs = append(refs, p.Links...)
	}
	seen := map[string]bool{}
	var out []lookup
	for i, ref := range refs {
		name := ref.String()
		if seen[name] || ref.Number <= 0 || ref.Owner == "" || ref.Repo == "" {
			continue
		}
		seen[name] = true
		c, ok := ev.IssueChecks[name]
		if ok && now.Sub(c.CheckedAt) < s.ttl {
			continue
		}
		l := lookup{ref: ref, order: i}
		if ok {
			l.checked = c.CheckedAt
		}
		out = append(out, l)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.checked.IsZero() != b.checked.IsZero() {
			return a.checked.IsZero()
		}
		if !a.checked.Equal(b.checked) {
			return a.checked.Before(b.checked)
		}
		return a.order < b.order
	})
	return out
}

// check looks ref up: its repository's id, then the issue.
func (s *Source) check(ctx context.Context, ev *gatekeeper.Evidence, key gatekeeper.PullKey, ref gatekeeper.IssueRef, ids map[string]int64) (gatekeeper.IssueCheck, error) {
	id, err := s.repositoryID(ctx, ev, key, ref, ids)
	if errors.Is(err, gatekeeper.ErrNotFound) {
		return gatekeeper.IssueCheck{Ref: ref, Found: false}, nil
	}
	if err != nil {
		return gatekeeper.IssueCheck{}, err
	}
	found, pipeline, err := s.c.issue(ctx, id, ref.Number)
	if err != nil {
		return gatekeeper.IssueCheck{}, err
	}
	return gatekeeper.IssueCheck{Ref: ref, Found: found, Pipeline: pipeline}, nil
}

// repositoryID returns the GitHub id of ref's repository: the snapshot's
// for the pull request's own repository, else RepoID's, asked once per
// repository and Gather (a not-found answer included).
func (s *Source) repositoryID(ctx context.Context, ev *gatekeeper.Evidence, key gatekeeper.PullKey, ref gatekeeper.IssueRef, ids map[string]int64) (int64, error) {
	if ev.PR != nil && ev.PR.RepoID != 0 && strings.EqualFold(ref.Owner, key.Owner) && strings.EqualFold(ref.Repo, key.Repo) {
		return ev.PR.RepoID, nil
	}
	name := strings.ToLower(ref.Owner + "/" + ref.Repo)
	if id, ok := ids[name]; ok {
		if id == 0 {
			return 0, fmt.Errorf("repository %s/%s: %w", ref.Owner, ref.Repo, gatekeeper.ErrNotFound)
		}
		return id, nil
	}
	if s.repoID == nil {
		return 0, fmt.Errorf("no way to look up the GitHub id of repository %s/%s", ref.Owner, ref.Repo)
	}
	id, err := s.repoID(ctx, ref.Owner, ref.Repo)
	if errors.Is(err, gatekeeper.ErrNotFound) {
		ids[name] = 0 // not found, for the rest of this Gather
	}
	if err != nil {
		return 0, err
	}
	ids[name] = id
	return id, nil
}
