package gatekeeper_test

import (
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

func TestStageStatus(t *testing.T) {
	t.Parallel()
	b := gatekeeper.Build{Stages: []gatekeeper.Stage{
		{Name: "Checkout", Key: gatekeeper.StageClone, Status: gatekeeper.StageSuccess},
		{Name: "Deploy", Key: gatekeeper.StageDeploy, Status: gatekeeper.StageSuccess},
		{Name: "Integration tests", Key: gatekeeper.StageDeploy, Status: gatekeeper.StageUnstable},
		{Name: "Scan", Key: gatekeeper.StageScan, Status: gatekeeper.StageInProgress},
		{Name: "Scan again", Key: gatekeeper.StageScan, Status: gatekeeper.StageFailed},
		{Name: "Push", Key: gatekeeper.StagePush, Status: "SOMETHING_NEW"},
		{Name: "Push retry", Key: gatekeeper.StagePush, Status: gatekeeper.StageAborted},
		{Name: "Lint", Status: gatekeeper.StageFailed},
	}}
	tests := []struct {
		key, want string
	}{
		{gatekeeper.StageClone, gatekeeper.StageSuccess},
		{gatekeeper.StageDeploy, gatekeeper.StageUnstable},
		{gatekeeper.StageScan, gatekeeper.StageFailed},
		{gatekeeper.StagePush, "SOMETHING_NEW"},
		{gatekeeper.StageChart, ""},
		{"", gatekeeper.StageFailed}, // unmapped stages are reachable, but by key ""
	}
	for _, tt := range tests {
		if got := b.StageStatus(tt.key); got != tt.want {
			t.Errorf("StageStatus(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	if got := len(gatekeeper.SeedStages()); got != 7 {
		t.Errorf("len(SeedStages()) = %d, want 7", got)
	}
}
