package jenkinsapi

import (
	"context"
	"encoding/json"
	"strconv"
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
	f, s, clk := sourceFake(t, Options{})
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
	// Jenkins placed the copy in no repository: it is not read again at
	// every recheck (only when claimed again), the gated build is.
	copyReads, realReads := f.count("/"+copyJob+"/1000/api/json"), f.count(buildPath+"/api/json")
	clk.add(DefaultRecheckEvery)
	if _, err := s.Gather(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if n := f.count("/" + copyJob + "/1000/api/json"); n != copyReads {
		t.Errorf("the copy's build read %d more times", n-copyReads)
	}
	if n := f.count(buildPath + "/api/json"); n != realReads+1 {
		t.Errorf("the gated build read %d more times, want 1", n-realReads)
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

// forgedBuilds are notifications and reports a token holder makes up for
// the gated job with build numbers above the real one's; Jenkins has none
// of them.
func forgedBuilds(tb testing.TB, withHead bool, numbers ...int) [][]byte {
	tb.Helper()
	var out [][]byte
	for i, n := range numbers {
		if withHead {
			out = append(out, reportJSON(tb, func(r map[string]any) { r["build_number"] = n }))
			continue
		}
		out = append(out, notificationJSON(tb, func(j, b map[string]any) {
			delete(j, "url")
			b["number"], b["queue_id"] = n, 7000+i
			b["url"], b["full_url"] = prJob+"/"+itoa(n)+"/", "http://localhost:32769/"+prJob+"/"+itoa(n)+"/"
		}))
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestGatherReadsTheGatedBuildFirst is finding F12: made-up build numbers
// above the real build's must not starve the real build of its Jenkins
// read. One Gather reads the current head's build, and at most maxUnknown
// builds whose head is not known.
func TestGatherReadsTheGatedBuildFirst(t *testing.T) {
	t.Parallel()
	forged := []int{90001, 90002, 90003, 90004, 90005, 90006}
	for _, tt := range []struct {
		name string
		// realReport: the real build #10 is known from a pipeline
		// report with its head, else only from a notification (no head:
		// a PR-merge notification's commit is the merge).
		realReport bool
		// forgedHead: the made-up builds claim the current head.
		forgedHead bool
	}{
		{"real build's head reported, forged heads unknown", true, false},
		{"real build's head unknown, forged claim the head", false, true},
		{"both heads unknown", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, s, _ := sourceFake(t, Options{})
			f.serve("/"+prJob+"/api/json", prJobJSON(t))
			b11 := fixtureMap(t, "build.api.json") // a build of another head
			b11["number"] = 11
			f.serve("/"+prJob+"/11/api/json", mustJSON(t, b11))
			real := notificationJSON(t, nil)
			if tt.realReport {
				real = reportJSON(t, nil)
			}
			// The real build's notification came first, the made-up ones
			// after it.
			ev := pullEvidence(t, append([][]byte{real}, forgedBuilds(t, tt.forgedHead, forged...)...)...)
			if len(ev.Builds) != 1+len(forged) {
				t.Fatalf("%d builds known, want %d", len(ev.Builds), 1+len(forged))
			}
			events, err := s.Gather(context.Background(), ev)
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			builds, _ := gathered(t, events)
			if b, ok := builds[prNumber]; !ok || !b.Verified || b.HeadSHA != headSHA {
				t.Fatalf("the real build #%d was not read in one Gather: %+v", prNumber, builds[prNumber])
			}
			unknown := 0
			for _, n := range forged {
				if f.count("/"+prJob+"/"+itoa(n)+"/api/json") > 0 && !tt.forgedHead {
					unknown++
				}
			}
			if unknown > maxUnknown {
				t.Errorf("%d builds of an unknown head read in one Gather, want at most %d", unknown, maxUnknown)
			}
			for _, e := range events {
				ev.Apply(e)
			}
			// A made-up build claimed for the head, higher-numbered and
			// not read yet, is the newest build of the head until Jenkins
			// says it has none (fail closed: pending, never a pass); the
			// next Gathers read them, maxEnrich at a time.
			for range (len(forged) + maxEnrich - 1) / maxEnrich {
				events, err := s.Gather(context.Background(), ev)
				if err != nil {
					t.Fatalf("Gather: %v", err)
				}
				for _, e := range events {
					ev.Apply(e)
				}
			}
			if cur := ev.CurrentBuild(); cur == nil || cur.Number != prNumber || !cur.Verified {
				t.Errorf("CurrentBuild = %+v, want the verified #%d", cur, prNumber)
			}
			for _, n := range forged {
				if reads := f.count("/" + prJob + "/" + itoa(n) + "/api/json"); reads > 1 {
					t.Errorf("made-up build %d read %d times", n, reads)
				}
			}
		})
	}
}

// TestGatherBacksOffGoneBuilds (F12): a build Jenkins answered 404 for is
// not read again because it is claimed again, only after a back-off that
// grows with the time it has been known and gone.
func TestGatherBacksOffGoneBuilds(t *testing.T) {
	t.Parallel()
	f, s, clk := sourceFake(t, Options{})
	const ghost = "/" + prJob + "/90001/api/json"
	ev := pullEvidence(t, append([][]byte{notificationJSON(t, nil)}, forgedBuilds(t, false, 90001)...)...)
	gather := func() {
		t.Helper()
		events, err := s.Gather(context.Background(), ev)
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		for _, e := range events {
			ev.Apply(e)
		}
	}
	reclaim := func() {
		t.Helper()
		body := notificationJSON(t, func(j, b map[string]any) {
			delete(j, "url")
			b["number"], b["queue_id"], b["phase"] = 90001, clk.Now().Unix(), "FINALIZED"
			b["url"], b["full_url"] = prJob+"/90001/", "http://localhost:32769/"+prJob+"/90001/"
		})
		e, err := ParseNotification(body, ParseOptions{}, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		ev.Apply(e)
	}
	// The claim came at testNow-1m: gone at testNow after 1m known, the
	// next read is due 1m later (more than RecheckEvery), the one after
	// that 2m later.
	steps := []struct {
		advance time.Duration
		reads   int
	}{
		{0, 1},
		{0, 1},                   // claimed again at once: not read
		{DefaultRecheckEvery, 1}, // RecheckEvery is not the back-off
		{time.Minute - DefaultRecheckEvery, 2},
		{time.Minute, 2},
		{time.Minute, 3},
	}
	for i, st := range steps {
		clk.add(st.advance)
		gather()
		if n := f.count(ghost); n != st.reads {
			t.Fatalf("step %d (%v): the gone build read %d times, want %d", i, clk.Now().Sub(testNow), n, st.reads)
		}
		reclaim()
	}
	if cur := ev.CurrentBuild(); cur == nil || cur.Number != prNumber {
		t.Errorf("CurrentBuild = %+v, want #%d", cur, prNumber)
	}
}
