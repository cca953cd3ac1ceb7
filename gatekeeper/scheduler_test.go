package gatekeeper_test

import (
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// F9: the release window opening or closing re-evaluates every open
// pull request at once, whatever the reconcile timer and discovery do:
// here the timer is an hour away and GitHub never lists the open pull
// requests. The decisions' clock is the test's; it is moved past the edge.
func TestWindowEdgeReevaluates(t *testing.T) {
	t.Parallel()
	// t0 is Wednesday 10:00 UTC.
	w := opa.WindowSettings{Enforce: true, Timezone: "UTC", Weekdays: []string{"Wednesday"}, Release: "09:30", Close: "10:30"}
	opens, closes := t0.Add(-30*time.Minute), t0.Add(30*time.Minute)
	tests := []struct {
		name       string
		start, end time.Time
		first      gatekeeper.State
		then       gatekeeper.State
	}{
		{name: "a success turns pending at the close", start: t0, end: closes, first: gatekeeper.Success, then: gatekeeper.Pending},
		{name: "a pending turns success at the opening", start: opens.Add(-time.Minute), end: opens, first: gatekeeper.Pending, then: gatekeeper.Success},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := gatekeepertest.NewClock(tc.start)
			gh, _ := hangingGitHub(t, nil)
			h := startWith(t, gatekeeper.Options{Evaluator: windowEvaluator{opens: opens, closes: closes}, Clock: clock,
				Discoverer: gh, Reconcile: time.Hour, Rescan: 20 * time.Millisecond, WindowEdge: w.NextEdge})
			h.accept(t, opened(head, tc.start))
			h.waitState(t, tc.first)
			h.settle(t)
			clock.Set(tc.end) // the edge itself: the window opens at its first minute, closes at its last
			h.waitState(t, tc.then)
		})
	}
}
