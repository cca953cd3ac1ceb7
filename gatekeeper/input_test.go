package gatekeeper

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestUpsertBuildMergesPieces(t *testing.T) {
	t.Parallel()
	key := PullKey{"acme", "shop", 7}
	var ev Evidence
	ev.Apply(Event{Build: &Build{JobPath: "job/acme/job/shop/job/PR-7-merge", Number: 3, Key: key, Phase: "COMPLETED", Result: "SUCCESS", HeadSHA: "aaa", UpdatedAt: t0}})
	// A STARTED notification delivered late must not reopen the build.
	ev.Apply(Event{Build: &Build{JobPath: "job/acme/job/shop/job/PR-7-merge", Number: 3, Phase: "STARTED", Building: true, UpdatedAt: t0.Add(-time.Minute)}})
	// Enrichment adds stages and tests without a phase.
	ev.Apply(Event{Build: &Build{JobPath: "job/acme/job/shop/job/PR-7-merge", Number: 3, Stages: []Stage{{Name: "Clone", Key: StageClone, Status: StageSuccess}}, Tests: &TestSummary{Total: 10, Passed: 10}, UpdatedAt: t0.Add(time.Minute)}})
	if len(ev.Builds) != 1 {
		t.Fatalf("%d builds, want 1", len(ev.Builds))
	}
	b := ev.Builds[0]
	if b.Phase != "COMPLETED" || b.Result != "SUCCESS" || b.Building || b.HeadSHA != "aaa" || b.Key != key || len(b.Stages) != 1 || b.Tests == nil || !b.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("merged build %+v", b)
	}
}

func TestCurrentBuild(t *testing.T) {
	t.Parallel()
	key := PullKey{"acme", "shop", 7}
	ev := Evidence{Key: key, PR: &PullRequest{Key: key, HeadSHA: "new"}, Builds: []Build{
		{JobPath: "m", Number: 9, Key: key, HeadSHA: "old", Strategy: "merge"},
		{JobPath: "h", Number: 12, Key: key, HeadSHA: "new", Strategy: "head"},
		{JobPath: "m", Number: 10, Key: key, HeadSHA: "new", Strategy: "merge"},
		{JobPath: "m", Number: 11, Key: PullKey{"acme", "shop", 8}, HeadSHA: "new", Strategy: "merge"},
	}}
	b := ev.CurrentBuild()
	if b == nil || b.Number != 10 {
		t.Fatalf("current build %+v, want #10: not the old head's, not the -head job's, not another PR's", b)
	}
	in := BuildInput(&ev, InputOptions{Now: t0}).Map()
	if in["stale_builds"] != 1 {
		t.Errorf("stale_builds %v, want 1", in["stale_builds"])
	}
	ev.PR.HeadSHA = "newer"
	if ev.CurrentBuild() != nil {
		t.Error("a push must leave no current build")
	}
}

func TestBuildInputReleaseSections(t *testing.T) {
	t.Parallel()
	key := PullKey{"acme", "shop", 7}
	branch := 61.5
	ev := Evidence{
		Key:   key,
		PR:    &PullRequest{Key: key, HeadSHA: "ec26c3e57ca3a959ca5aad62de7213c562f8c821", HeadRef: "staging", BaseRef: "master", Body: "Release #12\n- [x] Release notes\n- [ ] DR plan"},
		Heads: []HeadChange{{SHA: "ec26c3e57ca3a959ca5aad62de7213c562f8c821", At: t0}},
		Builds: []Build{{
			JobPath: "job/acme/job/shop/job/PR-7", Number: 4, Key: key, HeadSHA: "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
			MergeSHA: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", Result: "SUCCESS",
			Tests:           &TestSummary{Total: 120, Passed: 118, Skipped: 2},
			Coverage:        &Coverage{Line: 84.5, Branch: &branch, Source: "coverage"},
			Vulnerabilities: &VulnCounts{High: 1, Report: "trivy.json"},
			ChartVersion:    "shop-2-14-3-1a2b3c4",
		}},
		Baseline:    &Build{JobPath: "job/acme/job/shop/job/master", Number: 80, Tests: &TestSummary{Total: 115}, Coverage: &Coverage{Line: 85}},
		Comments:    []Comment{{ID: 5, User: "qa", Body: "/go", CreatedAt: t0.Add(time.Minute)}},
		Memberships: map[string]Membership{"acme/sre/sam": {Team: "acme/sre", User: "sam", Active: true}},
		IssueChecks: map[string]IssueCheck{"acme/shop#12": {Ref: IssueRef{"acme", "shop", 12, "body"}, Found: true, Pipeline: "Done"}},
		MergedPulls: []MergedPull{{Number: 3, Title: "fix", Links: []IssueRef{{"acme", "shop", 40, "branch"}}}},
	}
	in := BuildInput(&ev, InputOptions{Now: t0}).Map()
	b := in["build"].(map[string]any)
	if got := b["tests"].(map[string]any)["added"]; got != 5 {
		t.Errorf("tests added %v, want 5", got)
	}
	if diff := cmp.Diff(map[string]any{"line": 84.5, "branch": 61.5, "source": "coverage"}, b["coverage"]); diff != "" {
		t.Errorf("coverage (-want +got):\n%s", diff)
	}
	chart := b["chart"].(map[string]any)
	if chart["valid"] != true || chart["pinned"] != true || chart["module"] != "shop" {
		t.Errorf("chart %v: want valid and pinned to the merge commit", chart)
	}
	if got := in["votes"].([]any)[0].(map[string]any); got["current"] != true || got["vote"] != "go" {
		t.Errorf("vote %v", got)
	}
	if diff := cmp.Diff(map[string]any{"Release notes": true, "DR plan": false}, in["checklist"]); diff != "" {
		t.Errorf("checklist (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"acme/sre": map[string]any{"sam": true}}, in["teams"]); diff != "" {
		t.Errorf("teams (-want +got):\n%s", diff)
	}
	links := in["links"].(map[string]any)
	issue := links["issues"].([]any)[0].(map[string]any)
	if issue["ref"] != "acme/shop#12" || issue["zenhub"].(map[string]any)["found"] != true {
		t.Errorf("issue link %v", issue)
	}
	mp := links["merged_pulls"].([]any)[0].(map[string]any)
	if l := mp["links"].([]any)[0].(map[string]any); l["ref"] != "acme/shop#40" || l["zenhub"] != nil {
		t.Errorf("merged pull link %v: want unverified #40", l)
	}
	if links["merged_pulls_known"] != false {
		t.Error("merged pulls were never fetched; merged_pulls_known must be false")
	}

	// A chart that names another commit is well formed but not pinned.
	ev.Builds[0].ChartVersion = "shop-2-14-3-fffffff"
	if c := BuildInput(&ev, InputOptions{Now: t0}).Map()["build"].(map[string]any)["chart"].(map[string]any); c["valid"] != true || c["pinned"] != false {
		t.Errorf("chart %v: want valid but not pinned", c)
	}
}

func TestCloneIsDeep(t *testing.T) {
	t.Parallel()
	branch := 60.0
	ev := Evidence{
		PR:          &PullRequest{Labels: []string{"release"}},
		Builds:      []Build{{Stages: []Stage{{Name: "Deploy", Status: "SUCCESS"}}, Tests: &TestSummary{Total: 1}, Coverage: &Coverage{Line: 80, Branch: &branch}, Missing: []string{"tests"}}},
		Baseline:    &Build{Coverage: &Coverage{Line: 81}},
		MergedPulls: []MergedPull{{Number: 1, Links: []IssueRef{{"o", "r", 1, "body"}}}},
		Sources:     map[string]SourceStatus{"github": {OK: true}},
	}
	cp := ev.Clone()
	cp.PR.Labels[0] = "x"
	cp.Builds[0].Stages[0].Status = "FAILED"
	cp.Builds[0].Tests.Total = 9
	*cp.Builds[0].Coverage.Branch = 1
	cp.Builds[0].Missing[0] = "x"
	cp.Baseline.Coverage.Line = 1
	cp.MergedPulls[0].Links[0].Number = 9
	cp.Sources["github"] = SourceStatus{}
	if ev.PR.Labels[0] != "release" || ev.Builds[0].Stages[0].Status != "SUCCESS" || ev.Builds[0].Tests.Total != 1 ||
		*ev.Builds[0].Coverage.Branch != 60 || ev.Builds[0].Missing[0] != "tests" || ev.Baseline.Coverage.Line != 81 ||
		ev.MergedPulls[0].Links[0].Number != 1 || !ev.Sources["github"].OK {
		t.Errorf("changing the clone changed the original: %+v", ev)
	}
}

func TestUpsertBuildJenkinsResultReplacesReport(t *testing.T) {
	t.Parallel()
	const job = "job/acme/job/shop/job/PR-7-merge"
	key := PullKey{"acme", "shop", 7}
	var ev Evidence
	ev.Apply(Event{Build: &Build{JobPath: job, Number: 3, Key: key, Result: ResultSuccess, HeadSHA: "aaa", UpdatedAt: t0}})                  // the pipeline's report
	ev.Apply(Event{Build: &Build{JobPath: job, Number: 3, Key: key, Result: ResultUnstable, Verified: true, HeadSHA: "aaa", UpdatedAt: t0}}) // Jenkins' API
	ev.Apply(Event{Build: &Build{JobPath: job, Number: 3, Key: key, Result: ResultSuccess, HeadSHA: "aaa", UpdatedAt: t0}})                  // a late report
	if b := ev.Builds[0]; b.Result != ResultUnstable || !b.Verified || b.Building {
		t.Errorf("merged build result %q verified %v building %v, want UNSTABLE verified", b.Result, b.Verified, b.Building)
	}
}
