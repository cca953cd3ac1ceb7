package jenkinsapi

import (
	"context"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// serveHeadRun serves build n of the PR-merge job: a finished run of the
// current head with result, its stages, tests and coverage.
func serveHeadRun(tb testing.TB, f *fakeJenkins, n int, result string) {
	tb.Helper()
	m := fixtureMapOf(tb, workflowRun(tb, result))
	m["number"] = n
	m["url"] = "http://localhost:32769/" + prJob + "/" + itoa(n) + "/"
	p := "/" + prJob + "/" + itoa(n)
	f.serve(p+"/api/json", mustJSON(tb, m))
	f.serve(p+"/wfapi/describe/api/json", describe(tb, result, nil))
	f.serve(p+"/testReport/api/json", testReport(tb, 40, 0, 2))
	f.serve(p+"/coverage/api/json", readFixture(tb, "coverage.api.json"))
}

// serveJob serves the PR-merge job whose last build is last.
func serveJob(tb testing.TB, f *fakeJenkins, last int) {
	tb.Helper()
	m := fixtureMapOf(tb, prJobJSON(tb))
	var builds []any
	for n := last; n > 0 && n > last-5; n-- {
		builds = append(builds, map[string]any{"number": n, "url": "http://localhost:32769/" + prJob + "/" + itoa(n) + "/"})
	}
	m["builds"] = builds
	m["lastBuild"] = map[string]any{"number": last, "url": "http://localhost:32769/" + prJob + "/" + itoa(last) + "/"}
	m["nextBuildNumber"] = last + 1
	f.serve("/"+prJob+"/api/json", mustJSON(tb, m))
}

// claimReport applies a pipeline report about build n of the current head.
func claimReport(tb testing.TB, ev *gatekeeper.Evidence, n int, at time.Time) {
	tb.Helper()
	e, err := ParseNotification(reportJSON(tb, func(r map[string]any) { r["build_number"] = n }), ParseOptions{}, at)
	if err != nil {
		tb.Fatal(err)
	}
	ev.Apply(e)
}

func gatherApply(tb testing.TB, s *Source, ev *gatekeeper.Evidence) map[int64]gatekeeper.Build {
	tb.Helper()
	events, err := s.Gather(context.Background(), ev)
	if err != nil {
		tb.Fatalf("Gather: %v", err)
	}
	builds, _ := gathered(tb, events)
	for _, e := range events {
		ev.Apply(e)
	}
	return builds
}

// TestNewBuildOfHeadIsReadBeforeReReads is finding R4: the head's builds
// already read (retries, rebuilds) are due again every RecheckEvery; a new
// build of the head must still be read in the next Gather, not wait
// behind their re-reads.
func TestNewBuildOfHeadIsReadBeforeReReads(t *testing.T) {
	t.Parallel()
	f, s, clk := sourceFake(t, Options{})
	for n := 54; n <= 58; n++ {
		serveHeadRun(t, f, n, "SUCCESS")
	}
	serveJob(t, f, 57)
	ev := pullEvidence(t)
	for n := 54; n <= 57; n++ {
		claimReport(t, ev, n, clk.Now())
	}
	gatherApply(t, s, ev)
	for n := 54; n <= 57; n++ {
		if i := buildIndex(ev, n); i < 0 || !ev.Builds[i].Verified {
			t.Fatalf("setup: build #%d not read", n)
		}
	}
	clk.add(DefaultRecheckEvery + time.Second)
	serveJob(t, f, 58)
	claimReport(t, ev, 58, clk.Now())
	builds := gatherApply(t, s, ev)
	if b, ok := builds[58]; !ok || !b.Verified {
		t.Fatalf("the new build #58 of the head was not read: %+v", builds[58])
	}
	if cur := ev.CurrentBuild(); cur == nil || cur.Number != 58 || !cur.Verified {
		t.Errorf("CurrentBuild = %+v, want the verified #58", cur)
	}
	// The older builds of the head, complete, cannot change the decision:
	// only the newest read build is re-read periodically.
	before := map[int]int{}
	for n := 54; n <= 58; n++ {
		before[n] = f.count("/" + prJob + "/" + itoa(n) + "/api/json")
	}
	clk.add(DefaultRecheckEvery + time.Second)
	gatherApply(t, s, ev)
	for n := 54; n <= 57; n++ {
		if got := f.count("/"+prJob+"/"+itoa(n)+"/api/json") - before[n]; got != 0 {
			t.Errorf("the older complete build #%d was re-read %d times", n, got)
		}
	}
	if got := f.count("/"+prJob+"/58/api/json") - before[58]; got != 1 {
		t.Errorf("the newest build #58 re-read %d times, want 1", got)
	}
}

func buildIndex(ev *gatekeeper.Evidence, n int) int {
	for i, b := range ev.Builds {
		if b.JobPath == prJob && b.Number == int64(n) {
			return i
		}
	}
	return -1
}

// TestMadeUpClaimsDoNotOutrankTheReadBuild is finding R3: claims of
// made-up build numbers above the job's last build, with the (public)
// head sha, more of them at each evaluation than one Gather reads builds,
// must not hold the release pending on "Jenkins to confirm" for ever: one
// read of the job tells Jenkins has none of them. A real newer build of
// the head still takes over once Jenkins shows it, and makes the release
// wait until then.
func TestMadeUpClaimsDoNotOutrankTheReadBuild(t *testing.T) {
	t.Parallel()
	f, s, clk := sourceFake(t, Options{})
	serveHeadRun(t, f, 57, "FAILURE")
	serveJob(t, f, 57)
	ev := pullEvidence(t)
	claimReport(t, ev, 57, clk.Now())
	gatherApply(t, s, ev)
	if cur := ev.CurrentBuild(); cur == nil || cur.Number != 57 || !cur.Verified {
		t.Fatalf("setup: CurrentBuild = %+v, want the verified #57", cur)
	}
	next := 90001
	for round := range 3 {
		clk.add(time.Minute)
		for range 2 * maxEnrich {
			claimReport(t, ev, next, clk.Now())
			next++
		}
		gatherApply(t, s, ev)
		if cur := ev.CurrentBuild(); cur == nil || cur.Number != 57 || !cur.Verified || cur.Result != "FAILURE" {
			t.Fatalf("round %d: CurrentBuild = %+v, want the verified, failed #57", round, cur)
		}
	}
	for n := 90001; n < next; n++ {
		if reads := f.count("/" + prJob + "/" + itoa(n) + "/api/json"); reads > 0 {
			t.Errorf("made-up build %d read %d times: the job's last build says Jenkins has none", n, reads)
		}
	}

	// A real rebuild #58 of the head: claimed, it makes the release wait
	// (never pass on a claim) until read, then counts.
	serveHeadRun(t, f, 58, "SUCCESS")
	serveJob(t, f, 58)
	clk.add(time.Minute)
	claimReport(t, ev, 58, clk.Now())
	if cur := ev.CurrentBuild(); cur == nil || cur.Number != 58 || cur.Verified {
		t.Fatalf("claimed #58: CurrentBuild = %+v, want the unread #58", cur)
	}
	gatherApply(t, s, ev)
	if cur := ev.CurrentBuild(); cur == nil || cur.Number != 58 || !cur.Verified || cur.Result != "SUCCESS" {
		t.Fatalf("read #58: CurrentBuild = %+v, want the verified #58", cur)
	}
}

// TestMadeUpClaimOfAFutureNumberDoesNotHideTheRealBuild: a number claimed
// before Jenkins has it (answered gone) and built later is read as soon as
// it is claimed again, whatever the gone back-off: the real build must not
// stay hidden behind the older one of the head.
func TestMadeUpClaimOfAFutureNumberDoesNotHideTheRealBuild(t *testing.T) {
	t.Parallel()
	f, s, clk := sourceFake(t, Options{})
	serveHeadRun(t, f, 57, "SUCCESS")
	serveJob(t, f, 57)
	ev := pullEvidence(t)
	claimReport(t, ev, 57, clk.Now())
	gatherApply(t, s, ev)
	// Claimed an hour ahead: gone, with a long back-off.
	claimReport(t, ev, 58, clk.Now().Add(-time.Hour))
	gatherApply(t, s, ev)
	if i := buildIndex(ev, 58); i < 0 || !ev.Builds[i].Gone {
		t.Fatalf("setup: #58 not gone")
	}
	serveHeadRun(t, f, 58, "FAILURE")
	serveJob(t, f, 58)
	clk.add(time.Second)
	claimReport(t, ev, 58, clk.Now())
	gatherApply(t, s, ev)
	if cur := ev.CurrentBuild(); cur == nil || cur.Number != 58 || !cur.Verified || cur.Result != "FAILURE" {
		t.Fatalf("CurrentBuild = %+v, want the verified, failed #58", cur)
	}
}

// TestMadeUpClaimsInAJobJenkinsHasNot (R3): Jenkins builds the pull
// request in its PR-<n> job (one strategy configured); claims of made-up
// builds of the head in a PR-<n>-merge job, which would be preferred as
// the gated job, are answered by the one 404 for that job.
func TestMadeUpClaimsInAJobJenkinsHasNot(t *testing.T) {
	t.Parallel()
	const plainJob = "job/Codertocat/job/Hello-World/job/PR-2"
	f, s, clk := sourceFake(t, Options{})
	m := fixtureMapOf(t, workflowRun(t, "FAILURE"))
	m["number"] = 57
	m["url"] = "http://localhost:32769/" + plainJob + "/57/"
	f.serve("/"+plainJob+"/57/api/json", mustJSON(t, m))
	ev := pullEvidence(t)
	e, err := ParseNotification(reportJSON(t, func(r map[string]any) {
		r["build_number"], r["job_url"] = 57, "http://localhost:8080/"+plainJob+"/"
	}), ParseOptions{}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	ev.Apply(e)
	gatherApply(t, s, ev)
	if cur := ev.CurrentBuild(); cur == nil || cur.Number != 57 || !cur.Verified {
		t.Fatalf("setup: CurrentBuild = %+v, want the verified #57 of %s", cur, plainJob)
	}
	clk.add(time.Minute)
	for n := 90001; n < 90001+2*maxEnrich; n++ {
		claimReport(t, ev, n, clk.Now()) // in PR-2-merge, which Jenkins has not
	}
	gatherApply(t, s, ev)
	if cur := ev.CurrentBuild(); cur == nil || cur.Number != 57 || !cur.Verified || cur.Result != "FAILURE" {
		t.Fatalf("CurrentBuild = %+v, want the verified, failed #57", cur)
	}
	for n := 90001; n < 90001+2*maxEnrich; n++ {
		if reads := f.count("/" + prJob + "/" + itoa(n) + "/api/json"); reads > 0 {
			t.Errorf("made-up build %d read %d times", n, reads)
		}
	}
}
