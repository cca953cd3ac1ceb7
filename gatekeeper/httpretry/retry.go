package httpretry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Verdict is what an attempt callback decided about its one request.
type Verdict struct {
	// Done stops the loop: Do returns Err (nil on success).
	Done bool
	// Err is the attempt's failure; when not Done it is what Do reports
	// if no further attempt is made.
	Err error
	// Wait is the pause before the next attempt when not Done.
	Wait time.Duration
}

// Success is the Verdict of an attempt that worked.
func Success() Verdict { return Verdict{Done: true} }

// Fail is the Verdict of an attempt that failed for good.
func Fail(err error) Verdict { return Verdict{Done: true, Err: err} }

// Again is the Verdict of an attempt worth repeating after wait.
func Again(err error, wait time.Duration) Verdict { return Verdict{Err: err, Wait: wait} }

// Policy bounds one retried call. Zero fields take the defaults named on
// each field; a Policy is a value, safe to share.
type Policy struct {
	// MaxAttempts is the number of attempts per call (default 3).
	MaxAttempts int
	// MaxElapsed bounds the time spent on one call, waits included,
	// measured on Now; a wait that would pass it is not taken (default:
	// no bound beyond MaxAttempts).
	MaxElapsed time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Sleep waits d or until ctx ends, returning ctx.Err() then (default
	// SleepContext). Tests pass one that advances their clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Log receives one warning per retry (default: discarded).
	Log *slog.Logger
	// Message is that warning's message (default "retrying call").
	Message string
	// Attrs are added to each warning (host, endpoint, pull request…).
	Attrs []slog.Attr
}

// Do calls attempt (with attempt numbers 1, 2, …) until it returns a Done
// verdict, MaxAttempts is reached, the next wait would pass MaxElapsed, or
// ctx ends. The errors of the last two cases wrap the attempt's Err.
func (p Policy) Do(ctx context.Context, attempt func(ctx context.Context, n int) Verdict) error {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 3
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Sleep == nil {
		p.Sleep = SleepContext
	}
	if p.Message == "" {
		p.Message = "retrying call"
	}
	start := p.Now()
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		v := attempt(ctx, n)
		if v.Done {
			return v.Err
		}
		if err := ctx.Err(); err != nil {
			// The http.Client's own timeout also reports
			// context.DeadlineExceeded; only the caller's ctx
			// ending stops retries.
			return err
		}
		if v.Err == nil {
			v.Err = errors.New("attempt asked for a retry without saying why")
		}
		if n >= p.MaxAttempts {
			return fmt.Errorf("giving up after %d attempts: %w", n, v.Err)
		}
		if p.MaxElapsed > 0 && p.Now().Add(v.Wait).After(start.Add(p.MaxElapsed)) {
			return fmt.Errorf("giving up after %d attempts, next one in %s would pass the %s retry limit: %w",
				n, v.Wait, p.MaxElapsed, v.Err)
		}
		if p.Log != nil {
			attrs := append([]slog.Attr{slog.Int("attempt", n), slog.Duration("wait", v.Wait),
				slog.String("error", v.Err.Error())}, p.Attrs...)
			p.Log.LogAttrs(ctx, slog.LevelWarn, p.Message, attrs...)
		}
		if err := p.Sleep(ctx, v.Wait); err != nil {
			return err
		}
	}
}

// Backoff is the wait before attempt+1 after a transient failure: base
// doubled per attempt, capped at max. With jitter, half of it is fixed and
// half random ("equal jitter"), so that replicas retrying together spread
// out but never retry at once.
func Backoff(base, ceiling time.Duration, attempt int, jitter bool) time.Duration {
	d := base << min(max0(attempt-1), 30)
	if d <= 0 || d > ceiling {
		d = ceiling
	}
	if !jitter || d <= 0 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

// RetryAfter reads a Retry-After header, in seconds or as an HTTP date
// measured from now. ok is false when it is missing or unreadable.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(min(secs, 1<<20)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// ResetMargin is added to a rate-limit reset: X-RateLimit-Reset has whole
// seconds, and arriving a moment early would cost one more refusal.
const ResetMargin = time.Second

// ResetWait is the wait until the X-RateLimit-Reset (Unix seconds) in h,
// plus ResetMargin, measured from now. ok is false without a usable reset.
func ResetWait(h http.Header, now time.Time) (d time.Duration, ok bool) {
	s, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
	if err != nil || s <= 0 {
		return 0, false
	}
	return max(time.Unix(s, 0).Sub(now), 0) + ResetMargin, true
}

// Transient reports whether err is a failure to get an HTTP answer at all
// (a refused connection, a reset, a timeout, a body cut short): worth
// another attempt.
func Transient(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// SleepContext waits d or until ctx ends, returning ctx.Err() then.
func SleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
