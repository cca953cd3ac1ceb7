package jenkinsapi

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// copyJob is a copy of Codertocat/Hello-World's multibranch project in a
// personal folder: the same pull request jobs, another Jenkinsfile.
const copyJob = "job/alice/job/Codertocat/job/Hello-World/job/PR-2-merge"

// TestSourceCopyInAnotherFolderDoesNotCount is finding F10 end to end: a
// token holder's copy of the multibranch project builds the pull request's
// head (Jenkins states the same pull hash) with a made-up high build
// number and a passing result, while the gated job's build failed. The
// copy's notification claims the repository by its scm url; Jenkins'
// read places the job by its folders, which build no repository, and the
// failed gated build stays the current one.
func TestSourceCopyInAnotherFolderDoesNotCount(t *testing.T) {
	t.Parallel()
	f, s, _ := sourceFake(t, Options{})
	f.serve(buildPath+"/api/json", withArtifacts(t, workflowRun(t, "FAILURE"), trivyArtifact))
	copyRun := fixtureMapOf(t, withArtifacts(t, workflowRun(t, "SUCCESS"), trivyArtifact))
	copyRun["number"] = 1000
	copyRun["url"] = "http://localhost:32769/" + copyJob + "/1000/"
	f.serve("/"+copyJob+"/1000/api/json", mustJSON(t, copyRun))
	f.serve("/"+copyJob+"/1000/wfapi/describe/api/json", describe(t, "SUCCESS", nil))
	f.serve("/"+copyJob+"/1000/testReport/api/json", testReport(t, 40, 0, 2))
	f.serve("/"+copyJob+"/1000/coverage/api/json", readFixture(t, "coverage.api.json"))
	f.serve("/"+copyJob+"/1000/artifact/"+trivyArtifact, readTrivy(t, "alpine-310.json.golden"))

	ev := pullEvidence(t, notificationJSON(t, func(job, build map[string]any) { build["status"] = "FAILURE" }),
		notificationJSON(t, func(job, build map[string]any) {
			job["url"] = copyJob + "/"
			build["number"] = 1000
			build["url"] = copyJob + "/1000/"
			build["full_url"] = "http://localhost:8080/" + copyJob + "/1000/"
		}))
	for round := range 2 {
		events, err := s.Gather(context.Background(), ev)
		if err != nil {
			t.Fatalf("Gather %d: %v", round, err)
		}
		for _, e := range events {
			ev.Apply(e)
		}
	}
	if n := f.count("/" + copyJob + "/1000/api/json"); n == 0 {
		t.Fatal("the copy's build was never read: the test shows nothing")
	}
	for _, b := range ev.Builds {
		if b.JobPath == copyJob && b.Verified && b.Key.Repo != "" {
			t.Errorf("Jenkins' read of the copy placed it in %s", b.Key)
		}
	}
	cur := ev.CurrentBuild()
	if cur == nil || cur.JobPath != prJob || cur.Number != prNumber {
		t.Fatalf("CurrentBuild = %+v, want the gated job's #%d", cur, prNumber)
	}
	in := gatekeeper.BuildInput(ev, gatekeeper.InputOptions{Now: testNow})
	if in.Build == nil || in.Build.Result != "FAILURE" {
		t.Errorf("input build %+v, want the gated build's FAILURE", in.Build)
	}
}

// fixtureMapOf decodes a derived answer for a test to change.
func fixtureMapOf(tb testing.TB, body []byte) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestBaselineIgnoresGoneOrForeignBuilds is finding F6: the coverage
// baseline is the base branch job of the repository's own multibranch
// project, never of the folders of a build Jenkins does not have (a
// forged notification whose scm url claimed the repository), of a claim
// Jenkins has not confirmed, or of a copy of the project elsewhere.
func TestBaselineIgnoresGoneOrForeignBuilds(t *testing.T) {
	t.Parallel()
	const legacy = "job/other/job/legacy/job/PR-2-merge"
	const legacyMaster = "/job/other/job/legacy/job/master"
	forged := gatekeeper.Build{JobPath: legacy, JobName: "PR-2-merge", Number: 999999, Key: prKey, Strategy: "merge",
		Result: "SUCCESS", Phase: "COMPLETED"}
	gone := forged
	gone.Gone, gone.VerifiedAt = true, testNow.Add(-time.Minute)
	copied := gatekeeper.Build{JobPath: copyJob, JobName: "PR-2-merge", Number: 1000, Key: gatekeeper.PullKey{Number: 2}, Strategy: "merge",
		HeadSHA: headSHA, Result: "SUCCESS", Phase: "COMPLETED", Verified: true, VerifiedAt: testNow}
	copiedMaster := "/job/alice/job/Codertocat/job/Hello-World/job/master"
	for _, tt := range []struct {
		name  string
		first gatekeeper.Build
	}{
		{"a build Jenkins does not have", gone},
		{"a claim not read yet", forged},
		{"a copy of the project in another folder", copied},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, s, _ := sourceFake(t, Options{})
			for _, job := range []string{legacyMaster, copiedMaster} {
				f.serve(job+"/api/json", readFixture(t, "job.api.json"))
				f.serve(job+"/6/api/json", masterBuild(t))
				f.serve(job+"/6/coverage/api/json", readFixture(t, "coverage.modified.api.json"))
			}
			ev := pullEvidence(t)
			real := gatekeeper.Build{JobPath: prJob, JobName: "PR-2-merge", Number: prNumber, Key: prKey, Strategy: "merge",
				HeadSHA: headSHA, Result: "SUCCESS", Phase: "COMPLETED", Verified: true, VerifiedAt: testNow}
			ev.Builds = []gatekeeper.Build{tt.first, real}
			events, err := s.Gather(context.Background(), ev)
			if err != nil {
				t.Logf("Gather: %v", err) // the builds' reads do not matter here
			}
			var base *gatekeeper.Build
			for _, e := range events {
				if e.Name == EventBaseline {
					base = e.Baseline
				}
			}
			if base == nil || base.JobPath != masterJob[1:] {
				t.Errorf("baseline %+v, want %s's last successful build", base, masterJob[1:])
			}
			if n := f.count(legacyMaster+"/api/json") + f.count(copiedMaster+"/api/json"); n != 0 {
				t.Errorf("another project's master job was asked %d times", n)
			}
		})
	}
}
