package slackapi

import (
	"context"
	"errors"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		url      string
		wantHost string // "" when New must refuse the URL
	}{
		{name: "slack", url: "https://hooks.slack.com/services/T000/B000/XXXX", wantHost: "hooks.slack.com"},
		{name: "https with port", url: "https://hooks.example.com:8443/services/T000/B000/XXXX", wantHost: "hooks.example.com:8443"},
		{name: "local test server", url: "http://127.0.0.1:41234/services/T000/B000/XXXX", wantHost: "127.0.0.1:41234"},
		{name: "empty", url: ""},
		{name: "plain http", url: "http://hooks.slack.com/services/T000/B000/XXXX"},
		{name: "http to localhost by name", url: "http://localhost:8080/services/T000/B000/XXXX"},
		{name: "http to another loopback address", url: "http://127.0.0.2/services/T000/B000/XXXX"},
		{name: "other scheme", url: "ftp://hooks.slack.com/services/T000/B000/XXXX"},
		{name: "no host", url: "https:///services/T000/B000/XXXX"},
		{name: "relative", url: "/services/T000/B000/XXXX"},
		{name: "user information", url: "https://user:XXXX@hooks.slack.com/services/T000/B000/XXXX"},
		{name: "does not parse", url: "https://hooks.slack.com/%zz/XXXX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := New(Options{WebhookURL: tt.url})
			if tt.wantHost == "" {
				if !errors.Is(err, gatekeeper.ErrInvalid) {
					t.Fatalf("New(%q) error = %v, want one wrapping ErrInvalid", tt.url, err)
				}
				if strings.Contains(err.Error(), "XXXX") {
					t.Errorf("error %q shows the secret part of the URL", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tt.url, err)
			}
			if n.Host() != tt.wantHost {
				t.Errorf("Host() = %q, want %q", n.Host(), tt.wantHost)
			}
		})
	}
}

func TestNotifyAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		replies    []reply
		wantPosts  int
		wantSleeps []time.Duration
		// wantErr is a substring of the error, "" for success.
		wantErr      string
		wantRejected bool
	}{
		{name: "ok", replies: []reply{ok}, wantPosts: 1},
		{name: "429 then ok waits Retry-After", replies: []reply{rateLimited("3"), ok},
			wantPosts: 2, wantSleeps: []time.Duration{3 * time.Second}},
		{name: "429 without Retry-After waits a second", replies: []reply{{status: 429, body: "rate_limited"}, ok},
			wantPosts: 2, wantSleeps: []time.Duration{time.Second}},
		{name: "429 asking too long is not waited for", replies: []reply{rateLimited("120"), ok},
			wantPosts: 1, wantErr: "slack answered 429, retry after 2m0s, longer than the 30s this notifier waits"},
		{name: "500 twice then ok backs off", replies: []reply{rollupError, rollupError, ok},
			wantPosts: 3, wantSleeps: []time.Duration{time.Second, 2 * time.Second}},
		{name: "500 three times gives up", replies: []reply{rollupError},
			wantPosts: 3, wantSleeps: []time.Duration{time.Second, 2 * time.Second},
			wantErr: "giving up after 3 attempts: slack answered 500 rollup_error"},
		{name: "429 counts as an attempt", replies: []reply{rateLimited("1"), rollupError, rollupError, ok},
			wantPosts: 3, wantSleeps: []time.Duration{time.Second, 2 * time.Second},
			wantErr: "giving up after 3 attempts"},
		{name: "hang-up is retried", replies: []reply{{hangup: true}, ok},
			wantPosts: 2, wantSleeps: []time.Duration{time.Second}},
		{name: "404 channel_not_found is final", replies: []reply{channelNotFound, ok},
			wantPosts: 1, wantErr: "slack rejected the message: 404 channel_not_found", wantRejected: true},
		{name: "400 invalid_payload is final", replies: []reply{{status: 400, body: "invalid_payload"}, ok},
			wantPosts: 1, wantErr: "400 invalid_payload", wantRejected: true},
		{name: "403 action_prohibited is final", replies: []reply{{status: 403, body: "action_prohibited"}, ok},
			wantPosts: 1, wantErr: "403 action_prohibited", wantRejected: true},
		{name: "410 channel_is_archived is final", replies: []reply{{status: 410, body: "channel_is_archived\n"}, ok},
			wantPosts: 1, wantErr: "410 channel_is_archived", wantRejected: true},
		{name: "an error page is shortened", replies: []reply{{status: 400, body: "<html>\n" + strings.Repeat("x", 500)}},
			wantPosts: 1, wantErr: "400 <html>", wantRejected: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeSlack(t, tt.replies...)
			clock := newFakeClock()
			n, logs := newTestNotifier(t, f, clock)
			note := fixtureNotification(t)
			note.To = gatekeeper.Failure
			err := n.Notify(context.Background(), note)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Notify: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Notify error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrRejected); got != tt.wantRejected {
				t.Errorf("errors.Is(err, ErrRejected) = %v, want %v", got, tt.wantRejected)
			}
			if err != nil && !strings.Contains(err.Error(), "Codertocat/Hello-World#2") {
				t.Errorf("error %q does not name the pull request", err)
			}
			if err != nil && len(err.Error()) > 400 {
				t.Errorf("error has %d bytes, want a short one", len(err.Error()))
			}
			posts := f.posts()
			if len(posts) != tt.wantPosts {
				t.Errorf("got %d posts, want %d", len(posts), tt.wantPosts)
			}
			for i := 1; i < len(posts); i++ {
				if string(posts[i].Body) != string(posts[0].Body) {
					t.Errorf("retry %d sent another body", i)
				}
			}
			if diff := cmp.Diff(tt.wantSleeps, clock.Slept(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			assertNoSecret(t, logs.String(), err)
		})
	}
}

// TestNotifyNetworkError posts to a server that is gone: three attempts,
// and neither the error nor the logs show the webhook URL's secret part.
func TestNotifyNetworkError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nil)
	gone := srv.URL + secretPath
	srv.Close()
	clock := newFakeClock()
	logs := &gatekeepertest.LogBuffer{}
	n, err := New(Options{WebhookURL: gone, Clock: clock, Sleep: clock.Sleep, Logger: newJSONLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), fixtureNotification(t))
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Fatalf("Notify error = %v, want giving up after 3 attempts", err)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second}, clock.Slept()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if got := strings.Count(logs.String(), `"msg":"retrying slack post"`); got != 2 {
		t.Errorf("logged %d retries, want 2:\n%s", got, logs)
	}
	assertNoSecret(t, logs.String(), err)
}

// TestNotifyLogsHostOnly checks that what is logged names the host, and
// never the URL, whatever Slack answers.
func TestNotifyLogsHostOnly(t *testing.T) {
	t.Parallel()
	f := newFakeSlack(t, rollupError, rateLimited("1"), ok, channelNotFound)
	clock := newFakeClock()
	n, logs := newTestNotifier(t, f, clock)
	note := fixtureNotification(t)
	note.To = gatekeeper.Success
	if err := n.Notify(context.Background(), note); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	err := n.Notify(context.Background(), note)
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("second Notify error = %v, want ErrRejected", err)
	}
	out := logs.String()
	for _, want := range []string{`"msg":"retrying slack post"`, `"msg":"posted to slack"`, `"host":"` + n.Host() + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	if !strings.Contains(err.Error(), n.Host()) {
		t.Errorf("error %q does not name the host", err)
	}
	assertNoSecret(t, out, err)
}

// assertNoSecret fails when the webhook URL's secret part is in the logs or
// in err.
func assertNoSecret(t *testing.T, logs string, err error) {
	t.Helper()
	secret := strings.TrimPrefix(secretPath, "/services/")
	for _, part := range append(strings.Split(secret, "/"), secret) {
		if strings.Contains(logs, part) {
			t.Errorf("logs show %q of the webhook URL:\n%s", part, logs)
		}
		if err != nil && strings.Contains(err.Error(), part) {
			t.Errorf("error shows %q of the webhook URL: %v", part, err)
		}
	}
}

// TestNotifySpacesPosts checks that posts are at least MinInterval apart:
// the second waits out what is left of the interval, a later one nothing.
func TestNotifySpacesPosts(t *testing.T) {
	t.Parallel()
	f := newFakeSlack(t)
	clock := newFakeClock()
	n, _ := newTestNotifier(t, f, clock)
	note := fixtureNotification(t)
	note.To = gatekeeper.Success
	ctx := context.Background()

	mustNotify := func() {
		t.Helper()
		if err := n.Notify(ctx, note); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	mustNotify() // first post: nothing to wait for
	clock.mu.Lock()
	clock.now = clock.now.Add(300 * time.Millisecond)
	clock.mu.Unlock()
	mustNotify() // 300ms later: waits the other 700ms
	clock.mu.Lock()
	clock.now = clock.now.Add(5 * time.Second)
	clock.mu.Unlock()
	mustNotify() // long after: no wait

	if diff := cmp.Diff([]time.Duration{700 * time.Millisecond}, clock.Slept()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if got := len(f.posts()); got != 3 {
		t.Errorf("got %d posts, want 3", got)
	}
}

// TestNotifySerializes runs notifications concurrently: Slack sees one at
// a time, and each after the first waits a full interval (the fake clock
// stands still between posts).
func TestNotifySerializes(t *testing.T) {
	t.Parallel()
	f := newFakeSlack(t)
	clock := newFakeClock()
	n, _ := newTestNotifier(t, f, clock)
	note := fixtureNotification(t)
	note.To = gatekeeper.Success

	const count = 8
	var wg sync.WaitGroup
	errs := make(chan error, count)
	for range count {
		wg.Go(func() { errs <- n.Notify(context.Background(), note) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Notify: %v", err)
		}
	}
	if got := len(f.posts()); got != count {
		t.Errorf("got %d posts, want %d", got, count)
	}
	if got := f.maxInFlight(); got != 1 {
		t.Errorf("Slack saw %d posts at once, want 1", got)
	}
	want := make([]time.Duration, count-1)
	for i := range want {
		want[i] = DefaultMinInterval
	}
	if diff := cmp.Diff(want, clock.Slept()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

// TestNotifyContext checks that an ended context stops a notification
// waiting for its turn or between retries.
func TestNotifyContext(t *testing.T) {
	t.Parallel()
	t.Run("waiting for the turn", func(t *testing.T) {
		t.Parallel()
		f := newFakeSlack(t)
		clock := newFakeClock()
		n, _ := newTestNotifier(t, f, clock)
		n.turn <- struct{}{} // another post is under way
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := n.Notify(ctx, fixtureNotification(t))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Notify error = %v, want context.Canceled", err)
		}
		if got := len(f.posts()); got != 0 {
			t.Errorf("got %d posts, want 0", got)
		}
	})
	t.Run("between retries", func(t *testing.T) {
		t.Parallel()
		f := newFakeSlack(t, rollupError, ok)
		ctx, cancel := context.WithCancel(context.Background())
		n, err := New(Options{WebhookURL: f.URL, Clock: newFakeClock(), Sleep: func(sctx context.Context, _ time.Duration) error {
			cancel() // shutdown arrives during the backoff
			return sctx.Err()
		}})
		if err != nil {
			t.Fatal(err)
		}
		err = n.Notify(ctx, fixtureNotification(t))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Notify error = %v, want context.Canceled", err)
		}
		if got := len(f.posts()); got != 1 {
			t.Errorf("got %d posts, want 1", got)
		}
		// The turn was given back: the next notification goes out.
		if err := n.Notify(context.Background(), fixtureNotification(t)); err != nil {
			t.Errorf("Notify after a canceled one: %v", err)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := testEpoch
	tests := []struct {
		name, value string
		want        time.Duration
	}{
		{name: "seconds", value: "7", want: 7 * time.Second},
		{name: "zero", value: "0", want: 0},
		{name: "http date", value: now.Add(4 * time.Second).Format("Mon, 02 Jan 2006 15:04:05 GMT"), want: 4 * time.Second},
		{name: "date in the past", value: now.Add(-time.Minute).Format("Mon, 02 Jan 2006 15:04:05 GMT"), want: 0},
		{name: "missing", value: "", want: time.Second},
		{name: "garbage", value: "soon", want: time.Second},
		{name: "negative", value: "-5", want: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := map[string][]string{}
			if tt.value != "" {
				h["Retry-After"] = []string{tt.value}
			}
			if got := retryAfter(h, now); got != tt.want {
				t.Errorf("retryAfter(%q) = %s, want %s", tt.value, got, tt.want)
			}
		})
	}
}
