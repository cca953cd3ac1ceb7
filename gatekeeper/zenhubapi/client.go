package zenhubapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
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

// resetMargin is added to a rate-limit reset: X-RateLimit-Reset has whole
// seconds, and arriving a moment early would cost one more refusal.
const resetMargin = time.Second

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
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return false, "", err
		}
		status, header, body, err := c.get(ctx, u.String())
		code := CodeError
		switch {
		case err == nil:
			code = strconv.Itoa(status)
		case ctx.Err() != nil:
			code = CodeCanceled
		}
		c.observe(EndpointGetIssue, code)
		if err != nil && ctx.Err() != nil {
			return false, "", ctx.Err()
		}

		var wait time.Duration
		switch {
		case err != nil:
			wait = c.backoff(attempt)
		case status == http.StatusOK:
			var doc issueDoc
			if err := json.Unmarshal(body, &doc); err != nil {
				return false, "", fmt.Errorf("decoding zenhub issue document: %w", err)
			}
			if doc.Pipeline != nil {
				pipeline = doc.Pipeline.Name
			}
			return true, pipeline, nil
		case status == http.StatusNotFound:
			return false, "", nil
		case status == http.StatusUnauthorized:
			return false, "", fmt.Errorf("%w: zenhub rejected the token (401)", gatekeeper.ErrUnauthorized)
		case status == http.StatusForbidden:
			err = fmt.Errorf("%w (403)", ErrRateLimited)
			wait = c.rateLimitWait(header, attempt)
		case status >= 500:
			err = fmt.Errorf("zenhub answered %d", status)
			wait = c.backoff(attempt)
		default:
			return false, "", fmt.Errorf("zenhub answered %d: %s", status, snippet(body))
		}

		if attempt >= c.retry.MaxAttempts {
			return false, "", fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "retrying zenhub call",
			slog.String("endpoint", EndpointGetIssue), slog.Int("attempt", attempt),
			slog.Duration("wait", wait), slog.String("error", err.Error()))
		if err := c.sleep(ctx, wait); err != nil {
			return false, "", err
		}
	}
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
	reset, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
	if err != nil || reset <= 0 {
		return c.backoff(attempt)
	}
	now := c.clock.Now()
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		now = d
	}
	wait := max(time.Unix(reset, 0).Sub(now), 0) + resetMargin
	return min(wait, c.retry.MaxRateLimitWait)
}

// backoff is the wait before attempt+1 after a transient failure: the
// doubled base delay, capped, half fixed and half random.
func (c *client) backoff(attempt int) time.Duration {
	d := c.retry.BaseDelay << min(attempt-1, 30)
	if d <= 0 || d > c.retry.MaxDelay {
		d = c.retry.MaxDelay
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// snippet shortens an unexpected body for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// sleepContext waits d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
