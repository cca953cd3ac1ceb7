package githubapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixtureDir holds byte-for-byte copies of shared/fixtures/github.
const fixtureDir = "../../test/testdata/fixtures/github"

// testToken is the token every test client sends.
const testToken = "0000000000000000000000000000000000000001"

// readFixture returns the bytes of a fixture under fixtureDir.
func readFixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return b
}

// fixtureField returns the raw JSON of one top-level field of a fixture,
// e.g. the "pull_request" object of a webhook payload.
func fixtureField(t testing.TB, rel, field string) []byte {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(readFixture(t, rel), &doc); err != nil {
		t.Fatalf("decoding fixture %s: %v", rel, err)
	}
	raw, ok := doc[field]
	if !ok {
		t.Fatalf("fixture %s has no %q", rel, field)
	}
	return raw
}

// exchange is one recorded HTTP exchange in octokit/fixtures' nock format.
type exchange struct {
	Method   string          `json:"method"`
	Path     string          `json:"path"`
	Body     json.RawMessage `json:"body"`
	Status   int             `json:"status"`
	Response json.RawMessage `json:"response"`
	Headers  map[string]any  `json:"headers"`
}

// loadExchanges reads a recorded-exchange fixture.
func loadExchanges(t testing.TB, rel string) []exchange {
	t.Helper()
	var exs []exchange
	if err := json.Unmarshal(readFixture(t, rel), &exs); err != nil {
		t.Fatalf("decoding fixture %s: %v", rel, err)
	}
	return exs
}

// reply serves the recorded response with its recorded headers, except the
// hop-by-hop and length ones: the body served is the recorded JSON value,
// whose length differs from what GitHub sent.
func (ex exchange) reply() reply {
	h := http.Header{}
	for k, v := range ex.Headers {
		switch strings.ToLower(k) {
		case "content-length", "connection", "transfer-encoding":
			continue
		}
		h.Set(k, fmt.Sprint(v))
	}
	return reply{status: ex.Status, header: h, body: ex.Response}
}

// reply is one scripted answer of the fake server.
type reply struct {
	status int
	header http.Header
	body   []byte
	// hangup closes the connection without an answer.
	hangup bool
	// stall answers nothing until the client gives up.
	stall bool
}

// jsonReply answers status with body and extra headers given as pairs.
func jsonReply(status int, body string, headerPairs ...string) reply {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for i := 0; i+1 < len(headerPairs); i += 2 {
		h.Set(headerPairs[i], headerPairs[i+1])
	}
	return reply{status: status, header: h, body: []byte(body)}
}

// request is what the fake server received.
type request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// fakeGitHub is an httptest server that answers like GitHub from scripted
// replies and records every request. Routes are "METHOD /path" (relative
// to the API base), with "?page=N" appended when the request names a page.
// The nth request on a route gets the nth reply; the last reply repeats.
type fakeGitHub struct {
	// URL is the API base clients should use (server URL + prefix).
	URL    string
	prefix string

	mu       sync.Mutex
	routes   map[string][]reply
	hits     map[string]int
	requests []request
}

// newFakeGitHub starts a fake GitHub whose API lives under prefix ("" for
// github.com, "/api/v3" for GitHub Enterprise Server).
func newFakeGitHub(t testing.TB, prefix string) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{prefix: prefix, routes: map[string][]reply{}, hits: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + prefix + "/"
	return f
}

// on scripts the replies of a route.
func (f *fakeGitHub) on(route string, replies ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[route] = replies
}

// served returns the requests received so far.
func (f *fakeGitHub) served() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body,
	})
	rep, ok := f.lookup(r)
	f.mu.Unlock()
	if !ok {
		// GitHub's own answer for an unknown resource.
		rep = jsonReply(http.StatusNotFound, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`)
	}
	switch {
	case rep.hangup:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case rep.stall:
		<-r.Context().Done()
		return
	}
	for k, vs := range rep.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(rep.status)
	w.Write(rep.body)
}

// lookup finds the reply for r; f.mu is held.
func (f *fakeGitHub) lookup(r *http.Request) (reply, bool) {
	path, ok := strings.CutPrefix(r.URL.Path, f.prefix)
	if !ok {
		return reply{}, false
	}
	route := r.Method + " " + path
	if p := r.URL.Query().Get("page"); p != "" {
		route += "?page=" + p
	}
	replies := f.routes[route]
	if len(replies) == 0 {
		return reply{}, false
	}
	n := f.hits[route]
	f.hits[route]++
	return replies[min(n, len(replies)-1)], true
}

// fakeTime is the Clock and Sleep of a test client: Sleep records the wait
// and moves the clock on at once, so rate-limit waits of minutes take no
// time and their arithmetic is checked exactly.
type fakeTime struct {
	mu      sync.Mutex
	now     time.Time
	slept   []time.Duration
	onSleep func() // called after each recorded sleep, e.g. to cancel
}

// testEpoch is the fake clock's start; X-RateLimit-Reset values are
// computed from it.
var testEpoch = time.Unix(1_700_000_000, 0)

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

// sleeps returns the waits recorded so far.
func (f *fakeTime) sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.slept...)
}

// observed records Options.Observe calls.
type observed struct {
	mu    sync.Mutex
	calls []string // "endpoint code"
}

func (o *observed) observe(endpoint, code string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, endpoint+" "+code)
}

func (o *observed) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

// testRetry is the retry policy of test clients: the production shape with
// backoffs scaled down to milliseconds.
func testRetry() Retry {
	return Retry{
		MaxAttempts:      5,
		MaxElapsed:       time.Hour,
		BaseDelay:        10 * time.Millisecond,
		MaxDelay:         100 * time.Millisecond,
		MaxRateLimitWait: 10 * time.Minute,
		SecondaryWait:    60 * time.Millisecond,
	}
}

// newTestClient returns a Client for f on the fake time tm.
// Each change, if any, edits the Options before New.
func newTestClient(t testing.TB, baseURL string, tm *fakeTime, obs *observed, retry Retry, change ...func(*Options)) *Client {
	t.Helper()
	opts := Options{
		BaseURL:    baseURL,
		Token:      testToken,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Clock:      tm,
		Sleep:      tm.Sleep,
		Retry:      retry,
	}
	if obs != nil {
		opts.Observe = obs.observe
	}
	for _, ch := range change {
		ch(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// paths returns "METHOD /path?query" of every request served so far, the
// query left out when empty.
func (f *fakeGitHub) paths() []string {
	var out []string
	for _, r := range f.served() {
		p := r.Method + " " + strings.TrimPrefix(r.Path, f.prefix)
		if r.Query != "" {
			p += "?" + r.Query
		}
		out = append(out, p)
	}
	return out
}

// patchJSON returns the JSON object raw with the fields of set replaced,
// e.g. a recorded pull request renumbered for a list response. A key
// "head.ref" names field ref of object head.
func patchJSON(t testing.TB, raw []byte, set map[string]any) []byte {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("decoding object to patch: %v", err)
	}
	for k, v := range set {
		parts := strings.Split(k, ".")
		m := obj
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				t.Fatalf("patching %s: %s is not an object", k, p)
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("encoding patched object: %v", err)
	}
	return b
}
