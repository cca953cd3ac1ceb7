package githubapi

import (
	"context"
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
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

const testAppID = 424242

// testAppKey is one RSA key per test binary, made here: no private key is
// committed. appKeyPEM is its PKCS#1 PEM, as GitHub hands App keys out.
var testAppKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func appKeyPEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// appToken is an installation token the fake issued.
type appToken struct {
	inst    int64
	expires time.Time
}

// fakeApp is GitHub as a GitHub App sees it: /app and the installation
// lookups take only a JWT signed by the App's key (RS256, iss = the App
// id, expiring within 10 minutes), installation tokens expire after
// tokenTTL, and calls about a repository or organisation take only an
// unexpired token of the installation that holds it (another's gets 404,
// as GitHub answers for what a token cannot see). Answers have the shapes
// GitHub documents; no App exchange is among the recorded fixtures.
type fakeApp struct {
	t        testing.TB
	prefix   string // "/api/v3" for GitHub Enterprise Server
	pub      *rsa.PublicKey
	slug     string
	tokenTTL time.Duration
	repos    map[string]int64 // "owner/repo" → installation id
	ids      map[string]int64 // repository id → installation id (/repositories/{id}/…)
	orgs     map[string]int64 // "org" → installation id
	// repo answers authorised calls about repositories and organisations.
	repo http.HandlerFunc
	// hook, when set, answers the calls under /app/hook/ (the App's
	// webhook deliveries) made with a valid JWT.
	hook http.HandlerFunc

	mu     sync.Mutex
	tokens map[string]appToken
	log    []string // "METHOD /path as", as: "jwt" or "inst N"
	srv    *httptest.Server
}

func newFakeApp(t testing.TB, prefix string) *fakeApp {
	t.Helper()
	f := &fakeApp{
		t: t, prefix: prefix, pub: &testAppKey().PublicKey, slug: "release-gate",
		tokenTTL: time.Hour, repos: map[string]int64{}, orgs: map[string]int64{}, ids: map[string]int64{},
		tokens: map[string]appToken{},
	}
	created := loadExchanges(t, "rest/create-status.recorded-exchange.json")
	var body []byte
	for _, ex := range created {
		if ex.Status == http.StatusCreated {
			body = patchJSON(t, ex.Response, map[string]any{"creator.login": f.slug + "[bot]"})
		}
	}
	f.repo = func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/statuses/"):
			writeJSON(w, http.StatusCreated, string(body))
		default:
			writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
		}
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the REST base to configure, with its trailing slash.
func (f *fakeApp) URL() string { return f.srv.URL + f.prefix + "/" }

func writeJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}

var (
	accessTokensPath = regexp.MustCompile(`^/app/installations/([0-9]+)/access_tokens$`)
	installationPath = regexp.MustCompile(`^/(repos/[^/]+/[^/]+|orgs/[^/]+)/installation$`)
)

func (f *fakeApp) record(r *http.Request, path, as string) {
	f.mu.Lock()
	f.log = append(f.log, r.Method+" "+path+" "+as)
	f.mu.Unlock()
}

// calls returns the log so far.
func (f *fakeApp) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeApp) serve(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, f.prefix)
	if !ok {
		writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
		return
	}
	if strings.HasPrefix(path, "/app/hook/") && f.hook != nil {
		bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if err := verifyAppJWT(bearer, f.pub, testAppID, time.Now()); err != nil {
			f.record(r, path, "bad jwt: "+err.Error())
			writeJSON(w, http.StatusUnauthorized, `{"message":"A JSON web token could not be decoded"}`)
			return
		}
		f.record(r, path, "jwt")
		f.hook(w, r)
		return
	}
	if path == "/app" || accessTokensPath.MatchString(path) || installationPath.MatchString(path) {
		f.serveApp(w, r, path)
		return
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var inst int64
	switch {
	case parts[0] == "repos" && len(parts) >= 3:
		inst = f.repos[strings.ToLower(parts[1]+"/"+parts[2])]
	case parts[0] == "orgs" && len(parts) >= 2:
		inst = f.orgs[strings.ToLower(parts[1])]
	case parts[0] == "repositories" && len(parts) >= 2:
		inst = f.ids[parts[1]]
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "token ")
	f.mu.Lock()
	got, known := f.tokens[tok]
	f.mu.Unlock()
	switch {
	case !ok || !known:
		f.record(r, path, "unauthenticated")
		writeJSON(w, http.StatusUnauthorized, `{"message":"Bad credentials"}`)
		return
	case !time.Now().Before(got.expires):
		f.record(r, path, "expired")
		writeJSON(w, http.StatusUnauthorized, `{"message":"Bad credentials"}`)
		return
	}
	f.record(r, path, fmt.Sprintf("inst %d", got.inst))
	if inst == 0 || got.inst != inst {
		writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
		return
	}
	f.repo(w, r)
}

// serveApp answers the calls made with the App's JWT.
func (f *fakeApp) serveApp(w http.ResponseWriter, r *http.Request, path string) {
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if err := verifyAppJWT(bearer, f.pub, testAppID, time.Now()); err != nil {
		f.record(r, path, "bad jwt: "+err.Error())
		writeJSON(w, http.StatusUnauthorized, `{"message":"A JSON web token could not be decoded"}`)
		return
	}
	f.record(r, path, "jwt")
	switch m := accessTokensPath.FindStringSubmatch(path); {
	case path == "/app" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"id":%d,"slug":%q,"name":"Release Gate","owner":{"login":"octo-org"}}`, testAppID, f.slug))
	case m != nil && r.Method == http.MethodPost:
		id, _ := strconv.ParseInt(m[1], 10, 64)
		if !f.hasInstallation(id) {
			writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
			return
		}
		b := make([]byte, 16)
		rand.Read(b)
		tok := "ghs_" + hex.EncodeToString(b)
		// GitHub's expires_at has whole seconds; the fake holds the
		// token to exactly what it said.
		exp := time.Now().Add(f.tokenTTL).Truncate(time.Second)
		f.mu.Lock()
		f.tokens[tok] = appToken{inst: id, expires: exp}
		f.mu.Unlock()
		writeJSON(w, http.StatusCreated, fmt.Sprintf(`{"token":%q,"expires_at":%q,"permissions":{"statuses":"write"}}`, tok, exp.UTC().Format(time.RFC3339)))
	case installationPath.MatchString(path) && r.Method == http.MethodGet:
		parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
		var inst int64
		if parts[0] == "repos" {
			inst = f.repos[strings.ToLower(parts[1]+"/"+parts[2])]
		} else {
			inst = f.orgs[strings.ToLower(parts[1])]
		}
		if inst == 0 {
			writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
			return
		}
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"id":%d,"app_id":%d,"account":{"login":%q}}`, inst, testAppID, parts[1]))
	default:
		writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
	}
}

func (f *fakeApp) hasInstallation(id int64) bool {
	for _, v := range f.repos {
		if v == id {
			return true
		}
	}
	for _, v := range f.orgs {
		if v == id {
			return true
		}
	}
	return false
}

// issued returns the installation each token was issued for.
func (f *fakeApp) issued() map[string]appToken {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]appToken{}
	for k, v := range f.tokens {
		out[k] = v
	}
	return out
}

// verifyAppJWT checks a GitHub App JWT as GitHub does: RS256 signed by the
// App's key, issued by the App id, unexpired and expiring within 10
// minutes, and not issued in the future (a minute of skew allowed).
func verifyAppJWT(tok string, pub *rsa.PublicKey, appID int64, now time.Time) error {
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

// newAppClient returns a Client of the App on f; the key defaults to the
// one f checks.
func newAppClient(t testing.TB, f *fakeApp, tm *fakeTime, obs *observed, key *rsa.PrivateKey) *Client {
	t.Helper()
	if key == nil {
		key = testAppKey()
	}
	return newTestClient(t, f.URL(), tm, obs, testRetry(), func(o *Options) {
		o.Token = ""
		o.App = &App{ID: testAppID, PrivateKey: appKeyPEM(key)}
	})
}

var testStatus = gatekeeper.Status{Context: "release-gate", State: gatekeeper.Pending, Description: "waiting"}

const testSHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"

func TestAppPostsStatusWithInstallationToken(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/api/v3"} {
		t.Run("base"+prefix, func(t *testing.T) {
			t.Parallel()
			f := newFakeApp(t, prefix)
			f.repos["octo-org/hello"] = 7
			obs := &observed{}
			c := newAppClient(t, f, newFakeTime(), obs, nil)
			p := NewPublisher(c)
			key := gatekeeper.PullKey{Owner: "Octo-Org", Repo: "Hello", Number: 1}
			for range 2 {
				if err := p.Publish(context.Background(), key, testSHA, testStatus); err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
			want := []string{
				"GET /repos/Octo-Org/Hello/installation jwt",
				"POST /app/installations/7/access_tokens jwt",
				"POST /repos/Octo-Org/Hello/statuses/" + testSHA + " inst 7",
				"POST /repos/Octo-Org/Hello/statuses/" + testSHA + " inst 7",
			}
			if diff := cmp.Diff(want, f.calls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			wantObs := []string{"get_installation 200", "create_installation_token 201", "create_status 201", "create_status 201"}
			if diff := cmp.Diff(wantObs, obs.list()); diff != "" {
				t.Errorf("observed (-want +got):\n%s", diff)
			}
			if got := p.Login(); got != "release-gate[bot]" {
				t.Errorf("Login after a post = %q, want release-gate[bot]", got)
			}
		})
	}
}

func TestAppTwoInstallationsEachGetTheirOwnToken(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.repos["octo-org/one"] = 11
	f.repos["other-org/two"] = 22
	c := newAppClient(t, f, newFakeTime(), nil, nil)
	p := NewPublisher(c)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 { // concurrently, to catch a shared token or a race
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := gatekeeper.PullKey{Owner: "octo-org", Repo: "one", Number: 1}
			if i%2 == 1 {
				key = gatekeeper.PullKey{Owner: "other-org", Repo: "two", Number: 2}
			}
			errs <- p.Publish(context.Background(), key, testSHA, testStatus)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	count := map[string]int{}
	for _, call := range f.calls() {
		count[call]++
	}
	want := map[string]int{
		"GET /repos/octo-org/one/installation jwt":                   1,
		"GET /repos/other-org/two/installation jwt":                  1,
		"POST /app/installations/11/access_tokens jwt":               1,
		"POST /app/installations/22/access_tokens jwt":               1,
		"POST /repos/octo-org/one/statuses/" + testSHA + " inst 11":  4,
		"POST /repos/other-org/two/statuses/" + testSHA + " inst 22": 4,
	}
	if diff := cmp.Diff(want, count); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if n := len(f.issued()); n != 2 {
		t.Errorf("%d tokens issued, want one per installation", n)
	}
}

// TestAppRefreshesTokenBeforeExpiry gives tokens a life just over the
// minute ghinstallation keeps in hand: the first token is then due for
// renewal after about two seconds while GitHub still accepts it for a
// minute more. The second call must come with a new token, created while
// the first was still valid; a client that waited for expiry (or for a
// 401) would send the first token again.
func TestAppRefreshesTokenBeforeExpiry(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.tokenTTL = 63 * time.Second
	f.repos["octo-org/hello"] = 7
	c := newAppClient(t, f, newFakeTime(), nil, nil)
	p := NewPublisher(c)
	key := gatekeeper.PullKey{Owner: "octo-org", Repo: "hello", Number: 1}
	if err := p.Publish(context.Background(), key, testSHA, testStatus); err != nil {
		t.Fatal(err)
	}
	first := f.issued()
	time.Sleep(3 * time.Second)
	if err := p.Publish(context.Background(), key, testSHA, testStatus); err != nil {
		t.Fatal(err)
	}
	refreshedAt := time.Now()
	all := f.issued()
	if len(first) != 1 || len(all) != 2 {
		t.Fatalf("tokens issued: %d then %d, want 1 then 2 (no refresh before expiry)", len(first), len(all))
	}
	for _, tok := range first {
		if !refreshedAt.Before(tok.expires) {
			t.Errorf("the first token had expired (%s) when it was replaced", tok.expires)
		}
	}
	want := []string{
		"GET /repos/octo-org/hello/installation jwt",
		"POST /app/installations/7/access_tokens jwt",
		"POST /repos/octo-org/hello/statuses/" + testSHA + " inst 7",
		"POST /app/installations/7/access_tokens jwt",
		"POST /repos/octo-org/hello/statuses/" + testSHA + " inst 7",
	}
	if diff := cmp.Diff(want, f.calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestAppNotInstalledIsNotRetriedAndIsRemembered(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.repos["octo-org/hello"] = 7
	tm := newFakeTime()
	c := newAppClient(t, f, tm, nil, nil)
	p := NewPublisher(c)
	key := gatekeeper.PullKey{Owner: "stranger", Repo: "elsewhere", Number: 1}
	for range 2 {
		err := p.Publish(context.Background(), key, testSHA, testStatus)
		if !errors.Is(err, ErrNotInstalled) {
			t.Fatalf("Publish = %v, want ErrNotInstalled", err)
		}
	}
	want := []string{"GET /repos/stranger/elsewhere/installation jwt"}
	if diff := cmp.Diff(want, f.calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if len(tm.sleeps()) != 0 {
		t.Errorf("slept %v: a missing installation is not retried", tm.sleeps())
	}
	// Installed meanwhile: after the minute, the next call finds it.
	f.repos["stranger/elsewhere"] = 9
	tm.Sleep(context.Background(), notInstalledTTL)
	if err := p.Publish(context.Background(), key, testSHA, testStatus); err != nil {
		t.Fatalf("Publish after installing: %v", err)
	}
}

func TestAppUninstalledIsLookedUpAgain(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.tokenTTL = 30 * time.Second // inside ghinstallation's minute: a new token every call
	f.repos["octo-org/hello"] = 7
	c := newAppClient(t, f, newFakeTime(), nil, nil)
	p := NewPublisher(c)
	key := gatekeeper.PullKey{Owner: "octo-org", Repo: "hello", Number: 1}
	if err := p.Publish(context.Background(), key, testSHA, testStatus); err != nil {
		t.Fatal(err)
	}
	// Uninstalled and installed again: a new installation id.
	f.repos["octo-org/hello"] = 8
	if err := p.Publish(context.Background(), key, testSHA, testStatus); err == nil {
		t.Fatal("Publish with the old installation succeeded")
	}
	if err := p.Publish(context.Background(), key, testSHA, testStatus); err != nil {
		t.Fatalf("Publish after the new installation: %v", err)
	}
	want := []string{
		"GET /repos/octo-org/hello/installation jwt",
		"POST /app/installations/7/access_tokens jwt",
		"POST /repos/octo-org/hello/statuses/" + testSHA + " inst 7",
		"POST /app/installations/7/access_tokens jwt", // 404: forgotten, not retried
		"GET /repos/octo-org/hello/installation jwt",
		"POST /app/installations/8/access_tokens jwt",
		"POST /repos/octo-org/hello/statuses/" + testSHA + " inst 8",
	}
	if diff := cmp.Diff(want, f.calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestAppTeamMembershipUsesOrganisationInstallation(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.orgs["octo-org"] = 5
	f.repo = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"state":"active","role":"member"}`)
	}
	c := newAppClient(t, f, newFakeTime(), nil, nil)
	var m *github.Membership
	err := c.do(context.Background(), EndpointGetTeamMembership, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		m, resp, err = gh.Teams.GetTeamMembershipBySlug(context.Background(), "octo-org", "release", "alice")
		return resp, err
	})
	if err != nil || m.GetState() != "active" {
		t.Fatalf("membership = %v, %v", m, err)
	}
	want := []string{
		"GET /orgs/octo-org/installation jwt",
		"POST /app/installations/5/access_tokens jwt",
		"GET /orgs/octo-org/teams/release/memberships/alice inst 5",
	}
	if diff := cmp.Diff(want, f.calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestAppLogin(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "/api/v3")
	c := newAppClient(t, f, newFakeTime(), nil, nil)
	p := NewPublisher(c)
	if got := p.Login(); got != "" {
		t.Errorf("Login before AppLogin = %q, want empty", got)
	}
	for range 2 {
		login, err := c.AppLogin(context.Background())
		if err != nil || login != "release-gate[bot]" {
			t.Fatalf("AppLogin = %q, %v", login, err)
		}
	}
	if got := p.Login(); got != "release-gate[bot]" {
		t.Errorf("Login before any post = %q, want release-gate[bot]", got)
	}
	if diff := cmp.Diff([]string{"GET /app jwt"}, f.calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestAppWrongKeyIsRefusedWithoutRetries(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.repos["octo-org/hello"] = 7
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tm := newFakeTime()
	c := newAppClient(t, f, tm, nil, other)
	if _, err := c.AppLogin(context.Background()); !errors.Is(err, ErrAppRefused) {
		t.Errorf("AppLogin with the wrong key = %v, want ErrAppRefused", err)
	}
	err = NewPublisher(c).Publish(context.Background(), gatekeeper.PullKey{Owner: "octo-org", Repo: "hello", Number: 1}, testSHA, testStatus)
	if !errors.Is(err, ErrAppRefused) {
		t.Errorf("Publish = %v, want the App's authentication refused", err)
	}
	calls := f.calls()
	if len(calls) != 2 || !strings.Contains(calls[0], "bad jwt: signature") || !strings.Contains(calls[1], "bad jwt: signature") {
		t.Errorf("calls = %q, want GET /app and one lookup, both refused for their signature", calls)
	}
	if len(tm.sleeps()) != 0 {
		t.Errorf("slept %v: a refused key is not retried", tm.sleeps())
	}
}

func TestNewRefusesBadAppSettings(t *testing.T) {
	t.Parallel()
	good := appKeyPEM(testAppKey())
	pkcs8, err := x509.MarshalPKCS8PrivateKey(testAppKey())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		opts  Options
		valid bool
	}{
		{"pkcs1 key", Options{App: &App{ID: 1, PrivateKey: good}}, true},
		{"pkcs8 key", Options{App: &App{ID: 1, PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})}}, true},
		{"token and app", Options{Token: "t", App: &App{ID: 1, PrivateKey: good}}, false},
		{"no id", Options{App: &App{PrivateKey: good}}, false},
		{"not pem", Options{App: &App{ID: 1, PrivateKey: []byte("secret-ish")}}, false},
		{"pem but not a key", Options{App: &App{ID: 1, PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("junk")})}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.opts)
			if tt.valid != (err == nil) {
				t.Fatalf("New = %v, want valid %v", err, tt.valid)
			}
			if err != nil && !errors.Is(err, gatekeeper.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if err != nil && strings.Contains(err.Error(), "secret-ish") {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
}

// TestAppFollowsRenameRedirectWithItsToken: GitHub answers a renamed
// repository's old name with a 301 to /repositories/{id}/…; the redirect
// goes with the token of the repository's installation. A redirect to
// another host gets no token at all.
func TestAppFollowsRenameRedirectWithItsToken(t *testing.T) {
	t.Parallel()
	var leaked []string
	var leakMu sync.Mutex
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leakMu.Lock()
		leaked = append(leaked, r.URL.Path+" "+r.Header.Get("Authorization"))
		leakMu.Unlock()
		writeJSON(w, http.StatusOK, `{"id":1}`)
	}))
	t.Cleanup(elsewhere.Close)
	f := newFakeApp(t, "")
	f.repos["octo-org/old-name"] = 7
	f.repos["octo-org/moved-away"] = 7
	f.ids["99"] = 7
	f.repo = func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/repos/octo-org/old-name":
			w.Header().Set("Location", f.srv.URL+"/repositories/99")
			writeJSON(w, http.StatusMovedPermanently, `{"message":"Moved Permanently"}`)
		case "/repos/octo-org/moved-away":
			w.Header().Set("Location", elsewhere.URL+"/repositories/99")
			writeJSON(w, http.StatusMovedPermanently, `{"message":"Moved Permanently"}`)
		case "/repositories/99":
			writeJSON(w, http.StatusOK, `{"id":99,"name":"new-name"}`)
		default:
			writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
		}
	}
	c := newAppClient(t, f, newFakeTime(), nil, nil)
	id, err := c.RepoID(context.Background(), "octo-org", "old-name")
	if err != nil || id != 99 {
		t.Fatalf("RepoID = %d, %v; want 99", id, err)
	}
	want := []string{
		"GET /repos/octo-org/old-name/installation jwt",
		"POST /app/installations/7/access_tokens jwt",
		"GET /repos/octo-org/old-name inst 7",
		"GET /repositories/99 inst 7",
	}
	if diff := cmp.Diff(want, f.calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if _, err := c.RepoID(context.Background(), "octo-org", "moved-away"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("RepoID redirected to another host = %v, want ErrNotInstalled", err)
	}
	leakMu.Lock()
	defer leakMu.Unlock()
	if len(leaked) != 0 {
		t.Errorf("another host was called: %q", leaked)
	}
}

// TestAppRateLimitIsPerInstallation: GitHub counts each installation's
// calls apart, so one installation out of calls holds back its own
// repositories only: a second call for it fails at once without asking
// GitHub, while the other installation's repository is read and its
// status posted without any wait.
func TestAppRateLimitIsPerInstallation(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.repos["octo-org/one"] = 11
	f.repos["other-org/two"] = 22
	reset := strconv.FormatInt(testEpoch.Add(time.Hour).Unix(), 10)
	created := f.repo
	f.repo = func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/repos/octo-org/one":
			w.Header().Set("X-RateLimit-Limit", "5000")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", reset)
			writeJSON(w, http.StatusForbidden, `{"message":"API rate limit exceeded for installation ID 11.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`)
		case r.URL.Path == "/repos/other-org/two":
			writeJSON(w, http.StatusOK, `{"id":2,"name":"two"}`)
		default:
			created(w, r)
		}
	}
	tm := newFakeTime()
	c := newAppClient(t, f, tm, nil, nil)
	for i := range 2 {
		if _, err := c.RepoID(context.Background(), "octo-org", "one"); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("RepoID of the limited installation's repository (%d) = %v, want ErrRateLimited", i, err)
		}
	}
	if id, err := c.RepoID(context.Background(), "other-org", "two"); err != nil || id != 2 {
		t.Fatalf("RepoID of the other installation's repository = %d, %v", id, err)
	}
	if err := NewPublisher(c).Publish(context.Background(), gatekeeper.PullKey{Owner: "other-org", Repo: "two", Number: 1}, testSHA, testStatus); err != nil {
		t.Fatalf("Publish to the other installation: %v", err)
	}
	if s := tm.sleeps(); len(s) != 0 {
		t.Errorf("slept %v: the other installation waited for the limited one", s)
	}
	count := 0
	for _, call := range f.calls() {
		if strings.HasPrefix(call, "GET /repos/octo-org/one ") {
			count++
		}
	}
	if count != 1 {
		t.Errorf("the limited installation was asked %d times, want once (the limit is remembered):\n%s", count, strings.Join(f.calls(), "\n"))
	}
	// The Publisher waits the limited installation's limit out (capped),
	// then posts.
	if err := NewPublisher(c).Publish(context.Background(), gatekeeper.PullKey{Owner: "octo-org", Repo: "one", Number: 1}, testSHA, testStatus); err != nil {
		t.Fatalf("Publish to the limited installation: %v", err)
	}
	if diff := cmp.Diff([]time.Duration{testRetry().MaxRateLimitWait}, tm.sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}
