package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestJenkinsEvidence delivers the release pull request, then what Jenkins
// posts about its PR-merge build, and checks the statuses GitHub receives
// (golden files): the gatekeeper completes the build from the Jenkins API
// (stages, tests, coverage, archived scan, master's baseline) or takes a
// pipeline report alone, and judges it on the current head only.
func TestJenkinsEvidence(t *testing.T) {
	t.Parallel()
	// build9 is a build of the head before the recorded push (the
	// synchronize payload's "before"), finished after the push.
	build9 := jenkinsBuild{job: prJob(2), number: 9, head: baseSHA, merge: "c3f1a2b4d5e6f708192a3b4c5d6e7f8091a2b3c4", result: "SUCCESS"}
	tests := []struct {
		name string
		// jenkinsAPI sets JENKINS_URL.
		jenkinsAPI bool
		// deliver sends what follows the release pull request.
		deliver func(t *testing.T, r *rig)
		state   string
		says    string // the last status's description contains it
		never   string // the last status's description does not contain it
		// builds are the builds the gatekeeper keeps in the end.
		builds []apiBuild
	}{
		{
			name: "passing build", jenkinsAPI: true,
			deliver: func(t *testing.T, r *rig) {
				r.jk.addBuild(build10)
				r.jenkinsOK(notification(t, build10))
			},
			// Everything Jenkins can tell passes: what is left is the
			// chart the pipeline reports, and the people.
			state: "pending", says: "Waiting for: Helm chart version; approvals",
			never: "Jenkins PR-merge build",
			// Completed from the API: the head from the SCMRevisionAction,
			// the tests, the coverage, the archived Trivy report.
			builds: []apiBuild{{Number: 10, HeadSHA: headA, MergeSHA: mergeA, Result: "SUCCESS",
				Tests: &apiTests{42}, Coverage: &apiCov{88.44}, Vulnerabilities: &apiVulns{4, trivyArtifact}}},
		},
		{
			name: "failed stage", jenkinsAPI: true,
			deliver: func(t *testing.T, r *rig) {
				b := build10
				b.result, b.stages = "FAILURE", map[string]string{"Image scan": "FAILED"}
				r.jk.addBuild(b)
				r.jenkinsOK(notification(t, b))
			},
			state: "failure", says: "Failing: build stage vulnerability scan failed",
		},
		{
			name: "coverage below threshold", jenkinsAPI: true,
			deliver: func(t *testing.T, r *rig) {
				b := build10
				b.lineCoverage = "78.50%" // the recorded report, one figure changed
				r.jk.addBuild(b)
				r.jenkinsOK(notification(t, b))
			},
			state: "failure", says: "coverage 78.5% below 80%",
		},
		{
			name: "build of an older head", jenkinsAPI: true,
			deliver: func(t *testing.T, r *rig) {
				// The push lands first, then the build of the head
				// before it; the job lists no build of the new head.
				payload, pr := synchronize(t, 2, baseSHA, headA, releaseBody, "2019-05-15T15:20:33Z")
				r.gh.setPull(pr)
				r.github("pull_request", payload)
				r.settle(2)
				r.jk.addBuild(build9)
				r.jk.listJob(prJob(2), 9)
				r.jenkinsOK(notification(t, build9))
			},
			state: "pending", says: "Waiting for: Jenkins PR-merge build of ec26c3e",
			// Kept for the record, with the head the API told.
			builds: []apiBuild{{Number: 9, HeadSHA: baseSHA, MergeSHA: build9.merge, Result: "SUCCESS",
				Tests: &apiTests{42}, Coverage: &apiCov{88.44}, Vulnerabilities: &apiVulns{4, trivyArtifact}}},
		},
		{
			name: "pipeline report only",
			deliver: func(t *testing.T, r *rig) {
				r.jenkinsOK(pipelineReport(t, build10, chartOf(build10)))
			},
			// This report carries no coverage; without JENKINS_URL
			// nothing can fetch it, nor verify the result the pipeline
			// reported of itself: the status says so.
			state: "pending", says: "Waiting for: Jenkins build #10 unverified (no JENKINS_URL); unit tests and coverage",
			never: "Jenkins PR-merge build",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{jenkinsAPI: tc.jenkinsAPI})
			payload, pr := opened(t, 2, headA, releaseBody)
			r.gh.setPull(pr)
			r.github("pull_request", payload)
			r.settle(2)
			tc.deliver(t, r)
			p := r.settle(2)

			last := r.last(headA)
			if last == nil || last["state"] != tc.state || !strings.Contains(last["description"].(string), tc.says) {
				t.Errorf("last status %v, want %s saying %q\ndecision: %+v", last, tc.state, tc.says, p.Latest.Decision)
			}
			if tc.never != "" && last != nil && strings.Contains(last["description"].(string), tc.never) {
				t.Errorf("last status %v still waits for %q", last, tc.never)
			}
			if tc.builds != nil {
				got, baseline := r.builds(2)
				if diff := cmp.Diff(tc.builds, got); diff != "" {
					t.Errorf("builds kept (-want +got):\n%s", diff)
				}
				if baseline != 6 {
					t.Errorf("baseline build %d, want master's last successful build 6", baseline)
				}
			}
			golden(t, "jenkins-"+strings.ReplaceAll(tc.name, " ", "-"), r.statuses())
		})
	}
}

// TestJenkinsDown: while Jenkins answers 500 the gate is pending and names
// Jenkins, never success; once Jenkins answers, its build counts.
func TestJenkinsDown(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{jenkinsAPI: true})
	payload, pr := opened(t, 2, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	r.settle(2)

	r.jk.addBuild(build10)
	r.jk.setDown(true)
	r.jenkinsOK(notification(t, build10))
	eventually(t, "a status naming jenkins", func() bool {
		last := r.last(headA)
		return strings.Contains(last["description"].(string), "jenkins")
	})
	if last := r.last(headA); last["state"] != "pending" {
		t.Errorf("while Jenkins is down the status is %v, want pending", last)
	}

	r.jk.setDown(false)
	eventually(t, "the build counted once Jenkins answers", func() bool {
		return strings.HasPrefix(r.last(headA)["description"].(string), "Waiting for: Helm chart version")
	})
	for _, s := range r.gh.Statuses() {
		if s.Body["state"] == "success" {
			t.Errorf("a success was posted: %v", s.Body)
		}
	}
}

// TestJenkinsWebhookToken: a Jenkins delivery without the shared token is
// refused with 401 and leaves no trace.
func TestJenkinsWebhookToken(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	body := notification(t, build10)
	post := func(query, auth string) int {
		req, _ := http.NewRequest(http.MethodPost, r.s.url("/webhooks/jenkins"+query), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json;charset=UTF-8")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name, query, auth string
		want              int
	}{
		{"no token", "", "", http.StatusUnauthorized},
		{"wrong token in the query", "?token=" + jenkinsToken + "x", "", http.StatusUnauthorized},
		{"wrong bearer", "", "Bearer not-the-token-at-all", http.StatusUnauthorized},
		{"basic auth instead of the token", "", "Basic ZTJlOmUyZQ==", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.query, tc.auth); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
	if _, ok := r.s.getPull("Codertocat", "Hello-World", 2); ok {
		t.Error("a refused Jenkins delivery created evidence")
	}
	// The same body with the token is taken: the refusals were the token's.
	if got := post("", "Bearer "+jenkinsToken); got != http.StatusAccepted {
		t.Errorf("with the bearer token: %d, want 202", got)
	}
}

// TestReportStagesFollowAPolicyReload: the stages a report brought are
// mapped with the stage names of the policy in force at every evaluation,
// not with the names in force when the report arrived: a release manager
// who adds the team's stage name sees the gate follow without a new build.
func TestReportStagesFollowAPolicyReload(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{data: func(t *testing.T, y string) string {
		return replaceOnce(t, y, "trust_pipeline_report: false", "trust_pipeline_report: true")
	}})
	payload, pr := opened(t, 2, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	r.settle(2)
	report := strings.Replace(string(pipelineReport(t, build10, chartOf(build10))), `"Image scan"`, `"Container scan"`, 1)
	r.jenkinsOK([]byte(report))
	r.settle(2)
	if desc := r.last(headA)["description"].(string); !strings.Contains(desc, "vulnerability scan did not run") {
		t.Fatalf("before the edit: %q, want the scan stage unknown", desc)
	}
	path := filepath.Join(r.policies, "data.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := replaceOnce(t, string(b), `jenkins: ["Scan", "Image scan", "Vulnerability scan", "Security scan"]`, `jenkins: ["Scan", "Container scan"]`)
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reported scan stage mapped with the reloaded names", func() bool {
		return !strings.Contains(r.last(headA)["description"].(string), "did not run")
	})
}

// replaceOnce replaces old in s, failing the test when s does not hold it.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("policies/data.yaml has no %q to replace", old)
	}
	return strings.Replace(s, old, new, 1)
}

// TestReportStagesUseThePolicyNames: a pipeline report's stages are mapped
// onto the release stages with the Jenkins stage names of data.yaml, not
// the built-in ones. The team calls its scan stage "Container scan",
// which no built-in name knows.
func TestReportStagesUseThePolicyNames(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{data: func(t *testing.T, y string) string {
		y = replaceOnce(t, y, `jenkins: ["Scan", "Image scan", "Vulnerability scan", "Security scan"]`, `jenkins: ["Container scan"]`)
		// No JENKINS_URL: the report is all there is.
		return replaceOnce(t, y, "trust_pipeline_report: false", "trust_pipeline_report: true")
	}})
	payload, pr := opened(t, 2, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	r.settle(2)
	report := strings.Replace(string(pipelineReport(t, build10, chartOf(build10))), `"Image scan"`, `"Container scan"`, 1)
	r.jenkinsOK([]byte(report))
	p := r.settle(2)
	last := r.last(headA)
	if last == nil {
		t.Fatal("no status posted")
	}
	desc := last["description"].(string)
	if strings.Contains(desc, "vulnerability scan did not run") || strings.Contains(desc, "build stage") {
		t.Errorf("the reported scan stage was not mapped with data.yaml's names: %q\ndecision: %+v", desc, p.Latest.Decision)
	}
	if !strings.Contains(desc, "unit tests and coverage") {
		t.Errorf("status %q: the report carries no coverage, so the gate must still wait for it", desc)
	}
}

// jenkinsPost posts to /webhooks/jenkins with the token and returns the
// answer's status code and body.
func (r *rig) jenkinsPost(payload []byte) (int, string) {
	r.t.Helper()
	resp, err := http.Post(r.s.url("/webhooks/jenkins?token="+jenkinsToken), "application/json;charset=UTF-8", bytes.NewReader(payload))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestJenkinsUnplacedJob: a well-formed notification for a job the
// gatekeeper cannot place (no repository for its folder, a URL naming no
// job) is acknowledged and ignored, never a 400 that Jenkins would log as
// its own failure; a malformed one still is.
func TestJenkinsUnplacedJob(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	unplaced := func(job string) []byte {
		m := fixtureMap(t, "jenkins/notification.completed.wiki-example.json")
		m["url"] = job
		nb := m["build"].(map[string]any)
		nb["url"], nb["full_url"] = job+"10/", "http://jenkins.test/"+job+"10/"
		nb["number"] = 10
		delete(nb, "scm")
		return mustJSON(t, m)
	}
	tests := []struct {
		name string
		body []byte
		want int
	}{
		{"PR job of a lone folder", unplaced("job/hello/job/PR-2-merge/"), http.StatusAccepted},
		{"URL naming no job", unplaced("view/all/"), http.StatusAccepted},
		{"not JSON", []byte("{"), http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := r.jenkinsPost(tc.body)
			if code != tc.want {
				t.Errorf("answer %d %s, want %d", code, body, tc.want)
			}
			if code == http.StatusAccepted && !strings.Contains(body, "ignored") {
				t.Errorf("answer %s, want it ignored", body)
			}
		})
	}
}

// notify is notification(t, b) in phase with the plugin's queue id (0:
// none), as Jenkins sends each phase of a build.
func notify(t testing.TB, b jenkinsBuild, phase string, queueID int) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(notification(t, b), &m); err != nil {
		t.Fatal(err)
	}
	nb := m["build"].(map[string]any)
	nb["phase"] = phase
	if queueID > 0 {
		nb["queue_id"] = queueID
	}
	return mustJSON(t, m)
}

// TestJenkinsAuthority: with JENKINS_URL set, a build's facts are what
// Jenkins' REST API states. Each case is an attack by someone holding the
// webhook token (every Jenkinsfile author): the forged claim is kept for
// the record, marked disputed and logged as suspicious, and never counts.
func TestJenkinsAuthority(t *testing.T) {
	t.Parallel()
	// failed is build 10 failed in a post-build step: every stage passed,
	// so only the result says it failed.
	failed := build10
	failed.result = "FAILURE"
	forged := failed
	forged.result = "SUCCESS"
	tests := []struct {
		name    string
		deliver func(t *testing.T, r *rig)
		head    string // the head whose last status is read
		state   string
		says    string
	}{
		{
			name: "COMPLETED SUCCESS for a build Jenkins says FAILURE",
			deliver: func(t *testing.T, r *rig) {
				r.jk.addBuild(failed)
				r.jenkinsOK(notify(t, failed, "COMPLETED", 41))
				r.settle(2)
				r.jenkinsOK(notify(t, forged, "FINALIZED", 41))
			},
			head: headA, state: "failure", says: "Failing: Jenkins PR-merge build of ec26c3e failed",
		},
		{
			name: "a real FAILURE replaced under a new queue id",
			deliver: func(t *testing.T, r *rig) {
				r.jk.addBuild(failed)
				r.jenkinsOK(notify(t, failed, "COMPLETED", 41))
				r.settle(2)
				r.jenkinsOK(notify(t, forged, "COMPLETED", 42))
			},
			head: headA, state: "failure", says: "Failing: Jenkins PR-merge build of ec26c3e failed",
		},
		{
			name: "an old head's green build re-pinned to the new head",
			deliver: func(t *testing.T, r *rig) {
				r.jk.addBuild(build10)
				r.jk.listJob(prJob(2), 10)
				r.jenkinsOK(notify(t, build10, "COMPLETED", 41))
				r.settle(2)
				payload, pr := synchronize(t, 2, headA, headB, releaseBody, "2019-05-15T15:30:00Z")
				r.gh.setPull(pr)
				r.github("pull_request", payload)
				r.settle(2)
				r.jenkinsOK(mustJSON(t, map[string]any{
					"kind": "pipeline-report", "job_url": "http://jenkins.test/" + prJob(2) + "/",
					"build_number": 10, "head_sha": headB,
				}))
			},
			head: headB, state: "pending", says: "Waiting for: Jenkins PR-merge build of 5b9e1c0",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{jenkinsAPI: true})
			payload, pr := opened(t, 2, headA, releaseBody)
			r.gh.setPull(pr)
			r.github("pull_request", payload)
			r.settle(2)
			tc.deliver(t, r)
			p := r.settle(2)
			last := r.last(tc.head)
			if last == nil || last["state"] != tc.state || !strings.HasPrefix(last["description"].(string), tc.says) {
				t.Errorf("last status on %s: %v, want %s saying %q\ndecision: %+v", tc.head[:7], last, tc.state, tc.says, p.Latest.Decision)
			}
			if got := disputes(t, r, 2); len(got) == 0 {
				t.Error("the forged claim is not marked disputed")
			}
			if !strings.Contains(r.s.Logs(), "suspicious Jenkins event") {
				t.Error("the forged claim was not logged as suspicious")
			}
			if page := r.page(2); !strings.Contains(page, "Claims Jenkins contradicts") {
				t.Errorf("the details page does not show the dispute:\n%s", page)
			}
		})
	}
}

// disputes returns the disputes the API lists on pull request n's builds.
func disputes(t *testing.T, r *rig, n int) []string {
	t.Helper()
	resp, err := http.Get(r.s.url(fmt.Sprintf("/api/v1/pulls/Codertocat/Hello-World/%d", n)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Evidence struct {
			Builds []struct {
				Claims []struct {
					Disputes []string `json:"disputes"`
				} `json:"claims"`
			} `json:"builds"`
		} `json:"evidence"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range v.Evidence.Builds {
		for _, c := range b.Claims {
			out = append(out, c.Disputes...)
		}
	}
	return out
}

// TestJenkinsRecheck: a verified build is not verified for ever. Jenkins
// is asked again when the gatekeeper reconciles, and what it says then
// counts: here build 10 was recreated (a job deleted and rebuilt, its
// numbers starting over) and failed.
func TestJenkinsRecheck(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{jenkinsAPI: true, extra: []string{"GATEKEEPER_RECONCILE=1s"}})
	payload, pr := opened(t, 2, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	r.settle(2)
	r.jk.addBuild(build10)
	r.jenkinsOK(notify(t, build10, "COMPLETED", 41))
	r.settle(2)
	if last := r.last(headA); !strings.HasPrefix(last["description"].(string), "Waiting for: Helm chart version") {
		t.Fatalf("before: %v", last)
	}
	failed := build10
	failed.result = "FAILURE"
	r.jk.addBuild(failed)
	eventually(t, "the build re-read as failed", func() bool {
		return r.last(headA)["state"] == "failure"
	})
}

// TestJenkinsWithoutAPI: without JENKINS_URL nothing can verify a build.
// A COMPLETED notification and a complete pipeline report are claims the
// status calls unverified, and only release.build.trust_pipeline_report
// lets them pass.
func TestJenkinsWithoutAPI(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		t.Run(fmt.Sprintf("trust_pipeline_report %v", trust), func(t *testing.T) {
			t.Parallel()
			o := rigOptions{}
			if trust {
				o.data = func(t *testing.T, y string) string {
					return replaceOnce(t, y, "trust_pipeline_report: false", "trust_pipeline_report: true")
				}
			}
			r := newRig(t, o)
			payload, pr := opened(t, 2, headA, releaseBody)
			r.gh.setPull(pr)
			r.github("pull_request", payload)
			r.settle(2)
			var report map[string]any
			if err := json.Unmarshal(pipelineReport(t, build10, chartOf(build10)), &report); err != nil {
				t.Fatal(err)
			}
			report["coverage"] = map[string]any{"line": 88.44}
			r.jenkinsOK(mustJSON(t, report))
			r.jenkinsOK(notify(t, build10, "COMPLETED", 41))
			p := r.settle(2)
			desc := r.last(headA)["description"].(string)
			unverified := strings.Contains(desc, "Jenkins build #10 unverified (no JENKINS_URL)")
			if unverified == trust {
				t.Errorf("status %q (trust_pipeline_report %v)\ndecision: %+v", desc, trust, p.Latest.Decision)
			}
			// Trusted, the claims count: nothing but the base branch's
			// coverage (which only the Jenkins API brings) and the
			// people are left.
			if trust && (strings.Contains(desc, "Jenkins") || strings.Contains(desc, "unit tests")) {
				t.Errorf("trusted, the build's claims should count: %q", desc)
			}
		})
	}
}

// TestJenkinsUngatedRepository: a notification for a pull request job of a
// repository nothing gates is acknowledged and dropped: no evidence, and
// GitHub is never asked about the pull request.
func TestJenkinsUngatedRepository(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	other := jenkinsBuild{job: "job/Codertocat/job/Other/job/PR-5-merge", number: 3, head: headA, merge: mergeA, result: "SUCCESS"}
	code, body := r.jenkinsPost(notify(t, other, "COMPLETED", 7))
	if code != http.StatusAccepted || !strings.Contains(body, "ignored") {
		t.Errorf("answer %d %s, want 202 ignored", code, body)
	}
	// A GitHub delivery for the tracked pull request, settled, shows the
	// workers have caught up.
	payload, pr := opened(t, 2, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	r.settle(2)
	if _, ok := r.s.getPull("Codertocat", "Other", 5); ok {
		t.Error("the notification started tracking Codertocat/Other#5")
	}
	if n := r.gh.Requested("GET /repos/Codertocat/Other/pulls/5"); n > 0 {
		t.Errorf("GitHub was asked %d times about Codertocat/Other#5", n)
	}
}

// page returns the details page of pull request n (served without sign-in
// on the loopback address).
func (r *rig) page(n int) string {
	r.t.Helper()
	resp, err := http.Get(r.s.url(fmt.Sprintf("/pulls/Codertocat/Hello-World/%d", n)))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
