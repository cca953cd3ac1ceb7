package test

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The Jenkins side of the recorded pull request Codertocat/Hello-World#2:
// GitHub Branch Source builds it in the PR-2-merge job of the organisation
// folder Codertocat/Hello-World, and the master job is the base branch.
const (
	headA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821" // pull_request.opened.json head
	// baseSHA is the opened payload's base and the synchronize payload's
	// "before": the head of the pull request before the recorded push.
	baseSHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
	// mergeA is the local merge commit Jenkins built for headA; the
	// recorded build's change set commit stands in for it.
	mergeA = "d27afa0805201322d846d7defc29b82c88d9b5ce"
	// headB is a new head pushed onto the pull request (a made-up commit:
	// no recorded push to a third commit exists), mergeB its merge.
	headB  = "5b9e1c0f6a3d2e4b8c7a9f0e1d2c3b4a5f6e7d8c"
	mergeB = "7c4f2a91e0b3d5c6a8f9e1d2c3b4a5f6e7d8c9b0"

	masterJob = "job/Codertocat/job/Hello-World/job/master"
	// trivyArtifact is where the seed Jenkinsfile archives its image scan.
	trivyArtifact = "reports/trivy-image.json"
	// jenkinsToken is the shared token Jenkins sends (GATEKEEPER_JENKINS_TOKEN).
	jenkinsToken = "e2e-jenkins-token-0123456789"
)

// seedStages are the stage names of the seed Jenkinsfile, one per release
// stage in pipeline order (jenkinsapi.DefaultStageMap knows them).
var seedStages = []string{"Checkout", "Build image", "Unit tests", "Image scan", "Image push", "Helm chart", "Deploy to pre-production"}

// prJob is the PR-merge job of pull request n.
func prJob(n int) string {
	return "job/Codertocat/job/Hello-World/job/PR-" + strconv.Itoa(n) + "-merge"
}

// jenkinsBuild describes one PR-merge build the fake Jenkins serves. Every
// answer is derived from a recorded Jenkins response.
type jenkinsBuild struct {
	job    string // prJob(n)
	number int
	head   string // SCMRevisionAction revision.pullHash
	merge  string // BuildData lastBuiltRevision
	result string // "SUCCESS", "FAILURE", …
	// base is the SCMRevisionAction revision.target.hash: the master
	// merged ("" is baseSHA, master when the recorded pull request was
	// opened).
	base string
	// stages overrides a stage's SUCCESS by name.
	stages map[string]string
	// lineCoverage replaces projectStatistics.line of coverage.api.json
	// ("" keeps the recorded "88.44%").
	lineCoverage string
	// replayOf, when not 0, makes the build a Replay of that build (a
	// Jenkinsfile edited in Jenkins): its CauseAction has the
	// ReplayCause Jenkins records.
	replayOf int
}

// fakeJenkins answers like Jenkins at its root, the way the adapter's own
// fake (gatekeeper/jenkinsapi/fake_test.go) does: every route is the path
// gojenkins requests, "/api/json" included; "//" is collapsed; anything
// unknown is Jenkins' HTML 404.
type fakeJenkins struct {
	*httptest.Server
	t      *testing.T
	mu     sync.Mutex
	routes map[string][]byte
	down   bool // every request answers 500
	// slow delays every answer by this long (nanoseconds; 0: none), or
	// until the client gives up: a Jenkins that answers slowly.
	slow atomic.Int64
}

// newFakeJenkins serves the root and the master job, whose last successful
// build 6 (of baseSHA) with the recorded coverage is the baseline.
func newFakeJenkins(t *testing.T) *fakeJenkins {
	t.Helper()
	f := &fakeJenkins{t: t, routes: map[string][]byte{}}
	// No recorded root answer exists; gojenkins only needs a 200 with X-Jenkins.
	f.routes["/api/json"] = []byte(`{"_class":"hudson.model.Hudson","mode":"NORMAL","useSecurity":true}`)

	job := fixtureMap(t, "jenkins/job.api.json")
	job["name"], job["displayName"] = "master", "master"
	job["url"] = "http://jenkins.test/" + masterJob + "/"
	job["lastSuccessfulBuild"] = map[string]any{"number": 6, "url": "http://jenkins.test/" + masterJob + "/6/"}
	f.serve("/"+masterJob+"/api/json", mustJSON(t, job))
	f.serve("/"+masterJob+"/6/api/json", masterBuild(t))
	f.serve("/"+masterJob+"/6/coverage/api/json", fixture(t, "jenkins/coverage.api.json"))
	f.serve("/"+masterJob+"/6/testReport/api/json", testReport(t, 36, 0, 2))

	f.Server = httptest.NewServer(f)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeJenkins) serve(path string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[path] = body
}

// setDown makes every answer a 500 (down) or brings Jenkins back.
func (f *fakeJenkins) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// addBuild serves a finished build with its stages, tests, coverage and
// the recorded Trivy report as an archived artifact.
func (f *fakeJenkins) addBuild(b jenkinsBuild) {
	t := f.t
	t.Helper()
	p := "/" + b.job + "/" + strconv.Itoa(b.number)
	f.serve(p+"/api/json", workflowRun(t, b))
	run := "SUCCESS"
	for _, st := range b.stages {
		if st != "SUCCESS" {
			run = st
		}
	}
	f.serve(p+"/wfapi/describe/api/json", describe(t, run, b.stages))
	f.serve(p+"/testReport/api/json", testReport(t, 40, 0, 2))
	cov := fixture(t, "jenkins/coverage.api.json")
	if b.lineCoverage != "" {
		m := fixtureMap(t, "jenkins/coverage.api.json")
		m["projectStatistics"].(map[string]any)["line"] = b.lineCoverage
		cov = mustJSON(t, m)
	}
	f.serve(p+"/coverage/api/json", cov)
	f.serve(p+"/artifact/"+trivyArtifact, fixture(t, "trivy/alpine-310.json.golden"))
}

// listJob serves a PR job's own JSON listing the given builds, newest
// first, as the lookup of a build whose notification was lost reads it.
func (f *fakeJenkins) listJob(job string, numbers ...int) {
	t := f.t
	t.Helper()
	m := fixtureMap(t, "jenkins/job.api.json")
	name := job[strings.LastIndex(job, "/")+1:]
	m["name"], m["displayName"] = name, name
	m["url"] = "http://jenkins.test/" + job + "/"
	var builds []any
	for _, n := range numbers {
		builds = append(builds, map[string]any{"number": n, "url": "http://jenkins.test/" + job + "/" + strconv.Itoa(n) + "/"})
	}
	m["builds"] = builds
	f.serve("/"+job+"/api/json", mustJSON(t, m))
}

func (f *fakeJenkins) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if d := time.Duration(f.slow.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	path := r.URL.EscapedPath()
	for strings.Contains(path, "//") {
		path = strings.ReplaceAll(path, "//", "/")
	}
	f.mu.Lock()
	body, ok := f.routes[path]
	down := f.down
	f.mu.Unlock()
	if ok && strings.HasSuffix(path, "/api/json") && !strings.Contains(r.URL.Query().Get("tree"), "revision[") {
		body = staplerDepth(f.t, body)
	}
	switch {
	case down:
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("<html><body><h2>HTTP ERROR 500 Server Error</h2></body></html>"))
	case !ok:
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("<html><body>Not Found</body></html>"))
	default:
		if path == "/api/json" {
			w.Header().Set("X-Jenkins", "2.462.3")
		}
		if strings.Contains(path, "/artifact/") {
			w.Header().Set("Content-Type", "application/octet-stream")
		} else {
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
		}
		w.Write(body)
	}
}

// staplerDepth prunes a build's answer as Jenkins does for a request
// without a tree naming revision fields (?depth=0 or 1): an
// SCMRevisionAction's revision and everything in it are plain
// @ExportedBean (visibility 1), two levels down, so only its _class is
// written (Stapler's TreePruner.ByDepth(1-depth)). BuildData (visibility
// 999) and CauseAction's causes (visibility 2 and 3) stay.
func staplerDepth(t testing.TB, body []byte) []byte {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	actions, ok := m["actions"].([]any)
	if !ok {
		return body
	}
	for i, a := range actions {
		am, _ := a.(map[string]any)
		if rv, ok := am["revision"].(map[string]any); ok {
			pruned := map[string]any{}
			for k, v := range am {
				pruned[k] = v
			}
			pruned["revision"] = map[string]any{"_class": rv["_class"]}
			actions[i] = pruned
		}
	}
	return mustJSON(t, m)
}

// fixtureMap decodes a recorded JSON object for a test to derive a variant.
func fixtureMap(t testing.TB, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, name), &m); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	return m
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// workflowRun derives a multibranch PR-merge WorkflowRun from the recorded
// build.api.json (a build without BuildData), adding the actions a Pipeline
// run of GitHub Branch Source carries (PROTOCOLS.md §3): an empty {}, the
// repository's git BuildData whose marked revision is the head and built
// revision the local merge, the SCMRevisionAction with the pull hash, the
// junit TestResultAction, and the Trivy report among the artifacts.
func workflowRun(t testing.TB, b jenkinsBuild) []byte {
	t.Helper()
	m := fixtureMap(t, "jenkins/build.api.json")
	url := "http://jenkins.test/" + b.job + "/" + strconv.Itoa(b.number) + "/"
	m["_class"] = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
	m["number"], m["id"] = b.number, strconv.Itoa(b.number)
	m["url"] = url
	m["result"], m["building"] = b.result, false
	branch := "PR-" + b.job[strings.LastIndex(b.job, "PR-")+3:]
	m["actions"] = append(m["actions"].([]any),
		map[string]any{},
		map[string]any{
			"_class": "hudson.plugins.git.util.BuildData",
			"buildsByBranchName": map[string]any{branch: map[string]any{
				"_class": "hudson.plugins.git.util.Build", "buildNumber": b.number, "buildResult": nil,
				"marked":   map[string]any{"SHA1": b.head, "branch": []any{map[string]any{"SHA1": b.head, "name": branch}}},
				"revision": map[string]any{"SHA1": b.merge, "branch": []any{map[string]any{"SHA1": b.merge, "name": branch}}},
			}},
			"lastBuiltRevision": map[string]any{"SHA1": b.merge, "branch": []any{map[string]any{"SHA1": b.merge, "name": branch}}},
			"remoteUrls":        []any{"https://github.com/Codertocat/Hello-World.git"},
			"scmName":           "",
		},
		map[string]any{
			"_class": "jenkins.scm.api.SCMRevisionAction",
			// What Jenkins exports of a PullRequestSCMRevision: pullHash,
			// and scm-api's ChangeRequestSCMRevision target (the base
			// merged: master's tip when the build ran) and merge.
			// getBaseHash() is not exported.
			"revision": map[string]any{
				"_class":        "org.jenkinsci.plugins.github_branch_source.PullRequestSCMRevision",
				"deterministic": true,
				"merge":         true,
				"pullHash":      b.head,
				"target": map[string]any{
					"_class":        "jenkins.plugins.git.AbstractGitSCMSource$SCMRevisionImpl",
					"deterministic": true,
					"hash":          cmp.Or(b.base, baseSHA),
				},
			},
		},
		map[string]any{"_class": "hudson.tasks.junit.TestResultAction", "failCount": 0, "skipCount": 2, "totalCount": 42, "urlName": "testReport"},
	)
	if b.replayOf != 0 {
		m["actions"] = append(m["actions"].([]any), map[string]any{
			"_class": "hudson.model.CauseAction",
			"causes": []any{
				map[string]any{"_class": "org.jenkinsci.plugins.workflow.cps.replay.ReplayCause", "shortDescription": "Replayed #" + strconv.Itoa(b.replayOf)},
				map[string]any{"_class": "hudson.model.Cause$UserIdCause", "shortDescription": "Started by user mallory", "userId": "mallory", "userName": "mallory"},
			},
		})
	}
	m["artifacts"] = append(m["artifacts"].([]any), map[string]any{
		"displayPath": "trivy-image.json", "fileName": "trivy-image.json", "relativePath": trivyArtifact,
	})
	return mustJSON(t, m)
}

// masterBuild is build 6 of the master job, of baseSHA, derived from
// build.api.json.
func masterBuild(t testing.TB) []byte {
	t.Helper()
	m := fixtureMap(t, "jenkins/build.api.json")
	m["number"], m["id"] = 6, "6"
	m["url"] = "http://jenkins.test/" + masterJob + "/6/"
	m["actions"] = append(m["actions"].([]any),
		map[string]any{
			"_class":            "hudson.plugins.git.util.BuildData",
			"lastBuiltRevision": map[string]any{"SHA1": baseSHA},
			"remoteUrls":        []any{"https://github.com/Codertocat/Hello-World.git"},
		},
		map[string]any{
			"_class":   "jenkins.scm.api.SCMRevisionAction",
			"revision": map[string]any{"_class": "jenkins.plugins.git.AbstractGitSCMSource$SCMRevisionImpl", "hash": baseSHA},
		})
	return mustJSON(t, m)
}

// describe derives a seven-stage Stage View answer from wfapi.describe.json,
// with its first stage as the template for each.
func describe(t testing.TB, runStatus string, status map[string]string) []byte {
	t.Helper()
	m := fixtureMap(t, "jenkins/wfapi.describe.json")
	tmpl := m["stages"].([]any)[0].(map[string]any)
	var stages []any
	for i, name := range seedStages {
		s := map[string]any{}
		for k, v := range tmpl {
			s[k] = v
		}
		s["id"], s["name"], s["status"] = strconv.Itoa(5+i), name, "SUCCESS"
		if st, ok := status[name]; ok {
			s["status"] = st
		}
		stages = append(stages, s)
	}
	m["stages"], m["status"] = stages, runStatus
	return mustJSON(t, m)
}

// testReport is a testReport/api/json answer in the shape of junit-plugin's
// TestResult (PROTOCOLS.md §3: no recorded file exists).
func testReport(t testing.TB, pass, fail, skip int) []byte {
	t.Helper()
	return mustJSON(t, map[string]any{
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

// notification derives the Notification plugin's COMPLETED message for a
// build from the recorded wiki example: the job becomes the pull request's
// PR-merge job, scm names the repository and the local merge commit, the
// artifact list names the archived scan.
func notification(t testing.TB, b jenkinsBuild) []byte {
	t.Helper()
	m := fixtureMap(t, "jenkins/notification.completed.wiki-example.json")
	name := b.job[strings.LastIndex(b.job, "/")+1:]
	num := strconv.Itoa(b.number)
	m["name"], m["url"] = name, b.job+"/"
	nb := m["build"].(map[string]any)
	nb["full_url"] = "http://jenkins.test/" + b.job + "/" + num + "/"
	nb["url"] = b.job + "/" + num + "/"
	nb["number"] = b.number
	nb["status"] = b.result
	nb["scm"] = map[string]any{"url": "https://github.com/Codertocat/Hello-World.git", "branch": "PR-" + strings.TrimSuffix(strings.TrimPrefix(name, "PR-"), "-merge"), "commit": b.merge}
	nb["artifacts"] = map[string]any{"trivy-image.json": map[string]any{"archive": "http://jenkins.test/" + b.job + "/" + num + "/artifact/" + trivyArtifact}}
	return mustJSON(t, m)
}

// pipelineReport is the pipeline report a Jenkinsfile posts, in the form
// gatekeeper/jenkinsapi/doc.go documents (no recorded one exists), for a
// passing build of the seven seed stages.
func pipelineReport(t testing.TB, b jenkinsBuild, chart string) []byte {
	t.Helper()
	var stages []any
	for _, name := range seedStages {
		stages = append(stages, map[string]any{"name": name, "status": "SUCCESS"})
	}
	return mustJSON(t, map[string]any{
		"kind":          "pipeline-report",
		"job_url":       "http://jenkins.test/" + b.job + "/",
		"build_number":  b.number,
		"head_sha":      b.head,
		"base_sha":      baseSHA,
		"merge_sha":     b.merge,
		"result":        b.result,
		"stages":        stages,
		"image_digest":  "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
		"chart_version": chart,
		"tests":         map[string]any{"total": 42, "passed": 40, "failed": 0, "skipped": 2},
		"vulnerabilities": map[string]any{
			"critical": 0, "high": 0, "medium": 4, "low": 0, "unknown": 0,
		},
	})
}
