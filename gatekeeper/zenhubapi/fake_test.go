package zenhubapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixtureDir holds byte-for-byte copies of shared/fixtures/zenhub.
const fixtureDir = "../../test/testdata/fixtures/zenhub"

// testToken is the token every test source sends.
const testToken = "zh-test-token-0001"

// readFixture returns the bytes of a fixture under fixtureDir.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return b
}

// reply is one scripted answer of the fake ZenHub.
type reply struct {
	status int
	header http.Header
	body   []byte
	// noDate suppresses the Date header net/http adds.
	noDate bool
	// hangup closes the connection without an answer.
	hangup bool
}

// jsonReply answers status with body and extra headers given as pairs.
func jsonReply(status int, body string, headerPairs ...string) reply {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for i := 0; i+1 < len(headerPairs); i += 2 {
		h.Set(headerPairs[i], headerPairs[i+1])
	}
	return reply{status: status, header: h, body: []byte(body)}
}

// Errors in the shape ZenHub's REST API sends them.
var (
	notFound     = jsonReply(http.StatusNotFound, `{"message":"Issue not found"}`)
	badToken     = jsonReply(http.StatusUnauthorized, `{"message":"Invalid Token"}`)
	serverError  = jsonReply(http.StatusBadGateway, `<html><body>502 Bad Gateway</body></html>`)
	rateLimited  = jsonReply(http.StatusForbidden, `{"message":"API Rate limit reached."}`)
	testEpoch    = time.Unix(1_700_000_000, 0)
	testEpochUTC = testEpoch.UTC().Format(http.TimeFormat)
)

// request is what the fake received.
type request struct {
	Path  string
	Token string
}

// fakeZenHub is an httptest server answering GET paths (relative to the API
// root) from scripted replies: the nth request on a path gets the nth
// reply, the last one repeats, and an unscripted path gets a 404.
type fakeZenHub struct {
	// URL is the API root sources should use (server URL + prefix + "/").
	URL    string
	prefix string

	mu       sync.Mutex
	routes   map[string][]reply
	hits     map[string]int
	requests []request
}

func newFakeZenHub(t testing.TB, prefix string) *fakeZenHub {
	t.Helper()
	f := &fakeZenHub{prefix: prefix, routes: map[string][]reply{}, hits: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + prefix + "/"
	return f
}

// on scripts the replies of a path such as "/p1/repositories/1/issues/2".
func (f *fakeZenHub) on(path string, replies ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[path] = replies
}

// served returns the requests received so far.
func (f *fakeZenHub) served() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// paths returns the paths of the requests received so far.
func (f *fakeZenHub) paths() []string {
	var out []string
	for _, r := range f.served() {
		out = append(out, r.Path)
	}
	return out
}

func (f *fakeZenHub) serve(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, f.prefix)
	if !ok {
		path = "(outside " + f.prefix + ") " + r.URL.Path
	}
	f.mu.Lock()
	f.requests = append(f.requests, request{Path: path, Token: r.Header.Get("X-Authentication-Token")})
	rep := notFound
	if replies := f.routes[path]; r.Method == http.MethodGet && len(replies) > 0 {
		rep = replies[min(f.hits[path], len(replies)-1)]
		f.hits[path]++
	}
	f.mu.Unlock()
	if rep.hangup {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	for k, vs := range rep.header {
		w.Header()[k] = vs
	}
	if rep.noDate {
		w.Header()["Date"] = nil
	}
	w.WriteHeader(rep.status)
	w.Write(rep.body)
}

// fakeTime is the Clock and Sleep of a test source: Sleep records the wait
// and moves the clock on at once.
type fakeTime struct {
	mu      sync.Mutex
	now     time.Time
	slept   []time.Duration
	onSleep func()
}

func newFakeTime() *fakeTime { return &fakeTime{now: testEpoch} }

// Now returns the fake time.
func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Sleep records d and advances the clock by it.
func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.slept = append(f.slept, d)
	f.now = f.now.Add(d)
	hook := f.onSleep
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return ctx.Err()
}

func (f *fakeTime) sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.slept...)
}

// testRetry is the production retry shape with backoffs in milliseconds.
func testRetry() Retry {
	return Retry{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond, MaxRateLimitWait: 65 * time.Second}
}

// newTestSource returns a Source for zh on tm; each change edits the
// Options before New.
func newTestSource(t testing.TB, zh *fakeZenHub, tm *fakeTime, change ...func(*Options)) *Source {
	t.Helper()
	opts := Options{
		BaseURL:    zh.URL,
		Token:      testToken,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Clock:      tm,
		Sleep:      tm.Sleep,
		Retry:      testRetry(),
	}
	for _, ch := range change {
		ch(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}
