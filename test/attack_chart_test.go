package test

import (
	"fmt"
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
	const n = 2
	r, unpinned := unpinnedRelease(t, n)
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

// TestAttackFloodPushesOutThePipelinesReport: the same author first floods
// reports for the build, each with a chart of its own and no sha (they can
// never count), so that the bound on claims kept would push the pipeline's
// own report out; then posts one report naming the merge sha (anyone who
// can read the build in Jenkins sees it) and a pinned chart. With the
// pipeline's report gone it would be the only report tied to the build
// and count alone (before the fix: silently, the page saying nothing). It
// must not: it disagrees with the pipeline's report, so no chart counts,
// and the page says so.
func TestAttackFloodPushesOutThePipelinesReport(t *testing.T) {
	t.Parallel()
	const n = 2
	r, _ := unpinnedRelease(t, n)
	for i := range 25 {
		r.jenkinsOK(mustJSON(t, map[string]any{
			"kind": "pipeline-report", "job_url": "http://jenkins.test/" + build10.job + "/",
			"build_number": build10.number, "chart_version": fmt.Sprintf("hello-world-9-%d-0-%s", i, build10.merge[:7]),
		}))
	}
	r.settle(n)
	r.jenkinsOK(mustJSON(t, map[string]any{
		"kind": "pipeline-report", "job_url": "http://jenkins.test/" + build10.job + "/",
		"build_number": build10.number, "merge_sha": build10.merge, "chart_version": chartOf(build10),
		"image_digest": "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b", // the registry shows it
	}))
	p := r.settle(n)
	if p.Latest.Decision.State == "success" {
		t.Errorf("decision %s, reasons %q: the forged chart counted", p.Latest.Decision.State, p.Latest.Decision.Reasons)
	}
	if page := r.page(n); !strings.Contains(page, "claims disagree on chart_version") {
		t.Errorf("the details page does not say the reports disagree:\n%s", page)
	}
}

// unpinnedRelease is release pull request n whose PR-merge build passed
// in Jenkins and whose pipeline reported a Helm chart that is not for the
// commit built (unpinned), settled.
func unpinnedRelease(t *testing.T, n int) (*rig, string) {
	t.Helper()
	r := newRig(t, rigOptions{jenkinsAPI: true})
	payload, pr := opened(t, n, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	r.settle(n)
	r.jk.addBuild(build10)
	unpinned := "hello-world-2-14-3-" + headB[:7]
	r.jenkinsOK(notification(t, build10))
	r.jenkinsOK(pipelineReport(t, build10, unpinned))
	r.settle(n)
	return r, unpinned
}
