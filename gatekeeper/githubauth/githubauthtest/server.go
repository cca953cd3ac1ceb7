// Package githubauthtest is a fake of the parts of GitHub that sign-in
// uses, served over real HTTP by httptest: the OAuth web flow
// (/login/oauth/authorize, /login/oauth/access_token), GET /user and
// GET /repos/{owner}/{repo}. It answers the way GitHub documents, so that
// the real githubauth client (go-github underneath) is what the tests run:
//
//   - the authorize page signs in whoever the test says is signed in at
//     GitHub and sends the browser back to redirect_uri with a one-time code
//     and the state it was given;
//   - the token endpoint answers 200 with {"error":"bad_verification_code"}
//     for a code it did not issue, already used, or for another
//     redirect_uri, and {"access_token":…,"token_type":"bearer"} otherwise;
//   - a private repository is 404 to a token whose user may not read it,
//     and any call with an unknown token is 401 "Bad credentials".
package githubauthtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// ClientID and ClientSecret are the OAuth credentials the fake accepts.
const (
	ClientID     = "Iv1.fake0client0id"
	ClientSecret = "fake-client-secret-0123456789abcdef"
)

// Server is the fake GitHub. Its URL serves both the web flow and the REST
// API, as a GitHub Enterprise host does (the API under / here).
type Server struct {
	*httptest.Server

	mu          sync.Mutex
	signedIn    string              // who is signed in at "github.com"
	tokens      map[string]string   // token -> login
	codes       map[string]codeInfo // one-time codes
	repos       map[string]repo     // lower-case full name
	calls       map[string]int      // "GET /repos/o/r" -> count
	rateLimited bool
}

type codeInfo struct{ login, redirect string }

type repo struct {
	body    map[string]any
	private bool
	readers map[string]bool // logins
}

// NewServer starts the fake; it stops when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{tokens: map[string]string{}, codes: map[string]codeInfo{}, repos: map[string]repo{}, calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// APIURL is the REST base to give the client (GITHUB_API_URL).
func (s *Server) APIURL() string { return s.URL + "/" }

// SignIn makes login the person signed in at GitHub: the next authorize
// request signs them in. An empty login means nobody is, and the authorize
// page answers access_denied, as when someone clicks Cancel.
func (s *Server) SignIn(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signedIn = login
}

// Token issues a token for login (as a personal access token would be) and
// returns it.
func (s *Server) Token(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := "gho_" + random()
	s.tokens[tok] = login
	return tok
}

// Revoke makes token unknown to GitHub from now on.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
}

// RevokeAll makes every token of login unknown to GitHub, as revoking the
// app's access does.
func (s *Server) RevokeAll(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, l := range s.tokens {
		if l == login {
			delete(s.tokens, tok)
		}
	}
}

// AddRepo adds the repository fullName ("owner/name"). body is the
// repository object GitHub returns (a webhook payload's "repository" is
// one); private decides whether strangers get 404; readers may read it.
func (s *Server) AddRepo(fullName string, body map[string]any, private bool, readers ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := repo{body: map[string]any{}, private: private, readers: map[string]bool{}}
	for k, v := range body {
		r.body[k] = v
	}
	owner, name, _ := strings.Cut(fullName, "/")
	r.body["full_name"], r.body["name"], r.body["private"] = fullName, name, private
	if o, ok := r.body["owner"].(map[string]any); ok {
		c := map[string]any{}
		for k, v := range o {
			c[k] = v
		}
		c["login"] = owner
		r.body["owner"] = c
	}
	for _, l := range readers {
		r.readers[l] = true
	}
	s.repos[strings.ToLower(fullName)] = r
}

// Grant lets login read fullName from now on; Deny takes it back.
func (s *Server) Grant(fullName, login string) { s.setReader(fullName, login, true) }

// Deny takes back what Grant gave.
func (s *Server) Deny(fullName, login string) { s.setReader(fullName, login, false) }

func (s *Server) setReader(fullName, login string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, found := s.repos[strings.ToLower(fullName)]; found {
		r.readers[login] = ok
	}
}

// RateLimit makes every REST call answer GitHub's 403 for a spent budget
// while on is true.
func (s *Server) RateLimit(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited = on
}

// Calls returns how many times "METHOD /path" was asked.
func (s *Server) Calls(methodPath string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[methodPath]
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls[r.Method+" "+r.URL.Path]++
	s.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/login/oauth/authorize":
		s.authorize(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/login/oauth/access_token":
		s.accessToken(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/user":
		s.user(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/repos/"):
		s.repo(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
	}
}

// authorize is the consent page: the signed-in person has approved the
// app before, so GitHub redirects straight back.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, state := q.Get("redirect_uri"), q.Get("state")
	if q.Get("client_id") != ClientID {
		http.Error(w, "unknown client_id", http.StatusNotFound)
		return
	}
	back, err := url.Parse(redirect)
	if err != nil || redirect == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	login := s.signedIn
	code := random()[:20]
	if login != "" {
		s.codes[code] = codeInfo{login: login, redirect: redirect}
	}
	s.mu.Unlock()
	v := back.Query()
	if login == "" {
		v.Set("error", "access_denied")
		v.Set("error_description", "The user has denied your application access.")
	} else {
		v.Set("code", code)
	}
	v.Set("state", state)
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// accessToken is POST /login/oauth/access_token with Accept: JSON.
func (s *Server) accessToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("client_id") != ClientID || r.PostForm.Get("client_secret") != ClientSecret {
		writeJSON(w, http.StatusOK, map[string]string{"error": "incorrect_client_credentials",
			"error_description": "The client_id and/or client_secret passed are incorrect."})
		return
	}
	s.mu.Lock()
	info, ok := s.codes[r.PostForm.Get("code")]
	delete(s.codes, r.PostForm.Get("code"))
	tok := ""
	if ok && info.redirect == r.PostForm.Get("redirect_uri") {
		tok = "gho_" + random()
		s.tokens[tok] = info.login
	}
	s.mu.Unlock()
	if tok == "" {
		writeJSON(w, http.StatusOK, map[string]string{"error": "bad_verification_code",
			"error_description": "The code passed is incorrect or expired."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"access_token": tok, "scope": "repo", "token_type": "bearer"})
}

// login returns the user of the request's token, or answers 401.
func (s *Server) login(w http.ResponseWriter, r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	_, tok, _ := strings.Cut(h, " ")
	s.mu.Lock()
	login, ok := s.tokens[tok]
	limited := s.rateLimited
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
		return "", false
	}
	if limited {
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", "4102444800")
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "API rate limit exceeded for user ID 1.",
			"documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"})
		return "", false
	}
	return login, true
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	login, ok := s.login(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": login, "id": 1, "type": "User"})
}

func (s *Server) repo(w http.ResponseWriter, r *http.Request) {
	login, ok := s.login(w, r)
	if !ok {
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/repos/"), "/")
	notFound := map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository"}
	if len(parts) != 2 {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	s.mu.Lock()
	rp, found := s.repos[strings.ToLower(parts[0]+"/"+parts[1])]
	var body map[string]any
	if found {
		body = map[string]any{}
		for k, v := range rp.body {
			body[k] = v
		}
		reader := rp.readers[login]
		if rp.private && !reader {
			found = false
		}
		body["permissions"] = map[string]bool{"admin": false, "maintain": false, "push": false, "triage": false, "pull": reader || !rp.private}
	}
	s.mu.Unlock()
	if !found {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	writeJSON(w, http.StatusOK, body)
}
