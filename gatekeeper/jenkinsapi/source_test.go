package jenkinsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

const (
	// buildPath is the PR-merge build the notifications name.
	buildPath = "/" + prJob + "/10"
	masterJob = "/job/Codertocat/job/Hello-World/job/master"
	// trivyArtifact is where the seed Jenkinsfile archives its scan.
	trivyArtifact = "reports/trivy-image.json"
)

// stepClock is a Clock a test moves forward.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// withArtifacts adds archived files to a build answer, after the recorded
// build's own fish.txt.
func withArtifacts(tb testing.TB, build []byte, paths ...string) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(build, &m); err != nil {
		tb.Fatal(err)
	}
	arts := m["artifacts"].([]any)
	for _, p := range paths {
		arts = append(arts, map[string]any{"displayPath": p, "fileName": p[len(p)-len(lastSegment(p)):], "relativePath": p})
	}
	m["artifacts"] = arts
	return mustJSON(tb, m)
}

func lastSegment(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// masterBuild is build 6 of the master job (job.api.json's last
// successful build), derived from build.api.json.
func masterBuild(tb testing.TB) []byte {
	tb.Helper()
	m := fixtureMap(tb, "build.api.json")
	m["number"] = 6
	m["url"] = "http://localhost:32769" + masterJob + "/6/"
	m["actions"] = append(m["actions"].([]any),
		map[string]any{
			"_class":             "hudson.plugins.git.util.BuildData",
			"buildsByBranchName": map[string]any{"master": gitPair(baseSHA, baseSHA)},
			"lastBuiltRevision":  map[string]any{"SHA1": baseSHA},
			"remoteUrls":         []any{"https://github.com/Codertocat/Hello-World.git"},
		},
		map[string]any{
			"_class":   "jenkins.scm.api.SCMRevisionAction",
			"revision": map[string]any{"_class": "jenkins.plugins.git.AbstractGitSCMSource$SCMRevisionImpl", "hash": baseSHA},
		})
	return mustJSON(tb, m)
}

// prJobJSON is the PR-2-merge job listing builds 11 (a newer push's) and 10.
func prJobJSON(tb testing.TB) []byte {
	tb.Helper()
	m := fixtureMap(tb, "job.api.json")
	m["name"] = "PR-2-merge"
	m["url"] = "http://localhost:32769/" + prJob + "/"
	m["builds"] = []any{
		map[string]any{"number": 11, "url": "http://localhost:32769/" + prJob + "/11/"},
		map[string]any{"number": 10, "url": "http://localhost:32769/" + prJob + "/10/"},
	}
	return mustJSON(tb, m)
}

// sourceFake serves a finished, passing PR-merge build 10 of
// Codertocat/Hello-World#2 that archived the recorded Trivy report, and the
// master job whose last successful build is the baseline.
func sourceFake(tb testing.TB, opt Options) (*fakeJenkins, *Source, *stepClock) {
	tb.Helper()
	f, url := newFake(tb, "")
	f.serve(buildPath+"/api/json", withArtifacts(tb, workflowRun(tb, "SUCCESS"), trivyArtifact))
	f.serve(buildPath+"/wfapi/describe/api/json", describe(tb, "SUCCESS", nil))
	f.serve(buildPath+"/testReport/api/json", testReport(tb, 40, 0, 2))
	f.serve(buildPath+"/coverage/api/json", readFixture(tb, "coverage.api.json"))
	f.serve(buildPath+"/artifact/"+trivyArtifact, readTrivy(tb, "alpine-310.json.golden"))
	f.serve(masterJob+"/api/json", readFixture(tb, "job.api.json"))
	f.serve(masterJob+"/6/api/json", masterBuild(tb))
	f.serve(masterJob+"/6/coverage/api/json", readFixture(tb, "coverage.api.json"))
	f.serve(masterJob+"/6/testReport/api/json", testReport(tb, 36, 0, 2))
	clk := &stepClock{t: testNow}
	opt.URL, opt.Clock = url, clk
	c, err := New(opt)
	if err != nil {
		tb.Fatal(err)
	}
	return f, NewSource(c, SourceOptions{}), clk
}

// pullEvidence is the evidence of Codertocat/Hello-World#2 at headSHA
// (staging into master) with the given webhook payloads applied.
func pullEvidence(tb testing.TB, payloads ...[]byte) *gatekeeper.Evidence {
	tb.Helper()
	ev := &gatekeeper.Evidence{Key: prKey}
	ev.Apply(gatekeeper.Event{Name: "pull_request.opened", Received: testNow.Add(-time.Hour), Key: prKey, PullRequest: &gatekeeper.PullRequest{
		Key: prKey, State: "open", HeadRef: "staging", HeadSHA: headSHA, BaseRef: "master", BaseSHA: baseSHA,
		UpdatedAt: testNow.Add(-time.Hour),
	}})
	for _, p := range payloads {
		e, err := ParseNotification(p, ParseOptions{}, testNow.Add(-time.Minute))
		if err != nil {
			tb.Fatal(err)
		}
		ev.Apply(e)
	}
	return ev
}

// gathered splits Gather's events into builds (by number) and baselines.
func gathered(tb testing.TB, events []gatekeeper.Event) (map[int64]gatekeeper.Build, []gatekeeper.Build) {
	tb.Helper()
	builds := map[int64]gatekeeper.Build{}
	var baselines []gatekeeper.Build
	for _, e := range events {
		if e.Key != prKey || e.Received.IsZero() {
			tb.Errorf("event %q has key %v, received %v", e.Name, e.Key, e.Received)
		}
		switch {
		case e.Name == EventBuild && e.Build != nil:
			if e.SHA != e.Build.HeadSHA {
				tb.Errorf("build event sha %q, build head %q", e.SHA, e.Build.HeadSHA)
			}
			builds[e.Build.Number] = *e.Build
		case e.Name == EventBaseline && e.Baseline != nil:
			baselines = append(baselines, *e.Baseline)
		default:
			tb.Errorf("unexpected event %+v", e)
		}
	}
	return builds, baselines
}

func TestSourceGatherNotifiedBuild(t *testing.T) {
	t.Parallel()
	f, s, clk := sourceFake(t, Options{})
	ev := pullEvidence(t, notificationJSON(t, nil))
	ctx := context.Background()

	events, err := s.Gather(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	builds, baselines := gathered(t, events)
	want := gatekeeper.Build{
		JobPath: prJob, JobName: "PR-2-merge", Number: prNumber, Key: prKey, Strategy: "merge",
		HeadSHA: headSHA, MergeSHA: mergeSHA, Phase: "COMPLETED", Result: "SUCCESS", Verified: true, VerifiedAt: testNow,
		URL:       "http://localhost:32769/" + prJob + "/10/",
		StartedAt: time.UnixMilli(1461091892486).UTC(), Duration: 60750 * time.Millisecond,
		Stages:          sevenStages(),
		Tests:           &gatekeeper.TestSummary{Total: 42, Passed: 40, Skipped: 2},
		Coverage:        &gatekeeper.Coverage{Line: 88.44, Branch: ptr(82.19), Source: "coverage"},
		Vulnerabilities: &gatekeeper.VulnCounts{Medium: 4, Report: trivyArtifact},
		Missing:         []string{},
		Claims:          ev.Builds[0].Claims,
		UpdatedAt:       testNow,
	}
	if diff := cmp.Diff(map[int64]gatekeeper.Build{prNumber: want}, builds); diff != "" {
		t.Errorf("gathered builds (-want +got):\n%s", diff)
	}
	if len(baselines) != 1 {
		t.Fatalf("gathered %d baselines, want 1", len(baselines))
	}
	if b := baselines[0]; b.JobPath != masterJob[1:] || b.Number != 6 || b.HeadSHA != baseSHA ||
		b.Coverage == nil || b.Coverage.Line != 88.44 || b.Tests == nil || b.Tests.Total != 38 {
		t.Errorf("baseline = %+v", b)
	}

	for _, e := range events {
		ev.Apply(e)
	}
	cur := ev.CurrentBuild()
	if cur == nil || cur.Number != prNumber || cur.Coverage == nil || cur.Vulnerabilities == nil || len(cur.Stages) != 7 {
		t.Fatalf("after Gather, CurrentBuild = %+v", cur)
	}
	in := gatekeeper.BuildInput(ev, gatekeeper.InputOptions{Now: testNow}).Map()
	if b := in["build"].(map[string]any); b["tests"].(map[string]any)["added"] != 4 {
		t.Errorf("policy input tests = %v, want 4 added over the baseline", b["tests"])
	}

	// Complete evidence and a fresh baseline: nothing to ask.
	hits := f.count(buildPath+"/api/json") + f.count(masterJob+"/api/json")
	events, err = s.Gather(ctx, ev)
	if err != nil || len(events) != 0 {
		t.Fatalf("second Gather = %d events, %v; want none", len(events), err)
	}
	if n := f.count(buildPath+"/api/json") + f.count(masterJob+"/api/json"); n != hits {
		t.Errorf("second Gather made %d requests, want none", n-hits)
	}

	// Past the refresh window the baseline is asked again, and the
	// build too: a verified build is read again every RecheckEvery.
	clk.add(DefaultBaselineMaxAge)
	events, err = s.Gather(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if builds, baselines := gathered(t, events); len(builds) != 1 || len(baselines) != 1 {
		t.Errorf("Gather after %v = %d builds, %d baselines; want 1, 1", DefaultBaselineMaxAge, len(builds), len(baselines))
	}
	if n := f.count(masterJob + "/api/json"); n != 2 {
		t.Errorf("master job fetched %d times, want 2", n)
	}
}

func TestSourceBaselineAfterFailure(t *testing.T) {
	t.Parallel()
	f, s, _ := sourceFake(t, Options{})
	ev := pullEvidence(t, notificationJSON(t, nil))
	events, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		ev.Apply(e)
	}
	// The last Gather failed: the baseline is not trusted to be fresh.
	ev.Sources = map[string]gatekeeper.SourceStatus{SourceName: {OK: false, Error: "boom", Attempts: 1}}
	if _, err := s.Gather(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if n := f.count(masterJob + "/api/json"); n != 2 {
		t.Errorf("master job fetched %d times, want 2", n)
	}
	// A retargeted pull request needs the new base's baseline.
	ev.Sources = nil
	ev.PR.BaseRef = "release/1.x"
	f.serve("/job/Codertocat/job/Hello-World/job/release%2F1.x/api/json", readFixture(t, "job.api.json"))
	// Its job answers, its last successful build (6) does not exist:
	// missing, not an error.
	if _, err := s.Gather(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if n := f.count("/job/Codertocat/job/Hello-World/job/release%2F1.x/api/json"); n != 1 {
		t.Errorf("release/1.x job fetched %d times, want 1", n)
	}
}

func TestSourceLostNotification(t *testing.T) {
	t.Parallel()
	t.Run("found among the newest builds", func(t *testing.T) {
		t.Parallel()
		f, s, _ := sourceFake(t, Options{})
		f.serve("/"+prJob+"/api/json", prJobJSON(t))
		b11 := fixtureMap(t, "build.api.json") // a build of another head
		b11["number"] = 11
		f.serve("/"+prJob+"/11/api/json", mustJSON(t, b11))
		events, err := s.Gather(context.Background(), pullEvidence(t))
		if err != nil {
			t.Fatal(err)
		}
		builds, _ := gathered(t, events)
		b, ok := builds[prNumber]
		if !ok || len(builds) != 1 {
			t.Fatalf("gathered builds %v, want #10 only", builds)
		}
		if b.HeadSHA != headSHA || b.Result != "SUCCESS" || len(b.Stages) != 7 || b.Tests == nil || b.Coverage == nil || b.Vulnerabilities == nil {
			t.Errorf("looked-up build not completed: %+v", b)
		}
	})
	t.Run("not built yet", func(t *testing.T) {
		t.Parallel()
		f, s, _ := sourceFake(t, Options{})
		events, err := s.Gather(context.Background(), pullEvidence(t))
		if err != nil {
			t.Fatalf("a build that does not exist yet is an error: %v", err)
		}
		if builds, baselines := gathered(t, events); len(builds) != 0 || len(baselines) != 1 {
			t.Errorf("gathered %d builds, %d baselines; want 0, 1", len(builds), len(baselines))
		}
		if n := f.count("/" + prJob + "/api/json"); n != 1 {
			t.Errorf("PR-2-merge job asked %d times, want 1", n)
		}
	})
}

func TestSourceOlderHeadNotEnriched(t *testing.T) {
	t.Parallel()
	f, s, _ := sourceFake(t, Options{})
	f.serve("/"+prJob+"/api/json", prJobJSON(t))
	// Build 9 ran for the previous head and is still running.
	older := reportJSON(t, func(r map[string]any) {
		r["build_number"] = 9
		r["head_sha"] = libSHA
		delete(r, "result")
	})
	ev := pullEvidence(t, older)
	events, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	builds, _ := gathered(t, events)
	if _, ok := builds[9]; ok {
		t.Errorf("the older head's build was enriched: %+v", builds[9])
	}
	if n := f.count("/" + prJob + "/9/api/json"); n != 0 {
		t.Errorf("the older head's build was fetched %d times", n)
	}
	if b, ok := builds[prNumber]; !ok || b.HeadSHA != headSHA {
		t.Errorf("the current head's build was not looked up: %v", builds)
	}
}

func TestSourceFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(tb testing.TB, f *fakeJenkins)
		// check inspects the gathered build (nil when none).
		check      func(t *testing.T, b *gatekeeper.Build)
		wantErr    func(error) bool
		wantBase   bool
		wantBuilds int
	}{
		{
			name: "coverage answers 500: error and the rest",
			mutate: func(tb testing.TB, f *fakeJenkins) {
				f.status(buildPath+"/coverage/api/json", http.StatusInternalServerError)
			},
			check: func(t *testing.T, b *gatekeeper.Build) {
				if b.Coverage != nil || b.Tests == nil || len(b.Stages) != 7 || b.Vulnerabilities == nil || len(b.Missing) != 0 {
					t.Errorf("partial build = %+v", b)
				}
			},
			wantErr:    statusErr(http.StatusInternalServerError),
			wantBase:   true,
			wantBuilds: 1,
		},
		{
			name:   "no coverage report: missing, not an error",
			mutate: func(tb testing.TB, f *fakeJenkins) { f.status(buildPath+"/coverage/api/json", http.StatusNotFound) },
			check: func(t *testing.T, b *gatekeeper.Build) {
				if b.Coverage != nil || !cmp.Equal(b.Missing, []string{gatekeeper.ReportCoverage}) {
					t.Errorf("coverage %+v, missing %v; want none, [coverage]", b.Coverage, b.Missing)
				}
			},
			wantBase:   true,
			wantBuilds: 1,
		},
		{
			name:       "build answers 500: no build event, the baseline still",
			mutate:     func(tb testing.TB, f *fakeJenkins) { f.status(buildPath+"/api/json", http.StatusInternalServerError) },
			wantErr:    statusErr(http.StatusInternalServerError),
			wantBase:   true,
			wantBuilds: 0,
		},
		{
			name:       "baseline answers 500: the build still",
			mutate:     func(tb testing.TB, f *fakeJenkins) { f.status(masterJob+"/6/api/json", http.StatusInternalServerError) },
			check:      func(t *testing.T, b *gatekeeper.Build) {},
			wantErr:    statusErr(http.StatusInternalServerError),
			wantBuilds: 1,
		},
		{
			name:       "no successful master build: no baseline, no error",
			mutate:     func(tb testing.TB, f *fakeJenkins) { f.status(masterJob+"/api/json", http.StatusNotFound) },
			check:      func(t *testing.T, b *gatekeeper.Build) {},
			wantBuilds: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, s, _ := sourceFake(t, Options{})
			tt.mutate(t, f)
			events, err := s.Gather(context.Background(), pullEvidence(t, notificationJSON(t, nil)))
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Gather: %v", err)
			case tt.wantErr != nil && (err == nil || !tt.wantErr(err)):
				t.Fatalf("Gather error = %v, not the one wanted", err)
			}
			builds, baselines := gathered(t, events)
			if len(builds) != tt.wantBuilds || (len(baselines) == 1) != tt.wantBase {
				t.Fatalf("gathered %d builds, %d baselines; want %d, baseline %v", len(builds), len(baselines), tt.wantBuilds, tt.wantBase)
			}
			if b, ok := builds[prNumber]; ok {
				tt.check(t, &b)
			}
		})
	}
}

func TestSourceVulnerabilities(t *testing.T) {
	t.Parallel()
	posted := func(tb testing.TB) []byte {
		return reportJSON(tb, func(r map[string]any) {
			r["vulnerabilities"] = map[string]any{"critical": 1, "high": 0, "medium": 0, "low": 0, "unknown": 0, "report": "console"}
		})
	}
	highSARIF := func(tb testing.TB) []byte {
		return sarifVariant(tb, func(_ map[string]any, rules, _ []any) {
			obj(obj(rules[1])["properties"])["security-severity"] = "7.5"
		})
	}
	tests := []struct {
		name        string
		artifacts   []string
		routes      map[string][]byte
		status      map[string]int
		report      bool // the pipeline posted counts first
		want        *gatekeeper.VulnCounts
		wantMissing bool
		wantErr     error
	}{
		{
			name:      "archived trivy report",
			artifacts: []string{trivyArtifact},
			want:      &gatekeeper.VulnCounts{Medium: 4, Report: trivyArtifact},
		},
		{
			name:      "archived sarif log",
			artifacts: []string{"scan/image.sarif"},
			routes:    map[string][]byte{"scan/image.sarif": highSARIF(t)},
			want:      &gatekeeper.VulnCounts{High: 2, Medium: 2, Report: "scan/image.sarif"},
		},
		{
			name:      "trivy json preferred to the same scan's sarif",
			artifacts: []string{"scan/image.sarif.json", trivyArtifact},
			routes:    map[string][]byte{"scan/image.sarif.json": highSARIF(t)},
			want:      &gatekeeper.VulnCounts{Medium: 4, Report: trivyArtifact},
		},
		{
			name:      "two trivy reports share findings",
			artifacts: []string{trivyArtifact, "reports/trivy-sidecar.json"},
			routes: map[string][]byte{"reports/trivy-sidecar.json": trivyVariant(t, func(m map[string]any, v []any) {
				obj(v[0])["VulnerabilityID"] = "CVE-2024-0001"
				obj(v[0])["Severity"] = "CRITICAL"
			})},
			want: &gatekeeper.VulnCounts{Critical: 1, Medium: 4, Report: trivyArtifact},
		},
		{
			name:      "archived report replaces the posted counts",
			artifacts: []string{trivyArtifact},
			report:    true,
			want:      &gatekeeper.VulnCounts{Medium: 4, Report: trivyArtifact},
		},
		{
			// Counts a pipeline posted are its own word: only an
			// archived report Jenkins serves counts.
			name:        "posted counts never stand in",
			report:      true,
			wantMissing: true,
		},
		{
			name:        "nothing archived, nothing posted",
			wantMissing: true,
		},
		{
			name:        "archived report gone",
			artifacts:   []string{trivyArtifact},
			status:      map[string]int{trivyArtifact: http.StatusNotFound},
			wantMissing: true,
		},
		{
			name:      "archived report unreadable",
			artifacts: []string{trivyArtifact},
			routes:    map[string][]byte{trivyArtifact: readTrivy(t, "alpine-310.json.golden")[:100]},
			wantErr:   gatekeeper.ErrInvalid,
		},
		{
			name:      "archived report forbidden",
			artifacts: []string{trivyArtifact},
			status:    map[string]int{trivyArtifact: http.StatusForbidden},
			report:    true,
			wantErr:   errStatus403,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, s, _ := sourceFake(t, Options{})
			f.serve(buildPath+"/api/json", withArtifacts(t, workflowRun(t, "SUCCESS"), tt.artifacts...))
			for p, body := range tt.routes {
				f.serve(buildPath+"/artifact/"+p, body)
			}
			for p, code := range tt.status {
				f.status(buildPath+"/artifact/"+p, code)
			}
			payloads := [][]byte{notificationJSON(t, nil)}
			if tt.report {
				payloads = append(payloads, posted(t))
			}
			events, err := s.Gather(context.Background(), pullEvidence(t, payloads...))
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Gather: %v", err)
			case tt.wantErr == errStatus403:
				if !statusErr(http.StatusForbidden)(err) {
					t.Fatalf("Gather error = %v, want 403", err)
				}
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("Gather error = %v, want %v", err, tt.wantErr)
			}
			builds, _ := gathered(t, events)
			b := builds[prNumber]
			if tt.wantErr == nil || tt.want != nil {
				if diff := cmp.Diff(tt.want, b.Vulnerabilities); diff != "" {
					t.Errorf("Vulnerabilities (-want +got):\n%s", diff)
				}
			}
			var wantMissing []string
			if tt.wantMissing {
				wantMissing = []string{ReportVulnerabilities}
			}
			if diff := cmp.Diff(wantMissing, b.Missing, cmpEmpty); diff != "" {
				t.Errorf("Missing (-want +got):\n%s", diff)
			}
		})
	}
}

// errStatus403 marks a case whose error is a 403 ResponseError.
var errStatus403 = errors.New("403")

// cmpEmpty treats nil and empty slices as equal.
var cmpEmpty = cmp.Comparer(func(a, b []string) bool {
	return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b)
})

func TestSourceHeadRecovery(t *testing.T) {
	t.Parallel()
	// A WorkflowRun without SCMRevisionAction whose BuildData has no
	// marked revision: the API cannot tell the head.
	noHead := func(tb testing.TB) []byte {
		var m map[string]any
		if err := json.Unmarshal(withArtifacts(tb, workflowRun(tb, "SUCCESS"), trivyArtifact), &m); err != nil {
			tb.Fatal(err)
		}
		var kept []any
		for _, a := range m["actions"].([]any) {
			am := obj(a)
			if am["_class"] == "jenkins.scm.api.SCMRevisionAction" {
				continue
			}
			if bb, ok := am["buildsByBranchName"].(map[string]any); ok && bb["PR-2"] != nil {
				am["buildsByBranchName"] = map[string]any{}
			}
			kept = append(kept, a)
		}
		m["actions"] = kept
		return mustJSON(tb, m)
	}
	tests := []struct {
		name     string
		payloads func(tb testing.TB) [][]byte
		wantHead string
	}{
		// Only Jenkins states a head: the report's is a claim.
		{"never from the pipeline report", func(tb testing.TB) [][]byte { return [][]byte{notificationJSON(tb, nil), reportJSON(tb, nil)} }, ""},
		{"never from the merge commit", func(tb testing.TB) [][]byte { return [][]byte{notificationJSON(tb, nil)} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, s, clk := sourceFake(t, Options{})
			f.serve(buildPath+"/api/json", noHead(t))
			ev := pullEvidence(t, tt.payloads(t)...)
			events, err := s.Gather(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			builds, _ := gathered(t, events)
			b := builds[prNumber]
			if b.HeadSHA != tt.wantHead || b.MergeSHA != mergeSHA {
				t.Errorf("head %q, merge %q; want %q, %q", b.HeadSHA, b.MergeSHA, tt.wantHead, mergeSHA)
			}
			for _, e := range events {
				ev.Apply(e)
			}
			if cur := ev.CurrentBuild(); (cur != nil) != (tt.wantHead != "") {
				t.Errorf("CurrentBuild = %+v", cur)
			}
			// A finished build whose head stays unknown is asked again
			// only now and then (RecheckEvery, before RetryEvery).
			fetched := f.count(buildPath + "/api/json")
			if _, err := s.Gather(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			if n := f.count(buildPath + "/api/json"); n != fetched {
				t.Errorf("complete build fetched again at once (%d times)", n-fetched)
			}
			clk.add(DefaultRecheckEvery)
			if _, err := s.Gather(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			if n := f.count(buildPath + "/api/json"); n != fetched+1 {
				t.Errorf("after %v the build was fetched %d more times, want 1", DefaultRecheckEvery, n-fetched)
			}
		})
	}
}

// TestSourceReportStagesNeverStandIn: with the Jenkins API, the stages a
// pipeline report posted are its own word. Jenkins without the Stage View
// plugin has no stages: they are missing, whatever the report says.
func TestSourceReportStagesNeverStandIn(t *testing.T) {
	t.Parallel()
	f, s, _ := sourceFake(t, Options{})
	f.status(buildPath+"/wfapi/describe/api/json", http.StatusNotFound)
	events, err := s.Gather(context.Background(), pullEvidence(t, notificationJSON(t, nil), reportJSON(t, nil)))
	if err != nil {
		t.Fatal(err)
	}
	builds, _ := gathered(t, events)
	b := builds[prNumber]
	if b.Stages != nil || !slices.Contains(b.Missing, gatekeeper.ReportStages) {
		t.Errorf("Stages %+v, Missing %v: want none, and missing", b.Stages, b.Missing)
	}
}

// TestSourceRekeysStages: stages already read are keyed again with the
// stage map in force, read at every Gather, without asking Jenkins.
func TestSourceRekeysStages(t *testing.T) {
	t.Parallel()
	var renamed atomic.Bool
	f, s, _ := sourceFake(t, Options{Stages: func() StageMap {
		if renamed.Load() {
			return StageMap{gatekeeper.StageClone: {"Image scan"}}
		}
		return nil
	}})
	ev := pullEvidence(t, notificationJSON(t, nil))
	events, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		ev.Apply(e)
	}
	if st := ev.CurrentBuild().Stages; len(st) != 7 || st[3].Key != gatekeeper.StageScan {
		t.Fatalf("default map keyed %+v", st)
	}
	renamed.Store(true)
	fetched := f.count(buildPath + "/api/json")
	events, err = s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	builds, baselines := gathered(t, events)
	if st := builds[prNumber].Stages; len(st) != 7 || st[0].Key != "" || st[3].Key != gatekeeper.StageClone || len(baselines) != 0 {
		t.Errorf("rekeyed stages %+v, %d baselines", st, len(baselines))
	}
	if n := f.count(buildPath + "/api/json"); n != fetched {
		t.Errorf("rekeying fetched the build %d times", n-fetched)
	}
}

// TestSourceConfirmsPipelineReport: a pipeline report, however complete,
// is the pipeline's own word, sent from post { always } before post-build
// steps may turn the build UNSTABLE. The Source asks Jenkins, whose result
// prevails and verifies the build.
func TestSourceConfirmsPipelineReport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// apiResult is the build's result in the API; nil: still running.
		apiResult    any
		wantResult   string
		wantVerified bool
	}{
		{name: "post-build steps made it unstable", apiResult: "UNSTABLE", wantResult: "UNSTABLE", wantVerified: true},
		{name: "confirmed as reported", apiResult: "SUCCESS", wantResult: "SUCCESS", wantVerified: true},
		// Jenkins' word is that it still runs: that is what counts.
		{name: "post-build steps still running", apiResult: nil, wantResult: "", wantVerified: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, s, _ := sourceFake(t, Options{})
			f.serve(buildPath+"/api/json", withArtifacts(t, workflowRun(t, tt.apiResult), trivyArtifact))
			report := reportJSON(t, func(r map[string]any) {
				r["coverage"] = map[string]any{"line": 88.44}
			})
			ev := pullEvidence(t, report)
			// Result, stages, tests, coverage and scan: nothing the
			// Source would ask for but the result's confirmation.
			if b := ev.CurrentBuild(); b == nil || b.Verified || b.Result != "SUCCESS" || b.Stages == nil ||
				b.Tests == nil || b.Coverage == nil || b.Vulnerabilities == nil {
				t.Fatalf("the report alone gave %+v, want a complete, unverified build", b)
			}

			events, err := s.Gather(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			builds, _ := gathered(t, events)
			b, ok := builds[prNumber]
			if !ok {
				t.Fatalf("the reported build was not asked of Jenkins: gathered %v", builds)
			}
			if b.Result != tt.wantResult || b.Verified != tt.wantVerified {
				t.Errorf("gathered result %q, verified %v; want %q, %v", b.Result, b.Verified, tt.wantResult, tt.wantVerified)
			}
			for _, e := range events {
				ev.Apply(e)
			}
			if cur := ev.CurrentBuild(); cur == nil || cur.Verified != tt.wantVerified || (tt.wantVerified && cur.Result != tt.wantResult) {
				t.Fatalf("after Gather, CurrentBuild = %+v; want verified %v", cur, tt.wantVerified)
			}

			// Finished, the build is not asked again at once; still
			// running, it is.
			fetched := f.count(buildPath + "/api/json")
			if _, err := s.Gather(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			want := fetched
			if tt.wantResult == "" {
				want++
			}
			if n := f.count(buildPath + "/api/json"); n != want {
				t.Errorf("the next Gather fetched the build %d times, want %d", n-fetched, want-fetched)
			}
		})
	}
}

// TestSourceDisputesForgedClaims: claims Jenkins contradicts are marked
// disputed and logged as suspicious, once; a claimed build Jenkins does not
// have is Gone, not an error that would hold the gate for ever; a claim
// arriving after a read has the build read again.
func TestSourceDisputesForgedClaims(t *testing.T) {
	t.Parallel()
	f, s, clk := sourceFake(t, Options{})
	var logs bytes.Buffer
	s.opts.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	forged := notificationJSON(t, func(_, b map[string]any) { b["status"] = "FAILURE" }) // Jenkins says SUCCESS
	ghost := notificationJSON(t, func(j, b map[string]any) {
		delete(j, "url")
		b["number"], b["url"], b["full_url"] = 99, prJob+"/99/", "http://localhost:32769/"+prJob+"/99/"
	})
	ev := pullEvidence(t, forged, ghost)
	events, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, e := range events {
		ev.Apply(e)
	}
	var real, gone *gatekeeper.Build
	for i := range ev.Builds {
		switch ev.Builds[i].Number {
		case prNumber:
			real = &ev.Builds[i]
		case 99:
			gone = &ev.Builds[i]
		}
	}
	if real == nil || real.Result != "SUCCESS" || len(real.Disputes()) != 1 || !strings.Contains(real.Disputes()[0], "result FAILURE, Jenkins says SUCCESS") {
		t.Errorf("build 10: %+v, disputes %q", real, real.Disputes())
	}
	if gone == nil || !gone.Gone || len(gone.Disputes()) != 1 {
		t.Fatalf("build 99 Jenkins does not have: %+v", gone)
	}
	if cur := ev.CurrentBuild(); cur == nil || cur.Number != prNumber {
		t.Errorf("CurrentBuild = %+v, want build 10", cur)
	}
	if n := strings.Count(logs.String(), "suspicious Jenkins event"); n != 2 {
		t.Errorf("%d suspicious events logged, want 2:\n%s", n, logs.String())
	}

	// A new claim about the verified build: read again at once, and
	// checked.
	fetched := f.count(buildPath + "/api/json")
	again, err := ParseNotification(notificationJSON(t, func(_, b map[string]any) { b["phase"], b["status"] = "FINALIZED", "ABORTED" }), ParseOptions{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	ev.Apply(again)
	events, err = s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		ev.Apply(e)
	}
	if n := f.count(buildPath + "/api/json"); n != fetched+1 {
		t.Errorf("a claim after the read fetched the build %d times, want 1", n-fetched)
	}
	// A periodic re-read does not log the same claims again.
	clk.add(DefaultRecheckEvery)
	before := strings.Count(logs.String(), "suspicious")
	if _, err := s.Gather(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if after := strings.Count(logs.String(), "suspicious"); after != before {
		t.Errorf("a periodic re-read logged %d suspicious events again", after-before)
	}
}

// TestSourcePlacesJobsByPathOnly: a notification's scm url can place a job
// the gatekeeper cannot place by its folders, but only as a claim. Jenkins'
// job path names no repository, so the build, however green and of the
// right head, counts for no pull request.
func TestSourcePlacesJobsByPathOnly(t *testing.T) {
	t.Parallel()
	f, s, _ := sourceFake(t, Options{})
	const other = "/job/hello/job/PR-2-merge/10"
	f.serve(other+"/api/json", withArtifacts(t, workflowRun(t, "SUCCESS"), trivyArtifact))
	f.serve(other+"/wfapi/describe/api/json", describe(t, "SUCCESS", nil))
	f.serve(other+"/testReport/api/json", testReport(t, 40, 0, 2))
	f.serve(other+"/coverage/api/json", readFixture(t, "coverage.api.json"))
	f.serve(other+"/artifact/"+trivyArtifact, readTrivy(t, "alpine-310.json.golden"))
	placed := notificationJSON(t, func(j, b map[string]any) {
		j["url"] = "job/hello/job/PR-2-merge/"
		b["url"], b["full_url"] = "job/hello/job/PR-2-merge/10/", "http://localhost:32769/job/hello/job/PR-2-merge/10/"
	})
	ev := pullEvidence(t, placed)
	if len(ev.Builds) != 1 || ev.Builds[0].Key != prKey {
		t.Fatalf("the claim was not placed by its scm url: %+v", ev.Builds)
	}
	events, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		ev.Apply(e)
	}
	for _, b := range ev.Builds {
		if b.JobPath == "job/hello/job/PR-2-merge" && b.Key.Valid() {
			t.Errorf("the read build kept the claimed repository: %+v", b.Key)
		}
	}
	if cur := ev.CurrentBuild(); cur != nil && cur.JobPath == "job/hello/job/PR-2-merge" {
		t.Errorf("a job placed by a claim counts: %+v", cur)
	}
}

// TestSourceLooksUpPastAReplay: a Replay of the head's PR-merge build is
// read and refused, and the original build's notification was lost. The
// refused build is not "Jenkins showed a build of the head": the lookup
// must still find the original, or the release waits for it for ever.
func TestSourceLooksUpPastAReplay(t *testing.T) {
	t.Parallel()
	f, s, _ := sourceFake(t, Options{})
	f.serve("/"+prJob+"/api/json", prJobJSON(t))
	replay := runWith(t, prJob, prRevision(headSHA, baseSHA, true), headSHA, mergeSHA, replayCause())
	replay["number"] = 11
	replay["url"] = "http://localhost:32769/" + prJob + "/11/"
	f.serve("/"+prJob+"/11/api/json", mustJSON(t, replay))
	ev := pullEvidence(t, reportJSON(t, func(r map[string]any) { r["build_number"] = 11 }))
	for range 2 {
		events, err := s.Gather(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			ev.Apply(e)
		}
	}
	var refused, original bool
	for _, b := range ev.Builds {
		switch {
		case b.Number == 11 && b.Refused != "":
			refused = true
		case b.Number == prNumber && b.Verified && b.HeadSHA == headSHA && b.Refused == "":
			original = true
		}
	}
	if !refused || !original {
		t.Errorf("replay refused %v, original #%d found %v; builds %+v", refused, prNumber, original, ev.Builds)
	}
}

// TestBaselineSkipsAReplay: master's last successful build is a Replay
// (its Jenkinsfile edited in Jenkins: it may report any coverage). The
// coverage baseline is the newest successful build before it that is not
// refused, never the replay's own figures.
func TestBaselineSkipsAReplay(t *testing.T) {
	t.Parallel()
	f, url := newFake(t, "")
	c, err := New(Options{URL: url, Clock: fixedClock{}})
	if err != nil {
		t.Fatal(err)
	}
	replay := fixtureMapOf(t, masterBuild(t))
	replay["actions"] = append(replay["actions"].([]any), replayCause())
	older := fixtureMapOf(t, masterBuild(t))
	older["number"] = 5
	older["url"] = "http://localhost:32769" + masterJob + "/5/"
	f.serve(masterJob+"/api/json", readFixture(t, "job.api.json"))
	f.serve(masterJob+"/6/api/json", mustJSON(t, replay))
	f.serve(masterJob+"/5/api/json", mustJSON(t, older))
	f.serve(masterJob+"/6/coverage/api/json", readFixture(t, "coverage.modified.api.json"))
	f.serve(masterJob+"/5/coverage/api/json", readFixture(t, "coverage.api.json"))
	got, err := c.LastSuccessful(context.Background(), masterJob[1:]+"/")
	if err != nil {
		t.Fatal(err)
	}
	if got.Number != 5 || got.Refused != "" || got.Coverage == nil || got.Coverage.Line != 88.44 {
		t.Errorf("baseline #%d (refused %q, coverage %+v), want #5 with its own coverage", got.Number, got.Refused, got.Coverage)
	}
}
