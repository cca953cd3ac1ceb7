package githubauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// DefaultTTL is how long a "can read" answer is reused.
const DefaultTTL = 5 * time.Minute

// deniedTTL is how long a "cannot read" answer is reused: shorter, so that
// someone just given access does not wait long.
const deniedTTL = time.Minute

// maxCache bounds the cache; when full it is emptied (the next calls ask
// GitHub again), which keeps memory bounded without an LRU.
const maxCache = 10000

// Options configure New. ClientID and ClientSecret are required.
type Options struct {
	// ClientID and ClientSecret are GITHUB_OAUTH_CLIENT_ID and
	// GITHUB_OAUTH_CLIENT_SECRET, of an OAuth App or a GitHub App.
	ClientID, ClientSecret string
	// APIURL is the REST base (GITHUB_API_URL), default
	// https://api.github.com/.
	APIURL string
	// WebURL is where /login/oauth/authorize and /login/oauth/access_token
	// live; default WebURLFor(APIURL).
	WebURL string
	// Scopes requested from an OAuth App; default "repo", the only OAuth
	// scope that lets GitHub answer for private repositories. A GitHub
	// App ignores it.
	Scopes []string
	// HTTPClient makes every call (default: a client with a 15 s timeout).
	HTTPClient *http.Client
	// TTL is how long a "can read" answer is reused (default DefaultTTL);
	// a "cannot read" one is reused for at most a minute.
	TTL time.Duration
	// Now is the clock of the cache (default time.Now).
	Now func() time.Time
}

// Client signs people in and answers CanRead. It is safe for concurrent
// use.
type Client struct {
	id, secret string
	api, web   *url.URL
	scopes     string
	http       *http.Client
	ttl        time.Duration
	now        func() time.Time

	mu    sync.Mutex
	cache map[cacheKey]cacheEntry
}

type cacheKey struct {
	token      [sha256.Size]byte // never the token itself
	owner, rep string
}

type cacheEntry struct {
	ok      bool
	expires time.Time
}

// WebURLFor returns the web base that goes with a REST base: github.com for
// api.github.com, the host root for GitHub Enterprise's /api/v3/.
func WebURLFor(apiURL string) string {
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" {
		return "https://github.com/"
	}
	if strings.EqualFold(u.Host, "api.github.com") {
		return "https://github.com/"
	}
	p := strings.TrimSuffix(u.Path, "/")
	p = strings.TrimSuffix(p, "/api/v3")
	u.Path = p + "/"
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// New checks the options and returns a Client.
func New(o Options) (*Client, error) {
	if o.ClientID == "" || o.ClientSecret == "" {
		return nil, fmt.Errorf("creating GitHub sign-in: client id and secret are required: %w", gatekeeper.ErrInvalid)
	}
	if o.APIURL == "" {
		o.APIURL = "https://api.github.com/"
	}
	if o.WebURL == "" {
		o.WebURL = WebURLFor(o.APIURL)
	}
	api, err := parseBase(o.APIURL)
	if err != nil {
		return nil, err
	}
	web, err := parseBase(o.WebURL)
	if err != nil {
		return nil, err
	}
	if o.Scopes == nil {
		o.Scopes = []string{"repo"}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Client{
		id: o.ClientID, secret: o.ClientSecret, api: api, web: web,
		scopes: strings.Join(o.Scopes, " "), http: o.HTTPClient, ttl: o.TTL, now: o.Now,
		cache: map[cacheKey]cacheEntry{},
	}, nil
}

func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("parsing GitHub URL %q: want an absolute http(s) URL: %w", raw, gatekeeper.ErrInvalid)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// AuthCodeURL is where /auth/login sends the browser: GitHub's consent
// page, which comes back to redirectURI with the code and state.
func (c *Client) AuthCodeURL(state, redirectURI string) string {
	q := url.Values{"client_id": {c.id}, "redirect_uri": {redirectURI}, "state": {state}, "allow_signup": {"false"}}
	if c.scopes != "" {
		q.Set("scope", c.scopes)
	}
	return c.web.JoinPath("login/oauth/authorize").String() + "?" + q.Encode()
}

// Exchange trades the callback's code for the person's token. A code GitHub
// refuses is an error wrapping gatekeeper.ErrUnauthorized.
func (c *Client) Exchange(ctx context.Context, code, redirectURI string) (string, error) {
	form := url.Values{"client_id": {c.id}, "client_secret": {c.secret}, "code": {code}, "redirect_uri": {redirectURI}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.web.JoinPath("login/oauth/access_token").String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("exchanging the sign-in code: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("exchanging the sign-in code: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("exchanging the sign-in code: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("exchanging the sign-in code: GitHub answered %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", fmt.Errorf("exchanging the sign-in code: decoding the answer: %w", err)
	}
	if out.Error != "" || out.AccessToken == "" {
		// GitHub answers 200 with {"error": "bad_verification_code"}.
		return "", fmt.Errorf("exchanging the sign-in code: GitHub refused it (%q): %w", out.Error, gatekeeper.ErrUnauthorized)
	}
	if out.TokenType != "" && !strings.EqualFold(out.TokenType, "bearer") {
		return "", fmt.Errorf("exchanging the sign-in code: unexpected token type %q: %w", out.TokenType, gatekeeper.ErrUnauthorized)
	}
	return out.AccessToken, nil
}

// gh returns a go-github client that acts as the person holding token.
func (c *Client) gh(token string) *github.Client {
	g := github.NewClient(c.http).WithAuthToken(token)
	u := *c.api
	g.BaseURL = &u
	return g
}

// User returns the login of the token's owner; a token GitHub does not
// accept is an error wrapping gatekeeper.ErrUnauthorized.
func (c *Client) User(ctx context.Context, token string) (string, error) {
	u, resp, err := c.gh(token).Users.Get(ctx, "")
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return "", fmt.Errorf("reading the signed-in user: %w", gatekeeper.ErrUnauthorized)
		}
		return "", fmt.Errorf("reading the signed-in user: %w", err)
	}
	if u.GetLogin() == "" {
		return "", fmt.Errorf("reading the signed-in user: GitHub named no login: %w", gatekeeper.ErrUnauthorized)
	}
	return u.GetLogin(), nil
}

// CanRead reports whether the token's owner can read owner/repo, asking
// GitHub (GET /repos/{owner}/{repo} with their token) at most once per TTL.
// GitHub's 404 and 403 are false, never an error, so that callers answer
// 404 and do not tell a stranger the repository exists. A token GitHub does
// not accept is an error wrapping gatekeeper.ErrUnauthorized.
func (c *Client) CanRead(ctx context.Context, token, owner, repo string) (bool, error) {
	if token == "" {
		return false, fmt.Errorf("checking access to %s/%s: no token: %w", owner, repo, gatekeeper.ErrUnauthorized)
	}
	if !validName(owner) || !validName(repo) {
		// go-github puts the names into the path unescaped: "x?y" or
		// ".." would ask GitHub about another repository than the one
		// the caller then shows. No such repository exists on GitHub.
		return false, nil
	}
	key := cacheKey{token: sha256.Sum256([]byte(token)), owner: strings.ToLower(owner), rep: strings.ToLower(repo)}
	now := c.now()
	c.mu.Lock()
	e, hit := c.cache[key]
	c.mu.Unlock()
	if hit && now.Before(e.expires) {
		return e.ok, nil
	}
	r, resp, err := c.gh(token).Repositories.Get(ctx, owner, repo)
	ok := false
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	switch {
	case errors.As(err, &rl), errors.As(err, &abuse):
		// GitHub answers 403 for a spent budget: that is no answer about
		// access, and is not cached.
		return false, fmt.Errorf("checking access to %s/%s: GitHub rate limit", owner, repo)
	case err == nil:
		// The permissions object is present for an authenticated caller;
		// a public repository says pull: true to everyone. Without it,
		// only a repository GitHub says is public counts.
		ok = r.GetPermissions()["pull"] || (r.Permissions == nil && r.Private != nil && !*r.Private)
	case resp != nil && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden):
		ok = false
	case resp != nil && resp.StatusCode == http.StatusUnauthorized:
		return false, fmt.Errorf("checking access to %s/%s: %w", owner, repo, gatekeeper.ErrUnauthorized)
	default:
		return false, fmt.Errorf("checking access to %s/%s: %w", owner, repo, err)
	}
	ttl := c.ttl
	if !ok {
		ttl = min(ttl, deniedTTL)
	}
	c.mu.Lock()
	if len(c.cache) >= maxCache {
		clear(c.cache)
	}
	c.cache[key] = cacheEntry{ok: ok, expires: now.Add(ttl)}
	c.mu.Unlock()
	return ok, nil
}

// validName reports whether s can be a GitHub owner or repository name:
// letters, digits, '-', '_' and '.', and not "." or "..".
func validName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 100 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
