package githubauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubauth"
	"github.com/releasegate/gatekeeper/gatekeeper/githubauth/githubauthtest"
)

// recordedRepo is the repository object of a recorded webhook payload,
// which is the shape GET /repos/{owner}/{repo} returns (without the
// permissions the fake adds per caller).
func recordedRepo(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../test/testdata/fixtures/github/pull_request.opened.json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Repository map[string]any `json:"repository"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p.Repository
}

// clock is a settable clock for the cache.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rig is a fake GitHub with a private repository acme/secret that alice can
// read and bob cannot, a public one acme/open, and a client talking to it.
type rig struct {
	gh     *githubauth.Client
	fake   *githubauthtest.Server
	clock  *clock
	alice  string // tokens
	bob    string
	secret string // "GET /repos/acme/secret"
}

func newRig(t *testing.T) *rig {
	t.Helper()
	fake := githubauthtest.NewServer(t)
	repo := recordedRepo(t)
	fake.AddRepo("acme/secret", repo, true, "alice")
	fake.AddRepo("acme/open", repo, false)
	c := &clock{now: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	gh, err := githubauth.New(githubauth.Options{
		ClientID: githubauthtest.ClientID, ClientSecret: githubauthtest.ClientSecret,
		APIURL: fake.APIURL(), Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{gh: gh, fake: fake, clock: c, alice: fake.Token("alice"), bob: fake.Token("bob"), secret: "GET /repos/acme/secret"}
}

func TestCanRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		token       func(r *rig) string
		owner, repo string
		want        bool
		wantErr     error // errors.Is; nil: no error
		wantCalls   int   // GET /repos/acme/secret
	}{
		{name: "a reader of a private repository", token: func(r *rig) string { return r.alice }, owner: "acme", repo: "secret", want: true, wantCalls: 1},
		{name: "the name in another case is the same repository", token: func(r *rig) string { return r.alice }, owner: "ACME", repo: "Secret", want: true},
		{name: "someone GitHub answers 404", token: func(r *rig) string { return r.bob }, owner: "acme", repo: "secret", want: false, wantCalls: 1},
		{name: "anyone reads a public repository", token: func(r *rig) string { return r.bob }, owner: "acme", repo: "open", want: true},
		{name: "a repository that does not exist", token: func(r *rig) string { return r.alice }, owner: "acme", repo: "nothing", want: false},
		{name: "a token GitHub does not know", token: func(*rig) string { return "gho_forged" }, owner: "acme", repo: "secret", wantErr: gatekeeper.ErrUnauthorized, wantCalls: 1},
		{name: "no token", token: func(*rig) string { return "" }, owner: "acme", repo: "secret", wantErr: gatekeeper.ErrUnauthorized},
		{name: "a name that would change the path is not asked about", token: func(r *rig) string { return r.alice }, owner: "acme", repo: "open?x=", want: false},
		{name: "dot-dot is not asked about", token: func(r *rig) string { return r.alice }, owner: "..", repo: "open", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			got, err := r.gh.CanRead(context.Background(), tt.token(r), tt.owner, tt.repo)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("CanRead err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("CanRead: %v", err)
			}
			if got != tt.want {
				t.Errorf("CanRead = %v, want %v", got, tt.want)
			}
			if n := r.fake.Calls(r.secret); n != tt.wantCalls {
				t.Errorf("GitHub was asked %d times about acme/secret, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestCanReadCaches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	ask := func(token string, want bool) {
		t.Helper()
		got, err := r.gh.CanRead(ctx, token, "acme", "secret")
		if err != nil || got != want {
			t.Fatalf("CanRead = %v, %v; want %v", got, err, want)
		}
	}
	// A yes is reused for DefaultTTL, per token: bob's no is his own.
	ask(r.alice, true)
	ask(r.alice, true)
	ask(r.bob, false)
	ask(r.bob, false)
	if n := r.fake.Calls(r.secret); n != 2 {
		t.Fatalf("after two people asked twice each, GitHub was asked %d times, want 2", n)
	}
	// A no is reused for a minute only: access given shows soon.
	r.fake.Grant("acme/secret", "bob")
	r.clock.Add(59 * time.Second)
	ask(r.bob, false)
	r.clock.Add(time.Second)
	ask(r.bob, true)
	// Access taken away shows once the yes expires, not before.
	r.fake.Deny("acme/secret", "alice")
	r.clock.Add(githubauth.DefaultTTL - time.Minute - time.Second)
	ask(r.alice, true)
	r.clock.Add(time.Second)
	ask(r.alice, false)
	if n := r.fake.Calls(r.secret); n != 4 {
		t.Errorf("GitHub was asked %d times, want 4", n)
	}
}

func TestCanReadRateLimitedIsNoAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	r.fake.RateLimit(true)
	ok, err := r.gh.CanRead(ctx, r.alice, "acme", "secret")
	if err == nil || ok || errors.Is(err, gatekeeper.ErrUnauthorized) {
		t.Fatalf("rate limited: CanRead = %v, %v; want an error that is not ErrUnauthorized", ok, err)
	}
	// Not cached: the next call asks again and gets the real answer.
	r.fake.RateLimit(false)
	ok, err = r.gh.CanRead(ctx, r.alice, "acme", "secret")
	if err != nil || !ok {
		t.Fatalf("after the limit: CanRead = %v, %v; want true", ok, err)
	}
}

func TestCanReadRevokedToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	if ok, err := r.gh.CanRead(ctx, r.alice, "acme", "secret"); err != nil || !ok {
		t.Fatalf("CanRead = %v, %v", ok, err)
	}
	r.fake.Revoke(r.alice)
	// The cached yes stands until it expires; then GitHub's 401 is an
	// error, not a "no".
	r.clock.Add(githubauth.DefaultTTL)
	if _, err := r.gh.CanRead(ctx, r.alice, "acme", "secret"); !errors.Is(err, gatekeeper.ErrUnauthorized) {
		t.Fatalf("revoked token: err = %v, want ErrUnauthorized", err)
	}
}

// TestWebFlow walks the OAuth web flow against the fake: the consent URL,
// the code GitHub sends back, the exchange and the user.
func TestWebFlow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	const callback = "https://gate.example/auth/callback"
	r.fake.SignIn("carol")
	consent, err := url.Parse(r.gh.AuthCodeURL("state-123", callback))
	if err != nil {
		t.Fatal(err)
	}
	wantQuery := url.Values{"client_id": {githubauthtest.ClientID}, "redirect_uri": {callback}, "state": {"state-123"}, "scope": {"repo"}, "allow_signup": {"false"}}
	if diff := cmp.Diff(wantQuery, consent.Query()); diff != "" {
		t.Errorf("consent URL query (-want +got):\n%s", diff)
	}
	if consent.Path != "/login/oauth/authorize" {
		t.Errorf("consent URL path = %q", consent.Path)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(consent.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Query().Get("state") != "state-123" || back.Query().Get("code") == "" {
		t.Fatalf("GitHub sent the browser to %q", resp.Header.Get("Location"))
	}
	code := back.Query().Get("code")
	if _, err := r.gh.Exchange(ctx, code, "https://elsewhere.example/auth/callback"); !errors.Is(err, gatekeeper.ErrUnauthorized) {
		t.Errorf("exchange for another redirect_uri: err = %v, want ErrUnauthorized", err)
	}
	// The fake, like GitHub, spends the code on the first exchange.
	if _, err := r.gh.Exchange(ctx, code, callback); !errors.Is(err, gatekeeper.ErrUnauthorized) {
		t.Errorf("exchange of a spent code: err = %v, want ErrUnauthorized", err)
	}
	resp, err = noRedirect.Get(consent.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ = url.Parse(resp.Header.Get("Location"))
	token, err := r.gh.Exchange(ctx, back.Query().Get("code"), callback)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	login, err := r.gh.User(ctx, token)
	if err != nil || login != "carol" {
		t.Fatalf("User = %q, %v; want carol", login, err)
	}
	if _, err := r.gh.User(ctx, "gho_forged"); !errors.Is(err, gatekeeper.ErrUnauthorized) {
		t.Errorf("User of a forged token: err = %v, want ErrUnauthorized", err)
	}
}

func TestExchangeWrongSecret(t *testing.T) {
	t.Parallel()
	fake := githubauthtest.NewServer(t)
	gh, err := githubauth.New(githubauth.Options{ClientID: githubauthtest.ClientID, ClientSecret: "not-the-secret", APIURL: fake.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gh.Exchange(context.Background(), "any", "https://gate.example/auth/callback"); !errors.Is(err, gatekeeper.ErrUnauthorized) {
		t.Errorf("err = %v, want ErrUnauthorized", err)
	}
}

func TestWebURLFor(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, api, want string }{
		{"github.com", "https://api.github.com/", "https://github.com/"},
		{"GitHub Enterprise", "https://ghe.example.com/api/v3/", "https://ghe.example.com/"},
		{"GitHub Enterprise without the slash", "https://ghe.example.com/api/v3", "https://ghe.example.com/"},
		{"a fake on loopback", "http://127.0.0.1:4000/", "http://127.0.0.1:4000/"},
		{"not a URL", "::", "https://github.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := githubauth.WebURLFor(tt.api); got != tt.want {
				t.Errorf("WebURLFor(%q) = %q, want %q", tt.api, got, tt.want)
			}
		})
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    githubauth.Options
	}{
		{"no client id", githubauth.Options{ClientSecret: "s"}},
		{"no secret", githubauth.Options{ClientID: "i"}},
		{"API URL not http", githubauth.Options{ClientID: "i", ClientSecret: "s", APIURL: "ftp://x/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := githubauth.New(tt.o); !errors.Is(err, gatekeeper.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestCanReadNeedsGitHubToSaySo: a 200 that names neither the caller's
// permissions nor the repository's visibility is not a yes.
func TestCanReadNeedsGitHubToSaySo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       bool
	}{
		{name: "no permissions, no visibility", body: `{"full_name":"acme/x"}`, want: false},
		{name: "no permissions, private", body: `{"full_name":"acme/x","private":true}`, want: false},
		{name: "no permissions, public", body: `{"full_name":"acme/x","private":false}`, want: true},
		{name: "pull false", body: `{"full_name":"acme/x","private":true,"permissions":{"pull":false}}`, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			gh, err := githubauth.New(githubauth.Options{ClientID: "i", ClientSecret: "s", APIURL: srv.URL + "/"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := gh.CanRead(context.Background(), "gho_x", "acme", "x")
			if err != nil || got != tt.want {
				t.Errorf("CanRead = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
