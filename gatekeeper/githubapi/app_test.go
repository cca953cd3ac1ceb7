package githubapi

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubapi/githubapptest"
)

const testAppID = 424242

// testAppKey is one RSA key per test binary, made here: no private key is
// committed.
var testAppKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := githubapptest.NewKey()
	if err != nil {
		panic(err)
	}
	return k
})

// fakeApp is GitHub as a GitHub App sees it (githubapptest.App, shared with
// the whole-binary tests) under prefix, answering the authorised calls
// about repositories and organisations with repo, and the calls under
// /app/hook/ (the App's webhook deliveries) made with a valid JWT with
// hook, when set.
type fakeApp struct {
	*githubapptest.App
	prefix string // "/api/v3" for GitHub Enterprise Server
	repo   http.HandlerFunc
	hook   http.HandlerFunc
	srv    *httptest.Server
}

func newFakeApp(t testing.TB, prefix string) *fakeApp {
	t.Helper()
	f := &fakeApp{App: githubapptest.New(testAppID, &testAppKey().PublicKey), prefix: prefix}
	created := loadExchanges(t, "rest/create-status.recorded-exchange.json")
	var body []byte
	for _, ex := range created {
		if ex.Status == http.StatusCreated {
			body = patchJSON(t, ex.Response, map[string]any{"creator.login": f.Slug + "[bot]"})
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

var writeJSON = githubapptest.WriteJSON

func (f *fakeApp) serve(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, f.prefix)
	if !ok {
		writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
		return
	}
	if strings.HasPrefix(path, "/app/hook/") && f.hook != nil {
		if f.JWT(w, r, path) {
			f.hook(w, r)
		}
		return
	}
	if f.ServeApp(w, r, path) {
		return
	}
	if f.Authorize(w, r, path) != 0 {
		f.repo(w, r)
	}
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
		o.App = &App{ID: testAppID, PrivateKey: githubapptest.KeyPEM(key)}
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
			f.Repos["octo-org/hello"] = 7
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
			if diff := cmp.Diff(want, f.Calls()); diff != "" {
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
	f.Repos["octo-org/one"] = 11
	f.Repos["other-org/two"] = 22
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
	for _, call := range f.Calls() {
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
	if n := len(f.Issued()); n != 2 {
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
	f.TokenTTL = 63 * time.Second
	f.Repos["octo-org/hello"] = 7
	c := newAppClient(t, f, newFakeTime(), nil, nil)
	p := NewPublisher(c)
	key := gatekeeper.PullKey{Owner: "octo-org", Repo: "hello", Number: 1}
	if err := p.Publish(context.Background(), key, testSHA, testStatus); err != nil {
		t.Fatal(err)
	}
	first := f.Issued()
	time.Sleep(3 * time.Second)
	if err := p.Publish(context.Background(), key, testSHA, testStatus); err != nil {
		t.Fatal(err)
	}
	refreshedAt := time.Now()
	all := f.Issued()
	if len(first) != 1 || len(all) != 2 {
		t.Fatalf("tokens issued: %d then %d, want 1 then 2 (no refresh before expiry)", len(first), len(all))
	}
	for _, tok := range first {
		if !refreshedAt.Before(tok.Expires) {
			t.Errorf("the first token had expired (%s) when it was replaced", tok.Expires)
		}
	}
	want := []string{
		"GET /repos/octo-org/hello/installation jwt",
		"POST /app/installations/7/access_tokens jwt",
		"POST /repos/octo-org/hello/statuses/" + testSHA + " inst 7",
		"POST /app/installations/7/access_tokens jwt",
		"POST /repos/octo-org/hello/statuses/" + testSHA + " inst 7",
	}
	if diff := cmp.Diff(want, f.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestAppNotInstalledIsNotRetriedAndIsRemembered(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.Repos["octo-org/hello"] = 7
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
	if diff := cmp.Diff(want, f.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if len(tm.sleeps()) != 0 {
		t.Errorf("slept %v: a missing installation is not retried", tm.sleeps())
	}
	// Installed meanwhile: after the minute, the next call finds it.
	f.Repos["stranger/elsewhere"] = 9
	tm.Sleep(context.Background(), notInstalledTTL)
	if err := p.Publish(context.Background(), key, testSHA, testStatus); err != nil {
		t.Fatalf("Publish after installing: %v", err)
	}
}

func TestAppUninstalledIsLookedUpAgain(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.TokenTTL = 30 * time.Second // inside ghinstallation's minute: a new token every call
	f.Repos["octo-org/hello"] = 7
	c := newAppClient(t, f, newFakeTime(), nil, nil)
	p := NewPublisher(c)
	key := gatekeeper.PullKey{Owner: "octo-org", Repo: "hello", Number: 1}
	if err := p.Publish(context.Background(), key, testSHA, testStatus); err != nil {
		t.Fatal(err)
	}
	// Uninstalled and installed again: a new installation id.
	f.Repos["octo-org/hello"] = 8
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
	if diff := cmp.Diff(want, f.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestAppTeamMembershipUsesOrganisationInstallation(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.Orgs["octo-org"] = 5
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
	if diff := cmp.Diff(want, f.Calls()); diff != "" {
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
	if diff := cmp.Diff([]string{"GET /app jwt"}, f.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestAppWrongKeyIsRefusedWithoutRetries(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.Repos["octo-org/hello"] = 7
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
	calls := f.Calls()
	if len(calls) != 2 || !strings.Contains(calls[0], "bad jwt: signature") || !strings.Contains(calls[1], "bad jwt: signature") {
		t.Errorf("calls = %q, want GET /app and one lookup, both refused for their signature", calls)
	}
	if len(tm.sleeps()) != 0 {
		t.Errorf("slept %v: a refused key is not retried", tm.sleeps())
	}
}

func TestNewRefusesBadAppSettings(t *testing.T) {
	t.Parallel()
	good := githubapptest.KeyPEM(testAppKey())
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
	f.Repos["octo-org/old-name"] = 7
	f.Repos["octo-org/moved-away"] = 7
	f.RepoIDs["99"] = 7
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
	if diff := cmp.Diff(want, f.Calls()); diff != "" {
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
	f.Repos["octo-org/one"] = 11
	f.Repos["other-org/two"] = 22
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
	for _, call := range f.Calls() {
		if strings.HasPrefix(call, "GET /repos/octo-org/one ") {
			count++
		}
	}
	if count != 1 {
		t.Errorf("the limited installation was asked %d times, want once (the limit is remembered):\n%s", count, strings.Join(f.Calls(), "\n"))
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
