package webhooks

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// AuthMode says who may read the details page and the API.
type AuthMode int

const (
	// AuthLoopback, the default, is what serves when sign-in is not
	// configured: pages and API answer only on a loopback listen address,
	// over a loopback connection, to a request naming localhost or a
	// loopback address, with a banner saying so; 401 otherwise. Webhooks
	// work either way.
	AuthLoopback AuthMode = iota
	// AuthGitHub requires sign-in with GitHub (a session cookie from the
	// OAuth web flow, or a GitHub token sent as Bearer) and shows a
	// repository only to whom GitHub says can read it.
	AuthGitHub
	// AuthNone (GATEKEEPER_UI_AUTH=none) serves pages and API to anyone:
	// for a deployment behind an authenticating proxy.
	AuthNone
)

// GitHubAuth is what sign-in needs from GitHub; *githubauth.Client
// implements it.
type GitHubAuth interface {
	// AuthCodeURL is GitHub's consent page for state and redirectURI.
	AuthCodeURL(state, redirectURI string) string
	// Exchange trades the callback's code for the person's token.
	Exchange(ctx context.Context, code, redirectURI string) (string, error)
	// User is the login of the token's owner.
	User(ctx context.Context, token string) (string, error)
	// CanRead says whether the token's owner can read owner/repo; a token
	// GitHub refuses is an error wrapping gatekeeper.ErrUnauthorized.
	CanRead(ctx context.Context, token, owner, repo string) (bool, error)
}

// AuthOptions configure who reads pages and API; see AuthMode.
type AuthOptions struct {
	// Mode is who reads; the zero value is AuthLoopback.
	Mode AuthMode
	// GitHub, SessionKey and PublicURL are required for AuthGitHub.
	GitHub GitHubAuth
	// SessionKey (GATEKEEPER_SESSION_KEY, at least 32 bytes) seals the
	// session and state cookies (AES-256-GCM): they can be neither read
	// nor forged without it.
	SessionKey []byte
	// PublicURL is GATEKEEPER_PUBLIC_URL: the callback is PublicURL +
	// /auth/callback, and cookies are Secure when it is https.
	PublicURL string
	// LoopbackListen says the address actually listened on is a loopback
	// one (cmd decides from the bound listener, not the setting's text);
	// AuthLoopback serves pages only when it is true.
	LoopbackListen bool
	// SessionTTL is how long a sign-in lasts (default 8h).
	SessionTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

const (
	sessionCookie = "gatekeeper_session"
	stateCookie   = "gatekeeper_oauth_state"
	stateTTL      = 10 * time.Minute
	// maxCookie bounds what is decoded from a cookie before any check.
	maxCookie = 4096
	// maxToken bounds a Bearer token before it is sent to GitHub; GitHub's
	// tokens are a few dozen to a few hundred characters.
	maxToken = 1024
)

// auth is the sign-in state the handlers share; read-only after New.
type auth struct {
	mode      AuthMode
	gh        GitHubAuth
	aead      cipher.AEAD
	callback  string
	secure    bool
	loopback  bool
	ttl       time.Duration
	now       func() time.Time
	cookiePre string // "__Host-" when Secure: no subdomain can set it
}

func newAuth(o AuthOptions) (*auth, error) {
	a := &auth{mode: o.Mode, gh: o.GitHub, loopback: o.LoopbackListen, ttl: o.SessionTTL, now: o.Now}
	if a.ttl <= 0 {
		a.ttl = 8 * time.Hour
	}
	if a.now == nil {
		a.now = time.Now
	}
	switch o.Mode {
	case AuthLoopback, AuthNone:
		return a, nil
	case AuthGitHub:
	default:
		return nil, fmt.Errorf("creating HTTP server: unknown auth mode %d: %w", o.Mode, gatekeeper.ErrInvalid)
	}
	if o.GitHub == nil {
		return nil, fmt.Errorf("creating HTTP server: sign-in needs GitHub: %w", gatekeeper.ErrInvalid)
	}
	if len(o.SessionKey) < 32 {
		return nil, fmt.Errorf("creating HTTP server: the session key is shorter than 32 bytes: %w", gatekeeper.ErrInvalid)
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("creating HTTP server: public URL %q is not an http(s) URL: %w", o.PublicURL, gatekeeper.ErrInvalid)
	}
	a.callback = strings.TrimSuffix(u.String(), "/") + "/auth/callback"
	a.secure = u.Scheme == "https"
	if a.secure {
		a.cookiePre = "__Host-"
	}
	// A key of its own for the cookies, so that the setting is never used
	// raw and could serve other purposes later.
	mac := hmac.New(sha256.New, o.SessionKey)
	mac.Write([]byte("release gatekeeper cookie key v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("creating HTTP server: %w", err)
	}
	if a.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("creating HTTP server: %w", err)
	}
	return a, nil
}

// session is what the session cookie carries, sealed: the person's GitHub
// token is needed to ask GitHub what they can read.
type session struct {
	Login   string `json:"l"`
	Token   string `json:"t"`
	Expires int64  `json:"e"`
}

// oauthState is what the state cookie carries, sealed: the state sent to
// GitHub, which the callback must bring back, and where to go afterwards.
type oauthState struct {
	State   string `json:"s"`
	Next    string `json:"n"`
	Expires int64  `json:"e"`
}

// errBadCookie is any cookie that does not open: forged, tampered,
// expired, from another key or for another purpose.
var errBadCookie = errors.New("bad cookie")

// seal encrypts and authenticates v for purpose (the cookie's name, as
// associated data, so that a state cookie is never taken for a session).
func (a *auth) seal(purpose string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.aead.NonceSize(), a.aead.NonceSize()+len(plain)+a.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(a.aead.Seal(nonce, nonce, plain, []byte(purpose))), nil
}

// open reverses seal; anything else is errBadCookie.
func (a *auth) open(purpose, value string, v any) error {
	if len(value) > maxCookie {
		return errBadCookie
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < a.aead.NonceSize()+a.aead.Overhead() {
		return errBadCookie
	}
	n := a.aead.NonceSize()
	plain, err := a.aead.Open(nil, raw[:n], raw[n:], []byte(purpose))
	if err != nil {
		return errBadCookie
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return errBadCookie
	}
	return nil
}

// openSession returns the request's valid session, or errBadCookie.
func (a *auth) openSession(value string) (session, error) {
	var s session
	if err := a.open(sessionCookie, value, &s); err != nil {
		return session{}, err
	}
	if s.Login == "" || s.Token == "" || a.now().Unix() >= s.Expires {
		return session{}, errBadCookie
	}
	return s, nil
}

// openState returns the request's valid state cookie, or errBadCookie.
func (a *auth) openState(value string) (oauthState, error) {
	var s oauthState
	if err := a.open(stateCookie, value, &s); err != nil {
		return oauthState{}, err
	}
	if len(s.State) < 32 || a.now().Unix() >= s.Expires || !localPath(s.Next) {
		return oauthState{}, errBadCookie
	}
	return s, nil
}

func (a *auth) setCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: a.cookiePre + name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (a *auth) cookie(c *gin.Context, name string) string {
	v, err := c.Cookie(a.cookiePre + name)
	if err != nil {
		return ""
	}
	return v
}

// localPath reports whether next is a path on this server, so that the
// redirect after sign-in can never leave it ("//evil", "/\evil", a scheme).
func localPath(next string) bool {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t\x00") {
		return false
	}
	u, err := url.Parse(next)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

// loopbackConn reports whether the request's connection arrived on a
// loopback address: the listener's own side of the socket, never a header
// the client writes (Host, X-Forwarded-For).
func loopbackConn(r *http.Request) bool {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || addr == nil {
		return false
	}
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	ap, err := netip.ParseAddrPort(addr.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// viewer is who reads a page or the API. The page shows Login and
// LocalOnly; the token never leaves the server (templates cannot reach an
// unexported field).
type viewer struct {
	Login     string // signed in with GitHub; empty for a Bearer token
	LocalOnly bool   // served without sign-in on loopback
	token     string // the GitHub token that speaks for them (AuthGitHub)
	// fromCookie says the token came from the session cookie, which is
	// cleared when GitHub no longer accepts it.
	fromCookie bool
}

// viewerKey is where signedIn leaves the viewer in the gin context.
const viewerKey = "gatekeeper.viewer"

// errNoSignIn is the 401 of pages and API when sign-in is not configured
// and the address is not loopback.
var errNoSignIn = errors.New("sign-in is not configured: set GITHUB_OAUTH_CLIENT_ID, GITHUB_OAUTH_CLIENT_SECRET and GATEKEEPER_SESSION_KEY, or listen on a loopback address")

// errNotLocalHost is the 401 of pages and API without sign-in, on a
// loopback address, for a request that names another host: a web page
// that re-points its own name at 127.0.0.1 (DNS rebinding) must not read
// what the gatekeeper serves to the person at this machine.
var errNotLocalHost = errors.New("sign-in is not configured: without it, pages and API answer only requests for localhost or a loopback address")

// errProxied is the 401 of pages and API without sign-in, on a loopback
// address, for a request that came through a proxy: a proxy in front of a
// loopback gatekeeper would serve its pages to whoever reaches the proxy.
var errProxied = errors.New("sign-in is not configured: without it, pages and API do not answer requests that came through a proxy; set up sign-in, or GATEKEEPER_UI_AUTH=none behind an authenticating proxy")

// proxied reports whether the request carries the headers a proxy adds; a
// browser on this machine sends none of them.
func proxied(r *http.Request) bool {
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip"} {
		if _, ok := r.Header[h]; ok {
			return true
		}
	}
	return false
}

// bearer returns the token of an "Authorization: Bearer" (or GitHub's own
// "token") header; ok is false for a header of another scheme.
func bearer(r *http.Request) (token string, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", true
	}
	scheme, tok, found := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !found || tok == "" || len(tok) > maxToken || strings.ContainsAny(tok, " \t") || (!strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token")) {
		return "", false
	}
	return tok, true
}

// loopbackHost reports whether the Host a request names is localhost or a
// loopback address.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// isAPI says whether the request is for the JSON API, which answers JSON
// and 401 where a page redirects to sign-in.
func isAPI(c *gin.Context) bool { return strings.HasPrefix(c.Request.URL.Path, "/api/") }

// signedIn guards every page and API route: it lets the request through
// with its viewer, or answers it (401, or a redirect to sign-in) and
// stops. It proves only that someone presented a sealed session or a
// Bearer token, not that GitHub accepts it: a handler that shows anything
// of a repository must ask mayRead (a list, for each repository in it).
func (s *server) signedIn(c *gin.Context) {
	v, ok := s.authenticate(c)
	if !ok {
		c.Abort()
		return
	}
	c.Set(viewerKey, v)
	c.Next()
}

// authenticate finds who asks; see signedIn.
func (s *server) authenticate(c *gin.Context) (viewer, bool) {
	a, api := s.auth, isAPI(c)
	switch a.mode {
	case AuthNone:
		return viewer{}, true
	case AuthLoopback:
		switch {
		case !a.loopback || !loopbackConn(c.Request):
			s.denied(c, api, http.StatusUnauthorized, errNoSignIn)
		case !loopbackHost(c.Request.Host):
			s.denied(c, api, http.StatusUnauthorized, errNotLocalHost)
		case proxied(c.Request):
			s.denied(c, api, http.StatusUnauthorized, errProxied)
		default:
			return viewer{LocalOnly: true}, true
		}
		return viewer{}, false
	}
	// Private content: no cache on the way may keep it, and the answer
	// depends on who asks.
	c.Header("Cache-Control", "private, no-store")
	c.Header("Vary", "Cookie, Authorization")
	token, ok := bearer(c.Request)
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="release gatekeeper"`)
		s.denied(c, api, http.StatusUnauthorized, errors.New("the Authorization header must be Bearer <GitHub token>"))
		return viewer{}, false
	}
	if token != "" {
		return viewer{token: token}, true
	}
	if raw := a.cookie(c, sessionCookie); raw != "" {
		sess, err := a.openSession(raw)
		if err == nil {
			return viewer{Login: sess.Login, token: sess.Token, fromCookie: true}, true
		}
		a.setCookie(c, sessionCookie, "", -1)
	}
	s.signInFirst(c, api)
	return viewer{}, false
}

// signInFirst answers a request without a valid sign-in: 401 for the API,
// a redirect to sign-in (and back here) for a page.
func (s *server) signInFirst(c *gin.Context, api bool) {
	if api {
		c.Header("WWW-Authenticate", `Bearer realm="release gatekeeper"`)
		s.denied(c, true, http.StatusUnauthorized, errors.New("sign in with GitHub, or send a GitHub token as Authorization: Bearer"))
		return
	}
	c.Redirect(http.StatusFound, "/auth/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
}

// viewerOf returns the viewer signedIn found.
func viewerOf(c *gin.Context) viewer {
	v, _ := c.Get(viewerKey)
	w, _ := v.(viewer)
	return w
}

// mayRead decides whether the viewer may read key's repository, asking
// GitHub with the viewer's own token (cached briefly). When they may not,
// it answers the request itself and returns false: a repository GitHub
// does not show them is 404, the very answer of a pull request never
// seen, so that a stranger learns nothing of what exists; a token GitHub
// refuses is 401 (a page: sign in again); no answer from GitHub is 503.
func (s *server) mayRead(c *gin.Context, key gatekeeper.PullKey) bool {
	a, api := s.auth, isAPI(c)
	if a.mode != AuthGitHub {
		return true // signedIn let the request through
	}
	v := viewerOf(c)
	if v.token == "" {
		s.signInFirst(c, api) // a route outside the signedIn group
		return false
	}
	readable, err := a.gh.CanRead(c.Request.Context(), v.token, key.Owner, key.Repo)
	switch {
	case errors.Is(err, gatekeeper.ErrUnauthorized):
		if v.fromCookie {
			a.setCookie(c, sessionCookie, "", -1)
			s.signInFirst(c, api)
		} else {
			c.Header("WWW-Authenticate", `Bearer realm="release gatekeeper", error="invalid_token"`)
			s.denied(c, api, http.StatusUnauthorized, errors.New("GitHub does not accept the token"))
		}
		return false
	case err != nil:
		s.log.ErrorContext(c.Request.Context(), "checking repository access", "repo", key.Owner+"/"+key.Repo, "err", err.Error())
		s.denied(c, api, http.StatusServiceUnavailable, errors.New("GitHub cannot say who may read this right now; try again shortly"))
		return false
	case !readable:
		if api {
			c.JSON(http.StatusNotFound, gin.H{"error": publicError(gatekeeper.ErrNotFound)})
		} else {
			s.renderError(c, gatekeeper.ErrNotFound, key)
		}
		return false
	}
	return true
}

// denied answers a request that may not read: JSON for the API, a page
// otherwise.
func (s *server) denied(c *gin.Context, api bool, code int, err error) {
	if api {
		c.JSON(code, gin.H{"error": err.Error()})
		return
	}
	title := "Sign-in required"
	if code >= http.StatusInternalServerError {
		title = "Unavailable"
	}
	s.render(c, code, "error.html", errorPage{Code: code, Title: title, Message: err.Error()})
}

// login answers GET /auth/login: a fresh state, bound to this browser by a
// sealed cookie, and off to GitHub's consent page.
func (s *server) login(c *gin.Context) {
	a := s.auth
	if a.mode != AuthGitHub {
		s.denied(c, false, http.StatusNotFound, errors.New("sign-in with GitHub is not configured on this gatekeeper"))
		return
	}
	next := c.Query("next")
	if !localPath(next) {
		next = "/"
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		s.denied(c, false, http.StatusServiceUnavailable, errors.New("try again"))
		return
	}
	st := oauthState{State: base64.RawURLEncoding.EncodeToString(b), Next: next, Expires: a.now().Add(stateTTL).Unix()}
	sealed, err := a.seal(stateCookie, st)
	if err != nil {
		s.denied(c, false, http.StatusServiceUnavailable, errors.New("try again"))
		return
	}
	a.setCookie(c, stateCookie, sealed, int(stateTTL/time.Second))
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, a.gh.AuthCodeURL(st.State, a.callback))
}

// callback answers GET /auth/callback: the state must match this
// browser's state cookie (else 400: a forged or replayed sign-in), then
// the code is exchanged and the session cookie set.
func (s *server) callback(c *gin.Context) {
	a := s.auth
	if a.mode != AuthGitHub {
		s.denied(c, false, http.StatusNotFound, errors.New("sign-in with GitHub is not configured on this gatekeeper"))
		return
	}
	c.Header("Cache-Control", "no-store")
	raw := a.cookie(c, stateCookie)
	a.setCookie(c, stateCookie, "", -1) // one use only
	st, err := a.openState(raw)
	got := c.Query("state")
	if err != nil || subtle.ConstantTimeCompare([]byte(got), []byte(st.State)) != 1 {
		s.render(c, http.StatusBadRequest, "error.html", errorPage{Code: http.StatusBadRequest, Title: "Sign-in did not match",
			Message: "This sign-in was not started from this browser, or it took too long. Start again from the page you wanted."})
		return
	}
	if e := c.Query("error"); e != "" {
		s.render(c, http.StatusUnauthorized, "error.html", errorPage{Code: http.StatusUnauthorized, Title: "Not signed in",
			Message: "GitHub did not sign you in."})
		return
	}
	code := c.Query("code")
	if code == "" || len(code) > 512 {
		s.render(c, http.StatusBadRequest, "error.html", errorPage{Code: http.StatusBadRequest, Title: "Not signed in", Message: "GitHub sent no sign-in code."})
		return
	}
	ctx := c.Request.Context()
	token, err := a.gh.Exchange(ctx, code, a.callback)
	var login string
	if err == nil {
		login, err = a.gh.User(ctx, token)
	}
	if err != nil {
		if errors.Is(err, gatekeeper.ErrUnauthorized) {
			s.render(c, http.StatusUnauthorized, "error.html", errorPage{Code: http.StatusUnauthorized, Title: "Not signed in", Message: "GitHub did not accept the sign-in; start again."})
			return
		}
		s.log.ErrorContext(ctx, "signing in with GitHub", "err", err.Error())
		s.render(c, http.StatusServiceUnavailable, "error.html", errorPage{Code: http.StatusServiceUnavailable, Title: "Unavailable", Message: "GitHub cannot be reached right now; try again shortly."})
		return
	}
	sealed, err := a.seal(sessionCookie, session{Login: login, Token: token, Expires: a.now().Add(a.ttl).Unix()})
	if err != nil {
		s.denied(c, false, http.StatusServiceUnavailable, errors.New("try again"))
		return
	}
	a.setCookie(c, sessionCookie, sealed, int(a.ttl/time.Second))
	s.log.InfoContext(ctx, "signed in", "user", login)
	c.Redirect(http.StatusFound, st.Next)
}

// logout answers /auth/logout: the session (and any half-done sign-in)
// cookie is cleared. The token
// stays valid at GitHub until the person revokes it there.
func (s *server) logout(c *gin.Context) {
	s.auth.setCookie(c, sessionCookie, "", -1)
	s.auth.setCookie(c, stateCookie, "", -1)
	c.Header("Cache-Control", "no-store")
	s.render(c, http.StatusOK, "error.html", errorPage{Code: http.StatusOK, Title: "Signed out",
		Message: "You are signed out of the release gatekeeper."})
}
