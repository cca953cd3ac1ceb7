package githubapi

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Endpoint names of the calls a GitHub App makes besides the ones in
// Endpoints: the App itself (with its JWT), the installation that holds a
// repository or organisation, and installation tokens.
const (
	EndpointGetApp                  = "get_app"
	EndpointGetInstallation         = "get_installation"
	EndpointCreateInstallationToken = "create_installation_token"
)

// ErrNotInstalled is wrapped by errors of calls about a repository or
// organisation the GitHub App is not installed on (GET …/installation
// answered 404), and of calls that name neither. Such a call is not
// retried.
var ErrNotInstalled = errors.New("github app is not installed there")

// ErrAppRefused is wrapped by errors of calls GitHub refused because it
// refused the App's own authentication (its JWT, or the creation of an
// installation token, answered with a 4xx): a wrong App id or key, a
// suspended installation. Retrying cannot help, so the Client does not.
var ErrAppRefused = errors.New("github app authentication refused")

// App is a GitHub App's identity: its id and the PEM private key it signs
// its JWTs with (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY).
type App struct {
	ID         int64
	PrivateKey []byte
}

// CheckAppKey reports whether key is a PEM RSA private key a GitHub App
// can sign with (PKCS#1, as GitHub hands them out, or PKCS#8). The error
// never quotes the key.
func CheckAppKey(key []byte) error {
	_, err := parseAppKey(key)
	return err
}

func parseAppKey(key []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(key)
	if block == nil {
		return nil, fmt.Errorf("%w: not a PEM block", gatekeeper.ErrInvalid)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: not an RSA private key (PKCS#1 or PKCS#8)", gatekeeper.ErrInvalid)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T, not an RSA private key", gatekeeper.ErrInvalid, k)
	}
	return rk, nil
}

// How long the installation of a repository or organisation is remembered.
// An installation keeps its id while it exists; the hour only bounds how
// long a repository transferred to another installation is called with the
// old one's token. Not being installed is remembered for a minute, so that
// events from such a repository do not each cost a JWT call, yet installing
// the App takes effect soon.
const (
	installationTTL    = time.Hour
	notInstalledTTL    = time.Minute
	maxInstallationIDs = 4096
)

// installations is the http.RoundTripper of a Client in App mode. It picks
// the installation of the repository (…/repos/{owner}/{repo}/…) or the
// organisation (…/orgs/{org}/…) a request names, looks it up once with the
// App's JWT (GET /repos/{o}/{r}/installation or GET /orgs/{org}/installation,
// then cached), and sends the request with that installation's token
// ("Authorization: token …"), which ghinstallation creates and refreshes a
// minute before it expires. Requests to /app and below go with the JWT.
// It is safe for concurrent use; a lookup or a token refresh for one
// installation never waits for another's.
type installations struct {
	appID   int64
	key     *rsa.PrivateKey
	base    *url.URL // the REST base, with its trailing slash
	apiRoot string   // the base without it, as ghinstallation wants it
	next    http.RoundTripper
	jwt     *ghinstallation.AppsTransport
	clock   gatekeeper.Clock
	observe func(endpoint, code string)

	mu     sync.Mutex
	owners map[string]*ownerEntry              // "repos/o/r" or "orgs/o" → its installation
	tokens map[int64]*ghinstallation.Transport // installation id → its token
}

// ownerEntry is one cached lookup; mu is held while it is looked up, so
// that concurrent requests for one repository make one lookup.
type ownerEntry struct {
	mu      sync.Mutex
	id      int64 // 0 while unknown
	err     error // ErrNotInstalled, remembered until expires
	expires time.Time
}

func newInstallations(app App, base *url.URL, next http.RoundTripper, clock gatekeeper.Clock, observe func(string, string)) (*installations, error) {
	if app.ID <= 0 {
		return nil, fmt.Errorf("github app id %d: %w: want a positive number", app.ID, gatekeeper.ErrInvalid)
	}
	key, err := parseAppKey(app.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("github app private key: %w", err)
	}
	in := &installations{
		appID:   app.ID,
		key:     key,
		base:    base,
		apiRoot: strings.TrimSuffix(base.String(), "/"),
		next:    next,
		clock:   clock,
		observe: observe,
		owners:  map[string]*ownerEntry{},
		tokens:  map[int64]*ghinstallation.Transport{},
	}
	in.jwt = in.appsTransport()
	return in, nil
}

// appsTransport returns a new JWT transport. Each installation gets its
// own: ghinstallation's token refresh writes to the JWT transport it
// holds, so sharing one between installations would race.
func (in *installations) appsTransport() *ghinstallation.AppsTransport {
	t := ghinstallation.NewAppsTransportFromPrivateKey(appObserved{in.next, in.observe}, in.appID, in.key)
	t.BaseURL = in.apiRoot
	return t
}

// RoundTrip sends req as the installation that owns what it names. A
// redirect (GitHub answers 301 to …/repos/{o}/{r}/… for a renamed
// repository, with a Location under /repositories/{id}/…) goes as the
// installation of the request that was redirected; whatever the path, a
// token is only ever sent to the API base's host.
func (in *installations) RoundTrip(req *http.Request) (*http.Response, error) {
	return in.roundTrip(req, nil)
}

// roundTrip is RoundTrip; before, when set, is told the installation the
// request goes as, and stops it by returning an error.
func (in *installations) roundTrip(req *http.Request, before func(inst int64) error) (*http.Response, error) {
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	owner, lookup, err := in.route(first.URL)
	if err == nil && (req.URL.Host != in.base.Host || req.URL.Scheme != in.base.Scheme) {
		err = fmt.Errorf("%w: %s is not under the GitHub API base", ErrNotInstalled, req.URL.Redacted())
	}
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if owner == "" {
		return in.jwt.RoundTrip(cloneRequest(req)) // the App itself
	}
	id, err := in.installation(req.Context(), owner, lookup)
	if err == nil && before != nil {
		err = before(id)
	}
	if err != nil {
		closeBody(req)
		return nil, err
	}
	// The budget transport below keys kept answers and paces writes by
	// the installation, not by its hourly token.
	req = req.WithContext(withCredential(req.Context(), "installation/"+strconv.FormatInt(id, 10)))
	resp, err := in.tokenTransport(id).RoundTrip(req)
	var he *ghinstallation.HTTPError
	if errors.As(err, &he) {
		code := 0
		if he.Response != nil {
			code = he.Response.StatusCode
			he.Response.Body.Close() // ghinstallation leaves it open
		}
		if code == http.StatusNotFound || code == http.StatusUnauthorized || code == http.StatusForbidden {
			in.forget(owner) // uninstalled or suspended: look it up again next time
		}
		if code >= 400 && code < 500 {
			return nil, fmt.Errorf("creating a token for installation %d: %w: %d", id, ErrAppRefused, code)
		}
	}
	return resp, err
}

// route names the owner of what u asks for ("repos/o/r" or "orgs/o") and
// the path of its installation lookup; "" for the App's own endpoints.
func (in *installations) route(u *url.URL) (owner, lookup string, err error) {
	rel, ok := strings.CutPrefix(u.Path, in.base.Path)
	if !ok || u.Host != in.base.Host || u.Scheme != in.base.Scheme {
		return "", "", fmt.Errorf("%w: %s is not under the GitHub API base", ErrNotInstalled, u.Redacted())
	}
	parts := strings.Split(rel, "/")
	switch {
	case parts[0] == "app":
		return "", "", nil
	case parts[0] == "repos" && len(parts) >= 3 && parts[1] != "" && parts[2] != "":
		// GitHub compares names case-insensitively: so does the cache.
		o, r := parts[1], parts[2]
		return strings.ToLower("repos/" + o + "/" + r), "repos/" + url.PathEscape(o) + "/" + url.PathEscape(r) + "/installation", nil
	case parts[0] == "orgs" && len(parts) >= 2 && parts[1] != "":
		return strings.ToLower("orgs/" + parts[1]), "orgs/" + url.PathEscape(parts[1]) + "/installation", nil
	}
	return "", "", fmt.Errorf("%w: %s names no repository or organisation", ErrNotInstalled, rel)
}

// installation returns the installation id of owner, from the cache or
// by GET base+lookup with the App's JWT.
func (in *installations) installation(ctx context.Context, owner, lookup string) (int64, error) {
	in.mu.Lock()
	e, ok := in.owners[owner]
	if !ok {
		if len(in.owners) >= maxInstallationIDs {
			in.owners = map[string]*ownerEntry{} // start again: costs lookups, never a wrong answer
		}
		e = &ownerEntry{}
		in.owners[owner] = e
	}
	in.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := in.clock.Now()
	if (e.id != 0 || e.err != nil) && now.Before(e.expires) {
		return e.id, e.err
	}
	id, err := in.lookup(ctx, lookup)
	switch {
	case errors.Is(err, ErrNotInstalled):
		e.id, e.err, e.expires = 0, fmt.Errorf("%s: %w", owner, err), now.Add(notInstalledTTL)
		return 0, e.err
	case err != nil:
		return 0, fmt.Errorf("looking up the github app installation of %s: %w", owner, err)
	}
	e.id, e.err, e.expires = id, nil, now.Add(installationTTL)
	return id, nil
}

// lookup asks GitHub for an installation id.
func (in *installations) lookup(ctx context.Context, path string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.base.String()+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := in.jwt.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return 0, ErrNotInstalled
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return 0, fmt.Errorf("%w: GET %s answered %s (check GITHUB_APP_ID and the private key)", ErrAppRefused, path, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("GET %s answered %s", path, resp.Status)
	}
	var inst struct {
		ID int64 `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&inst); err != nil || inst.ID <= 0 {
		return 0, fmt.Errorf("GET %s: no installation id in the answer", path)
	}
	return inst.ID, nil
}

// tokenTransport returns the token transport of installation id.
func (in *installations) tokenTransport(id int64) *ghinstallation.Transport {
	in.mu.Lock()
	defer in.mu.Unlock()
	if t, ok := in.tokens[id]; ok {
		return t
	}
	t := ghinstallation.NewFromAppsTransport(in.appsTransport(), id)
	t.BaseURL = in.apiRoot
	in.tokens[id] = t
	return t
}

// forget drops the cached installation of owner.
func (in *installations) forget(owner string) {
	in.mu.Lock()
	delete(in.owners, owner)
	in.mu.Unlock()
}

// appObserved reports the App's own calls (installation lookups and token
// creations) to Observe; the calls the Client makes are reported by do.
type appObserved struct {
	next    http.RoundTripper
	observe func(endpoint, code string)
}

func (o appObserved) RoundTrip(req *http.Request) (*http.Response, error) {
	endpoint := ""
	switch {
	case strings.HasSuffix(req.URL.Path, "/installation"):
		endpoint = EndpointGetInstallation
	case strings.HasSuffix(req.URL.Path, "/access_tokens"):
		endpoint = EndpointCreateInstallationToken
	}
	resp, err := o.next.RoundTrip(req)
	if endpoint != "" {
		var gr *github.Response
		if resp != nil {
			gr = &github.Response{Response: resp}
		}
		o.observe(endpoint, resultCode(req.Context(), gr, err))
	}
	return resp, err
}

// cloneRequest is a shallow copy of req with its own headers, as a
// RoundTripper that changes headers must make.
func cloneRequest(req *http.Request) *http.Request {
	c := req.Clone(req.Context())
	return c
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// AppLogin returns the login GitHub names as the creator of what the App
// posts: its slug followed by "[bot]" (GET /app, with the App's JWT). The
// answer is kept: later calls do not contact GitHub. It is "" with no
// error for a Client that is not a GitHub App.
func (c *Client) AppLogin(ctx context.Context) (string, error) {
	if c.app == nil {
		return "", nil
	}
	c.appFetch.Lock() // one GET /app at a time; Login() reads appLogin meanwhile
	defer c.appFetch.Unlock()
	if l := c.knownAppLogin(); l != "" {
		return l, nil
	}
	var app *github.App
	err := c.do(ctx, EndpointGetApp, waitForLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		app, resp, err = gh.Apps.Get(ctx, "")
		return resp, err
	})
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		switch er.Response.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			// A wrong App id or key, or a base URL with no GitHub App API.
			return "", fmt.Errorf("reading the github app (GET /app): %w: %w", ErrAppRefused, err)
		}
	}
	if err != nil {
		return "", fmt.Errorf("reading the github app (GET /app): %w", err)
	}
	if app.GetSlug() == "" {
		return "", errors.New("reading the github app (GET /app): github named no slug")
	}
	login := app.GetSlug() + "[bot]"
	c.appMu.Lock()
	c.appLogin = login
	c.appMu.Unlock()
	return login, nil
}

// knownAppLogin returns AppLogin's kept answer without calling GitHub.
func (c *Client) knownAppLogin() string {
	if c == nil || c.app == nil {
		return ""
	}
	c.appMu.Lock()
	defer c.appMu.Unlock()
	return c.appLogin
}

// IsApp reports whether the Client authenticates as a GitHub App.
func (c *Client) IsApp() bool { return c.app != nil }
