package githubevents_test

import (
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
)

// TestParseReevaluateRequests: a check run's requested action (the
// checklist's "Re-evaluate" button), a check run's re-run and a check
// suite's re-run are used: each names the head to evaluate again.
func TestParseReevaluateRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		eventType, file, name, sha, creator string
		check                               bool
	}{
		{"check_run", "public/octokit-webhooks/check_run/requested_action.payload.json", "check_run.requested_action",
			"5bd5f196a46b8222fb7484f05faba41a73cf34bd", "electron-cation", true},
		{"check_run", "public/octokit-webhooks/check_run/rerequested.payload.json", "check_run.rerequested",
			"d6fde92930d4715a2b49857d24b940956b26d2d3", "Super Duper", true},
		{"check_suite", "public/octokit-webhooks/check_suite/rerequested.payload.json", "check_suite.rerequested",
			"ec26c3e57ca3a959ca5aad62de7213c562f8c821", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, payload := fixture(t, tt.file)
			got, err := githubevents.Parse(tt.eventType, "d-1", payload)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.Name != tt.name || got.SHA != tt.sha || got.Repo == nil || got.Repo.ID == 0 || got.Delivery != "d-1" {
				t.Errorf("Parse = %+v, want %s on %s with its repository", got, tt.name, tt.sha)
			}
			if (got.Check != nil) != tt.check {
				t.Fatalf("Check = %+v, want one: %v", got.Check, tt.check)
			}
			if tt.check && (got.Check.Kind != "check_run" || got.Check.SHA != tt.sha || got.Check.Creator != tt.creator) {
				t.Errorf("Check = %+v, want a check run on %s by %q", got.Check, tt.sha, tt.creator)
			}
			if _, used, err := githubevents.ParseDelivery(tt.eventType, "d-1", payload); err != nil || !used {
				t.Errorf("ParseDelivery: used %v, %v; want used", used, err)
			}
		})
	}
	var _ gatekeeper.Event
}
