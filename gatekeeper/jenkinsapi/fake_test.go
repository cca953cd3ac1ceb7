package jenkinsapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// fixtureDir holds byte-for-byte copies of shared/fixtures/jenkins.
const fixtureDir = "../../test/testdata/fixtures/jenkins"

// The pull request the derived fixtures describe: Codertocat/Hello-World#2
// from github/pull_request.opened.json, built by its PR-2-merge job.
const (
	prJob    = "job/Codertocat/job/Hello-World/job/PR-2-merge"
	prNumber = 10 // build.api.json's number
	headSHA  = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	baseSHA  = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
	// mergeSHA is the local merge commit; build.api.json's change set
	// commit serves as one.
	mergeSHA = "d27afa0805201322d846d7defc29b82c88d9b5ce"
	// libSHA is the shared library's checkout, which must never be taken
	// for the build's revision.
	libSHA = "6b7c4e0a1d2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d"
)

// readFixture returns a fixture file's bytes.
func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fixtureMap decodes a fixture file for a test to derive a variant from.
func fixtureMap(tb testing.TB, name string) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(readFixture(tb, name), &m); err != nil {
		tb.Fatalf("decoding %s: %v", name, err)
	}
	return m
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// workflowRun derives a multibranch PR-merge WorkflowRun from build.api.json
// (a freestyle-style build without BuildData), adding the actions
// PROTOCOLS.md §3 lists for a Pipeline run: empty {} entries, a shared
// library BuildData before the repository's, the repository BuildData
// whose marked revision is the head and built revision the merge, the
// SCMRevisionAction with the pull hash and a junit TestResultAction.
// result nil means the build still runs.
func workflowRun(tb testing.TB, result any) []byte {
	tb.Helper()
	m := fixtureMap(tb, "build.api.json")
	m["_class"] = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
	m["url"] = "http://localhost:32769/" + prJob + "/10/"
	m["result"] = result
	m["building"] = result == nil
	actions := m["actions"].([]any)
	actions = append(actions,
		map[string]any{},
		map[string]any{
			"_class":             "hudson.plugins.git.util.BuildData",
			"buildsByBranchName": map[string]any{"master": gitPair(libSHA, libSHA)},
			"lastBuiltRevision":  map[string]any{"SHA1": libSHA, "branch": []any{map[string]any{"SHA1": libSHA, "name": "master"}}},
			"remoteUrls":         []any{"https://github.com/Codertocat/pipeline-library.git"},
			"scmName":            "",
		},
		map[string]any{},
		map[string]any{
			"_class":             "hudson.plugins.git.util.BuildData",
			"buildsByBranchName": map[string]any{"PR-2": gitPair(headSHA, mergeSHA)},
			"lastBuiltRevision":  map[string]any{"SHA1": mergeSHA, "branch": []any{map[string]any{"SHA1": mergeSHA, "name": "PR-2"}}},
			"remoteUrls":         []any{"https://github.com/Codertocat/Hello-World.git"},
			"scmName":            "",
		},
		map[string]any{
			"_class": "jenkins.scm.api.SCMRevisionAction",
			"revision": map[string]any{
				"_class":   "org.jenkinsci.plugins.github_branch_source.PullRequestSCMRevision",
				"pullHash": headSHA,
			},
		},
		map[string]any{"_class": "hudson.tasks.junit.TestResultAction", "failCount": 0, "skipCount": 2, "totalCount": 42, "urlName": "testReport"},
	)
	m["actions"] = actions
	return mustJSON(tb, m)
}

func gitPair(marked, built string) map[string]any {
	return map[string]any{
		"_class": "hudson.plugins.git.util.Build", "buildNumber": prNumber, "buildResult": nil,
		"marked":   map[string]any{"SHA1": marked, "branch": []any{map[string]any{"SHA1": marked, "name": "PR-2"}}},
		"revision": map[string]any{"SHA1": built, "branch": []any{map[string]any{"SHA1": built, "name": "PR-2"}}},
	}
}

// seedStageNames are the stage names of the seed Jenkinsfile, one per
// release stage, in pipeline order.
var seedStageNames = []string{"Checkout", "Build image", "Unit tests", "Image scan", "Image push", "Helm chart", "Deploy to pre-production"}

// describe derives a seven-stage Stage View answer from wfapi.describe.json,
// using its first stage as the template. status overrides a stage's
// SUCCESS by name.
func describe(tb testing.TB, runStatus string, status map[string]string) []byte {
	tb.Helper()
	m := fixtureMap(tb, "wfapi.describe.json")
	tmpl := m["stages"].([]any)[0].(map[string]any)
	var stages []any
	for i, name := range seedStageNames {
		s := map[string]any{}
		for k, v := range tmpl {
			s[k] = v
		}
		s["id"] = 5 + i
		s["name"] = name
		s["status"] = "SUCCESS"
		if st, ok := status[name]; ok {
			s["status"] = st
		}
		s["durationMillis"] = 1000 * (i + 1)
		stages = append(stages, s)
	}
	m["stages"] = stages
	m["status"] = runStatus
	return mustJSON(tb, m)
}

// testReport is a testReport/api/json answer in the shape of junit-plugin's
// TestResult (PROTOCOLS.md §3; no recorded file exists).
func testReport(tb testing.TB, pass, fail, skip int) []byte {
	tb.Helper()
	return mustJSON(tb, map[string]any{
		"_class": "hudson.tasks.junit.TestResult", "duration": 12.5, "empty": pass+fail+skip == 0,
		"passCount": pass, "failCount": fail, "skipCount": skip,
		"suites": []any{map[string]any{
			"name": "com.example.HelloTest", "duration": 12.5,
			"cases": []any{map[string]any{
				"className": "com.example.HelloTest", "name": "greets", "status": "PASSED",
				"duration": 0.01, "skipped": false, "age": 0, "failedSince": 0,
			}},
		}},
	})
}

// fakeJenkins answers like Jenkins under an optional context path: every
// route is the path gojenkins requests, /api/json included. It collapses
// the "//" gojenkins can produce, checks basic auth when user is set, and
// answers 404 for anything it does not know, as Jenkins does.
type fakeJenkins struct {
	tb          testing.TB
	contextPath string
	user, token string

	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	hits   map[string]int
}

// newFake starts a fake Jenkins and returns it with its root URL.
func newFake(tb testing.TB, contextPath string) (*fakeJenkins, string) {
	tb.Helper()
	f := &fakeJenkins{tb: tb, contextPath: contextPath, routes: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	// No recorded root answer exists; gojenkins only needs a 200 with
	// X-Jenkins.
	f.handle("/api/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Jenkins", "2.462.3")
		writeJSON(w, []byte(`{"_class":"hudson.model.Hudson","mode":"NORMAL","useSecurity":true}`))
	})
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	return f, srv.URL + contextPath + "/"
}

func (f *fakeJenkins) handle(path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[path] = h
}

// serve answers path with a JSON body.
func (f *fakeJenkins) serve(path string, body []byte) {
	f.handle(path, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, body) })
}

// status answers path with an HTML error page, as Jenkins does.
func (f *fakeJenkins) status(path string, code int) {
	f.handle(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(code)
		_, _ = w.Write([]byte("<html><body><h2>HTTP ERROR " + http.StatusText(code) + "</h2></body></html>"))
	})
}

func (f *fakeJenkins) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_, _ = w.Write(body)
}

func (f *fakeJenkins) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if f.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	path, ok := strings.CutPrefix(r.URL.EscapedPath(), f.contextPath)
	if !ok {
		http.NotFound(w, r)
		return
	}
	for strings.Contains(path, "//") {
		path = strings.ReplaceAll(path, "//", "/")
	}
	f.mu.Lock()
	h := f.routes[path]
	f.hits[path]++
	f.mu.Unlock()
	if h == nil {
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><body>Not Found</body></html>"))
		return
	}
	h(w, r)
}

// blockUntilGone answers only when the client gave up, so that a test can
// assert the client's deadline error without timing anything.
func blockUntilGone(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
}

// prFake serves a complete, passing PR-merge build of Codertocat/Hello-World#2.
func prFake(tb testing.TB) (*fakeJenkins, *Client) {
	tb.Helper()
	f, url := newFake(tb, "")
	p := "/" + prJob + "/10"
	f.serve(p+"/api/json", workflowRun(tb, "SUCCESS"))
	f.serve(p+"/wfapi/describe/api/json", describe(tb, "SUCCESS", nil))
	f.serve(p+"/testReport/api/json", testReport(tb, 40, 0, 2))
	f.serve(p+"/coverage/api/json", readFixture(tb, "coverage.api.json"))
	c, err := New(Options{URL: url, Clock: fixedClock{}})
	if err != nil {
		tb.Fatal(err)
	}
	return f, c
}

// fixedClock is the test Clock.
type fixedClock struct{}

var testNow = time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)

func (fixedClock) Now() time.Time { return testNow }

var _ gatekeeper.Clock = fixedClock{}
