package githubapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// etagGitHub is a fake GitHub that, as GitHub does, tags each 200 with an
// ETag (a hash of the body) and answers 304 with an empty body to a GET
// whose If-None-Match matches. It counts the requests, the conditional
// ones and the 304s, and remembers the credentials each condition came
// with.
type etagGitHub struct {
	*httptest.Server
	mu          sync.Mutex
	bodies      map[string]string // path → JSON body; missing: 404
	requests    int
	conditional int
	notModified int
	remaining   int
	// limitNext answers the next n requests 429 with Retry-After: 7.
	limitNext int
}

func newETagGitHub(t *testing.T) *etagGitHub {
	t.Helper()
	f := &etagGitHub{bodies: map[string]string{}, remaining: 4999}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *etagGitHub) set(path, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies[path] = body
}

func (f *etagGitHub) counts() (requests, conditional, notModified int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.conditional, f.notModified
}

func (f *etagGitHub) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	w.Header().Set("X-RateLimit-Resource", "core")
	if f.limitNext > 0 {
		f.limitNext--
		if r.Header.Get("If-None-Match") != "" {
			f.conditional++
		}
		w.Header().Set("Retry-After", "7")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit."}`)
		return
	}
	body, ok := f.bodies[r.URL.Path]
	if r.Method == http.MethodPost {
		f.remaining--
		w.Header().Set("X-RateLimit-Remaining", fmt.Sprint(f.remaining))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":1,"state":"success","context":"release-gatekeeper","creator":{"login":"gatekeeper-bot"}}`)
		return
	}
	if !ok {
		f.remaining--
		w.Header().Set("X-RateLimit-Remaining", fmt.Sprint(f.remaining))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found"}`)
		return
	}
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(body)))
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		f.conditional++
		if inm == etag {
			// A 304 costs no rate limit: Remaining is unchanged.
			f.notModified++
			w.Header().Set("X-RateLimit-Remaining", fmt.Sprint(f.remaining))
			w.Header().Set("ETag", etag)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	f.remaining--
	w.Header().Set("X-RateLimit-Remaining", fmt.Sprint(f.remaining))
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprint(w, body)
}

// getPull reads pull request 1 through c as the Source does.
func getPull(t *testing.T, c *Client) (*github.PullRequest, error) {
	t.Helper()
	var pr *github.PullRequest
	err := c.do(context.Background(), EndpointGetPull, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		pr, resp, err = gh.PullRequests.Get(context.Background(), "Codertocat", "Hello-World", 1)
		return resp, err
	})
	return pr, err
}

func TestConditionalReads(t *testing.T) {
	t.Parallel()
	f := newETagGitHub(t)
	pull := string(fixtureField(t, "pull_request.opened.json", "pull_request"))
	const path = "/repos/Codertocat/Hello-World/pulls/1"
	f.set(path, pull)
	tm, obs := newFakeTime(), &observed{}
	var remaining []string
	var remMu sync.Mutex
	c := newTestClient(t, f.URL+"/", tm, obs, testRetry(), func(o *Options) {
		o.Remaining = func(resource string, n int) {
			remMu.Lock()
			remaining = append(remaining, fmt.Sprint(resource, " ", n))
			remMu.Unlock()
		}
	})

	first, err := getPull(t, c)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		again, err := getPull(t, c)
		if err != nil {
			t.Fatalf("read %d: %v", i+2, err)
		}
		if again.GetHead().GetSHA() != first.GetHead().GetSHA() || again.GetTitle() != first.GetTitle() || again.GetTitle() == "" {
			t.Fatalf("read %d from the cache: head %q title %q, want %q %q", i+2,
				again.GetHead().GetSHA(), again.GetTitle(), first.GetHead().GetSHA(), first.GetTitle())
		}
	}
	req, cond, nm := f.counts()
	if req != 4 || cond != 3 || nm != 3 {
		t.Errorf("GitHub saw %d requests, %d conditional, %d answered 304; want 4, 3, 3", req, cond, nm)
	}
	want := []string{"get_pull 200", "get_pull 304", "get_pull 304", "get_pull 304"}
	if got := obs.list(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("observed %v, want %v", got, want)
	}
	remMu.Lock()
	if strings.Join(remaining, ",") != "core 4998,core 4998,core 4998,core 4998" {
		t.Errorf("remaining reported %v, want core 4998 four times (a 304 is free)", remaining)
	}
	remMu.Unlock()

	// The pull request changes: GitHub's new ETag no longer matches,
	// the full answer comes back and replaces the kept one.
	f.set(path, strings.Replace(pull, `"title": "Update the README with new information."`, `"title": "Release 1.2"`, 1))
	changed, err := getPull(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if changed.GetTitle() != "Release 1.2" {
		t.Fatalf("after a change, title %q, want the new one", changed.GetTitle())
	}
	if again, _ := getPull(t, c); again.GetTitle() != "Release 1.2" {
		t.Errorf("the new answer was not kept: title %q", again.GetTitle())
	}
	if _, cond, nm := f.counts(); cond != 5 || nm != 4 {
		t.Errorf("after the change, %d conditional and %d 304s; want 5 and 4", cond, nm)
	}

	// Gone: the 404 is reported, and the kept answer is never served
	// again even if GitHub later answered 304 by mistake.
	f.mu.Lock()
	delete(f.bodies, path)
	f.mu.Unlock()
	if _, err := getPull(t, c); !notFound(err) {
		t.Fatalf("after deletion, err = %v, want a 404", err)
	}
}

func TestConditionalReadsAreKeyedByCredential(t *testing.T) {
	t.Parallel()
	f := newETagGitHub(t)
	f.set("/a", `{"a":1}`)
	rt := newBudgetTransport(nil, Budget{}, gatekeeper.SystemClock{}, nil, nil)
	get := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, f.URL+"/a", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	get("installation-1")
	get("installation-2") // another credential: not conditional
	if _, cond, _ := f.counts(); cond != 0 {
		t.Fatalf("a second credential's first read was conditional (%d): answers must not cross credentials", cond)
	}
	if resp := get("installation-1"); resp.Header.Get(CacheHeader) != Revalidated {
		t.Errorf("the first credential's second read was not revalidated: %v", resp.Header)
	}
	if _, cond, nm := f.counts(); cond != 1 || nm != 1 {
		t.Errorf("conditional %d, 304 %d; want 1, 1", cond, nm)
	}
}

func TestConditionalCacheIsBounded(t *testing.T) {
	t.Parallel()
	f := newETagGitHub(t)
	big := `{"x":"` + strings.Repeat("y", 3000) + `"}`
	for i := 0; i < 10; i++ {
		f.set(fmt.Sprintf("/p/%d", i), `{"n":1}`)
	}
	f.set("/big", big)
	tests := []struct {
		name        string
		budget      Budget
		paths       []string
		wantEntries int
	}{
		{"entries", Budget{CacheEntries: 3}, []string{"/p/0", "/p/1", "/p/2", "/p/3", "/p/4"}, 3},
		{"bytes", Budget{CacheBytes: 3 * 1100}, []string{"/p/0", "/p/1", "/p/2", "/p/3", "/p/4"}, 3},
		{"one big answer is passed on, not kept", Budget{MaxEntryBytes: 2000}, []string{"/big", "/p/0"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newBudgetTransport(nil, tt.budget, gatekeeper.SystemClock{}, nil, nil)
			for _, p := range tt.paths {
				resp, err := rt.RoundTrip(mustReq(t, f.URL+p))
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				f.mu.Lock()
				want := f.bodies[p]
				f.mu.Unlock()
				if err != nil || string(body) != want {
					t.Errorf("%s: body %d bytes (%v), want %d", p, len(body), err, len(want))
				}
			}
			if n, b := rt.stats(); n != tt.wantEntries || (tt.budget.CacheBytes > 0 && b > tt.budget.CacheBytes) {
				t.Errorf("kept %d entries, %d bytes; want %d entries within %d bytes", n, b, tt.wantEntries, tt.budget.CacheBytes)
			}
		})
	}
}

// TestConditionalCacheKeepsPullsSmall: a pull request's answer (~18 KB of
// JSON in the fixture, ~25 KB at scale) costs the cache a fraction of its
// length, so that 1,000 tracked pull requests hold a few MiB rather than
// tens (issue 8's resident memory), and the 304's answer is still the
// body byte for byte.
func TestConditionalCacheKeepsPullsSmall(t *testing.T) {
	t.Parallel()
	f := newETagGitHub(t)
	pull := string(fixtureField(t, "pull_request.opened.json", "pull_request"))
	const n = 20
	for i := range n {
		f.set(fmt.Sprintf("/repos/o/r/pulls/%d", i), pull)
	}
	rt := newBudgetTransport(nil, Budget{}, gatekeeper.SystemClock{}, nil, nil)
	read := func(i int) (string, *http.Response) {
		resp, err := rt.RoundTrip(mustReq(t, fmt.Sprintf("%s/repos/o/r/pulls/%d", f.URL, i)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ContentLength >= 0 && resp.ContentLength != int64(len(body)) {
			t.Errorf("#%d: Content-Length %d, body %d bytes", i, resp.ContentLength, len(body))
		}
		return string(body), resp
	}
	for i := range n {
		read(i)
	}
	entries, kept := rt.stats()
	if entries != n {
		t.Fatalf("kept %d entries, want %d", entries, n)
	}
	if perPull := kept / n; perPull > int64(len(pull))/3 {
		t.Errorf("a kept pull request costs %d bytes of a %d-byte answer; want at most a third", perPull, len(pull))
	}
	for i := range n {
		body, resp := read(i)
		if resp.Header.Get(CacheHeader) != Revalidated {
			t.Fatalf("#%d was not revalidated", i)
		}
		if body != pull {
			t.Fatalf("#%d: the revalidated body differs from GitHub's (%d bytes, want %d)", i, len(body), len(pull))
		}
	}
	if _, cond, nm := f.counts(); cond != n || nm != n {
		t.Errorf("conditional %d, 304 %d; want %d, %d", cond, nm, n, n)
	}
}

func mustReq(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestWritesArePaced(t *testing.T) {
	t.Parallel()
	f := newETagGitHub(t)
	tm := newFakeTime()
	c := newTestClient(t, f.URL+"/", tm, nil, testRetry())
	p := NewPublisher(c)
	key := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 1}
	start := tm.Now()
	for i := 0; i < 18; i++ {
		st := gatekeeper.Status{Context: "release-gatekeeper", State: gatekeeper.Success, Description: fmt.Sprint("post ", i)}
		if err := p.Publish(context.Background(), key, fmt.Sprintf("%040d", i), st); err != nil {
			t.Fatal(err)
		}
	}
	// Fifteen go at once; each further one waits a second.
	want := []time.Duration{time.Second, time.Second, time.Second}
	if got := tm.sleeps(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	if el := tm.Now().Sub(start); el != 3*time.Second {
		t.Errorf("18 writes took %s, want 3s", el)
	}
	// After a quiet minute the burst is available again.
	tm.Sleep(context.Background(), time.Minute)
	before := len(tm.sleeps())
	for i := 0; i < 10; i++ {
		st := gatekeeper.Status{Context: "release-gatekeeper", State: gatekeeper.Pending, Description: "again"}
		if err := p.Publish(context.Background(), key, fmt.Sprintf("%040d", i), st); err != nil {
			t.Fatal(err)
		}
	}
	if got := tm.sleeps()[before:]; len(got) != 0 {
		t.Errorf("after a quiet minute, 10 writes waited %v, want no wait", got)
	}
}

func TestStatusCapPerCommitAndContext(t *testing.T) {
	t.Parallel()
	f := newETagGitHub(t)
	tm := newFakeTime()
	c := newTestClient(t, f.URL+"/", tm, nil, testRetry(), func(o *Options) {
		o.Budget = Budget{MaxStatusesPerContext: 5, WriteInterval: -1}
	})
	p := NewPublisher(c)
	key := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 1}
	sha := strings.Repeat("a", 40)
	post := func(sha, statusContext string) error {
		return p.Publish(context.Background(), key, sha, gatekeeper.Status{Context: statusContext, State: gatekeeper.Pending, Description: "x"})
	}
	for i := 0; i < 5; i++ {
		if err := post(sha, "release-gatekeeper"); err != nil {
			t.Fatalf("post %d: %v", i+1, err)
		}
	}
	req, _, _ := f.counts()
	if err := post(sha, "release-gatekeeper"); !errors.Is(err, ErrStatusCap) {
		t.Fatalf("sixth post: err = %v, want ErrStatusCap", err)
	}
	if after, _, _ := f.counts(); after != req {
		t.Errorf("the refused post reached GitHub (%d requests, was %d)", after, req)
	}
	// Another context, another commit: counted apart.
	if err := post(sha, "other-context"); err != nil {
		t.Errorf("another context: %v", err)
	}
	if err := post(strings.Repeat("b", 40), "release-gatekeeper"); err != nil {
		t.Errorf("another commit: %v", err)
	}
}

// TestCommentsCursorStaysWhenNothingChanged: a read of the comments list
// that found nothing keeps the cursor, so that the next read is the same
// URL (a 304 for GitHub); one that found a comment moves it on.
func TestCommentsCursorStaysWhenNothingChanged(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	serveHelloWorld(t, gh)
	gh.on(commentsRoute, jsonReply(http.StatusOK, "[]"))
	s := newTestSource(t, gh, newFakeTime(), testRetry())
	ev := commentEvidence(nil)
	since := testEpoch.Add(-time.Hour)
	ev.CommentsCursor = &gatekeeper.CommentsCursor{Since: since}
	got, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var cur *gatekeeper.CommentsCursor
	for _, e := range got {
		if e.CommentsCursor != nil {
			cur = e.CommentsCursor
		}
	}
	if cur == nil || !cur.Since.Equal(since) {
		t.Errorf("cursor after an empty read: %+v, want since %s kept", cur, since)
	}
}

// TestRateLimitedRevalidation: a 429 with Retry-After on a conditional read
// is waited out as GitHub asks (by the Publisher's rules; the Source fails
// fast), and the retry is conditional still: the kept answer is not thrown
// away by a rate limit.
func TestRateLimitedRevalidation(t *testing.T) {
	t.Parallel()
	f := newETagGitHub(t)
	f.set("/repos/Codertocat/Hello-World/pulls/1", string(fixtureField(t, "pull_request.opened.json", "pull_request")))
	tm, obs := newFakeTime(), &observed{}
	c := newTestClient(t, f.URL+"/", tm, obs, testRetry())
	if _, err := getPull(t, c); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.limitNext = 1
	f.mu.Unlock()
	// The Source does not wait: the read fails with ErrRateLimited.
	if _, err := getPull(t, c); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("rate-limited read: err = %v, want ErrRateLimited", err)
	}
	// The Publisher's mode waits the 7 s asked, then revalidates.
	var pr *github.PullRequest
	err := c.do(context.Background(), EndpointGetPull, waitForLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		pr, resp, err = gh.PullRequests.Get(context.Background(), "Codertocat", "Hello-World", 1)
		return resp, err
	})
	if err != nil || pr.GetNumber() != 2 {
		t.Fatalf("after the limit: %v, number %d", err, pr.GetNumber())
	}
	if got := tm.sleeps(); len(got) != 1 || got[0] != 7*time.Second {
		t.Errorf("waits %v, want the 7s Retry-After asked for (the block left by the refusal)", got)
	}
	if _, cond, nm := f.counts(); cond != 2 || nm != 1 {
		t.Errorf("%d conditional reads, %d 304s; want 2 (the refused one and its retry) and 1", cond, nm)
	}
	want := "get_pull 200,get_pull 429,get_pull 304"
	if got := strings.Join(obs.list(), ","); got != want {
		t.Errorf("observed %s, want %s", got, want)
	}
}

// TestBudgetTransportConcurrent: reads and writes from many goroutines
// (the workers, the reconcile pass, the responder) share one transport;
// every answer is whole and the bounds hold (run with -race).
func TestBudgetTransportConcurrent(t *testing.T) {
	t.Parallel()
	f := newETagGitHub(t)
	for i := 0; i < 8; i++ {
		f.set(fmt.Sprintf("/p/%d", i), fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", 100*i)))
	}
	tm := newFakeTime()
	rt := newBudgetTransport(nil, Budget{CacheEntries: 5}, tm, tm.Sleep, nil)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				p := fmt.Sprintf("/p/%d", (g+i)%8)
				req := mustReq(t, f.URL+p)
				req.Header.Set("Authorization", fmt.Sprint("token ", g%2))
				if i%10 == 0 {
					req.Method = http.MethodPost
				}
				resp, err := rt.RoundTrip(req)
				if err != nil {
					t.Error(err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if req.Method == http.MethodGet {
					f.mu.Lock()
					want := f.bodies[p]
					f.mu.Unlock()
					if err != nil || string(body) != want {
						t.Errorf("%s: got %d bytes (%v), want %d", p, len(body), err, len(want))
					}
				}
			}
		}(g)
	}
	wg.Wait()
	if n, _ := rt.stats(); n > 5 {
		t.Errorf("%d entries kept, bound 5", n)
	}
	if _, _, nm := f.counts(); nm == 0 {
		t.Error("no read was answered 304")
	}
}

// TestAppConditionalReadsOutliveTokenRefresh: with a GitHub App, kept
// answers follow the installation, not its token: after ghinstallation
// replaced the token (a minute before expiry; here the tokens live 63 s),
// the next read is still conditional and GitHub answers 304.
func TestAppConditionalReadsOutliveTokenRefresh(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.TokenTTL = 63 * time.Second
	f.Repos["octo-org/hello"] = 7
	pull := string(fixtureField(t, "pull_request.opened.json", "pull_request"))
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(pull)))
	var mu sync.Mutex
	var conditional, notModified int
	f.repo = func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/repos/octo-org/hello/pulls/1" {
			writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
			return
		}
		w.Header().Set("ETag", etag)
		mu.Lock()
		defer mu.Unlock()
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			conditional++
			if inm == etag {
				notModified++
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		writeJSON(w, http.StatusOK, pull)
	}
	obs := &observed{}
	c := newAppClient(t, f, newFakeTime(), obs, nil)
	read := func() {
		t.Helper()
		var pr *github.PullRequest
		err := c.do(context.Background(), EndpointGetPull, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			pr, resp, err = gh.PullRequests.Get(context.Background(), "octo-org", "hello", 1)
			return resp, err
		})
		if err != nil || pr.GetHead().GetSHA() == "" {
			t.Fatalf("reading the pull request: %v", err)
		}
	}
	read()
	time.Sleep(3 * time.Second) // the token is now due for refresh
	read()
	if n := len(f.Issued()); n != 2 {
		t.Fatalf("%d tokens issued, want 2 (the second read went with a fresh token)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if conditional != 1 || notModified != 1 {
		t.Errorf("after the token refresh: %d conditional reads, %d 304s; want 1 and 1", conditional, notModified)
	}
	if got := strings.Join(obs.list(), ","); !strings.Contains(got, "get_pull 304") {
		t.Errorf("observed %s, want a get_pull 304", got)
	}
}
