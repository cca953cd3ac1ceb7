package jenkinsapi

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var prKey = gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}

// notificationJSON derives a notification from the recorded wiki example
// (a freestyle "asgard" job): by default the COMPLETED notification of
// build 10 of Codertocat/Hello-World's PR-2-merge job, whose scm.commit
// is the local merge commit. mutate changes the job state and its build.
func notificationJSON(tb testing.TB, mutate func(job, build map[string]any)) []byte {
	tb.Helper()
	m := fixtureMap(tb, "notification.completed.wiki-example.json")
	b := m["build"].(map[string]any)
	m["name"] = "PR-2-merge"
	m["url"] = prJob + "/"
	b["number"] = prNumber
	b["url"] = prJob + "/10/"
	b["full_url"] = "http://localhost:8080/" + prJob + "/10/"
	scm := b["scm"].(map[string]any)
	scm["url"] = "https://github.com/Codertocat/Hello-World.git"
	scm["branch"] = "PR-2"
	scm["commit"] = mergeSHA
	if mutate != nil {
		mutate(m, b)
	}
	return mustJSON(tb, m)
}

// reportJSON is a complete pipeline report of the same build; mutate
// changes it.
func reportJSON(tb testing.TB, mutate func(r map[string]any)) []byte {
	tb.Helper()
	r := map[string]any{
		"kind":         "pipeline-report",
		"job_url":      "http://localhost:8080/" + prJob + "/",
		"build_number": prNumber,
		"head_sha":     headSHA,
		"base_sha":     baseSHA,
		"merge_sha":    mergeSHA,
		"result":       "SUCCESS",
		"stages": []any{
			map[string]any{"name": "Checkout", "status": "SUCCESS"},
			map[string]any{"name": "Image scan", "status": "SUCCESS"},
			map[string]any{"name": "Lint", "status": "SKIPPED"},
		},
		"image_digest":       "sha256:" + strings.Repeat("ab", 32),
		"chart_version":      "hello-1-4-0-ec26c3e",
		"base_chart_version": "hello-1-3-9-f95f852",
		"tests":              map[string]any{"total": 42, "passed": 40, "failed": 0, "skipped": 2},
		"vulnerabilities":    map[string]any{"critical": 0, "high": 1, "medium": 3, "low": 0, "unknown": 0},
	}
	if mutate != nil {
		mutate(r)
	}
	return mustJSON(tb, r)
}

func TestParseNotification(t *testing.T) {
	t.Parallel()
	completedAt := int64(1461091953236)
	base := gatekeeper.Build{
		JobPath: prJob, JobName: "PR-2-merge", Number: prNumber, Key: prKey, Strategy: "merge",
		MergeSHA: mergeSHA, Phase: "COMPLETED", Result: "SUCCESS",
		URL: "http://localhost:8080/" + prJob + "/10/", UpdatedAt: testNow,
	}
	tests := []struct {
		name  string
		body  []byte
		repos JobRepos
		// want is compared whole; wantErr instead when set.
		want    gatekeeper.Event
		wantErr error
	}{
		{
			name: "pr-merge completed: the commit is the merge, not the head",
			body: notificationJSON(t, nil),
			want: gatekeeper.Event{
				Delivery: "jenkins:" + prJob + "#10:COMPLETED", Name: EventCompleted, Received: testNow,
				Key: prKey, Build: &base,
			},
		},
		{
			name: "completed with timing, queue id and test summary",
			body: notificationJSON(t, func(_, b map[string]any) {
				b["timestamp"] = completedAt
				b["duration"] = 60750
				b["queue_id"] = 1234
				b["test_summary"] = map[string]any{"total": 42, "failed": 1, "passed": 39, "skipped": 2}
			}),
			want: gatekeeper.Event{
				Delivery: "jenkins:" + prJob + "#10:COMPLETED@q1234", Name: EventCompleted, Received: testNow,
				Key: prKey, Build: func() *gatekeeper.Build {
					b := base
					b.StartedAt = time.UnixMilli(completedAt - 60750).UTC()
					b.Duration = 60750 * time.Millisecond
					b.Tests = &gatekeeper.TestSummary{Total: 42, Passed: 39, Failed: 1, Skipped: 2}
					return &b
				}(),
			},
		},
		{
			name: "pr-head: the commit is the head",
			body: notificationJSON(t, func(j, b map[string]any) {
				j["url"] = "job/Codertocat/job/Hello-World/job/PR-2-head/"
				b["scm"].(map[string]any)["commit"] = headSHA
			}),
			want: gatekeeper.Event{
				Delivery: "jenkins:job/Codertocat/job/Hello-World/job/PR-2-head#10:COMPLETED", Name: EventCompleted,
				Received: testNow, Key: prKey, SHA: headSHA,
				Build: func() *gatekeeper.Build {
					b := base
					b.JobPath, b.JobName, b.Strategy, b.HeadSHA, b.MergeSHA = "job/Codertocat/job/Hello-World/job/PR-2-head", "PR-2-head", "head", headSHA, headSHA
					return &b
				}(),
			},
		},
		{
			name: "plain PR job may have merged",
			body: notificationJSON(t, func(j, _ map[string]any) { j["url"] = "job/Codertocat/job/Hello-World/job/PR-2/" }),
			want: gatekeeper.Event{
				Delivery: "jenkins:job/Codertocat/job/Hello-World/job/PR-2#10:COMPLETED", Name: EventCompleted,
				Received: testNow, Key: prKey,
				Build: func() *gatekeeper.Build {
					b := base
					b.JobPath, b.JobName, b.Strategy = "job/Codertocat/job/Hello-World/job/PR-2", "PR-2", ""
					return &b
				}(),
			},
		},
		{
			name: "started: no status yet",
			body: notificationJSON(t, func(_, b map[string]any) {
				b["phase"] = "STARTED"
				delete(b, "status")
				b["timestamp"] = int64(1461091892486)
				delete(b, "scm") // often empty
			}),
			want: gatekeeper.Event{
				Delivery: "jenkins:" + prJob + "#10:STARTED", Name: EventStarted, Received: testNow, Key: prKey,
				Build: func() *gatekeeper.Build {
					b := base
					b.Phase, b.Result, b.Building, b.MergeSHA = "STARTED", "", true, ""
					b.StartedAt = time.UnixMilli(1461091892486).UTC()
					return &b
				}(),
			},
		},
		{
			name: "finalized: Jenkins gave the result",
			body: notificationJSON(t, func(_, b map[string]any) {
				b["phase"] = "FINALIZED"
				b["status"] = "UNSTABLE"
			}),
			want: gatekeeper.Event{
				Delivery: "jenkins:" + prJob + "#10:FINALIZED", Name: EventFinalized, Received: testNow, Key: prKey,
				Build: func() *gatekeeper.Build {
					b := base
					b.Phase, b.Result = "FINALIZED", "UNSTABLE"
					return &b
				}(),
			},
		},
		{
			name: "completed without a status confirms nothing",
			body: notificationJSON(t, func(_, b map[string]any) { delete(b, "status") }),
			want: gatekeeper.Event{
				Delivery: "jenkins:" + prJob + "#10:COMPLETED", Name: EventCompleted, Received: testNow, Key: prKey,
				Build: func() *gatekeeper.Build {
					b := base
					b.Result = ""
					return &b
				}(),
			},
		},
		{
			name: "queued, job url only in the build",
			body: notificationJSON(t, func(j, b map[string]any) {
				delete(j, "url")
				delete(b, "full_url")
				b["phase"] = "QUEUED"
				delete(b, "status")
			}),
			want: gatekeeper.Event{
				Delivery: "jenkins:" + prJob + "#10:QUEUED", Name: EventQueued, Received: testNow, Key: prKey,
				Build: func() *gatekeeper.Build {
					b := base
					b.Phase, b.Result, b.Building, b.URL = "QUEUED", "", true, ""
					return &b
				}(),
			},
		},
		{
			name: "repository from the scm url when the folders do not name it",
			body: notificationJSON(t, func(j, b map[string]any) {
				j["url"] = "job/hello/job/PR-2-merge/"
				b["url"] = "job/hello/job/PR-2-merge/10/"
				b["scm"].(map[string]any)["url"] = "git@github.com:Codertocat/Hello-World.git"
			}),
			want: gatekeeper.Event{
				Delivery: "jenkins:job/hello/job/PR-2-merge#10:COMPLETED", Name: EventCompleted, Received: testNow, Key: prKey,
				Build: func() *gatekeeper.Build {
					b := base
					b.JobPath = "job/hello/job/PR-2-merge"
					return &b
				}(),
			},
		},
		{
			name:  "configured folder wins over the scm url",
			repos: JobRepos{"ci/shop service": "acme/shop"},
			body: notificationJSON(t, func(j, b map[string]any) {
				j["url"] = "job/ci/job/shop%20service/job/PR-2-merge/"
				b["url"] = "job/ci/job/shop%20service/job/PR-2-merge/10/"
			}),
			want: gatekeeper.Event{
				Delivery: "jenkins:job/ci/job/shop%20service/job/PR-2-merge#10:COMPLETED", Name: EventCompleted, Received: testNow,
				Key: gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 2},
				Build: func() *gatekeeper.Build {
					b := base
					b.JobPath, b.Key = "job/ci/job/shop%20service/job/PR-2-merge", gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 2}
					return &b
				}(),
			},
		},
		{name: "recorded wiki example: a branch job", body: readFixture(t, "notification.completed.wiki-example.json"), wantErr: ErrNotPullRequest},
		{name: "master branch job", body: notificationJSON(t, func(j, _ map[string]any) { j["url"] = "job/Codertocat/job/Hello-World/job/master/" }), wantErr: ErrNotPullRequest},
		{name: "bare job name", body: notificationJSON(t, func(j, b map[string]any) { j["url"] = "PR-2"; delete(b, "url") }), wantErr: ErrUnplaced},
		{name: "no repository", body: notificationJSON(t, func(j, b map[string]any) {
			j["url"] = "job/hello/job/PR-2-merge/"
			b["url"] = "job/hello/job/PR-2-merge/10/"
			delete(b, "scm")
		}), wantErr: ErrUnplaced},
		{name: "build url names another build", body: notificationJSON(t, func(j, b map[string]any) { delete(j, "url"); b["url"] = prJob + "/11/" }), wantErr: gatekeeper.ErrInvalid},
		{name: "unknown phase", body: notificationJSON(t, func(_, b map[string]any) { b["phase"] = "NONE" }), wantErr: gatekeeper.ErrInvalid},
		{name: "status not a result", body: notificationJSON(t, func(_, b map[string]any) { b["status"] = "PASSED" }), wantErr: gatekeeper.ErrInvalid},
		{name: "no build number", body: notificationJSON(t, func(_, b map[string]any) { delete(b, "number") }), wantErr: gatekeeper.ErrInvalid},
		{name: "number as a string", body: notificationJSON(t, func(_, b map[string]any) { b["number"] = "10" }), wantErr: gatekeeper.ErrInvalid},
		{name: "no build", body: []byte(`{"name":"PR-2-merge","url":"` + prJob + `/"}`), wantErr: gatekeeper.ErrInvalid},
		{name: "null build", body: []byte(`{"url":"` + prJob + `/","build":null}`), wantErr: gatekeeper.ErrInvalid},
		{name: "unknown kind", body: []byte(`{"kind":"stage-report"}`), wantErr: gatekeeper.ErrInvalid},
		{name: "array", body: []byte(`[]`), wantErr: gatekeeper.ErrInvalid},
		{name: "truncated", body: notificationJSON(t, nil)[:40], wantErr: gatekeeper.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseNotification(tt.body, ParseOptions{Repos: tt.repos}, testNow)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseNotification error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseNotification (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotificationDelivery(t *testing.T) {
	t.Parallel()
	parse := func(body []byte) string {
		t.Helper()
		ev, err := ParseNotification(body, ParseOptions{}, testNow)
		if err != nil {
			t.Fatal(err)
		}
		return ev.Delivery
	}
	completed := parse(notificationJSON(t, nil))
	if again := parse(notificationJSON(t, nil)); again != completed {
		t.Errorf("a retried notification has delivery %q, then %q: not deduplicated", completed, again)
	}
	finalized := parse(notificationJSON(t, func(_, b map[string]any) { b["phase"] = "FINALIZED" }))
	if finalized == completed {
		t.Errorf("COMPLETED and FINALIZED share delivery %q: the second phase would be dropped", finalized)
	}
	report := parse(reportJSON(t, nil))
	if again := parse(reportJSON(t, nil)); again != report {
		t.Errorf("a retried report has delivery %q, then %q", report, again)
	}
	if other := parse(reportJSON(t, func(r map[string]any) { r["result"] = "FAILURE" })); other == report {
		t.Errorf("two different reports of one build share delivery %q", other)
	}
	if !strings.HasPrefix(report, "jenkins:"+prJob+"#10:report:") {
		t.Errorf("report delivery %q", report)
	}
}

func TestParseReport(t *testing.T) {
	t.Parallel()
	got, err := ParseNotification(reportJSON(t, nil), ParseOptions{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := gatekeeper.Build{
		JobPath: prJob, JobName: "PR-2-merge", Number: prNumber, Key: prKey, Strategy: "merge",
		HeadSHA: headSHA, BaseSHA: baseSHA, MergeSHA: mergeSHA, Result: "SUCCESS",
		Verified: false, // the pipeline's own word, never Jenkins'
		URL:      "http://localhost:8080/" + prJob + "/10/",
		Stages: []gatekeeper.Stage{
			{Name: "Checkout", Key: gatekeeper.StageClone, Status: "SUCCESS"},
			{Name: "Image scan", Key: gatekeeper.StageScan, Status: "SUCCESS"},
			{Name: "Lint", Status: "SKIPPED"},
		},
		Tests:           &gatekeeper.TestSummary{Total: 42, Passed: 40, Skipped: 2},
		Vulnerabilities: &gatekeeper.VulnCounts{High: 1, Medium: 3},
		ImageDigest:     "sha256:" + strings.Repeat("ab", 32), ChartVersion: "hello-1-4-0-ec26c3e",
		BaseChartVersion: "hello-1-3-9-f95f852",
		UpdatedAt:        testNow,
	}
	if got.Name != EventReport || got.Key != prKey || got.SHA != headSHA || !got.Received.Equal(testNow) {
		t.Errorf("event = %q %v sha %q at %v; want %q %v %q", got.Name, got.Key, got.SHA, got.Received, EventReport, prKey, headSHA)
	}
	if diff := cmp.Diff(&want, got.Build); diff != "" {
		t.Errorf("report build (-want +got):\n%s", diff)
	}

	covered, err := ParseNotification(reportJSON(t, func(r map[string]any) {
		r["coverage"] = map[string]any{"line": 88.44, "branch": 61.5}
	}), ParseOptions{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	branch := 61.5
	if diff := cmp.Diff(&gatekeeper.Coverage{Line: 88.44, Branch: &branch, Source: "pipeline-report"}, covered.Build.Coverage); diff != "" {
		t.Errorf("report coverage (-want +got):\n%s", diff)
	}

	head, err := ParseNotification(reportJSON(t, func(r map[string]any) {
		r["job_url"] = "job/Codertocat/job/Hello-World/job/PR-2-head"
		r["merge_sha"] = headSHA
		delete(r, "head_sha")
		delete(r, "base_sha")
		delete(r, "result")
	}), ParseOptions{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if b := head.Build; b.HeadSHA != headSHA || head.SHA != headSHA || !b.Building || b.Result != "" || b.URL != "" {
		t.Errorf("PR-head report without head_sha or result: head %q, sha %q, building %v, result %q, url %q", b.HeadSHA, head.SHA, b.Building, b.Result, b.URL)
	}
}

func TestParseReportRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(r map[string]any)
		wantErr error
	}{
		{"no job url", func(r map[string]any) { delete(r, "job_url") }, gatekeeper.ErrInvalid},
		{"bare job name", func(r map[string]any) { r["job_url"] = "PR-2-merge" }, ErrUnplaced},
		{"branch job", func(r map[string]any) { r["job_url"] = "job/Codertocat/job/Hello-World/job/master/" }, ErrNotPullRequest},
		{"build number 0", func(r map[string]any) { r["build_number"] = 0 }, gatekeeper.ErrInvalid},
		{"build number as a string", func(r map[string]any) { r["build_number"] = "10" }, gatekeeper.ErrInvalid},
		{"build number disagrees with the url", func(r map[string]any) { r["job_url"] = prJob + "/11/" }, gatekeeper.ErrInvalid},
		{"short head sha", func(r map[string]any) { r["head_sha"] = headSHA[:7] }, gatekeeper.ErrInvalid},
		{"upper-case base sha", func(r map[string]any) { r["base_sha"] = strings.ToUpper(baseSHA) }, gatekeeper.ErrInvalid},
		{"merge sha not hex", func(r map[string]any) { r["merge_sha"] = strings.Repeat("g", 40) }, gatekeeper.ErrInvalid},
		{"result not a result", func(r map[string]any) { r["result"] = "PASSED" }, gatekeeper.ErrInvalid},
		{"stage status FAILURE", func(r map[string]any) {
			r["stages"] = []any{map[string]any{"name": "Build", "status": "FAILURE"}}
		}, gatekeeper.ErrInvalid},
		{"stage without a name", func(r map[string]any) {
			r["stages"] = []any{map[string]any{"name": " ", "status": "SUCCESS"}}
		}, gatekeeper.ErrInvalid},
		{"digest without algorithm", func(r map[string]any) { r["image_digest"] = strings.Repeat("ab", 32) }, gatekeeper.ErrInvalid},
		{"short digest", func(r map[string]any) { r["image_digest"] = "sha256:0f1e" }, gatekeeper.ErrInvalid},
		{"tests do not add up", func(r map[string]any) {
			r["tests"] = map[string]any{"total": 42, "passed": 42, "failed": 1, "skipped": 0}
		}, gatekeeper.ErrInvalid},
		{"negative vulnerability count", func(r map[string]any) {
			r["vulnerabilities"] = map[string]any{"critical": -1}
		}, gatekeeper.ErrInvalid},
		{"coverage over 100", func(r map[string]any) { r["coverage"] = map[string]any{"line": 100.5} }, gatekeeper.ErrInvalid},
		{"negative branch coverage", func(r map[string]any) { r["coverage"] = map[string]any{"line": 80, "branch": -1} }, gatekeeper.ErrInvalid},
		{"coverage as a string", func(r map[string]any) { r["coverage"] = map[string]any{"line": "88.44%"} }, gatekeeper.ErrInvalid},
		{"unknown field", func(r map[string]any) { r["coverage"] = 88.4 }, gatekeeper.ErrInvalid},
		{"chart version with a newline", func(r map[string]any) { r["chart_version"] = "hello-1-4-0-ec26c3e\n" }, gatekeeper.ErrInvalid},
		{"base chart version with a newline", func(r map[string]any) { r["base_chart_version"] = "hello-1-3-9-f95f852\n" }, gatekeeper.ErrInvalid},
		{"head build whose merge is not its head", func(r map[string]any) {
			r["job_url"] = "job/Codertocat/job/Hello-World/job/PR-2-head/"
		}, gatekeeper.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseNotification(reportJSON(t, tt.mutate), ParseOptions{}, testNow)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseNotification error = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if _, err := ParseNotification(append(reportJSON(t, nil), `{}`...), ParseOptions{}, testNow); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("report followed by more JSON: error %v, want ErrInvalid", err)
	}
}

// docReportExample returns the pipeline report quoted in doc.go, so that
// the form the README quotes is the form the parser accepts.
func docReportExample(tb testing.TB) []byte {
	tb.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(src), "\n") {
		code, ok := strings.CutPrefix(line, "//\t")
		switch {
		case ok && code == "{":
			in = true
		case !ok:
			in = false
		}
		if in {
			out = append(out, code)
		}
	}
	if len(out) == 0 {
		tb.Fatal("no pipeline report example in doc.go")
	}
	return []byte(strings.Join(out, "\n"))
}

func TestDocReportExample(t *testing.T) {
	t.Parallel()
	got, err := ParseNotification(docReportExample(t), ParseOptions{}, testNow)
	if err != nil {
		t.Fatalf("the documented pipeline report is refused: %v", err)
	}
	b := got.Build
	if got.Key != (gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 12}) || b.Number != 7 || b.HeadSHA != headSHA || b.MergeSHA != mergeSHA ||
		b.Vulnerabilities == nil || b.Vulnerabilities.Medium != 4 || b.Tests == nil || len(b.Stages) != 2 {
		t.Errorf("documented report parsed as %+v", b)
	}
	if c, ok := gatekeeper.ParseChartVersion(b.ChartVersion); !ok || !c.PinnedTo(b.HeadSHA) {
		t.Errorf("documented chart version %q is not pinned to the head", b.ChartVersion)
	}
	if _, ok := gatekeeper.ParseChartVersion(b.BaseChartVersion); !ok {
		t.Errorf("documented base chart version %q is malformed", b.BaseChartVersion)
	}
}

func FuzzParseNotification(f *testing.F) {
	f.Add(readFixture(f, "notification.completed.wiki-example.json"))
	f.Add(notificationJSON(f, nil))
	f.Add(notificationJSON(f, func(j, b map[string]any) {
		j["url"] = "job/Codertocat/job/Hello-World/job/PR-2-head/"
		b["phase"] = "STARTED"
		delete(b, "status")
	}))
	f.Add(reportJSON(f, nil))
	f.Add(docReportExample(f))
	f.Add([]byte(`{"kind":"pipeline-report","job_url":"job/a/job/b/job/PR-1","build_number":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseNotification(body, ParseOptions{Repos: JobRepos{"ci": "acme/shop"}}, testNow)
		if err != nil {
			if !errors.Is(err, gatekeeper.ErrInvalid) && !errors.Is(err, ErrNotPullRequest) {
				t.Fatalf("error %v is neither ErrInvalid nor ErrNotPullRequest", err)
			}
			return
		}
		b := ev.Build
		if !ev.Key.Valid() || b == nil || b.Key != ev.Key || b.Number <= 0 || !strings.HasPrefix(ev.Delivery, "jenkins:") {
			t.Fatalf("accepted an event without a valid key, build or delivery: %+v", ev)
		}
		if ev.Name != EventReport && b.Strategy != "head" && b.HeadSHA != "" {
			t.Fatalf("a notification of a %q job set the head %q from the built commit", b.Strategy, b.HeadSHA)
		}
		if ev.SHA != b.HeadSHA {
			t.Fatalf("event sha %q, build head %q", ev.SHA, b.HeadSHA)
		}
		// Whatever it says, a webhook is a claim: only the REST API
		// verifies a build.
		if b.Verified || b.Gone || !b.VerifiedAt.IsZero() {
			t.Fatalf("a webhook payload verified build %+v", b)
		}
	})
}

// TestParseReportStagesFromProvider: a report's stages are keyed with the
// stage map in force when it arrives (policy data's names), read at each
// report, not with the built-in names.
func TestParseReportStagesFromProvider(t *testing.T) {
	t.Parallel()
	current := StageMap{gatekeeper.StageClone: {"Fetch sources"}, gatekeeper.StageScan: {"Trivy"}}
	var mu sync.Mutex
	opts := ParseOptions{Stages: func() StageMap {
		mu.Lock()
		defer mu.Unlock()
		return current
	}}
	body := reportJSON(t, func(r map[string]any) {
		r["stages"] = []any{
			map[string]any{"name": "Fetch  sources", "status": "SUCCESS"},
			map[string]any{"name": "Trivy", "status": "SUCCESS"},
			map[string]any{"name": "Checkout", "status": "SUCCESS"},
		}
	})
	keys := func() []string {
		t.Helper()
		e, err := ParseNotification(body, opts, testNow)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range e.Build.Stages {
			out = append(out, s.Key)
		}
		return out
	}
	// "Checkout" is a built-in name; the map in force does not list it.
	if diff := cmp.Diff([]string{gatekeeper.StageClone, gatekeeper.StageScan, ""}, keys()); diff != "" {
		t.Errorf("keys with the policy's names (-want +got):\n%s", diff)
	}
	mu.Lock()
	current = StageMap{gatekeeper.StageClone: {"Checkout"}}
	mu.Unlock()
	if diff := cmp.Diff([]string{"", "", gatekeeper.StageClone}, keys()); diff != "" {
		t.Errorf("keys after the map changed (-want +got):\n%s", diff)
	}
	mu.Lock()
	current = StageMap{gatekeeper.StageClone: {"Checkout"}, gatekeeper.StageBuild: {"checkout"}}
	mu.Unlock()
	if _, err := ParseNotification(body, opts, testNow); err == nil {
		t.Error("a stage map naming one stage twice parsed the report")
	}
}
