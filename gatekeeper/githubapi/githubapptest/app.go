// Package githubapptest is GitHub as a GitHub App sees it, for the tests of
// the githubapi client and of the whole binary: one fake of the App's side
// of GitHub, which each test's server puts in front of what it answers for
// repositories. It answers the way GitHub documents (no App exchange is
// among the recorded fixtures):
//
//   - GET /app, GET /repos/{o}/{r}/installation, GET /orgs/{org}/installation
//     and POST /app/installations/{id}/access_tokens take only a JWT signed
//     with the App's key (RS256, iss = the App id, expiring within 10
//     minutes, not issued in the future);
//   - installation tokens expire after TokenTTL (GitHub's expires_at has
//     whole seconds, and the fake holds a token to exactly what it said);
//   - a call about a repository or organisation takes only an unexpired
//     token of the installation that holds it: no token or an unknown one
//     is 401 "Bad credentials", another installation's token 404, as GitHub
//     answers for what a token cannot see.
//
// Every call is logged as "METHOD /path as", as being "jwt", "bad jwt: …",
// "inst N", "unauthenticated" or "expired".
package githubapptest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Token is an installation token the fake issued.
type Token struct {
	Installation int64
	Expires      time.Time
}

// App is the App's side of a fake GitHub. Set its fields before serving.
type App struct {
	ID       int64
	Slug     string
	Key      *rsa.PublicKey // the App key GitHub knows
	TokenTTL time.Duration
	// Repos ("owner/repo"), Orgs ("org") and RepoIDs (a repository's id,
	// for /repositories/{id}/…), lower case, name the installation that
	// holds each.
	Repos, Orgs, RepoIDs map[string]int64

	mu     sync.Mutex
	tokens map[string]Token
	log    []string
}

// New returns the App id whose key GitHub knows as key: slug
// "release-gate", tokens valid for an hour, no installation yet.
func New(id int64, key *rsa.PublicKey) *App {
	return &App{ID: id, Slug: "release-gate", Key: key, TokenTTL: time.Hour,
		Repos: map[string]int64{}, Orgs: map[string]int64{}, RepoIDs: map[string]int64{}, tokens: map[string]Token{}}
}

// NewKey makes an App key (2048-bit RSA); KeyPEM is its PKCS#1 PEM, as
// GitHub hands App keys out. No private key is committed.
func NewKey() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }

// KeyPEM returns k's PKCS#1 PEM.
func KeyPEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// WriteJSON answers code with body as GitHub's JSON.
func WriteJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}

var (
	accessTokensPath = regexp.MustCompile(`^/app/installations/([0-9]+)/access_tokens$`)
	installationPath = regexp.MustCompile(`^/(repos/[^/]+/[^/]+|orgs/[^/]+)/installation$`)
)

// Record logs a call.
func (a *App) Record(r *http.Request, path, as string) {
	a.mu.Lock()
	a.log = append(a.log, r.Method+" "+path+" "+as)
	a.mu.Unlock()
}

// Calls returns the log so far.
func (a *App) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.log...)
}

// Issued returns the tokens issued so far.
func (a *App) Issued() map[string]Token {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]Token, len(a.tokens))
	for k, v := range a.tokens {
		out[k] = v
	}
	return out
}

// Installed reports whether id holds any repository or organisation.
func (a *App) Installed(id int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range []map[string]int64{a.Repos, a.Orgs, a.RepoIDs} {
		for _, v := range m {
			if v == id {
				return true
			}
		}
	}
	return false
}

// installationOf returns the installation holding what path (the API path,
// without a GitHub Enterprise prefix) is about, 0 for none.
func (a *App) installationOf(path string) int64 {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case parts[0] == "repos" && len(parts) >= 3:
		return a.Repos[strings.ToLower(parts[1]+"/"+parts[2])]
	case parts[0] == "orgs" && len(parts) >= 2:
		return a.Orgs[strings.ToLower(parts[1])]
	case parts[0] == "repositories" && len(parts) >= 2:
		return a.RepoIDs[parts[1]]
	}
	return 0
}

// JWT checks that the call carries the App's JWT, logging it; on a bad one
// it answers 401 and returns false.
func (a *App) JWT(w http.ResponseWriter, r *http.Request, path string) bool {
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if err := VerifyJWT(bearer, a.Key, a.ID, time.Now()); err != nil {
		a.Record(r, path, "bad jwt: "+err.Error())
		WriteJSON(w, http.StatusUnauthorized, `{"message":"A JSON web token could not be decoded"}`)
		return false
	}
	a.Record(r, path, "jwt")
	return true
}

// ServeApp answers the App's own calls (GET /app, the installation
// lookups, POST …/access_tokens) and reports whether path was one.
func (a *App) ServeApp(w http.ResponseWriter, r *http.Request, path string) bool {
	if path != "/app" && !accessTokensPath.MatchString(path) && !installationPath.MatchString(path) {
		return false
	}
	if !a.JWT(w, r, path) {
		return true
	}
	switch m := accessTokensPath.FindStringSubmatch(path); {
	case path == "/app" && r.Method == http.MethodGet:
		WriteJSON(w, http.StatusOK, fmt.Sprintf(`{"id":%d,"slug":%q,"name":"Release Gate","owner":{"login":"octo-org"}}`, a.ID, a.Slug))
	case m != nil && r.Method == http.MethodPost:
		id, _ := strconv.ParseInt(m[1], 10, 64)
		if !a.Installed(id) {
			WriteJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
			return true
		}
		b := make([]byte, 16)
		rand.Read(b)
		tok := "ghs_" + hex.EncodeToString(b)
		a.mu.Lock()
		exp := time.Now().Add(a.TokenTTL).Truncate(time.Second)
		a.tokens[tok] = Token{Installation: id, Expires: exp}
		a.mu.Unlock()
		WriteJSON(w, http.StatusCreated, fmt.Sprintf(`{"token":%q,"expires_at":%q,"permissions":{"statuses":"write"}}`, tok, exp.UTC().Format(time.RFC3339)))
	case installationPath.MatchString(path) && r.Method == http.MethodGet:
		inst := a.installationOf(path)
		if inst == 0 {
			WriteJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
			return true
		}
		WriteJSON(w, http.StatusOK, fmt.Sprintf(`{"id":%d,"app_id":%d,"account":{"login":%q}}`, inst, a.ID, strings.Split(path, "/")[2]))
	default:
		WriteJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
	}
	return true
}

// Authorize checks the installation token of a call about a repository or
// organisation, logging it: no token or an unknown one is 401, an expired
// one 401, another installation's 404 (GitHub's answers); it returns the
// installation when the call may go on, else 0 having answered.
func (a *App) Authorize(w http.ResponseWriter, r *http.Request, path string) int64 {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "token ")
	a.mu.Lock()
	got, known := a.tokens[tok]
	a.mu.Unlock()
	switch {
	case !ok || !known:
		a.Record(r, path, "unauthenticated")
		WriteJSON(w, http.StatusUnauthorized, `{"message":"Bad credentials"}`)
		return 0
	case !time.Now().Before(got.Expires):
		a.Record(r, path, "expired")
		WriteJSON(w, http.StatusUnauthorized, `{"message":"Bad credentials"}`)
		return 0
	}
	a.Record(r, path, fmt.Sprintf("inst %d", got.Installation))
	if inst := a.installationOf(path); inst == 0 || inst != got.Installation {
		WriteJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
		return 0
	}
	return got.Installation
}

// VerifyJWT checks a GitHub App JWT as GitHub does: RS256 signed by the
// App's key, issued by the App id, unexpired and expiring within 10
// minutes, and not issued in the future (a minute of skew allowed).
func VerifyJWT(tok string, pub *rsa.PublicKey, appID int64, now time.Time) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &header); err != nil || header.Alg != "RS256" {
		return fmt.Errorf("header: alg %q, %v", header.Alg, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	var claims struct {
		Iss any   `json:"iss"`
		Iat int64 `json:"iat"`
		Exp int64 `json:"exp"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return err
	}
	if fmt.Sprint(claims.Iss) != strconv.FormatInt(appID, 10) {
		return fmt.Errorf("iss %v", claims.Iss)
	}
	exp, iat := time.Unix(claims.Exp, 0), time.Unix(claims.Iat, 0)
	switch {
	case !exp.After(now):
		return errors.New("expired")
	case exp.Sub(now) > 10*time.Minute:
		return fmt.Errorf("exp %s is more than 10 minutes ahead", exp.Sub(now))
	case iat.After(now.Add(time.Minute)):
		return errors.New("issued in the future")
	}
	return nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
