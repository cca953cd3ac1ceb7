// Package test holds the whole-service tests: the real gatekeeper binary on
// loopback, fed recorded webhook payloads with real signatures, talking to
// fake GitHub (and later Jenkins and ZenHub) servers that answer with
// recorded responses through the real clients.
package test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	secret   = "e2e-secret-0123456789abcdef"
	fixtures = "testdata/fixtures"
)

// binary is the gatekeeper built once for all tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "gatekeeper-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatekeeper")
	build := exec.Command("go", "build", "-o", binary, "../cmd/gatekeeper")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gatekeeper:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixture reads a recorded payload.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// branchJSON is GitHub's answer to GET /repos/{o}/{r}/branches/{name}
// reduced to the fields the gatekeeper reads, in the shape GitHub documents
// ("Get a branch"): no recorded answer is among the fixtures.
func branchJSON(name, sha string) []byte {
	return []byte(fmt.Sprintf(`{"name":%q,"commit":{"sha":%q,"url":"https://api.github.com/repos/Codertocat/Hello-World/commits/%s"},"protected":true}`, name, sha, sha))
}

// sign returns the X-Hub-Signature-256 value GitHub would send.
func sign(body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// statusPost is one request the fake GitHub received on the statuses API.
type statusPost struct {
	Path string         `json:"path"`
	Body map[string]any `json:"body"`
}

// fakeGitHub answers the REST calls the gatekeeper makes with the recorded
// responses in testdata/fixtures/github/rest and records the status posts.
type fakeGitHub struct {
	*httptest.Server
	mu       sync.Mutex
	posts    []statusPost
	created  []byte        // recorded 201 body of POST …/statuses/{sha}
	block    chan struct{} // while open (non-nil), status posts hang
	failures int           // status posts to answer 502 before succeeding
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	var exchanges []struct {
		Method   string          `json:"method"`
		Path     string          `json:"path"`
		Status   int             `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(fixture(t, "github/rest/create-status.recorded-exchange.json"), &exchanges); err != nil {
		t.Fatal(err)
	}
	f := &fakeGitHub{}
	for _, x := range exchanges {
		if x.Method == "post" && x.Status == http.StatusCreated {
			f.created = x.Response
			break
		}
	}
	if f.created == nil {
		t.Fatal("no recorded 201 status creation")
	}
	var pullOpened struct {
		PullRequest json.RawMessage `json:"pull_request"`
	}
	if err := json.Unmarshal(fixture(t, "github/pull_request.opened.json"), &pullOpened); err != nil {
		t.Fatal(err)
	}
	statuses := regexp.MustCompile(`^/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}$`)
	pullPath := regexp.MustCompile(`^/repos/Codertocat/Hello-World/pulls/([0-9]+)$`)
	reviewsPath := regexp.MustCompile(`^/repos/Codertocat/Hello-World/pulls/[0-9]+/reviews$`)
	combinedPath := regexp.MustCompile(`^/repos/Codertocat/Hello-World/commits/([0-9a-f]{40})/status$`)
	checkRunsPath := regexp.MustCompile(`^/repos/Codertocat/Hello-World/commits/[0-9a-f]{40}/check-runs$`)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && statuses.MatchString(r.URL.Path):
			f.mu.Lock()
			block, fail := f.block, f.failures > 0
			if fail {
				f.failures--
			}
			f.mu.Unlock()
			if block != nil {
				select {
				case <-block:
				case <-r.Context().Done():
					return
				}
				if r.Context().Err() != nil {
					return // its process was killed while it waited
				}
			}
			if fail {
				http.Error(w, `{"message":"Server Error"}`, http.StatusBadGateway)
				return
			}
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			f.mu.Lock()
			f.posts = append(f.posts, statusPost{Path: r.URL.Path, Body: body})
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusCreated)
			w.Write(f.created)
		case r.Method == http.MethodGet && pullPath.MatchString(r.URL.Path):
			// The recorded pull request, under the number asked for.
			n, _ := strconv.Atoi(pullPath.FindStringSubmatch(r.URL.Path)[1])
			var pr map[string]any
			json.Unmarshal(pullOpened.PullRequest, &pr)
			pr["number"] = n
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			json.NewEncoder(w).Encode(pr)
		case r.Method == http.MethodGet && reviewsPath.MatchString(r.URL.Path):
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Write([]byte("[]"))
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/repos/Codertocat/Hello-World/compare/"):
			// GitHub's documented compare shape: nothing merged into
			// the head branch since the base.
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Write([]byte(`{"status":"identical","ahead_by":0,"behind_by":0,"total_commits":0,"commits":[],"files":[]}`))
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/repos/Codertocat/Hello-World/issues/") && strings.HasSuffix(r.URL.Path, "/comments"):
			// No conversation on the recorded pull request.
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Write([]byte("[]"))
		case r.Method == http.MethodGet && r.URL.Path == "/repos/Codertocat/Hello-World/pulls":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Write([]byte("[]"))
		case r.Method == http.MethodGet && combinedPath.MatchString(r.URL.Path):
			// No other system has posted a status on the head. (The
			// recorded combined status is for another commit; the
			// adapter's own tests use it.)
			sha := combinedPath.FindStringSubmatch(r.URL.Path)[1]
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			fmt.Fprintf(w, `{"state":"pending","sha":%q,"total_count":0,"statuses":[]}`, sha)
		case r.Method == http.MethodGet && checkRunsPath.MatchString(r.URL.Path):
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Write([]byte(`{"total_count":0,"check_runs":[]}`))
		case r.Method == http.MethodGet && r.URL.Path == "/repos/Codertocat/Hello-World/branches/master":
			// master has not moved since the recorded pull request.
			writeJSONStatus(w, http.StatusOK, branchJSON("master", baseSHA))
		default:
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		}
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// Posts returns a copy of the status posts received so far.
func (f *fakeGitHub) Posts() []statusPost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]statusPost(nil), f.posts...)
}

// server is one gatekeeper process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	env  []string
	logs *gatekeepertest.LogBuffer
	done chan struct{}
}

// serverOptions are the settings a test varies; the rest are fixed.
type serverOptions struct {
	github   *fakeGitHub // nil: dry run, no GitHub at all
	store    string      // bbolt file; default in t.TempDir()
	policies string      // default ../policies
	addr     string      // default a free loopback port
	extra    []string    // more KEY=VALUE settings
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `gatekeeper serve` and waits until it answers /healthz.
func startServer(t *testing.T, o serverOptions) *server {
	t.Helper()
	if o.addr == "" {
		o.addr = freeAddr(t)
	}
	if o.store == "" {
		o.store = filepath.Join(t.TempDir(), "gatekeeper.db")
	}
	if o.policies == "" {
		o.policies = policyCopy(t)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"GATEKEEPER_ADDR=" + o.addr,
		"GATEKEEPER_PUBLIC_URL=http://" + o.addr,
		"GATEKEEPER_POLICIES=" + o.policies,
		"GATEKEEPER_STORE=bolt://" + o.store,
		"GATEKEEPER_WEBHOOK_SECRET=" + secret,
		// The recorded payloads are Codertocat/Hello-World's changes → master.
		"GATEKEEPER_GATED_BRANCHES=staging:master,changes:master",
		"GATEKEEPER_LOG_LEVEL=debug",
		"GATEKEEPER_POLICY_RELOAD=100ms",
	}
	if o.github != nil {
		env = append(env, "GITHUB_API_URL="+o.github.URL+"/", "GITHUB_TOKEN=e2e-token")
	}
	env = append(env, o.extra...)
	s := &server{t: t, addr: o.addr, env: env}
	s.start()
	t.Cleanup(func() { s.stop(syscall.SIGTERM) })
	return s
}

func (s *server) start() {
	s.t.Helper()
	if s.logs == nil {
		s.logs = &gatekeepertest.LogBuffer{}
	}
	s.done = make(chan struct{})
	s.cmd = exec.Command(binary, "serve")
	s.cmd.Env = s.env
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.url("/healthz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.done:
			s.t.Fatalf("gatekeeper exited at start:\n%s", s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("gatekeeper did not answer /healthz:\n%s", s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig and waits for the process to end (SIGKILL after 15s).
func (s *server) stop(sig syscall.Signal) {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Logs returns what the process (and any earlier run of it) logged.
func (s *server) Logs() string {
	return s.logs.String()
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// deliver posts a webhook the way GitHub does and returns the status code
// and body of the answer.
func (s *server) deliver(event, delivery string, body []byte) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url("/webhooks/github"), bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/e2e")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", sign(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// pull is the part of GET /api/v1/pulls/… the tests read.
type pull struct {
	Queued   bool `json:"queued"`
	Evidence struct {
		Version   uint64 `json:"version"`
		Published *struct {
			State       string `json:"state"`
			Description string `json:"description"`
			DryRun      bool   `json:"dry_run"`
		} `json:"published"`
		Log []struct {
			Delivery string `json:"delivery"`
			Event    string `json:"event"`
		} `json:"log"`
	} `json:"evidence"`
	Latest *struct {
		Description string `json:"description"`
		Decision    struct {
			State          string   `json:"state"`
			Reasons        []string `json:"reasons"`
			Waiting        []string `json:"waiting"`
			Passes         []string `json:"passes"`
			PolicyRevision string   `json:"policy_revision"`
		} `json:"decision"`
		EvidenceVersion uint64 `json:"evidence_version"`
	} `json:"latest_decision"`
}

// getPull reads the API; ok is false on 404.
func (s *server) getPull(owner, repo string, number int) (pull, bool) {
	s.t.Helper()
	resp, err := http.Get(s.url(fmt.Sprintf("/api/v1/pulls/%s/%s/%d", owner, repo, number)))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return pull{}, false
	}
	var p pull
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("GET pull: %d %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		s.t.Fatal(err)
	}
	return p, true
}

// settled waits until the pull request is off the queue and its latest
// decision was made on its latest evidence. It fails the test after 20s:
// that bound stops a hung test, it is not a performance assertion.
func (s *server) settled(owner, repo string, number int) pull {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, ok := s.getPull(owner, repo, number)
		if ok && !p.Queued && p.Latest != nil {
			return p
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s/%s#%d did not settle: %+v\n%s", owner, repo, number, p, s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventually polls cond every 20ms for up to 20s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// golden compares got with testdata/golden/name.json, or rewrites it with -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(want, b) {
		t.Errorf("%s differs from the golden file (-update rewrites it)\nwant:\n%s\ngot:\n%s", path, want, b)
	}
}

// normalizeHost replaces the test server's random address in status bodies.
func normalizeHost(posts []statusPost, addr string) []statusPost {
	for i := range posts {
		if u, ok := posts[i].Body["target_url"].(string); ok {
			posts[i].Body["target_url"] = strings.Replace(u, addr, "gatekeeper.test", 1)
		}
	}
	return posts
}

// policyCopy copies ../policies into a temporary folder with the release
// window switched off: the tests run at any hour, and the window's own rules
// are tested in policies/window_test.rego.
func policyCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyDir(t, "../policies", dir)
	path := filepath.Join(dir, "data.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := strings.Replace(string(b), "enforce: true", "enforce: false", 1)
	if off == string(b) {
		t.Fatal("policies/data.yaml has no window switch (enforce: true) to turn off")
	}
	if err := os.WriteFile(path, []byte(off), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
