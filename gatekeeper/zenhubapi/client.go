package zenhubapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/httpretry"
)

// DefaultBaseURL is ZenHub's REST root, used when Options.BaseURL
// (ZENHUB_API_URL) is empty. ZenHub Enterprise uses https://HOST/api/.
const DefaultBaseURL = "https://api.zenhub.com/"

// EndpointGetIssue is the endpoint name passed to Options.Observe.
const EndpointGetIssue = "get_issue"

// Result codes passed to Options.Observe besides the HTTP status code.
const (
	// CodeError is a call that got no HTTP answer (network error, timeout).
	CodeError = "error"
	// CodeCanceled is a call abandoned because its context ended.
	CodeCanceled = "canceled"
)

// ErrRateLimited is wrapped by the error of a lookup that ZenHub's rate
// limit still refused after Retry.MaxAttempts.
var ErrRateLimited = errors.New("zenhub rate limit exceeded")

// maxBody bounds the response read: the issue document is a few hundred
// bytes, and a proxy's error page must not fill memory.
const maxBody = 1 << 20

// Retry bounds how a lookup is retried. Zero fields take the defaults named
// on each field.
type Retry struct {
	// MaxAttempts is the number of HTTP attempts per lookup (default 4).
	MaxAttempts int
	// BaseDelay is the first backoff after a 5xx or network error; each
	// further attempt doubles it, with jitter (default 1s).
	BaseDelay time.Duration
	// MaxDelay caps one backoff (default 30s).
	MaxDelay time.Duration
	// MaxRateLimitWait caps one wait for ZenHub's rate limit to reset
	// (default 65s: the limit is per minute).
	MaxRateLimitWait time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 4
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = time.Second
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 30 * time.Second
	}
	if r.MaxRateLimitWait <= 0 {
		r.MaxRateLimitWait = 65 * time.Second
	}
	return r
}

// client is the thin ZenHub REST client: base URL, token, retries.
type client struct {
	base    *url.URL
	token   string
	http    *http.Client
	log     *slog.Logger
	observe func(endpoint, code string)
	clock   gatekeeper.Clock
	sleep   func(context.Context, time.Duration) error
	retry   Retry
}

// issueDoc is the part of ZenHub's issue document the gatekeeper reads:
// {"estimate":{"value":8},"plus_ones":[…],"pipeline":{"name":"QA",…},
// "pipelines":[…],"is_epic":true}.
type issueDoc struct {
	Pipeline *struct {
		Name string `json:"name"`
	} `json:"pipeline"`
}

// issue looks issue number of repository repoID up. found is false for a
// 404; any other failure is an error.
func (c *client) issue(ctx context.Context, repoID int64, number int) (found bool, pipeline string, err error) {
	u := c.base.ResolveReference(&url.URL{Path: fmt.Sprintf("p1/repositories/%d/issues/%d", repoID, number)})
	p := httpretry.Policy{
		MaxAttempts: c.retry.MaxAttempts,
		Now:         c.clock.Now,
		Sleep:       c.sleep,
		Log:         c.log,
		Message:     "retrying zenhub call",
		Attrs:       []slog.Attr{slog.String("endpoint", EndpointGetIssue)},
	}
	err = p.Do(ctx, func(ctx context.Context, attempt int) httpretry.Verdict {
		status, header, body, err := c.get(ctx, u.String())
		code := CodeError
		switch {
		case err == nil:
			code = strconv.Itoa(status)
		case ctx.Err() != nil:
			code = CodeCanceled
		}
		c.observe(EndpointGetIssue, code)
		switch {
		case err != nil && ctx.Err() != nil:
			return httpretry.Fail(ctx.Err())
		case err != nil:
			return httpretry.Again(err, c.backoff(attempt))
		case status == http.StatusOK:
			var doc issueDoc
			if err := json.Unmarshal(body, &doc); err != nil {
				return httpretry.Fail(fmt.Errorf("decoding zenhub issue document: %w", err))
			}
			found = true
			if doc.Pipeline != nil {
				pipeline = doc.Pipeline.Name
			}
			return httpretry.Success()
		case status == http.StatusNotFound:
			return httpretry.Success()
		case status == http.StatusUnauthorized:
			return httpretry.Fail(fmt.Errorf("%w: zenhub rejected the token (401)", gatekeeper.ErrUnauthorized))
		case status == http.StatusForbidden:
			return httpretry.Again(fmt.Errorf("%w (403)", ErrRateLimited), c.rateLimitWait(header, attempt))
		case status >= 500:
			return httpretry.Again(fmt.Errorf("zenhub answered %d", status), c.backoff(attempt))
		default:
			return httpretry.Fail(fmt.Errorf("zenhub answered %d: %s", status, snippet(body)))
		}
	})
	if err != nil {
		return false, "", err
	}
	return found, pipeline, nil
}

// get makes one request and reads its (bounded) body.
func (c *client) get(ctx context.Context, u string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("X-Authentication-Token", c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "release-gatekeeper")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, body, nil
}

// rateLimitWait is the wait after a 403: until X-RateLimit-Reset by the
// response's own Date (ZenHub's advice against clock skew), else by our
// clock, capped; without a reset header, the backoff.
func (c *client) rateLimitWait(h http.Header, attempt int) time.Duration {
	now := c.clock.Now()
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		now = d
	}
	wait, ok := httpretry.ResetWait(h, now)
	if !ok {
		return c.backoff(attempt)
	}
	return min(wait, c.retry.MaxRateLimitWait)
}

// backoff is the wait before attempt+1 after a transient failure, with
// jitter.
func (c *client) backoff(attempt int) time.Duration {
	return httpretry.Backoff(c.retry.BaseDelay, c.retry.MaxDelay, attempt, true)
}

// snippet shortens an unexpected body for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
