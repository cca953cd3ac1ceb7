package test

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper/githubapi/githubapptest"
)

const e2eAppID = 4242

// appFront is GitHub as a GitHub App sees it (githubapptest.App, shared
// with the githubapi tests), in front of the fake GitHub: the App's own
// calls take only a JWT signed with the App's key, every other call only an
// unexpired token of the installation that holds the repository, and is
// then passed to the fake GitHub behind. It serves under /api/v3, as GitHub
// Enterprise Server does.
type appFront struct {
	*httptest.Server
	*githubapptest.App

	// ownStatus, when set, is the status in the gatekeeper's context that
	// is already on every commit: the combined status and the list of
	// statuses show it.
	ownStatus []byte

	// checkRuns, when set, answers the check run writes (POST …/check-runs,
	// PATCH …/check-runs/{id}) instead of the fake GitHub behind.
	checkRuns http.HandlerFunc
}

var frontCommitStatus = regexp.MustCompile(`^/repos/[^/]+/[^/]+/commits/([0-9a-f]{40})/(status|statuses)$`)

func newAppFront(t *testing.T, behind *fakeGitHub, pub *rsa.PublicKey) *appFront {
	t.Helper()
	target, err := url.Parse(behind.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// The repository is a user's, the release teams an organisation's:
	// two installations.
	f := &appFront{App: githubapptest.New(e2eAppID, pub)}
	f.Repos["codertocat/hello-world"], f.Orgs["releasegate"] = 77, 78
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := strings.CutPrefix(r.URL.Path, "/api/v3")
		if !ok {
			writeJSONStatus(w, http.StatusNotFound, []byte(`{"message":"Not Found"}`))
			return
		}
		if f.ServeApp(w, r, path) {
			return
		}
		if path == "/app/hook/deliveries" {
			// The delivery sweeper lists the App hook's deliveries, as
			// the App (a JWT): none failed here.
			if f.JWT(w, r, path) {
				writeJSONStatus(w, http.StatusOK, []byte(`[]`))
			}
			return
		}
		if f.Authorize(w, r, path) == 0 {
			return
		}
		if f.checkRuns != nil && r.Method != http.MethodGet && strings.Contains(path, "/check-runs") {
			f.checkRuns(w, r)
			return
		}
		if m := frontCommitStatus.FindStringSubmatch(path); m != nil && f.ownStatus != nil {
			if m[2] == "statuses" {
				writeJSONStatus(w, http.StatusOK, []byte("["+string(f.ownStatus)+"]"))
			} else {
				writeJSONStatus(w, http.StatusOK, []byte(fmt.Sprintf(`{"state":"pending","sha":%q,"total_count":1,"statuses":[%s]}`, m[1], f.ownStatus)))
			}
			return
		}
		r.URL.Path = path
		r.Header.Del("Authorization")
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// startAppServer runs the binary as App e2eAppID against front, with a
// key made for the test and handed over in a file.
func startAppServer(t *testing.T, front func(pub *rsa.PublicKey) *appFront) (*server, *appFront) {
	t.Helper()
	key, err := githubapptest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(keyFile, githubapptest.KeyPEM(key), 0o600); err != nil {
		t.Fatal(err)
	}
	f := front(&key.PublicKey)
	s := startServer(t, serverOptions{extra: []string{
		"GITHUB_API_URL=" + f.URL + "/api/v3/",
		"GITHUB_APP_ID=" + strconv.Itoa(e2eAppID),
		"GITHUB_APP_PRIVATE_KEY_FILE=" + keyFile,
	}})
	return s, f
}

// TestGitHubAppPostsStatus runs the real binary as a GitHub App against
// GitHub Enterprise Server's /api/v3 base: the recorded pull request gets
// the same statuses as with a token (the "opened" golden), every read and
// the status post go with the installation's token, the installation is
// looked up and its token created once, and the App's bot login is read.
func TestGitHubAppPostsStatus(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	s, front := startAppServer(t, func(pub *rsa.PublicKey) *appFront { return newAppFront(t, gh, pub) })
	if code, body := s.deliver("pull_request", "app-1", fixture(t, "github/pull_request.opened.json")); code != http.StatusAccepted {
		t.Fatalf("delivery: %d %s", code, body)
	}
	s.settled("Codertocat", "Hello-World", 2)
	golden(t, "opened", normalizeHost(gh.Posts(), s.addr))

	count := map[string]int{}
	for _, c := range front.Calls() {
		switch {
		case strings.HasSuffix(c, " inst 77") && strings.Contains(c, " /repos/Codertocat/Hello-World/"):
			count["repository call with its token"]++
		case strings.HasSuffix(c, " inst 78") && strings.Contains(c, " /orgs/releasegate/teams/"):
			count["team call with its token"]++
		default:
			count[c]++
		}
	}
	if count["repository call with its token"] < 5 || count["team call with its token"] < 1 {
		t.Errorf("calls with installation tokens: %v", count)
	}
	delete(count, "repository call with its token")
	delete(count, "team call with its token")
	// The sweeper's listing of the App hook's deliveries (once at start,
	// if it ran yet) goes as the App; its own tests count it.
	delete(count, "GET /app/hook/deliveries jwt")
	want := map[string]int{
		"GET /app jwt": 1,
		"GET /repos/Codertocat/Hello-World/installation jwt": 1,
		"GET /orgs/releasegate/installation jwt":             1,
		"POST /app/installations/77/access_tokens jwt":       1,
		"POST /app/installations/78/access_tokens jwt":       1,
	}
	if fmt.Sprint(want) != fmt.Sprint(count) {
		t.Errorf("App calls %v, want %v (every other call with the token); all calls:\n%s", count, want, strings.Join(front.Calls(), "\n"))
	}
	if !strings.Contains(s.Logs(), `"login":"release-gate[bot]"`) || !strings.Contains(s.Logs(), `"github_auth":"app 4242"`) {
		t.Errorf("the log does not name the App and its bot login:\n%s", s.Logs())
	}
	if strings.Contains(s.Logs(), "PRIVATE KEY") {
		t.Error("the log shows the private key")
	}
}

// TestGitHubAppKnowsItsOwnStatus: a status in the gatekeeper's context
// that the App's bot (release-gate[bot]) posted, found on the commit
// before this process has posted anything (a new store, another replica),
// is the gatekeeper's own: not "someone else's", which would fail the
// gate. The bot login comes from GET /app at start.
func TestGitHubAppKnowsItsOwnStatus(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	var status map[string]any
	if err := json.Unmarshal(gh.created, &status); err != nil {
		t.Fatal(err)
	}
	status["context"], status["state"], status["description"] = "release-gate", "pending", "Waiting for: a build"
	status["creator"].(map[string]any)["login"] = "release-gate[bot]"
	own, err := json.Marshal(status)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := startAppServer(t, func(pub *rsa.PublicKey) *appFront {
		f := newAppFront(t, gh, pub)
		f.ownStatus = own
		return f
	})
	if code, body := s.deliver("pull_request", "app-own-1", fixture(t, "github/pull_request.opened.json")); code != http.StatusAccepted {
		t.Fatalf("delivery: %d %s", code, body)
	}
	p := s.settled("Codertocat", "Hello-World", 2)
	if p.Latest.Decision.State != "pending" {
		t.Errorf("decision %s %q, want pending: the App's own status was taken for someone else's", p.Latest.Decision.State, p.Latest.Decision.Reasons)
	}
	if strings.Contains(s.Logs(), "someone else") {
		t.Errorf("the App's own status was taken for someone else's:\n%s", s.Logs())
	}
}

// TestGitHubAppRefusedAtStart: settings GitHub would refuse stop the start
// with a message saying so, instead of a server that cannot post: a token
// and an App together (every problem listed), and an App key GitHub does
// not accept (GET /app answers 401).
func TestGitHubAppRefusedAtStart(t *testing.T) {
	t.Parallel()
	key, err := githubapptest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := githubapptest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(keyFile, githubapptest.KeyPEM(key), 0o600); err != nil {
		t.Fatal(err)
	}
	front := newAppFront(t, newFakeGitHub(t), &other.PublicKey) // GitHub knows another key
	tests := []struct {
		name  string
		env   []string
		wants []string
	}{
		{"token and app", []string{"GITHUB_TOKEN=ghp_e2e", "GATEKEEPER_LOG_LEVEL=loud"},
			[]string{"GITHUB_TOKEN and a GitHub App", "GATEKEEPER_LOG_LEVEL"}},
		{"key github refuses", nil, []string{"GET /app", "401"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(binary, "serve")
			cmd.Env = append([]string{
				"PATH=" + os.Getenv("PATH"),
				"GATEKEEPER_ADDR=" + freeAddr(t),
				"GATEKEEPER_POLICIES=" + policyCopy(t),
				"GATEKEEPER_STORE=bolt://" + filepath.Join(t.TempDir(), "gatekeeper.db"),
				"GATEKEEPER_WEBHOOK_SECRET=" + secret,
				"GITHUB_API_URL=" + front.URL + "/api/v3/",
				"GITHUB_APP_ID=" + strconv.Itoa(e2eAppID),
				"GITHUB_APP_PRIVATE_KEY_FILE=" + keyFile,
			}, tc.env...)
			done := make(chan struct{})
			var out []byte
			go func() { out, _ = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still running after 20s:\n%s", out)
			}
			if cmd.ProcessState.ExitCode() == 0 {
				t.Errorf("exit 0, want a failure:\n%s", out)
			}
			for _, want := range tc.wants {
				if !strings.Contains(string(out), want) {
					t.Errorf("output does not say %q:\n%s", want, out)
				}
			}
			if strings.Contains(string(out), "PRIVATE KEY") {
				t.Errorf("output shows the key:\n%s", out)
			}
		})
	}
}
