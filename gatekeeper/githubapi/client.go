package githubapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/httpretry"
)

// DefaultBaseURL is the REST base of github.com, used when Options.BaseURL
// (GITHUB_API_URL) is empty.
const DefaultBaseURL = "https://api.github.com/"

// Endpoint names passed to Options.Observe, one per GitHub REST call this
// package makes. They are stable: dashboards and alerts key on them.
const (
	EndpointCreateStatus      = "create_status"
	EndpointGetPull           = "get_pull"
	EndpointListReviews       = "list_reviews"
	EndpointListComments      = "list_comments"
	EndpointGetTeamMembership = "get_team_membership" // no longer called: kept, at zero, for dashboards
	EndpointListTeamMembers   = "list_team_members"   // a team's member list (TeamSource)
	EndpointCompareCommits    = "compare_commits"
	EndpointListPulls         = "list_pulls"
	EndpointGetComment        = "get_comment"
	EndpointCreateReaction    = "create_reaction"
	EndpointCreateComment     = "create_comment"
	EndpointGetRepo           = "get_repo"
	EndpointGetCombinedStatus = "get_combined_status"
	EndpointListStatuses      = "list_statuses"
	EndpointListCheckRuns     = "list_check_runs"
	EndpointGetBranch         = "get_branch"
	// EndpointListPullsForCommit finds the pull requests of a commit.
	EndpointListPullsForCommit = "list_pulls_for_commit"
)

// Endpoints lists every endpoint name above, so that metrics can show
// each at zero before its first call.
func Endpoints() []string {
	return []string{
		EndpointCreateStatus, EndpointGetPull, EndpointListReviews, EndpointListComments,
		EndpointGetTeamMembership, EndpointListTeamMembers, EndpointCompareCommits, EndpointListPulls, EndpointGetComment,
		EndpointCreateReaction, EndpointCreateComment, EndpointGetRepo, EndpointGetCombinedStatus,
		EndpointListStatuses, EndpointListCheckRuns, EndpointGetBranch, EndpointListPullsForCommit,
		EndpointGetApp, EndpointGetInstallation, EndpointCreateInstallationToken, // app.go
		EndpointGetReview,                                         // claims.go
		EndpointListHookDeliveries, EndpointRedeliverHookDelivery, // deliveries.go
		EndpointCreateCheckRun, EndpointUpdateCheckRun, // checklist.go
	}
}

// Result codes passed to Options.Observe besides the HTTP status code.
const (
	// CodeError is a call that got no HTTP answer (network error, timeout).
	CodeError = "error"
	// CodeCanceled is a call abandoned because its context ended.
	CodeCanceled = "canceled"
)

// ErrRateLimited is wrapped by errors returned when GitHub's rate limit
// (primary or secondary) stopped a call and the wait it asked for was not
// taken: the Source never waits, the Publisher gives up once Retry.MaxElapsed
// would be passed.
var ErrRateLimited = errors.New("github rate limit exceeded")

// Retry bounds how a call is retried. Zero fields take the defaults named on
// each field.
type Retry struct {
	// MaxAttempts is the number of HTTP attempts per call (default 5).
	MaxAttempts int
	// MaxElapsed bounds the time spent on one call, waits included,
	// measured on the Clock (default 2m). A wait that would pass it is not
	// taken; the call fails instead.
	MaxElapsed time.Duration
	// BaseDelay is the first backoff after a 5xx or network error; each
	// further attempt doubles it, with jitter (default 1s).
	BaseDelay time.Duration
	// MaxDelay caps one backoff (default 30s).
	MaxDelay time.Duration
	// MaxRateLimitWait caps one wait for a rate limit to reset (default
	// 1m). When the reset is further away the call retries after the cap
	// anyway, because GitHub's reset time and ours may disagree.
	MaxRateLimitWait time.Duration
	// SecondaryWait is the wait after a secondary rate limit (or a 429)
	// that names no Retry-After or reset; it doubles with each consecutive
	// hit. GitHub asks for at least a minute (default 60s); tests scale it
	// down.
	SecondaryWait time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 5
	}
	if r.MaxElapsed <= 0 {
		r.MaxElapsed = 2 * time.Minute
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = time.Second
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 30 * time.Second
	}
	if r.MaxRateLimitWait <= 0 {
		r.MaxRateLimitWait = time.Minute
	}
	if r.SecondaryWait <= 0 {
		r.SecondaryWait = 60 * time.Second
	}
	return r
}

// Options configure a Client. Only BaseURL is checked; every other zero
// field takes a default.
type Options struct {
	// BaseURL is the REST base (GITHUB_API_URL): https://api.github.com/
	// when empty, https://HOST/api/v3/ for GitHub Enterprise Server. A
	// missing trailing slash is added.
	BaseURL string
	// Token (GITHUB_TOKEN) is sent as "Authorization: Bearer"; empty means
	// unauthenticated calls (60 an hour: enough for tests, not for use).
	Token string
	// App, when set, authenticates as a GitHub App instead of Token (set
	// at most one): every call about a repository or organisation goes
	// with the token of the installation that holds it; see app.go.
	App *App
	// HTTPClient carries timeouts and transport settings; the default has
	// a 30s overall timeout. It is copied, never changed.
	HTTPClient *http.Client
	// Logger receives retries and dry-run statuses (default: discarded).
	Logger *slog.Logger
	// Observe, when set, is called once per HTTP attempt with the endpoint
	// (EndpointCreateStatus, …) and the result: the HTTP status code
	// ("201", "422"), CodeError or CodeCanceled. cmd wires it to a
	// Prometheus counter; it must be safe for concurrent use and fast.
	Observe func(endpoint, code string)
	// Clock measures elapsed time and rate-limit resets (default: system).
	Clock gatekeeper.Clock
	// Sleep waits d or until ctx ends, returning ctx.Err() then (default:
	// a timer). Tests pass one that only advances their Clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Retry bounds retries; zero fields take defaults.
	Retry Retry
	// Budget configures conditional requests, write pacing and the cap
	// on statuses per commit; zero fields take defaults (see budget.go).
	Budget Budget
	// Remaining, when set, is called with GitHub's X-RateLimit-Remaining
	// and X-RateLimit-Resource ("core", …) of each answer. cmd wires it to
	// a Prometheus gauge; it must be safe for concurrent use and fast.
	Remaining func(resource string, remaining int)
}

// Client is the shared GitHub access of the Publisher and the Source: base
// URL, authentication, retries and the rate-limit memory. It is safe for
// concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client // carries the Authorization header
	log     *slog.Logger
	observe func(endpoint, code string)
	clock   gatekeeper.Clock
	sleep   func(context.Context, time.Duration) error
	retry   Retry
	budget  Budget

	mu sync.Mutex
	// blockedUntil is when the last rate limit GitHub reported ends; calls
	// before then do not contact GitHub before waiting (or failing). A
	// GitHub App keeps one per installation in blockedInst instead, as
	// GitHub counts each installation's calls apart.
	blockedUntil time.Time
	blockedInst  map[int64]time.Time
	// secondaryHits counts consecutive secondary limits without a
	// Retry-After, for the doubling of SecondaryWait.
	secondaryHits int

	// repoIDs caches RepoID answers; see repoid.go.
	idsMu   sync.Mutex
	repoIDs map[string]int64

	// app is the transport of a GitHub App, nil with a token; appLogin
	// is its bot login once AppLogin has read it. See app.go.
	app      *installations
	appFetch sync.Mutex
	appMu    sync.Mutex
	appLogin string
}

// New returns a Client for opts. It returns an error wrapping
// gatekeeper.ErrInvalid when BaseURL is not an absolute http(s) URL.
func New(opts Options) (*Client, error) {
	raw := opts.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("parsing GitHub API URL %q: %w: want an absolute http(s) URL", raw, gatekeeper.ErrInvalid)
	}
	// go-github resolves "repos/…" against BaseURL, so a base without the
	// trailing slash would drop its last path element ("/api/v3" → "/api/").
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Clock == nil {
		opts.Clock = gatekeeper.SystemClock{}
	}
	if opts.Sleep == nil {
		opts.Sleep = httpretry.SleepContext
	}
	// The budget transport goes under the authentication (the token's or
	// an installation's), so that it sees each request's credential (see
	// budgetTransport).
	budgeted := *hc
	budgeted.Transport = newBudgetTransport(hc.Transport, opts.Budget, opts.Clock, opts.Sleep, opts.Remaining)
	hc = &budgeted
	c := &Client{
		base:    base,
		log:     opts.Logger,
		observe: opts.Observe,
		clock:   opts.Clock,
		sleep:   opts.Sleep,
		retry:   opts.Retry.withDefaults(),
		budget:  opts.Budget.withDefaults(),
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
	switch {
	case opts.App != nil && opts.Token != "":
		return nil, fmt.Errorf("%w github credentials: a token and a GitHub App; set one", gatekeeper.ErrInvalid)
	case opts.App != nil:
		next := hc.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		in, err := newInstallations(*opts.App, base, next, c.clock, c.observe)
		if err != nil {
			return nil, err
		}
		appHTTP := *hc
		appHTTP.Transport = in
		c.app, c.http = in, &appHTTP
	default:
		authed := github.NewClient(hc)
		if opts.Token != "" {
			authed = authed.WithAuthToken(opts.Token)
		}
		c.http = authed.Client()
	}
	return c, nil
}

// BaseURL returns the REST base the client calls, with its trailing slash.
func (c *Client) BaseURL() string { return c.base.String() }

// github returns a fresh go-github client, so that no rate-limit memory of
// go-github's own (kept on the wall clock) survives between attempts; see
// the package documentation.
func (c *Client) github() *github.Client {
	return c.githubAs(nil, true)
}

// githubAs is github for one attempt of do. For a GitHub App, its requests
// record in *inst the installation they went as, and a request to an
// installation whose rate limit holds is not sent (a *limitHeld error)
// unless pass.
func (c *Client) githubAs(inst *int64, pass bool) *github.Client {
	hc := c.http
	if c.app != nil && inst != nil {
		scoped := *c.http
		scoped.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return c.app.roundTrip(req, func(id int64) error {
				*inst = id
				if until := c.limitedUntil(id); !pass && c.clock.Now().Before(until) {
					return &limitHeld{until: until}
				}
				return nil
			})
		})
		hc = &scoped
	}
	gh := github.NewClient(hc)
	u := *c.base
	gh.BaseURL = &u
	return gh
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// limitHeld is the error of a request not sent because its installation's
// rate limit holds until then.
type limitHeld struct{ until time.Time }

func (e *limitHeld) Error() string {
	return "github rate limit of this installation holds until " + e.until.UTC().Format(time.RFC3339)
}

// callMode says how a call treats rate limits.
type callMode int

const (
	// waitForLimits waits rate limits out (the Publisher).
	waitForLimits callMode = iota
	// failOnLimits returns ErrRateLimited at once (the Source).
	failOnLimits
)

// do runs call until it succeeds, fails for good, or the Retry bounds are
// reached. call makes exactly one HTTP request through gh.
func (c *Client) do(ctx context.Context, endpoint string, mode callMode, call func(gh *github.Client) (*github.Response, error)) error {
	start := c.clock.Now()
	deadline := start.Add(c.retry.MaxElapsed)

	// A limit reported to an earlier call still holds: wait (or fail)
	// before contacting GitHub, as GitHub asks integrations to. A GitHub
	// App learns which installation's limit applies only from the request:
	// its transport stops a request to a limited installation (limitHeld)
	// and the wait happens below.
	if c.app == nil {
		if err := c.waitLimit(ctx, endpoint, mode, c.limitedUntil(0), deadline); err != nil {
			return err
		}
	}

	waited := false // a call waits out a held limit once, then asks GitHub
	p := httpretry.Policy{
		MaxAttempts: c.retry.MaxAttempts,
		MaxElapsed:  max(deadline.Sub(c.clock.Now()), 1),
		Now:         c.clock.Now,
		Sleep:       c.sleep,
		Log:         c.log,
		Message:     "retrying github call",
		Attrs:       []slog.Attr{slog.String("endpoint", endpoint)},
	}
	return p.Do(ctx, func(ctx context.Context, attempt int) httpretry.Verdict {
		var inst int64 // the installation the attempt went as; 0 for a token
		resp, err := call(c.githubAs(&inst, waited))
		var held *limitHeld
		if errors.As(err, &held) {
			// Not sent: wait the installation's limit out (or fail),
			// then send it once, which counts as this attempt.
			if err := c.waitLimit(ctx, endpoint, mode, held.until, deadline); err != nil {
				return httpretry.Fail(err)
			}
			waited = true
			inst = 0
			resp, err = call(c.githubAs(&inst, waited))
		}
		c.observe(endpoint, resultCode(ctx, resp, err))
		if err == nil {
			c.succeeded(inst)
			return httpretry.Success()
		}
		if ctx.Err() != nil {
			// The http.Client's own timeout also reports
			// context.DeadlineExceeded; only our ctx ending stops
			// retries.
			return httpretry.Fail(ctx.Err())
		}
		v := c.classify(err, attempt)
		if !v.retry {
			return httpretry.Fail(v.final(err))
		}
		if v.limited {
			c.block(inst, c.clock.Now().Add(v.wait))
			if mode == failOnLimits {
				return httpretry.Fail(fmt.Errorf("%w: %w", ErrRateLimited, err))
			}
			v.wait = min(v.wait, c.retry.MaxRateLimitWait)
		}
		return httpretry.Again(v.final(err), v.wait)
	})
}

// verdict is what classify decided about a failed attempt.
type verdict struct {
	retry   bool
	limited bool // a rate limit: wait is GitHub's, not a backoff
	wait    time.Duration
	invalid bool // GitHub refused the request as malformed (422)
}

// final is the error reported for err when it is not retried (again).
func (v verdict) final(err error) error {
	if v.invalid {
		var er *github.ErrorResponse
		errors.As(err, &er)
		return fmt.Errorf("%w: github said %s", gatekeeper.ErrInvalid, apiMessage(er))
	}
	if v.limited {
		return fmt.Errorf("%w: %w", ErrRateLimited, err)
	}
	return err
}

// classify decides whether a failed attempt is retried and after how long.
func (c *Client) classify(err error, attempt int) verdict {
	var (
		primary   *github.RateLimitError
		secondary *github.AbuseRateLimitError
		resp      *github.ErrorResponse
	)
	switch {
	case errors.As(err, &primary):
		if reset := primary.Rate.Reset.Time; !reset.IsZero() {
			return verdict{retry: true, limited: true, wait: c.untilReset(reset)}
		}
		return verdict{retry: true, limited: true, wait: c.secondaryWait()}
	case errors.As(err, &secondary):
		if ra := secondary.RetryAfter; ra != nil && *ra > 0 {
			return verdict{retry: true, limited: true, wait: *ra}
		}
		return verdict{retry: true, limited: true, wait: c.secondaryWait()}
	case errors.As(err, &resp) && resp.Response != nil:
		code := resp.Response.StatusCode
		h := resp.Response.Header
		switch {
		// go-github v60 reports a 429 as a plain ErrorResponse, and a 403
		// secondary limit whose documentation_url it does not recognise
		// likewise; both name their wait in headers.
		case code == http.StatusTooManyRequests || (code == http.StatusForbidden && h.Get("Retry-After") != ""):
			return verdict{retry: true, limited: true, wait: c.headerWait(h)}
		case code >= 500:
			return verdict{retry: true, wait: c.backoff(attempt)}
		case code == http.StatusUnprocessableEntity:
			return verdict{invalid: true}
		}
		return verdict{}
	case errors.Is(err, ErrNotInstalled) || errors.Is(err, ErrAppRefused):
		return verdict{} // asking again cannot help; see app.go
	case httpretry.Transient(err):
		return verdict{retry: true, wait: c.backoff(attempt)}
	}
	return verdict{}
}

// headerWait reads the wait a 429 (or an unrecognised 403 limit) asks for:
// Retry-After seconds, else the primary reset when nothing remains, else
// the secondary default.
func (c *Client) headerWait(h http.Header) time.Duration {
	if d, ok := httpretry.RetryAfter(h, c.clock.Now()); ok && d > 0 {
		return d
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && s > 0 {
			return c.untilReset(time.Unix(s, 0))
		}
	}
	return c.secondaryWait()
}

// resetMargin is added to a primary reset: X-RateLimit-Reset has whole
// seconds, and arriving a moment early would cost one more refusal.
const resetMargin = time.Second

func (c *Client) untilReset(reset time.Time) time.Duration {
	return max(reset.Sub(c.clock.Now()), 0) + resetMargin
}

// secondaryWait is SecondaryWait doubled for each consecutive secondary
// limit that named no wait, as GitHub's documentation asks.
func (c *Client) secondaryWait() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.retry.SecondaryWait << min(c.secondaryHits, 6)
	c.secondaryHits++
	return d
}

// succeeded forgets the rate limits of inst (0: the token): GitHub just
// answered, so whatever limit was recorded is over (a capped wait may end
// before the recorded reset, which came from GitHub's clock).
func (c *Client) succeeded(inst int64) {
	c.mu.Lock()
	c.secondaryHits = 0
	if inst == 0 {
		c.blockedUntil = time.Time{}
	} else {
		delete(c.blockedInst, inst)
	}
	c.mu.Unlock()
}

// waitLimit waits until a limit that holds ends, capped at
// Retry.MaxRateLimitWait, or fails: at once in failOnLimits mode, and when
// the wait would pass deadline.
func (c *Client) waitLimit(ctx context.Context, endpoint string, mode callMode, until, deadline time.Time) error {
	if !c.clock.Now().Before(until) {
		return nil
	}
	wait := until.Sub(c.clock.Now())
	if mode == failOnLimits {
		return fmt.Errorf("%w until %s", ErrRateLimited, until.UTC().Format(time.RFC3339))
	}
	wait = min(wait, c.retry.MaxRateLimitWait)
	if c.clock.Now().Add(wait).After(deadline) {
		return fmt.Errorf("%w until %s, beyond the %s retry limit", ErrRateLimited, until.UTC().Format(time.RFC3339), c.retry.MaxElapsed)
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "waiting for github rate limit",
		slog.String("endpoint", endpoint), slog.Duration("wait", wait))
	return c.sleep(ctx, wait)
}

// backoff is the wait before attempt+1 after a transient failure, with
// jitter so that replicas retrying together spread out.
func (c *Client) backoff(attempt int) time.Duration {
	return httpretry.Backoff(c.retry.BaseDelay, c.retry.MaxDelay, attempt, true)
}

// block records a rate limit of inst (0: the token) until then.
func (c *Client) block(inst int64, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if inst == 0 {
		if until.After(c.blockedUntil) {
			c.blockedUntil = until
		}
		return
	}
	if c.blockedInst == nil {
		c.blockedInst = map[int64]time.Time{}
	}
	if until.After(c.blockedInst[inst]) {
		c.blockedInst[inst] = until
	}
}

// limitedUntil is when the recorded rate limit of inst (0: the token)
// ends.
func (c *Client) limitedUntil(inst int64) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if inst == 0 {
		return c.blockedUntil
	}
	return c.blockedInst[inst]
}

// resultCode is the Observe result of one attempt.
func resultCode(ctx context.Context, resp *github.Response, err error) string {
	if resp != nil && resp.Response != nil && resp.Header.Get(CacheHeader) == Revalidated {
		return Code304
	}
	if resp != nil && resp.Response != nil {
		return strconv.Itoa(resp.StatusCode)
	}
	if err != nil && ctx.Err() != nil {
		return CodeCanceled
	}
	if err != nil {
		return CodeError
	}
	return "ok"
}

// apiMessage renders GitHub's error message and its per-field errors, e.g.
// "Validation Failed (Status.description: description is too long (maximum
// is 140 characters))".
func apiMessage(er *github.ErrorResponse) string {
	if er == nil {
		return "an unexplained error"
	}
	msg := er.Message
	if msg == "" && er.Response != nil {
		msg = er.Response.Status
	}
	var parts []string
	for _, e := range er.Errors {
		p := e.Message
		if p == "" {
			p = e.Code
		}
		if e.Field != "" {
			p = e.Resource + "." + e.Field + ": " + p
		}
		parts = append(parts, p)
	}
	if len(parts) > 0 {
		msg += " (" + strings.Join(parts, "; ") + ")"
	}
	return fmt.Sprintf("%d %s", statusCode(er), msg)
}

func statusCode(er *github.ErrorResponse) int {
	if er.Response == nil {
		return 0
	}
	return er.Response.StatusCode
}

// notFound reports whether err is GitHub's 404: for a team's member list
// "no such team or not visible to the token", for a repository or comment
// "gone or not visible to the token" (GitHub does not tell them apart).
func notFound(err error) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotFound
}
