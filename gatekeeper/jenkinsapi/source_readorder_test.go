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
