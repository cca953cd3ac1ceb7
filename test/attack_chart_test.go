package test

import (
	"slices"
	"strings"
	"testing"
)

// TestAttackForgedChartReport: a Jenkinsfile author of any repository holds
// the shared Jenkins token. The release's PR-merge build passed in Jenkins,
// and its own report names a Helm chart that is not for the commit built.
// The author posts a second report for the same build with only a chart
// version pinned to that commit (no sha, no result: nothing Jenkins can
// contradict). The forged report must not replace the pipeline's: the
// release still fails on the unpinned chart.
func TestAttackForgedChartReport(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{jenkinsAPI: true})
	const n = 2
	payload, pr := opened(t, n, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	r.settle(n)
	r.jk.addBuild(build10)
	unpinned := "hello-world-2-14-3-" + headB[:7]
	r.jenkinsOK(notification(t, build10))
	r.jenkinsOK(pipelineReport(t, build10, unpinned))
	r.settle(n)
	r.jenkinsOK(mustJSON(t, map[string]any{
		"kind": "pipeline-report", "job_url": "http://jenkins.test/" + build10.job + "/",
		"build_number": build10.number, "chart_version": chartOf(build10),
	}))
	p := r.settle(n)
	want := "Helm chart " + unpinned + " is not for commit " + headA[:7]
	if p.Latest.Decision.State == "success" || !slices.Contains(p.Latest.Decision.Reasons, want) {
		t.Errorf("decision %s, reasons %q: want failure with %q", p.Latest.Decision.State, p.Latest.Decision.Reasons, want)
	}
	if page := r.page(n); !strings.Contains(page, "does not name merge sha") {
		t.Errorf("the details page does not say why the second report did not count:\n%s", page)
	}
}
