package test

import (
	"testing"
	"time"
)

// TestAttackReplayedBuildOverARealFailure (review F5): a developer with
// Run/Replay on the PR-merge job replays the release's failed build #10
// with a Jenkinsfile edited in Jenkins (tests stubbed): Jenkins runs #11 on
// the same revision and it succeeds, with a pipeline report naming the
// chart. A Replay is no evidence: #10's failure stands. The control run,
// where #11 is an ordinary rebuild of the same head, passes, so the attack
// run fails for the replay alone.
func TestAttackReplayedBuildOverARealFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		replayOf int
		want     string
	}{
		{"replay", 10, "failure"},
		{"ordinary rebuild", 0, "success"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{jenkinsAPI: true, zenhub: true})
			const n = 2
			r.gh.addMerged(mergedPull(t, 17, "18936fb4b760b985e35fae9aa953a349703a4c53", 1))
			r.zh.know(repoID, 1)
			payload, pr := opened(t, n, headA, releaseBody)
			r.gh.setPull(pr)
			r.github("pull_request", payload)
			failed := build10
			failed.result = "FAILURE"
			failed.stages = map[string]string{"Unit tests": "FAILED"}
			r.jk.addBuild(failed)
			r.jenkinsOK(notification(t, failed))
			b11 := build10
			b11.number, b11.replayOf = 11, tc.replayOf
			r.jk.addBuild(b11)
			r.jenkinsOK(notification(t, b11))
			r.jenkinsOK(pipelineReport(t, b11, chartOf(b11)))
			for i, user := range []string{leadUser, sreUser, qaUser, mgmtUser} {
				at := []string{"2019-05-15T16:01:00Z", "2019-05-15T16:02:00Z", "2019-05-15T16:03:00Z", "2019-05-15T16:04:00Z"}[i]
				payload, review := approval(t, pr, 208501100+i, user, headA, at)
				r.gh.addReview(n, review)
				r.github("pull_request_review", payload)
			}
			for i, user := range []string{leadUser, sreUser, qaUser} {
				payload, c := comment(t, n, int64(751989702+i), user, "/go", time.Date(2020, 12, 29, 5, 50, i, 0, time.UTC).Format(time.RFC3339))
				r.gh.addComment(c)
				r.github("issue_comment", payload)
			}
			p := r.settle(n)
			if got := p.Latest.Decision.State; got != tc.want {
				t.Errorf("decision %s %q, want %s", got, p.Latest.Description, tc.want)
			}
			t.Logf("%s %q", p.Latest.Decision.State, p.Latest.Description)
		})
	}
}
