package slackapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/httpretry"
)

// ErrRejected is wrapped by the error of a message Slack refused for good
// (a 4xx other than 429): the payload, the webhook or its channel is wrong,
// and sending it again would not help.
var ErrRejected = errors.New("slack rejected the message")

// Defaults for the zero fields of Options.
const (
	// DefaultTimeout bounds one HTTP attempt of the default client.
	DefaultTimeout = 10 * time.Second
	// DefaultMinInterval spaces posts: Slack allows about one message a
	// second per webhook.
	DefaultMinInterval = time.Second
	// DefaultMaxRetryAfter caps how long a 429 is waited out; Slack asking
	// for longer is an error, since the worker that notifies is waiting.
	DefaultMaxRetryAfter = 30 * time.Second
)

const (
	// maxAttempts is the number of HTTP attempts per message, 429s
	// included, so that a notification never holds a worker for long.
	maxAttempts = 3
	// baseDelay is the first backoff after a 5xx or network error; the
	// second is twice as long. No jitter: one process posts to a webhook.
	baseDelay = time.Second
	// maxBody bounds the answer read: Slack's is a word such as "ok" or
	// "channel_not_found", and a proxy's error page must not fill memory.
	maxBody = 4 << 10
)

// Options configure a Notifier. Only WebhookURL is required.
type Options struct {
	// WebhookURL is the incoming webhook (SLACK_WEBHOOK_URL),
	// https://hooks.slack.com/services/T…/B…/…. It must be https, except
	// http://127.0.0.1 for tests. It is a secret: only its host is logged.
	WebhookURL string
	// HTTPClient carries timeouts and transport settings (default: a
	// client with DefaultTimeout).
	HTTPClient *http.Client
	// Logger receives retries and posts (default: discarded).
	Logger *slog.Logger
	// Clock spaces posts (default: system).
	Clock gatekeeper.Clock
	// Sleep waits d or until ctx ends, returning ctx.Err() then (default:
	// a timer). Tests pass one that only advances their Clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// MinInterval is the least time between two posts (default
	// DefaultMinInterval).
	MinInterval time.Duration
	// MaxRetryAfter caps one wait for a 429 (default DefaultMaxRetryAfter).
	MaxRetryAfter time.Duration
}

// Notifier posts gate changes to a Slack incoming webhook. It is safe for
// concurrent use: posts go one at a time, MinInterval apart, so a caller
// may wait behind another's post (or its retries) until its ctx ends.
type Notifier struct {
	url           string // the secret; used only to build requests
	host          string // what logs and errors show
	http          *http.Client
	log           *slog.Logger
	clock         gatekeeper.Clock
	sleep         func(context.Context, time.Duration) error
	minInterval   time.Duration
	maxRetryAfter time.Duration

	// turn is a one-slot semaphore serializing posts; unlike a mutex,
	// waiting for it ends with the caller's context.
	turn chan struct{}
	// last is when the previous attempt ended; guarded by turn.
	last time.Time
}

var _ gatekeeper.Notifier = (*Notifier)(nil)

// New returns a Notifier for opts.WebhookURL. An empty or malformed URL,
// or one that is not https (http://127.0.0.1 aside), is an error wrapping
// gatekeeper.ErrInvalid that does not repeat the URL.
func New(opts Options) (*Notifier, error) {
	host, err := checkWebhookURL(opts.WebhookURL)
	if err != nil {
		return nil, err
	}
	n := &Notifier{
		url: opts.WebhookURL, host: host, http: opts.HTTPClient, log: opts.Logger,
		clock: opts.Clock, sleep: opts.Sleep, minInterval: opts.MinInterval,
		maxRetryAfter: opts.MaxRetryAfter, turn: make(chan struct{}, 1),
	}
	if n.http == nil {
		n.http = &http.Client{Timeout: DefaultTimeout}
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.clock == nil {
		n.clock = gatekeeper.SystemClock{}
	}
	if n.sleep == nil {
		n.sleep = httpretry.SleepContext
	}
	if n.minInterval <= 0 {
		n.minInterval = DefaultMinInterval
	}
	if n.maxRetryAfter <= 0 {
		n.maxRetryAfter = DefaultMaxRetryAfter
	}
	return n, nil
}

// Host is the webhook's host, the part of its URL that may be shown.
func (n *Notifier) Host() string { return n.host }

// checkWebhookURL returns the host of a usable webhook URL. Its errors
// name the scheme and host at most, never the path that holds the token.
func checkWebhookURL(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("%w: the Slack webhook URL is empty", gatekeeper.ErrInvalid)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: the Slack webhook URL does not parse", gatekeeper.ErrInvalid)
	}
	switch {
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("%w: the Slack webhook URL has no host", gatekeeper.ErrInvalid)
	case u.User != nil:
		return "", fmt.Errorf("%w: the Slack webhook URL for %s carries user information", gatekeeper.ErrInvalid, u.Hostname())
	case u.Scheme == "https":
		return u.Host, nil
	case u.Scheme == "http" && u.Hostname() == "127.0.0.1":
		return u.Host, nil // a test server on this machine: nothing crosses a network
	default:
		return "", fmt.Errorf("%w: the Slack webhook URL for %s is %q, not https", gatekeeper.ErrInvalid, u.Hostname(), u.Scheme)
	}
}

// Notify posts the change n describes. It returns nil once Slack answered
// 200, or an error after a refusal (wrapping ErrRejected), after the last
// attempt, or when ctx ended. The error never contains the webhook URL.
func (n *Notifier) Notify(ctx context.Context, note gatekeeper.Notification) error {
	body, err := json.Marshal(buildMessage(note))
	if err != nil {
		return fmt.Errorf("encoding slack message for %s: %w", note.Key, err)
	}
	select {
	case n.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting to post to slack for %s: %w", note.Key, ctx.Err())
	}
	defer func() { <-n.turn }()
	if err := n.post(ctx, note, body); err != nil {
		return fmt.Errorf("posting to slack (%s) for %s: %w", n.host, note.Key, err)
	}
	return nil
}

// post sends body, retrying as the package doc says. The caller holds turn.
func (n *Notifier) post(ctx context.Context, note gatekeeper.Notification, body []byte) error {
	p := httpretry.Policy{
		MaxAttempts: maxAttempts,
		Now:         n.clock.Now,
		Sleep:       n.sleep,
		Log:         n.log,
		Message:     "retrying slack post",
		Attrs:       []slog.Attr{slog.String("host", n.host), slog.String("pr", note.Key.String())},
	}
	return p.Do(ctx, func(ctx context.Context, attempt int) httpretry.Verdict {
		if wait := n.last.Add(n.minInterval).Sub(n.clock.Now()); !n.last.IsZero() && wait > 0 {
			if err := n.sleep(ctx, wait); err != nil {
				return httpretry.Fail(err)
			}
		}
		if err := ctx.Err(); err != nil {
			return httpretry.Fail(err)
		}
		status, header, answer, err := n.send(ctx, body)
		n.last = n.clock.Now()
		switch {
		case err != nil && ctx.Err() != nil:
			return httpretry.Fail(ctx.Err())
		case err != nil:
			return httpretry.Again(err, backoff(attempt))
		case status == http.StatusOK:
			n.log.LogAttrs(ctx, slog.LevelDebug, "posted to slack", slog.String("host", n.host),
				slog.String("pr", note.Key.String()), slog.String("state", string(note.To)), slog.Int("attempt", attempt))
			return httpretry.Success()
		case status == http.StatusTooManyRequests:
			wait := retryAfter(header, n.clock.Now())
			err = fmt.Errorf("slack answered 429, retry after %s", wait)
			if wait > n.maxRetryAfter {
				return httpretry.Fail(fmt.Errorf("%w, longer than the %s this notifier waits", err, n.maxRetryAfter))
			}
			return httpretry.Again(err, wait)
		case status >= 500:
			return httpretry.Again(fmt.Errorf("slack answered %d %s", status, answer), backoff(attempt))
		default:
			return httpretry.Fail(fmt.Errorf("%w: %d %s", ErrRejected, status, answer))
		}
	})
}

// send makes one POST and reads Slack's (bounded, plain-text) answer. A
// transport error is stripped of the URL net/http wraps it in.
func (n *Notifier) send(ctx context.Context, body []byte) (int, http.Header, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, "", redact(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "release-gatekeeper")
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, nil, "", redact(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, "", redact(err)
	}
	return resp.StatusCode, resp.Header, reason(b), nil
}

// redact drops the *url.Error wrapper (`Post "https://hooks…/secret": …`)
// that net/http puts around transport errors, keeping what went wrong.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s request: %w", ue.Op, ue.Err)
	}
	return err
}

// reason makes Slack's answer fit a log line: its first line, printable,
// at most 100 bytes. Slack answers a single word; a proxy may not.
func reason(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 100 {
		s = strings.ToValidUTF8(s[:100], "") + "…"
	}
	if s == "" {
		return "(no reason given)"
	}
	return s
}

// retryAfter reads Retry-After, in seconds or as an HTTP date; a missing or
// unreadable one means one second, Slack's posting pace.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if d, ok := httpretry.RetryAfter(h, now); ok {
		return d
	}
	return time.Second
}

// backoff is the wait before attempt+1 after a 5xx or network error.
func backoff(attempt int) time.Duration {
	return httpretry.Backoff(baseDelay, baseDelay<<10, attempt, false)
}
