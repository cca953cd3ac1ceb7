package gatekeeper

import (
	"slices"
	"testing"
	"time"
)

// TestInputSaysWhatJenkinsHasNot: the reports Jenkins answered it does not
// have reach the policy, for the build and for the base branch's baseline,
// so that it fails on them instead of waiting for what will not come.
func TestInputSaysWhatJenkinsHasNot(t *testing.T) {
	t.Parallel()
	ev := Evidence{Key: PullKey{"acme", "shop", 7}}
	ev.Apply(Event{Name: "pull_request.opened", Received: t0, PullRequest: &PullRequest{
		Key: PullKey{"acme", "shop", 7}, State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: claimHead, UpdatedAt: t0,
	}})
	ev.Apply(apiRead(time.Minute, Build{HeadSHA: claimHead, Result: ResultSuccess, Missing: []string{"vulnerabilities"}}))
	ev.Apply(Event{Received: t0.Add(time.Minute), Baseline: &Build{JobPath: "job/acme/job/shop/job/master", Number: 80,
		HeadSHA: claimOther, Result: ResultSuccess, Verified: true, Missing: []string{ReportCoverage}, UpdatedAt: t0.Add(time.Minute)}})
	in := BuildInput(&ev, InputOptions{Now: t0, VerifyBuilds: true}).Map()
	build, _ := in["build"].(map[string]any)
	if got, _ := build["missing"].([]any); !slices.Contains(got, any("vulnerabilities")) {
		t.Errorf("build.missing %v, want vulnerabilities in it", build["missing"])
	}
	baseline, _ := in["baseline"].(map[string]any)
	if got, _ := baseline["missing"].([]any); !slices.Equal(got, []any{ReportCoverage}) {
		t.Errorf("baseline.missing %v, want [coverage]", baseline["missing"])
	}
}
