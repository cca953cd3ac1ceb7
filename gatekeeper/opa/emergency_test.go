package opa

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// TestEmergencyRelease runs the default policy (the live data.yaml) on the
// real engine, with the evidence built as the gatekeeper builds it: the
// labeled webhook's time, the pipeline report's chart versions, reviews and
// team memberships. Outside the window the emergency label alone never
// opens it; a minor release with the release manager's approval given
// after the label does.
func TestEmergencyRelease(t *testing.T) {
	t.Parallel()
	e := load(t, policiesDir)
	saturday := time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC) // 17:30 IST, no release day
	labelAt := saturday.Add(-time.Hour)

	// emergency is the complete release, labelled at labelAt, its chart
	// version and master's as the pipeline report gave them.
	emergency := func(t *testing.T, chart string) *gatekeeper.Evidence {
		ev := complete(t, evidence(t))
		pr := *ev.PR
		pr.Labels = append(slices.Clone(pr.Labels), "emergency-release")
		pr.LabeledAt = map[string]time.Time{"emergency-release": labelAt}
		pr.UpdatedAt = labelAt
		ev.Apply(gatekeeper.Event{Name: "pull_request.labeled", Received: labelAt, Key: ev.Key, SHA: pr.HeadSHA, PullRequest: &pr})
		for i := range ev.Builds {
			ev.Builds[i].ChartVersion = chart
			ev.Builds[i].BaseChartVersion = "hello-world-2-14-3-f95f852"
		}
		ev.Apply(gatekeeper.Event{Name: "github.membership", Received: labelAt, Membership: &gatekeeper.Membership{
			Team: "releasegate/release-managers", User: "rm-gina", Active: true, CheckedAt: labelAt,
		}})
		for _, team := range []string{"releasegate/module-leads", "releasegate/sre", "releasegate/qa", "releasegate/management"} {
			ev.Apply(gatekeeper.Event{Name: "github.membership", Received: labelAt, Membership: &gatekeeper.Membership{Team: team, User: "rm-gina", CheckedAt: labelAt}})
		}
		return ev
	}
	approve := func(ev *gatekeeper.Evidence, id int64, at time.Time) {
		ev.Apply(gatekeeper.Event{Name: "pull_request_review.submitted", Received: at, Key: ev.Key, Review: &gatekeeper.Review{
			ID: id, User: "rm-gina", State: "approved", CommitID: ev.HeadSHA(), SubmittedAt: at,
		}})
	}
	const minor, major = "hello-world-2-15-0-1a2b3c4", "hello-world-3-0-0-1a2b3c4"
	tests := []struct {
		name        string
		chart       string
		add         func(ev *gatekeeper.Evidence)
		wantState   gatekeeper.State
		wantReasons []string
		wantWaiting []string
	}{
		{
			name: "the label alone, every normal approval in", chart: minor,
			add:         func(*gatekeeper.Evidence) {},
			wantState:   gatekeeper.Pending,
			wantWaiting: []string{"emergency approval by release manager", "release window opens Monday 17:00 IST"},
		},
		{
			name: "the release manager approved before the label", chart: minor,
			add:         func(ev *gatekeeper.Evidence) { approve(ev, 990, labelAt.Add(-time.Minute)) },
			wantState:   gatekeeper.Pending,
			wantWaiting: []string{"emergency approval by release manager (rm-gina approved before the emergency-release label)", "release window opens Monday 17:00 IST"},
		},
		{
			name: "the release manager approved again after the label", chart: minor,
			add: func(ev *gatekeeper.Evidence) {
				approve(ev, 990, labelAt.Add(-time.Minute))
				approve(ev, 991, labelAt.Add(10*time.Minute))
			},
			wantState: gatekeeper.Success,
		},
		{
			name: "a major release", chart: major,
			add:         func(ev *gatekeeper.Evidence) { approve(ev, 991, labelAt.Add(10*time.Minute)) },
			wantState:   gatekeeper.Failure,
			wantReasons: []string{"emergency release refused: Helm chart hello-world-3-0-0-1a2b3c4 is a major release over master's hello-world-2-14-3-f95f852 (allowed: minor)"},
			wantWaiting: []string{"release window opens Monday 17:00 IST"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := emergency(t, tt.chart)
			tt.add(ev)
			in := gatekeeper.BuildInput(ev, gatekeeper.InputOptions{Now: saturday, Gated: gated, StatusContext: "release-gate"})
			got, err := e.Evaluate(context.Background(), in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if got.State != tt.wantState || !slices.Equal(got.Reasons, tt.wantReasons) || !slices.Equal(got.Waiting, tt.wantWaiting) {
				t.Errorf("got %s, reasons %q, waiting %q; want %s, reasons %q, waiting %q",
					got.State, got.Reasons, got.Waiting, tt.wantState, tt.wantReasons, tt.wantWaiting)
			}
		})
	}
}
