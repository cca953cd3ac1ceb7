package slackapi

import (
	"context"
	"encoding/json"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// fixtureDir holds byte-for-byte copies of shared/fixtures.
const fixtureDir = "../../test/testdata/fixtures"

// secretPath is the token-bearing part of every test webhook URL; it must
// never show up in a log line or an error.
const secretPath = "/services/T000TEST/B000TEST/XXXXsecretXXXXtokenXXXX"

// testEpoch is when every fake clock starts.
var testEpoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// readFixture returns the bytes of a fixture under fixtureDir.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return b
}

// fixtureNotification is a notification about the pull request of
// GitHub's recorded pull_request.opened payload (Codertocat/Hello-World#2).
func fixtureNotification(t testing.TB) gatekeeper.Notification {
	t.Helper()
	var p struct {
		Number      int `json:"number"`
		PullRequest struct {
			Title string `json:"title"`
			Head  struct {
				SHA string `json:"sha"`
			} `json:"head"`
		} `json:"pull_request"`
		Repository struct {
			Name  string `json:"name"`
			Owner struct {
				Login string `json:"login"`
			} `json:"owner"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(readFixture(t, "github/pull_request.opened.json"), &p); err != nil {
		t.Fatalf("decoding fixture: %v", err)
	}
	key := gatekeeper.PullKey{Owner: p.Repository.Owner.Login, Repo: p.Repository.Name, Number: p.Number}
	return gatekeeper.Notification{
		Key: key, Title: p.PullRequest.Title, SHA: p.PullRequest.Head.SHA,
		TargetURL: "https://gate.example.com/pulls/" + key.Owner + "/" + key.Repo + "/2",
	}
}

// reply is one scripted answer of the fake Slack.
type reply struct {
	status int
	body   string
	header http.Header
	// hangup closes the connection without an answer.
	hangup bool
}

// Answers in the shape Slack's incoming webhooks send them: plain text.
var (
	ok              = reply{status: http.StatusOK, body: "ok"}
	rollupError     = reply{status: http.StatusInternalServerError, body: "rollup_error"}
	channelNotFound = reply{status: http.StatusNotFound, body: "channel_not_found"}
)

// rateLimited is a 429 asking to wait retryAfter (a Retry-After value).
func rateLimited(retryAfter string) reply {
	return reply{status: http.StatusTooManyRequests, body: "rate_limited", header: http.Header{"Retry-After": {retryAfter}}}
}

// posted is one request the fake received.
type posted struct {
	Path        string
	ContentType string
	Body        []byte
}

// fakeSlack is an httptest server on 127.0.0.1 playing an incoming
// webhook: the nth POST gets the nth scripted reply, the last one repeats.
type fakeSlack struct {
	// URL is the webhook URL to give the Notifier.
	URL string

	mu       sync.Mutex
	replies  []reply
	requests []posted
	inFlight int
	maxIn    int
}

// newFakeSlack starts a fake answering replies in turn (ok when none).
func newFakeSlack(t testing.TB, replies ...reply) *fakeSlack {
	t.Helper()
	f := &fakeSlack{replies: replies}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + secretPath
	return f
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, posted{Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Body: body})
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	rep := ok
	if n := len(f.requests); len(f.replies) > 0 {
		rep = f.replies[min(n, len(f.replies))-1]
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if r.Method != http.MethodPost {
		http.Error(w, "invalid_payload", http.StatusMethodNotAllowed)
		return
	}
	if rep.hangup {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// posts returns what the fake received so far.
func (f *fakeSlack) posts() []posted {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]posted(nil), f.requests...)
}

// maxInFlight is the most requests the fake ever served at once.
func (f *fakeSlack) maxInFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxIn
}

// fakeClock is a Clock whose Sleep only advances it and records the wait.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: testEpoch} }

// Now returns the fake time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep records d and advances the clock by it, unless ctx has ended.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

// Slept returns the recorded waits.
func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// newTestNotifier returns a Notifier posting to f on clock, logging at
// debug level into the returned buffer.
func newTestNotifier(t testing.TB, f *fakeSlack, clock *fakeClock) (*Notifier, *gatekeepertest.LogBuffer) {
	t.Helper()
	logs := &gatekeepertest.LogBuffer{}
	n, err := New(Options{
		WebhookURL: f.URL, Clock: clock, Sleep: clock.Sleep,
		Logger: newJSONLogger(logs),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n, logs
}

// newJSONLogger logs everything, debug included, as JSON into w.
func newJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
