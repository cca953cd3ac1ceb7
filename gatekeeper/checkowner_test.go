package gatekeeper

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func report(state, by string, at time.Time) Event {
	return Event{Name: "status", Check: &Check{Name: "ci/build", SHA: "aaa", Kind: "status", State: state, Description: state + " by " + by, UpdatedAt: at, Creator: by}}
}

// A status another creator sets over the CI's is recorded as a takeover:
// GitHub's view (the newest) stays in the check, the CI's verdict in
// Original, and the policy input states the CI's verdict and names the
// takeover. The CI reporting again clears it; the other creator stays
// named.
func TestCheckTakenOverKeepsTheOriginalVerdict(t *testing.T) {
	t.Parallel()
	var ev Evidence
	ev.Apply(report("failure", "ci-bot", t0))
	ev.Apply(report("success", "dev-mallory", t0.Add(time.Minute)))
	c := ev.Checks[0]
	if !c.TakenOver() || c.State != "success" || c.Creator != "dev-mallory" || c.FirstCreator != "ci-bot" {
		t.Fatalf("after the hand-set status: %+v, want taken over by dev-mallory", c)
	}
	if c.Original == nil || c.Original.State != "failure" || c.Original.Creator != "ci-bot" {
		t.Errorf("original %+v, want ci-bot's failure", c.Original)
	}
	if diff := cmp.Diff([]string{"dev-mallory"}, c.OtherCreators); diff != "" {
		t.Errorf("other creators (-want +got):\n%s", diff)
	}
	in := checksInput(ev.Checks, "aaa", "release-gate")
	want := []any{map[string]any{
		"name": "ci/build", "kind": "status", "state": "failure", "description": "failure by ci-bot", "url": "",
		"creator": "ci-bot", "other_creators": []any{"dev-mallory"},
		"takeover": map[string]any{"creator": "dev-mallory", "state": "success", "description": "success by dev-mallory", "url": ""},
	}}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("policy input (-want +got):\n%s", diff)
	}

	// A second hand-set status, and the CI's older report delivered
	// late: the CI's verdict stays its newest.
	ev.Apply(report("success", "Dev-Mallory", t0.Add(2*time.Minute)))
	ev.Apply(report("pending", "ci-bot", t0.Add(-time.Minute)))
	c = ev.Checks[0]
	if !c.TakenOver() || c.Original == nil || c.Original.State != "failure" || len(c.OtherCreators) != 1 {
		t.Errorf("after more reports: %+v (original %+v)", c, c.Original)
	}

	// The CI reports again, newer: normal.
	ev.Apply(report("success", "ci-bot", t0.Add(3*time.Minute)))
	c = ev.Checks[0]
	if c.TakenOver() || c.Original != nil || c.State != "success" {
		t.Errorf("after ci-bot's new report: %+v, want its success, no takeover", c)
	}
	in = checksInput(ev.Checks, "aaa", "release-gate")
	if got := in[0].(map[string]any); got["takeover"] != nil || got["state"] != "success" || got["creator"] != "ci-bot" {
		t.Errorf("policy input after ci-bot's new report: %v", got)
	}
}

// A takeover whose original report the gatekeeper never saw (only who
// posted first, from a fetch) states no pass.
func TestCheckTakenOverWithoutTheOriginalsReportIsNotAPass(t *testing.T) {
	t.Parallel()
	var ev Evidence
	ev.Apply(Event{Check: &Check{Name: "ci/build", SHA: "aaa", Kind: "status", State: "success", UpdatedAt: t0, Creator: "dev-mallory", FirstCreator: "ci-bot"}})
	in := checksInput(ev.Checks, "aaa", "release-gate")[0].(map[string]any)
	if in["state"] != "pending" || in["takeover"] == nil || in["creator"] != "ci-bot" {
		t.Errorf("policy input %v, want pending, taken over, first creator ci-bot", in)
	}
}

// A check held before first creators were recorded counts its creator as
// the first; a fetch naming another first creator does not override one
// the gatekeeper already knows.
func TestCheckFirstCreatorIsKept(t *testing.T) {
	t.Parallel()
	ev := Evidence{Checks: []Check{{Name: "ci/build", SHA: "aaa", Kind: "status", State: "failure", UpdatedAt: t0, Creator: "ci-bot"}}}
	ev.Apply(report("success", "dev-mallory", t0.Add(time.Minute)))
	if c := ev.Checks[0]; c.FirstCreator != "ci-bot" || !c.TakenOver() || c.Original == nil || c.Original.State != "failure" {
		t.Errorf("%+v, want first creator ci-bot, taken over", c)
	}
	// A fetch whose list names another oldest creator (GitHub keeps a
	// bounded number of statuses per context: a flood can push the
	// first out of it) does not change the first creator known.
	ev.Apply(Event{Check: &Check{Name: "ci/build", SHA: "aaa", Kind: "status", State: "success", UpdatedAt: t0.Add(time.Minute), Creator: "dev-mallory", FirstCreator: "dev-mallory"}})
	if c := ev.Checks[0]; c.FirstCreator != "ci-bot" || !c.TakenOver() || c.Original == nil || c.Original.State != "failure" {
		t.Errorf("after the fetch: %+v, want first creator ci-bot, taken over", c)
	}
	// Kinds are separate checks: a check run of the same name by
	// another app is its own check, not a takeover.
	ev.Apply(Event{Check: &Check{Name: "ci/build", SHA: "aaa", Kind: "check_run", State: "success", UpdatedAt: t0.Add(time.Minute), Creator: "other-app"}})
	if c := ev.Checks[1]; c.TakenOver() || c.FirstCreator != "other-app" {
		t.Errorf("check run %+v", c)
	}
}

// A flood of hand-set statuses from many accounts is bounded, and Clone
// shares nothing a later Apply changes.
func TestCheckOtherCreatorsBoundedAndCloned(t *testing.T) {
	t.Parallel()
	var ev Evidence
	ev.Apply(report("failure", "ci-bot", t0))
	for i := 0; i < 3*maxOtherCreators; i++ {
		ev.Apply(report("success", fmt.Sprintf("dev-%d", i), t0.Add(time.Duration(i+1)*time.Second)))
	}
	if n := len(ev.Checks[0].OtherCreators); n != maxOtherCreators {
		t.Errorf("%d other creators, want %d", n, maxOtherCreators)
	}
	cp := ev.Clone()
	cp.Checks[0].Original.State = "changed"
	cp.Checks[0].OtherCreators[0] = "changed"
	if ev.Checks[0].Original.State != "failure" || ev.Checks[0].OtherCreators[0] != "dev-0" {
		t.Errorf("the clone shares the check's original or other creators")
	}
}

// A check whose first creator is unknown (fetched before GitHub's list
// named creators) does not adopt whoever reports next as its first
// creator; the fetch that names the oldest creator settles it.
func TestCheckUnknownFirstCreatorIsNotTakenFromTheNextReport(t *testing.T) {
	t.Parallel()
	ev := Evidence{Checks: []Check{{Name: "ci/build", SHA: "aaa", Kind: "status", State: "failure", UpdatedAt: t0}}}
	ev.Apply(report("success", "dev-mallory", t0.Add(time.Minute)))
	ev.Apply(report("success", "dev-mallory", t0.Add(2*time.Minute)))
	if c := ev.Checks[0]; c.FirstCreator != "" {
		t.Errorf("first creator %q, want still unknown", c.FirstCreator)
	}
	ev.Apply(Event{Check: &Check{Name: "ci/build", SHA: "aaa", Kind: "status", State: "success", UpdatedAt: t0.Add(2 * time.Minute), Creator: "dev-mallory",
		FirstCreator: "ci-bot", Original: &CheckReport{Creator: "ci-bot", State: "failure", UpdatedAt: t0}}})
	if c := ev.Checks[0]; c.FirstCreator != "ci-bot" || !c.TakenOver() || c.Original == nil || c.Original.State != "failure" {
		t.Errorf("after the fetch: %+v, want taken over from ci-bot's failure", c)
	}
}
