package opa

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSettingsFollowRevision: the typed settings are those of the
// revision in force, decoded when it loads: an edit to data.yaml shows
// after the reload, and a refused edit leaves the last good settings.
func TestSettingsFollowRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if got := New(t.TempDir()).Settings(); !cmp.Equal(got, Settings{}) {
		t.Errorf("settings before any load: %+v", got)
	}
	dir := copyPolicies(t)
	e := load(t, dir)
	s := e.Settings()
	if s.Revision != e.Revision() {
		t.Errorf("Revision %q, want %q", s.Revision, e.Revision())
	}
	if len(s.Build.Stages) != 7 || s.Build.Stages[0].Key != "clone" || s.Build.Stages[0].Jenkins[0] != "Clone" {
		t.Errorf("stages %+v", s.Build.Stages)
	}
	wantTeams := []string{"releasegate/module-leads", "releasegate/sre", "releasegate/qa", "releasegate/management"}
	if diff := cmp.Diff(wantTeams, s.Approvals.Teams()[:4]); diff != "" {
		t.Errorf("teams (-want +got):\n%s", diff)
	}
	if s.Window.Timezone != "Asia/Kolkata" || !s.Window.Enforce || s.Votes.VetoRoles[0] != "qa" {
		t.Errorf("window %+v votes %+v", s.Window, s.Votes)
	}

	edit(t, filepath.Join(dir, "data.yaml"), `jenkins: ["Clone", "Checkout"`, `jenkins: ["Fetch sources", "Checkout"`)
	if _, err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.Settings().Build.Stages[0].Jenkins[0]; got != "Fetch sources" {
		t.Errorf("after the edit the clone stage's first Jenkins name is %q, want %q", got, "Fetch sources")
	}

	edit(t, filepath.Join(dir, "data.yaml"), "  window:\n", "  evaluation:\n    timeout: 2h\n  window:\n")
	if _, err := e.Reload(ctx); err == nil {
		t.Fatal("a two-hour evaluation timeout was accepted")
	}
	if got := e.Settings().Build.Stages[0].Jenkins[0]; got != "Fetch sources" {
		t.Errorf("after a refused edit: %q, want the last good settings", got)
	}
}

func TestDurationSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       time.Duration
		wantErr    bool
	}{
		{name: "absent", yaml: "release: {}\n", want: 0},
		{name: "duration string", yaml: "release: {evaluation: {timeout: 250ms}}\n", want: 250 * time.Millisecond},
		{name: "seconds", yaml: "release: {evaluation: {timeout: 2}}\n", want: 2 * time.Second},
		{name: "not a duration", yaml: "release: {evaluation: {timeout: soon}}\n", wantErr: true},
		{name: "zero", yaml: "release: {evaluation: {timeout: 0s}}\n", want: 0},
		{name: "negative", yaml: "release: {evaluation: {timeout: -1s}}\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writePolicy(t, map[string]string{"decision.rego": pendingPolicy, "data.yaml": tt.yaml})
			e, err := Load(context.Background(), dir)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Load: %v, want error %v", err, tt.wantErr)
			}
			if got := time.Duration(e.Settings().Evaluation.Timeout); !tt.wantErr && got != tt.want {
				t.Errorf("timeout %s, want %s", got, tt.want)
			}
		})
	}
}
