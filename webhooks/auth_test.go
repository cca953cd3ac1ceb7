package webhooks_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubauth"
	"github.com/releasegate/gatekeeper/gatekeeper/githubauth/githubauthtest"
	"github.com/releasegate/gatekeeper/webhooks"
)

const (
	pagePath = "/pulls/Codertocat/Hello-World/2"
	apiPath  = "/api/v1/pulls/Codertocat/Hello-World/2"
	// The recorded pull request's title: what must not reach a stranger.
	helloTitle = "Update the README with new information."
)

// settableClock is a clock tests move forward.
type settableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *settableClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// authRig is the harness with sign-in with GitHub on, against a fake GitHub
// (real HTTP, the real githubauth client) where Codertocat/Hello-World is
// private and alice may read it; bob may not. The recorded pull request
// has been delivered.
type authRig struct {
	*harness
	fake      *githubauthtest.Server
	clock     *settableClock
	publicURL string
	cookie    string // the session cookie's name
}

func newAuthRig(t testing.TB, publicURL string, key []byte) *authRig {
	t.Helper()
	fake := githubauthtest.NewServer(t)
	var repo struct {
		Repository map[string]any `json:"repository"`
	}
	if err := json.Unmarshal(readFixture(t, "pull_request.opened.json"), &repo); err != nil {
		t.Fatal(err)
	}
	fake.AddRepo("Codertocat/Hello-World", repo.Repository, true, "alice")
	clock := &settableClock{now: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	gh, err := githubauth.New(githubauth.Options{
		ClientID: githubauthtest.ClientID, ClientSecret: githubauthtest.ClientSecret,
		APIURL: fake.APIURL(), Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &authRig{fake: fake, clock: clock, publicURL: publicURL, cookie: "gatekeeper_session"}
	if strings.HasPrefix(publicURL, "https:") {
		r.cookie = "__Host-gatekeeper_session"
	}
	r.harness = newHarness(t, func(o *webhooks.Options) {
		o.Auth = webhooks.AuthOptions{Mode: webhooks.AuthGitHub, GitHub: gh, SessionKey: key, PublicURL: publicURL, Now: clock.Now}
	})
	if w := r.deliver(t, "pull_request", "delivery-1", readFixture(t, "pull_request.opened.json")); w.Code != http.StatusAccepted {
		t.Fatalf("delivering: %d %s", w.Code, w.Body)
	}
	return r
}

var testKey = []byte("0123456789abcdef0123456789abcdef-session")

// request serves one GET with the given cookies and headers ("Name: value").
func (r *authRig) request(t testing.TB, path string, cookies []*http.Cookie, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	r.handler.ServeHTTP(w, req)
	return w
}

// setCookie returns the cookie named name the response sets, or nil.
func setCookie(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// noRedirect is a browser that shows each redirect instead of following it.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// startSignIn asks /auth/login for next and returns the state cookie and
// where GitHub sends the browser back to after login signs in there.
func (r *authRig) startSignIn(t testing.TB, next, login string) (state *http.Cookie, callback *url.URL) {
	t.Helper()
	w := r.request(t, "/auth/login?next="+url.QueryEscape(next), nil)
	if w.Code != http.StatusFound {
		t.Fatalf("/auth/login: %d %s", w.Code, w.Body)
	}
	state = setCookie(w, strings.Replace(r.cookie, "session", "oauth_state", 1))
	if state == nil {
		t.Fatalf("/auth/login set no state cookie: %v", w.Result().Cookies())
	}
	r.fake.SignIn(login)
	resp, err := noRedirect.Get(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback, err = url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("GitHub's authorize page answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !strings.HasPrefix(callback.String(), r.publicURL+"/auth/callback?") {
		t.Fatalf("GitHub sends the browser back to %q, want the public URL's /auth/callback", callback)
	}
	return state, callback
}

// signIn walks the whole web flow as login and returns the session cookie.
func (r *authRig) signIn(t testing.TB, login string) *http.Cookie {
	t.Helper()
	state, callback := r.startSignIn(t, pagePath, login)
	w := r.request(t, callback.RequestURI(), []*http.Cookie{state})
	if w.Code != http.StatusFound || w.Header().Get("Location") != pagePath {
		t.Fatalf("/auth/callback: %d, Location %q; want 302 to %s; body %s", w.Code, w.Header().Get("Location"), pagePath, w.Body)
	}
	s := setCookie(w, r.cookie)
	if s == nil || s.Value == "" {
		t.Fatalf("/auth/callback set no session cookie: %v", w.Result().Cookies())
	}
	return s
}

func TestSignInFlow(t *testing.T) {
	t.Parallel()
	r := newAuthRig(t, "https://gate.example", testKey)

	// No sign-in: the page sends the browser to sign in and back; the
	// API says 401. Neither shows the title.
	w := r.request(t, pagePath, nil)
	if w.Code != http.StatusFound || w.Header().Get("Location") != "/auth/login?next="+url.QueryEscape(pagePath) {
		t.Fatalf("page without sign-in: %d, Location %q; want a redirect to sign in", w.Code, w.Header().Get("Location"))
	}
	w = r.request(t, apiPath, nil)
	if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") || strings.Contains(w.Body.String(), helloTitle) {
		t.Fatalf("API without sign-in: %d %q %s; want 401 with a Bearer challenge", w.Code, w.Header().Get("WWW-Authenticate"), w.Body)
	}

	alice := r.signIn(t, "alice")
	if !alice.HttpOnly || !alice.Secure || alice.SameSite != http.SameSiteLaxMode || alice.Path != "/" || alice.Domain != "" {
		t.Errorf("session cookie = %+v; want HttpOnly, Secure, SameSite=Lax, Path=/, no Domain", alice)
	}
	w = r.request(t, pagePath, []*http.Cookie{alice})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), helloTitle) || !strings.Contains(w.Body.String(), "Signed in as <b>alice</b>") {
		t.Fatalf("alice's page: %d; want 200 with the title and her name; body %s", w.Code, w.Body)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "private, no-store" {
		t.Errorf("Cache-Control = %q, want private, no-store", cc)
	}
	// No other site may frame the page (its sign-out link, its content).
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q, want frame-ancestors 'none'", csp)
	}
	if strings.Contains(w.Body.String(), "Sign-in is not configured") {
		t.Error("a signed-in page shows the no-sign-in banner")
	}
	if w = r.request(t, apiPath, []*http.Cookie{alice}); w.Code != http.StatusOK {
		t.Errorf("alice's API with her cookie: %d", w.Code)
	}

	// bob signs in, but GitHub does not show him the repository: the
	// same 404 page as a pull request never seen.
	bob := r.signIn(t, "bob")
	w = r.request(t, pagePath, []*http.Cookie{bob})
	unseen := r.request(t, "/pulls/Codertocat/Hello-World/3", []*http.Cookie{alice})
	if w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), helloTitle) {
		t.Fatalf("bob's page: %d; want 404 without the title; body %s", w.Code, w.Body)
	}
	if got, want := w.Body.String(), strings.ReplaceAll(unseen.Body.String(), "#3", "#2"); got != want {
		t.Errorf("bob's 404 differs from the page of a pull request never seen:\n%s\nvs\n%s", got, want)
	}

	// Sign out clears the cookie.
	w = r.request(t, "/auth/logout", []*http.Cookie{alice})
	if c := setCookie(w, r.cookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("/auth/logout: session cookie %+v, want it deleted", c)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	r := newAuthRig(t, "https://gate.example", testKey)
	alice, bob := r.fake.Token("alice"), r.fake.Token("bob")
	unseen := r.request(t, "/api/v1/pulls/Codertocat/Hello-World/3", nil, "Authorization: Bearer "+alice)
	if unseen.Code != http.StatusNotFound {
		t.Fatalf("alice asking for an unknown pull request: %d", unseen.Code)
	}
	tests := []struct {
		name     string
		path     string
		header   string
		wantCode int
		wantBody string // exact body, when set
	}{
		{name: "a reader", path: apiPath, header: "Bearer " + alice, wantCode: http.StatusOK},
		{name: "GitHub's own scheme word", path: apiPath, header: "token " + alice, wantCode: http.StatusOK},
		{name: "a reader on the page", path: pagePath, header: "Bearer " + alice, wantCode: http.StatusOK},
		{name: "someone GitHub answers 404: as if never seen", path: apiPath, header: "Bearer " + bob, wantCode: http.StatusNotFound, wantBody: unseen.Body.String()},
		{name: "a token GitHub does not know", path: apiPath, header: "Bearer gho_forged0000", wantCode: http.StatusUnauthorized},
		{name: "basic auth", path: apiPath, header: "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+alice)), wantCode: http.StatusUnauthorized},
		{name: "an empty bearer", path: apiPath, header: "Bearer ", wantCode: http.StatusUnauthorized},
		{name: "a token too long to be GitHub's is not sent there", path: apiPath, header: "Bearer " + strings.Repeat("g", 5000), wantCode: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := r.request(t, tt.path, nil, "Authorization: "+tt.header)
			if w.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			if tt.wantCode != http.StatusOK && strings.Contains(w.Body.String(), helloTitle) {
				t.Errorf("a %d shows the title", w.Code)
			}
			if tt.wantBody != "" && w.Body.String() != tt.wantBody {
				t.Errorf("body = %s, want %s", w.Body, tt.wantBody)
			}
		})
	}
	// The answer is cached: alice's three calls and bob's one asked
	// GitHub once each; the unknown token was asked about (401 is not
	// cached) and the others, malformed, never reached GitHub.
	if n := r.fake.Calls("GET /repos/Codertocat/Hello-World"); n != 3 {
		t.Errorf("GitHub was asked %d times, want 3 (alice, bob, the unknown token)", n)
	}
}

// TestSessionCookieRejected: a session cookie that does not open is no
// sign-in, whatever it says; the browser is sent to sign in again and
// the cookie is deleted.
func TestSessionCookieRejected(t *testing.T) {
	t.Parallel()
	r := newAuthRig(t, "http://gate.example", testKey)
	good := r.signIn(t, "alice").Value
	other := newAuthRig(t, "http://gate.example", []byte("another-key-0123456789abcdef-0123456789")).signIn(t, "alice").Value
	state, _ := r.startSignIn(t, pagePath, "alice")
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	plain, _ := json.Marshal(map[string]any{"l": "alice", "t": r.fake.Token("alice"), "e": time.Now().Add(time.Hour).Unix()})
	tests := []struct {
		name, value string
		advance     time.Duration
	}{
		{name: "made up", value: "not-a-cookie"},
		{name: "unsealed JSON naming alice", value: base64.RawURLEncoding.EncodeToString(plain)},
		{name: "a bit flipped in the nonce", value: flip(0)},
		{name: "a bit flipped in the sealed text", value: flip(20)},
		{name: "a bit flipped in the tag", value: flip(len(raw) - 1)},
		{name: "cut short", value: good[:len(good)-4]},
		{name: "sealed with another key", value: other},
		{name: "the state cookie presented as a session", value: state.Value},
		{name: "expired", value: good, advance: 8*time.Hour + time.Second},
		{name: "oversized", value: good + strings.Repeat("A", 5000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the clock is shared.
			r.clock.Add(tt.advance)
			defer r.clock.Add(-tt.advance)
			w := r.request(t, pagePath, []*http.Cookie{{Name: r.cookie, Value: tt.value}})
			if w.Code != http.StatusFound || !strings.HasPrefix(w.Header().Get("Location"), "/auth/login?") {
				t.Fatalf("page: %d, Location %q; want a redirect to sign in", w.Code, w.Header().Get("Location"))
			}
			if c := setCookie(w, r.cookie); c == nil || c.MaxAge >= 0 {
				t.Errorf("the bad cookie was not deleted: %+v", c)
			}
			if w := r.request(t, apiPath, []*http.Cookie{{Name: r.cookie, Value: tt.value}}); w.Code != http.StatusUnauthorized {
				t.Errorf("API: %d, want 401", w.Code)
			}
		})
	}
	// The good cookie still works: the cases above are refused for what
	// they are, not because every cookie is.
	if w := r.request(t, pagePath, []*http.Cookie{{Name: r.cookie, Value: good}}); w.Code != http.StatusOK {
		t.Fatalf("the untouched cookie: %d", w.Code)
	}
}

// TestSessionTokenRevoked: a session whose token GitHub no longer accepts
// is signed out.
func TestSessionTokenRevoked(t *testing.T) {
	t.Parallel()
	r := newAuthRig(t, "http://gate.example", testKey)
	alice := r.signIn(t, "alice")
	// The fake issued one token at the exchange; revoking every token of
	// alice's is what "revoke the app" does at GitHub.
	r.fake.RevokeAll("alice")
	r.clock.Add(githubauth.DefaultTTL) // past the cached yes
	w := r.request(t, pagePath, []*http.Cookie{alice})
	if w.Code != http.StatusFound || !strings.HasPrefix(w.Header().Get("Location"), "/auth/login?") {
		t.Fatalf("page with a revoked token: %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	if c := setCookie(w, r.cookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("the session was not deleted: %+v", c)
	}
}

func TestSignInCallbackRejects(t *testing.T) {
	t.Parallel()
	r := newAuthRig(t, "https://gate.example", testKey)
	tests := []struct {
		name string
		// edit changes the callback's query and the state cookie before
		// the callback is asked.
		edit     func(q url.Values, state *http.Cookie) []*http.Cookie
		advance  time.Duration
		wantCode int
	}{
		{name: "state differs", wantCode: http.StatusBadRequest, edit: func(q url.Values, s *http.Cookie) []*http.Cookie {
			q.Set("state", q.Get("state")+"x")
			return []*http.Cookie{s}
		}},
		{name: "no state", wantCode: http.StatusBadRequest, edit: func(q url.Values, s *http.Cookie) []*http.Cookie {
			q.Del("state")
			return []*http.Cookie{s}
		}},
		{name: "no state cookie (a sign-in started in another browser)", wantCode: http.StatusBadRequest, edit: func(url.Values, *http.Cookie) []*http.Cookie { return nil }},
		{name: "state cookie of another sign-in", wantCode: http.StatusBadRequest, edit: func(q url.Values, s *http.Cookie) []*http.Cookie {
			other, _ := r.startSignIn(t, "/", "mallory")
			return []*http.Cookie{other}
		}},
		{name: "too late", wantCode: http.StatusBadRequest, advance: 11 * time.Minute, edit: func(q url.Values, s *http.Cookie) []*http.Cookie { return []*http.Cookie{s} }},
		{name: "a code GitHub did not issue", wantCode: http.StatusUnauthorized, edit: func(q url.Values, s *http.Cookie) []*http.Cookie {
			q.Set("code", "forged-code")
			return []*http.Cookie{s}
		}},
		{name: "no code", wantCode: http.StatusBadRequest, edit: func(q url.Values, s *http.Cookie) []*http.Cookie {
			q.Del("code")
			return []*http.Cookie{s}
		}},
		{name: "the person said no at GitHub", wantCode: http.StatusUnauthorized, edit: func(q url.Values, s *http.Cookie) []*http.Cookie {
			q.Del("code")
			q.Set("error", "access_denied")
			return []*http.Cookie{s}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, callback := r.startSignIn(t, pagePath, "alice")
			q := callback.Query()
			cookies := tt.edit(q, state)
			r.clock.Add(tt.advance)
			defer r.clock.Add(-tt.advance)
			w := r.request(t, "/auth/callback?"+q.Encode(), cookies)
			if w.Code != tt.wantCode {
				t.Fatalf("callback: %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			if c := setCookie(w, r.cookie); c != nil && c.Value != "" {
				t.Errorf("a session cookie was set: %+v", c)
			}
		})
	}
}

// TestSignInNextStaysHere: where the browser goes after sign-in is a path
// on this server, whatever /auth/login was given.
func TestSignInNextStaysHere(t *testing.T) {
	t.Parallel()
	r := newAuthRig(t, "https://gate.example", testKey)
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/%0d%0aSet-Cookie:x=1", pagePath + "?a=1"} {
		state, callback := r.startSignIn(t, next, "alice")
		w := r.request(t, callback.RequestURI(), []*http.Cookie{state})
		if w.Code != http.StatusFound {
			t.Fatalf("next %q: callback %d %s", next, w.Code, w.Body)
		}
		loc, err := url.Parse(w.Header().Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		dest := (&url.URL{Scheme: "https", Host: "gate.example", Path: "/auth/callback"}).ResolveReference(loc)
		if dest.Host != "gate.example" || dest.Scheme != "https" {
			t.Errorf("next %q: after sign-in the browser goes to %q", next, dest)
		}
	}
}

// TestWithoutSignIn: with no OAuth settings, pages and API are served on a
// loopback listen address (with a banner), to requests that name a
// loopback host; anywhere else they answer 401, and webhooks still work.
func TestWithoutSignIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		loopback bool   // the listen address is loopback
		host     string // Host header; empty: the server's address
		header   string // one more request header, "Name: value"
		wantCode int
		wantText string
	}{
		{name: "loopback listen address", loopback: true, wantCode: http.StatusOK, wantText: "Sign-in is not configured"},
		{name: "loopback, asked as localhost", loopback: true, host: "localhost:8080", wantCode: http.StatusOK},
		{name: "loopback, asked for another name (DNS rebinding)", loopback: true, host: "evil.example:8080", wantCode: http.StatusUnauthorized, wantText: "only requests for localhost"},
		{name: "any other listen address", wantCode: http.StatusUnauthorized, wantText: "sign-in is not configured"},
		{name: "loopback, through a proxy (X-Forwarded-For)", loopback: true, header: "X-Forwarded-For: 203.0.113.9", wantCode: http.StatusUnauthorized, wantText: "through a proxy"},
		{name: "loopback, through a proxy (Forwarded)", loopback: true, header: "Forwarded: for=203.0.113.9", wantCode: http.StatusUnauthorized, wantText: "through a proxy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(o *webhooks.Options) { o.Auth = webhooks.AuthOptions{LoopbackListen: tt.loopback} })
			srv := httptest.NewServer(h.handler) // on 127.0.0.1
			t.Cleanup(srv.Close)
			body := readFixture(t, "pull_request.opened.json")
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/github", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", "pull_request")
			req.Header.Set("X-GitHub-Delivery", "delivery-1")
			req.Header.Set("X-Hub-Signature-256", sign(testSecret, body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("webhook: %d, want 202 whatever the sign-in", resp.StatusCode)
			}
			for _, path := range []string{pagePath, apiPath} {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
				if tt.host != "" {
					req.Host = tt.host
				}
				if k, v, ok := strings.Cut(tt.header, ": "); ok {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.wantCode {
					t.Fatalf("%s: %d, want %d; body %s", path, resp.StatusCode, tt.wantCode, b)
				}
				if tt.wantCode != http.StatusOK && strings.Contains(string(b), helloTitle) {
					t.Errorf("%s: a %d shows the title", path, resp.StatusCode)
				}
				if path == pagePath && !strings.Contains(string(b), tt.wantText) {
					t.Errorf("%s: body lacks %q: %s", path, tt.wantText, b)
				}
			}
		})
	}
	// A request that did not come over a loopback connection is refused
	// even when the listen address is loopback (belt and braces).
	h := newHarness(t, func(o *webhooks.Options) { o.Auth = webhooks.AuthOptions{LoopbackListen: true} })
	if w := h.get(t, apiPath); w.Code != http.StatusUnauthorized {
		t.Errorf("no loopback connection: %d, want 401", w.Code)
	}
	// Sign-in routes say it is not configured.
	if w := h.get(t, "/auth/login"); w.Code != http.StatusNotFound {
		t.Errorf("/auth/login without OAuth settings: %d, want 404", w.Code)
	}
}

// TestOpenPages: GATEKEEPER_UI_AUTH=none serves everyone, anywhere (an
// authenticating proxy in front decides).
func TestOpenPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, openPages)
	if w := h.deliver(t, "pull_request", "delivery-1", readFixture(t, "pull_request.opened.json")); w.Code != http.StatusAccepted {
		t.Fatal(w.Code)
	}
	w := h.get(t, pagePath)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), helloTitle) || strings.Contains(w.Body.String(), "Sign-in is not configured") {
		t.Fatalf("page: %d; want 200, no banner; body %s", w.Code, w.Body)
	}
}

// TestHealthAndMetricsCarryNoPullContent: the endpoints open to everyone
// in every mode say nothing of any pull request.
func TestHealthAndMetricsCarryNoPullContent(t *testing.T) {
	t.Parallel()
	r := newAuthRig(t, "https://gate.example", testKey)
	r.runService(t)
	if w := r.request(t, apiPath, nil, "Authorization: Bearer "+r.fake.Token("alice")); w.Code != http.StatusOK {
		t.Fatal(w.Code)
	}
	private := []string{helloTitle, "Codertocat", "Hello-World", helloHead[:12], "changes", "approval from QA"}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		w := r.request(t, path, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d, want 200 without sign-in", path, w.Code)
		}
		for _, p := range private {
			if strings.Contains(w.Body.String(), p) {
				t.Errorf("%s shows %q", path, p)
			}
		}
	}
}

func TestNewRefusesHalfSignIn(t *testing.T) {
	t.Parallel()
	fake := githubauthtest.NewServer(t)
	gh, err := githubauth.New(githubauth.Options{ClientID: "i", ClientSecret: "s", APIURL: fake.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		auth webhooks.AuthOptions
	}{
		{"no GitHub", webhooks.AuthOptions{Mode: webhooks.AuthGitHub, SessionKey: testKey, PublicURL: "https://gate.example"}},
		{"short key", webhooks.AuthOptions{Mode: webhooks.AuthGitHub, GitHub: gh, SessionKey: []byte("short"), PublicURL: "https://gate.example"}},
		{"no public URL", webhooks.AuthOptions{Mode: webhooks.AuthGitHub, GitHub: gh, SessionKey: testKey}},
		{"unknown mode", webhooks.AuthOptions{Mode: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhooks.New(webhooks.Options{Service: newHarness(t).svc, ParseGitHub: func(string, string, []byte) (e gatekeeper.Event, used bool, err error) { return }, WebhookSecret: []byte("s"), Auth: tt.auth})
			if err == nil {
				t.Error("New accepted it")
			}
		})
	}
}
