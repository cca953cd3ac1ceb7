package jenkinsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

func ptr[T any](v T) *T { return &v }

// sevenStages is what describe(…, nil) maps to.
func sevenStages() []gatekeeper.Stage {
	var out []gatekeeper.Stage
	for i, key := range gatekeeper.SeedStages() {
		out = append(out, gatekeeper.Stage{
			Name: seedStageNames[i], Key: key, Status: gatekeeper.StageSuccess,
			Duration: time.Duration(i+1) * time.Second,
		})
	}
	return out
}

func TestEnrichPRMergeBuild(t *testing.T) {
	t.Parallel()
	_, c := prFake(t)
	// As the Notification plugin would leave it: a relative job url, and
	// scm.commit (GIT_COMMIT) is the merge commit, not the head.
	in := gatekeeper.Build{
		JobPath: prJob + "/", Number: prNumber, Phase: "COMPLETED", HeadSHA: mergeSHA,
		ChartVersion: "hello-1-4-0-ec26c3e", ImageDigest: "sha256:0f1e",
	}
	got, err := c.Enrich(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := gatekeeper.Build{
		JobPath: prJob, JobName: "PR-2-merge", Number: prNumber,
		Key:      gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2},
		Strategy: "merge", HeadSHA: headSHA, MergeSHA: mergeSHA,
		Phase: "COMPLETED", Result: "SUCCESS", Verified: true, VerifiedAt: testNow,
		URL:       "http://localhost:32769/" + prJob + "/10/",
		StartedAt: time.UnixMilli(1461091892486).UTC(), Duration: 60750 * time.Millisecond,
		Stages:   sevenStages(),
		Tests:    &gatekeeper.TestSummary{Total: 42, Passed: 40, Failed: 0, Skipped: 2},
		Coverage: &gatekeeper.Coverage{Line: 88.44, Branch: ptr(82.19), Source: "coverage"},
		// What the notification claimed is not Jenkins' word: the
		// domain takes the chart and the digest from the claims.
		UpdatedAt: testNow,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Enrich mismatch (-want +got):\n%s", diff)
	}
	for _, key := range gatekeeper.SeedStages() {
		if s := got.StageStatus(key); s != gatekeeper.StageSuccess {
			t.Errorf("StageStatus(%q) = %q, want SUCCESS", key, s)
		}
	}
}

func TestEnrichVariants(t *testing.T) {
	t.Parallel()
	p := "/" + prJob + "/10"
	tests := []struct {
		name   string
		mutate func(tb testing.TB, f *fakeJenkins)
		// want* describe the result; stages maps a key to its status.
		wantResult   string
		wantBuilding bool
		wantStages   map[string]string
		wantTests    *gatekeeper.TestSummary
		wantCoverage bool
		wantMissing  []string
		wantErr      func(error) bool
	}{
		{
			name: "failed stage",
			mutate: func(tb testing.TB, f *fakeJenkins) {
				f.serve(p+"/api/json", workflowRun(tb, "FAILURE"))
				f.serve(p+"/wfapi/describe/api/json", describe(tb, "FAILED", map[string]string{
					"Image scan": "FAILED", "Image push": "NOT_EXECUTED", "Helm chart": "NOT_EXECUTED", "Deploy to pre-production": "NOT_EXECUTED",
				}))
			},
			wantResult:   "FAILURE",
			wantStages:   map[string]string{gatekeeper.StageUnitTests: "SUCCESS", gatekeeper.StageScan: "FAILED", gatekeeper.StageDeploy: "NOT_EXECUTED"},
			wantTests:    &gatekeeper.TestSummary{Total: 42, Passed: 40, Skipped: 2},
			wantCoverage: true,
		},
		{
			name: "unstable build",
			mutate: func(tb testing.TB, f *fakeJenkins) {
				f.serve(p+"/api/json", workflowRun(tb, "UNSTABLE"))
				f.serve(p+"/wfapi/describe/api/json", describe(tb, "UNSTABLE", map[string]string{"Unit tests": "UNSTABLE"}))
				f.serve(p+"/testReport/api/json", testReport(tb, 38, 2, 2))
			},
			wantResult:   "UNSTABLE",
			wantStages:   map[string]string{gatekeeper.StageUnitTests: "UNSTABLE", gatekeeper.StageDeploy: "SUCCESS"},
			wantTests:    &gatekeeper.TestSummary{Total: 42, Passed: 38, Failed: 2, Skipped: 2},
			wantCoverage: true,
		},
		{
			name:         "missing test report",
			mutate:       func(tb testing.TB, f *fakeJenkins) { f.status(p+"/testReport/api/json", http.StatusNotFound) },
			wantResult:   "SUCCESS",
			wantStages:   map[string]string{gatekeeper.StageUnitTests: "SUCCESS"},
			wantCoverage: true,
			wantMissing:  []string{gatekeeper.ReportTests},
		},
		{
			name:        "missing coverage",
			mutate:      func(tb testing.TB, f *fakeJenkins) { f.status(p+"/coverage/api/json", http.StatusNotFound) },
			wantResult:  "SUCCESS",
			wantStages:  map[string]string{gatekeeper.StageUnitTests: "SUCCESS"},
			wantTests:   &gatekeeper.TestSummary{Total: 42, Passed: 40, Skipped: 2},
			wantMissing: []string{gatekeeper.ReportCoverage},
		},
		{
			name:         "no stage view",
			mutate:       func(tb testing.TB, f *fakeJenkins) { f.status(p+"/wfapi/describe/api/json", http.StatusNotFound) },
			wantResult:   "SUCCESS",
			wantTests:    &gatekeeper.TestSummary{Total: 42, Passed: 40, Skipped: 2},
			wantCoverage: true,
			wantMissing:  []string{gatekeeper.ReportStages},
		},
		{
			name:       "coverage answers 500",
			mutate:     func(tb testing.TB, f *fakeJenkins) { f.status(p+"/coverage/api/json", http.StatusInternalServerError) },
			wantResult: "SUCCESS",
			wantStages: map[string]string{gatekeeper.StageUnitTests: "SUCCESS"},
			wantTests:  &gatekeeper.TestSummary{Total: 42, Passed: 40, Skipped: 2},
			wantErr:    statusErr(http.StatusInternalServerError),
		},
		{
			name: "garbage test report",
			mutate: func(tb testing.TB, f *fakeJenkins) {
				f.handle(p+"/testReport/api/json", func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/html;charset=utf-8")
					_, _ = w.Write([]byte("<html><body>Please sign in</body></html>"))
				})
			},
			wantResult:   "SUCCESS",
			wantStages:   map[string]string{gatekeeper.StageUnitTests: "SUCCESS"},
			wantCoverage: true,
			wantErr:      reasonErr("content type"),
		},
		{
			name: "truncated json",
			mutate: func(tb testing.TB, f *fakeJenkins) {
				f.serve(p+"/testReport/api/json", testReport(tb, 40, 0, 2)[:30])
			},
			wantResult:   "SUCCESS",
			wantStages:   map[string]string{gatekeeper.StageUnitTests: "SUCCESS"},
			wantCoverage: true,
			wantErr:      reasonErr("not valid JSON"),
		},
		{
			name: "stage view of another shape",
			mutate: func(tb testing.TB, f *fakeJenkins) {
				f.serve(p+"/wfapi/describe/api/json", []byte(`{"jobs":[]}`))
			},
			wantResult:   "SUCCESS",
			wantTests:    &gatekeeper.TestSummary{Total: 42, Passed: 40, Skipped: 2},
			wantCoverage: true,
			wantErr:      func(err error) bool { return strings.Contains(err.Error(), "no status") && !errors.Is(err, ErrMissing) },
		},
		{
			name: "build still running",
			mutate: func(tb testing.TB, f *fakeJenkins) {
				f.serve(p+"/api/json", workflowRun(tb, nil))
				f.serve(p+"/wfapi/describe/api/json", describe(tb, "IN_PROGRESS", map[string]string{"Image push": "IN_PROGRESS"}))
				f.status(p+"/testReport/api/json", http.StatusNotFound)
				f.status(p+"/coverage/api/json", http.StatusNotFound)
			},
			wantBuilding: true,
			wantStages:   map[string]string{gatekeeper.StagePush: "IN_PROGRESS", gatekeeper.StageScan: "SUCCESS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := prFake(t)
			tt.mutate(t, f)
			got, err := c.Enrich(context.Background(), gatekeeper.Build{JobPath: prJob, Number: prNumber})
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Enrich: %v", err)
			case tt.wantErr != nil && (err == nil || !tt.wantErr(err)):
				t.Fatalf("Enrich error = %v, not the one wanted", err)
			}
			if got.Result != tt.wantResult || got.Building != tt.wantBuilding {
				t.Errorf("Result, Building = %q, %v; want %q, %v", got.Result, got.Building, tt.wantResult, tt.wantBuilding)
			}
			// Whatever the build's state, what the API says is Jenkins'
			// own account of it.
			if !got.Verified {
				t.Error("Verified = false for a build read from the API")
			}
			if got.HeadSHA != headSHA {
				t.Errorf("HeadSHA = %q, want %q", got.HeadSHA, headSHA)
			}
			for key, want := range tt.wantStages {
				if s := got.StageStatus(key); s != want {
					t.Errorf("StageStatus(%q) = %q, want %q", key, s, want)
				}
			}
			if tt.wantStages == nil && got.Stages != nil {
				t.Errorf("Stages = %v, want none", got.Stages)
			}
			if diff := cmp.Diff(tt.wantTests, got.Tests); diff != "" {
				t.Errorf("Tests (-want +got):\n%s", diff)
			}
			if (got.Coverage != nil) != tt.wantCoverage {
				t.Errorf("Coverage = %+v, want present: %v", got.Coverage, tt.wantCoverage)
			}
			if diff := cmp.Diff(tt.wantMissing, got.Missing); diff != "" {
				t.Errorf("Missing (-want +got):\n%s", diff)
			}
			if tt.wantBuilding {
				if n := f.count(p + "/testReport/api/json"); n != 0 {
					t.Errorf("test report of a running build fetched %d times", n)
				}
			}
		})
	}
}

// statusErr matches a ResponseError with the status code, which must not
// pass for missing.
func statusErr(code int) func(error) bool {
	return func(err error) bool {
		var re *ResponseError
		return errors.As(err, &re) && re.Status == code && !errors.Is(err, ErrMissing)
	}
}

// reasonErr matches a 200 refused for its content.
func reasonErr(reason string) func(error) bool {
	return func(err error) bool {
		var re *ResponseError
		return errors.As(err, &re) && re.Status == http.StatusOK && strings.Contains(re.Reason, reason) && !errors.Is(err, ErrMissing)
	}
}

func TestEnrichBuildErrors(t *testing.T) {
	t.Parallel()
	p := "/" + prJob + "/10"
	tests := []struct {
		name    string
		mutate  func(f *fakeJenkins)
		wantErr func(error) bool
	}{
		{"build 404", func(f *fakeJenkins) { f.status(p+"/api/json", http.StatusNotFound) }, func(err error) bool { return errors.Is(err, ErrMissing) }},
		{"build 500", func(f *fakeJenkins) { f.status(p+"/api/json", http.StatusInternalServerError) }, statusErr(http.StatusInternalServerError)},
		{"build 403", func(f *fakeJenkins) { f.status(p+"/api/json", http.StatusForbidden) }, statusErr(http.StatusForbidden)},
		{"garbage build", func(f *fakeJenkins) {
			f.handle(p+"/api/json", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte("\x00\x01garbage"))
			})
		}, reasonErr("not valid JSON")},
		{"another build's answer", func(f *fakeJenkins) { f.serve(p+"/api/json", readFixture(t, "job.api.json")) },
			func(err error) bool { return strings.Contains(err.Error(), "described build 0") }},
		{"wrong field type", func(f *fakeJenkins) { f.serve(p+"/api/json", []byte(`{"number":"10"}`)) },
			func(err error) bool { return strings.Contains(err.Error(), "decoding build") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := prFake(t)
			tt.mutate(f)
			in := gatekeeper.Build{JobPath: prJob, Number: prNumber, Phase: "STARTED"}
			got, err := c.Enrich(context.Background(), in)
			if err == nil || !tt.wantErr(err) {
				t.Fatalf("Enrich error = %v, not the one wanted", err)
			}
			if diff := cmp.Diff(in, got); diff != "" {
				t.Errorf("Enrich changed the build it could not fetch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnrichSlowAnswer(t *testing.T) {
	t.Parallel()
	p := "/" + prJob + "/10"
	for _, path := range []string{p + "/api/json", p + "/coverage/api/json"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			f, c := prFake(t)
			// Only the caller's context can end the call: the client's
			// own per-request timeout is out of reach.
			c.timeout = time.Hour
			f.handle(path, blockUntilGone)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := c.Enrich(ctx, gatekeeper.Build{JobPath: prJob, Number: prNumber})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Enrich error = %v, want context.DeadlineExceeded", err)
			}
		})
	}
}

func TestEnrichConcurrent(t *testing.T) {
	t.Parallel()
	_, c := prFake(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = c.Enrich(context.Background(), gatekeeper.Build{JobPath: prJob, Number: prNumber})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestBuildRecordedFixture(t *testing.T) {
	t.Parallel()
	f, url := newFake(t, "")
	f.serve("/job/fish/10/api/json", readFixture(t, "build.api.json"))
	c, err := New(Options{URL: url, Clock: fixedClock{}})
	if err != nil {
		t.Fatal(err)
	}
	// The build's own url, as Jenkins reports it, names the build.
	got, err := c.Build(context.Background(), "http://localhost:32769/job/fish/10/", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := gatekeeper.Build{
		JobPath: "job/fish", JobName: "fish", Number: 10, Phase: "COMPLETED", Result: "SUCCESS", Verified: true, VerifiedAt: testNow,
		URL:       "http://localhost:32769/job/fish/10/",
		StartedAt: time.UnixMilli(1461091892486).UTC(), Duration: 60750 * time.Millisecond,
		UpdatedAt: testNow,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Build mismatch (-want +got):\n%s", diff)
	}
	if _, err := c.Build(context.Background(), "job/fish/10/", 11); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("Build with disagreeing numbers: error %v, want ErrInvalid", err)
	}
	if _, err := c.Build(context.Background(), "PR-10", 1); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("Build of a bare name: error %v, want ErrInvalid", err)
	}
}

func TestStagesRecordedFixture(t *testing.T) {
	t.Parallel()
	// The recorded stage view comes from a Jenkins under /jenkins with a
	// job named "Test Workflow".
	f, url := newFake(t, "/jenkins")
	f.serve("/job/Test%20Workflow/16/wfapi/describe/api/json", readFixture(t, "wfapi.describe.json"))
	c, err := New(Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Stages(context.Background(), "https://ci.example.com/jenkins/job/Test%20Workflow/", 16)
	if err != nil {
		t.Fatal(err)
	}
	want := []gatekeeper.Stage{
		{Name: "Build", Key: gatekeeper.StageBuild, Status: "SUCCESS", Duration: 5228 * time.Millisecond},
		{Name: "Test", Key: gatekeeper.StageUnitTests, Status: "SUCCESS", Duration: 4994 * time.Millisecond},
		{Name: "Deploy", Key: gatekeeper.StageDeploy, Status: "PAUSED_PENDING_INPUT", Duration: 7 * time.Millisecond},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stages mismatch (-want +got):\n%s", diff)
	}
}

func TestLastSuccessful(t *testing.T) {
	t.Parallel()
	const master = "/job/Codertocat/job/Hello-World/job/master"
	masterBuild := func(tb testing.TB) []byte {
		m := fixtureMap(tb, "build.api.json")
		m["number"] = 6
		m["url"] = "http://localhost:32769" + master + "/6/"
		m["actions"] = append(m["actions"].([]any),
			map[string]any{
				"_class":             "hudson.plugins.git.util.BuildData",
				"buildsByBranchName": map[string]any{"master": gitPair(baseSHA, baseSHA)},
				"lastBuiltRevision":  map[string]any{"SHA1": baseSHA},
				"remoteUrls":         []any{"git@github.com:Codertocat/Hello-World.git"},
			},
			map[string]any{
				"_class":   "jenkins.scm.api.SCMRevisionAction",
				"revision": map[string]any{"_class": "jenkins.plugins.git.AbstractGitSCMSource$SCMRevisionImpl", "hash": baseSHA},
			})
		return mustJSON(tb, m)
	}
	neverSucceeded := func(tb testing.TB) []byte {
		m := fixtureMap(tb, "job.api.json")
		m["lastSuccessfulBuild"] = nil
		return mustJSON(tb, m)
	}
	tests := []struct {
		name    string
		routes  map[string][]byte
		want    gatekeeper.Build
		wantErr error
	}{
		{
			name: "coverage baseline",
			routes: map[string][]byte{
				master + "/api/json":            readFixture(t, "job.api.json"),
				master + "/6/api/json":          masterBuild(t),
				master + "/6/coverage/api/json": readFixture(t, "coverage.api.json"),
			},
			want: gatekeeper.Build{
				JobPath: "job/Codertocat/job/Hello-World/job/master", JobName: "master", Number: 6,
				Key:     gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World"},
				HeadSHA: baseSHA, MergeSHA: baseSHA, Phase: "COMPLETED", Result: "SUCCESS", Verified: true, VerifiedAt: testNow,
				URL:       "http://localhost:32769" + master + "/6/",
				StartedAt: time.UnixMilli(1461091892486).UTC(), Duration: 60750 * time.Millisecond,
				Coverage:  &gatekeeper.Coverage{Line: 88.44, Branch: ptr(82.19), Source: "coverage"},
				UpdatedAt: testNow,
			},
		},
		{
			name: "no coverage report",
			routes: map[string][]byte{
				master + "/api/json":   readFixture(t, "job.api.json"),
				master + "/6/api/json": masterBuild(t),
			},
			want: gatekeeper.Build{
				JobPath: "job/Codertocat/job/Hello-World/job/master", JobName: "master", Number: 6,
				Key:     gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World"},
				HeadSHA: baseSHA, MergeSHA: baseSHA, Phase: "COMPLETED", Result: "SUCCESS", Verified: true, VerifiedAt: testNow,
				URL:       "http://localhost:32769" + master + "/6/",
				StartedAt: time.UnixMilli(1461091892486).UTC(), Duration: 60750 * time.Millisecond,
				Missing:   []string{gatekeeper.ReportCoverage},
				UpdatedAt: testNow,
			},
		},
		{
			name:    "never succeeded",
			routes:  map[string][]byte{master + "/api/json": neverSucceeded(t)},
			wantErr: ErrMissing,
		},
		{
			name:    "no such job",
			routes:  map[string][]byte{},
			wantErr: ErrMissing,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, url := newFake(t, "")
			for p, body := range tt.routes {
				f.serve(p, body)
			}
			c, err := New(Options{URL: url, Clock: fixedClock{}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.LastSuccessful(context.Background(), "job/Codertocat/job/Hello-World/job/master/")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("LastSuccessful error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LastSuccessful mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCoverageSources(t *testing.T) {
	t.Parallel()
	const p = "/job/Codertocat/job/Hello-World/job/PR-2-merge/10"
	cobertura := []byte(`{"_class":"hudson.plugins.cobertura.targets.CoverageResult","results":{"name":"Cobertura Coverage Report","elements":[` +
		`{"name":"Packages","ratio":100.0,"numerator":3.0,"denominator":3.0},` +
		`{"name":"Lines","ratio":85.5,"numerator":855.0,"denominator":1000.0},` +
		`{"name":"Conditionals","ratio":60.0,"numerator":60.0,"denominator":100.0}],"children":[]}}`)
	jacoco := func(lineCov, lineTot, brCov, brTot int) []byte {
		return mustJSON(t, map[string]any{
			"_class":         "hudson.plugins.jacoco.JacocoBuildAction",
			"lineCoverage":   map[string]any{"covered": lineCov, "missed": lineTot - lineCov, "total": lineTot, "percentage": 0, "percentageFloat": 100.0},
			"branchCoverage": map[string]any{"covered": brCov, "missed": brTot - brCov, "total": brTot, "percentage": 0, "percentageFloat": 100.0},
		})
	}
	coverageWith := func(line string) []byte {
		m := fixtureMap(t, "coverage.api.json")
		stats := m["projectStatistics"].(map[string]any)
		if line == "" {
			delete(stats, "line")
		} else {
			stats["line"] = line
		}
		return mustJSON(t, m)
	}
	tests := []struct {
		name    string
		routes  map[string][]byte
		want    *gatekeeper.Coverage
		wantErr func(error) bool
	}{
		{
			name:   "coverage plugin",
			routes: map[string][]byte{p + "/coverage/api/json": readFixture(t, "coverage.api.json")},
			want:   &gatekeeper.Coverage{Line: 88.44, Branch: ptr(82.19), Source: "coverage"},
		},
		{
			name:   "cobertura at depth 2",
			routes: map[string][]byte{p + "/cobertura/api/json": cobertura},
			want:   &gatekeeper.Coverage{Line: 85.5, Branch: ptr(60.0), Source: "cobertura"},
		},
		{
			name:   "jacoco",
			routes: map[string][]byte{p + "/jacoco/api/json": jacoco(3, 4, 1, 2)},
			want:   &gatekeeper.Coverage{Line: 75, Branch: ptr(50.0), Source: "jacoco"},
		},
		{
			name:   "jacoco without branches",
			routes: map[string][]byte{p + "/jacoco/api/json": jacoco(3, 4, 0, 0)},
			want:   &gatekeeper.Coverage{Line: 75, Source: "jacoco"},
		},
		{
			name:    "jacoco that recorded nothing",
			routes:  map[string][]byte{p + "/jacoco/api/json": jacoco(0, 0, 0, 0)},
			wantErr: func(err error) bool { return errors.Is(err, ErrMissing) },
		},
		{
			name:    "no line metric",
			routes:  map[string][]byte{p + "/coverage/api/json": coverageWith("")},
			wantErr: func(err error) bool { return errors.Is(err, ErrMissing) },
		},
		{
			name:    "line without percent sign",
			routes:  map[string][]byte{p + "/coverage/api/json": coverageWith("88.44")},
			wantErr: func(err error) bool { return err != nil && !errors.Is(err, ErrMissing) },
		},
		{
			name:    "line out of range",
			routes:  map[string][]byte{p + "/coverage/api/json": coverageWith("188.44%")},
			wantErr: func(err error) bool { return err != nil && !errors.Is(err, ErrMissing) },
		},
		{
			name:    "no report at all",
			routes:  map[string][]byte{},
			wantErr: func(err error) bool { return errors.Is(err, ErrMissing) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, url := newFake(t, "")
			for path, body := range tt.routes {
				if strings.Contains(path, "/cobertura/") {
					// Cobertura answers a plain request with empty results.
					f.handle(path, func(w http.ResponseWriter, r *http.Request) {
						if r.URL.Query().Get("depth") != "2" {
							writeJSON(w, []byte(`{"_class":"hudson.plugins.cobertura.targets.CoverageResult","results":{}}`))
							return
						}
						writeJSON(w, body)
					})
					continue
				}
				f.serve(path, body)
			}
			c, err := New(Options{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Coverage(context.Background(), p, 0)
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("Coverage error = %v, not the one wanted", err)
				}
				if got != nil {
					t.Errorf("Coverage = %+v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Coverage mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPingAndAuth(t *testing.T) {
	t.Parallel()
	f, url := newFake(t, "/jenkins")
	f.user, f.token = "gatekeeper", "11e0a6c3"
	good, err := New(Options{URL: url, User: "gatekeeper", Token: "11e0a6c3"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := good.Ping(context.Background()); err != nil || v != "2.462.3" {
		t.Errorf("Ping = %q, %v; want 2.462.3", v, err)
	}
	bad, err := New(Options{URL: url, User: "gatekeeper", Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Ping(context.Background()); !statusErr(http.StatusUnauthorized)(err) {
		t.Errorf("Ping with a wrong token: error %v, want 401", err)
	}

	notJenkins, root := newFake(t, "")
	notJenkins.serve("/api/json", []byte(`{}`))
	c, err := New(Options{URL: root})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "X-Jenkins") {
		t.Errorf("Ping without X-Jenkins: error %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  Options
	}{
		{"no url", Options{}},
		{"not http", Options{URL: "ftp://ci.example.com/"}},
		{"user without token", Options{URL: "https://ci.example.com/", User: "u"}},
		{"unknown stage key", Options{URL: "https://ci.example.com/", Stages: func() StageMap { return StageMap{"lint": {"Lint"}} }}},
		{"name for two stages", Options{URL: "https://ci.example.com/", Stages: func() StageMap { return StageMap{gatekeeper.StageBuild: {"Build"}, gatekeeper.StagePush: {"build"}} }}},
		{"coverage id with a slash", Options{URL: "https://ci.example.com/", CoverageID: "a/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(tt.opt); !errors.Is(err, gatekeeper.ErrInvalid) {
				t.Errorf("New(%+v) error = %v, want ErrInvalid", tt.opt, err)
			}
		})
	}
}

// TestMergeNotification: the build read from the API is Jenkins' account
// alone. Nothing a notification claimed (result, phase, revisions, scan,
// chart, digest, the repository of its scm url) is kept; its claims go
// along for the domain to check.
func TestMergeNotification(t *testing.T) {
	t.Parallel()
	prKey := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}
	claims := []gatekeeper.Claim{{Event: EventFinalized, Phase: "FINALIZED", Result: "SUCCESS", MergeSHA: mergeSHA}}
	note := gatekeeper.Build{
		Phase: "FINALIZED", Result: "SUCCESS", HeadSHA: mergeSHA, BaseSHA: baseSHA, URL: "http://ci/job/x/1/",
		Key:             prKey,
		Vulnerabilities: &gatekeeper.VulnCounts{High: 1}, ImageDigest: "sha256:0f1e", ChartVersion: "hello-1-4-0-ec26c3e",
		Claims: claims,
	}
	tests := []struct {
		name string
		api  gatekeeper.Build
		want gatekeeper.Build
	}{
		{
			name: "the api's result, not the claimed one",
			api:  gatekeeper.Build{Key: prKey, Strategy: "merge", HeadSHA: headSHA, Result: "UNSTABLE", Verified: true},
			want: gatekeeper.Build{Key: prKey, Strategy: "merge", HeadSHA: headSHA, Result: "UNSTABLE", Verified: true, URL: note.URL},
		},
		{
			name: "running while a notification claims it finished",
			api:  gatekeeper.Build{Key: prKey, Strategy: "merge", HeadSHA: headSHA, Building: true, Verified: true},
			want: gatekeeper.Build{Key: prKey, Strategy: "merge", HeadSHA: headSHA, Building: true, Verified: true, URL: note.URL},
		},
		{
			name: "no head from the api: none at all",
			api:  gatekeeper.Build{Key: prKey, Strategy: "head", Verified: true},
			want: gatekeeper.Build{Key: prKey, Strategy: "head", Verified: true, URL: note.URL},
		},
		{
			// Where the job lives says which repository it builds; a
			// notification's scm url is a claim.
			name: "a job the api cannot place takes no pull request from a claim",
			api:  gatekeeper.Build{Key: gatekeeper.PullKey{Number: 2}, Verified: true},
			want: gatekeeper.Build{Key: gatekeeper.PullKey{Number: 2}, Verified: true, URL: note.URL},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := tt.want
			want.Claims = claims
			if diff := cmp.Diff(want, merge(note, tt.api)); diff != "" {
				t.Errorf("merge (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildForHead(t *testing.T) {
	t.Parallel()
	key := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}
	const job = "/job/Codertocat/job/Hello-World/job/PR-2-merge"
	// The job lists build 11, made for a newer push, before build 10.
	jobJSON := func(tb testing.TB) []byte {
		m := fixtureMap(tb, "job.api.json")
		m["name"] = "PR-2-merge"
		m["url"] = "http://localhost:32769" + job + "/"
		m["builds"] = []any{
			map[string]any{"number": 11, "url": "http://localhost:32769" + job + "/11/"},
			map[string]any{"number": 10, "url": "http://localhost:32769" + job + "/10/"},
		}
		return mustJSON(tb, m)
	}
	build11 := func(tb testing.TB) []byte {
		var m map[string]any
		if err := json.Unmarshal(workflowRun(tb, "FAILURE"), &m); err != nil {
			tb.Fatal(err)
		}
		m["number"] = 11
		for _, a := range m["actions"].([]any) {
			if rv, ok := a.(map[string]any)["revision"].(map[string]any); ok {
				rv["pullHash"] = baseSHA // any other commit
			}
		}
		return mustJSON(tb, m)
	}
	tests := []struct {
		name       string
		routes     map[string][]byte
		sha        string
		limit      int
		wantNumber int64
		wantErr    error
	}{
		{"second newest build", map[string][]byte{job + "/api/json": jobJSON(t), job + "/11/api/json": build11(t), job + "/10/api/json": workflowRun(t, "SUCCESS")}, headSHA, 5, 10, nil},
		{"newest build", map[string][]byte{job + "/api/json": jobJSON(t), job + "/11/api/json": build11(t)}, baseSHA, 5, 11, nil},
		{"beyond the limit", map[string][]byte{job + "/api/json": jobJSON(t), job + "/11/api/json": build11(t), job + "/10/api/json": workflowRun(t, "SUCCESS")}, headSHA, 1, 0, ErrMissing},
		{"no job", map[string][]byte{}, headSHA, 5, 0, ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, url := newFake(t, "")
			for p, body := range tt.routes {
				f.serve(p, body)
			}
			c, err := New(Options{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.BuildForHead(context.Background(), key, tt.sha, tt.limit)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("BuildForHead error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Number != tt.wantNumber || got.HeadSHA != tt.sha || got.Key != key {
				t.Errorf("BuildForHead = #%d %s %v; want #%d %s %v", got.Number, got.HeadSHA, got.Key, tt.wantNumber, tt.sha, key)
			}
		})
	}
}

func TestBuildOfUnmappedPRJob(t *testing.T) {
	t.Parallel()
	f, url := newFake(t, "")
	f.serve("/job/solo/job/PR-2-merge/10/api/json", workflowRun(t, "SUCCESS"))
	c, err := New(Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Build(context.Background(), "job/solo/job/PR-2-merge", 10)
	if err != nil {
		t.Fatal(err)
	}
	// One folder names no repository by convention: the pull request
	// number and strategy are still known, and with two BuildData and no
	// repository to choose by, no built commit is guessed.
	if want := (gatekeeper.PullKey{Number: 2}); got.Key != want || got.Strategy != "merge" || got.HeadSHA != headSHA || got.MergeSHA != "" {
		t.Errorf("Build = key %v, strategy %q, head %q, merge %q; want %v, merge, %s, none", got.Key, got.Strategy, got.HeadSHA, got.MergeSHA, want, headSHA)
	}
}

// TestStagesReadTheMapAtEachUse: the Client asks Options.Stages at every
// stage read, so that a policy reload renames stages without a restart.
func TestStagesReadTheMapAtEachUse(t *testing.T) {
	t.Parallel()
	f, url := newFake(t, "")
	f.serve("/"+prJob+"/10/wfapi/describe/api/json", describe(t, "SUCCESS", nil))
	var calls atomic.Int32
	c, err := New(Options{URL: url, Clock: fixedClock{}, Stages: func() StageMap {
		if calls.Add(1) > 2 { // New checks the map, then the first read
			return StageMap{gatekeeper.StageClone: {seedStageNames[1]}}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Stages(context.Background(), prJob, 10)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Stages(context.Background(), prJob, 10)
	if err != nil {
		t.Fatal(err)
	}
	if first[0].Key != gatekeeper.StageClone || first[1].Key != gatekeeper.StageBuild {
		t.Errorf("with the default map: %+v", first[:2])
	}
	if second[0].Key != "" || second[1].Key != gatekeeper.StageClone {
		t.Errorf("after the map changed: %+v", second[:2])
	}
}

func TestStageMapKeys(t *testing.T) {
	t.Parallel()
	keys := StageMap{gatekeeper.StageScan: {"Container  Scan"}}.Keys()
	if got := keys("container scan"); got != gatekeeper.StageScan {
		t.Errorf(`keys("container scan") = %q, want scan`, got)
	}
	if got := keys("Checkout"); got != "" {
		t.Errorf(`keys("Checkout") = %q: a name the map does not list maps to none`, got)
	}
	bad := StageMap{gatekeeper.StageScan: {"Scan"}, gatekeeper.StageBuild: {"scan"}}.Keys()
	if got := bad("Scan"); got != "" {
		t.Errorf("an invalid map keyed %q, want none", got)
	}
}
