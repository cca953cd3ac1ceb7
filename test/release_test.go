package test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// build10 is the passing PR-merge build of the recorded pull request's head.
var build10 = jenkinsBuild{job: prJob(2), number: 10, head: headA, merge: mergeA, result: "SUCCESS"}

// chartOf is the Helm chart version the pipeline publishes for a build:
// <module>-<major>-<minor>-<release>-<commit_sha>, pinned to the commit built.
func chartOf(b jenkinsBuild) string { return "hello-world-2-14-3-" + b.merge[:7] }

// TestReleaseToSuccess takes the recorded release pull request through
// every piece of evidence the policy asks for, one delivery at a time, to
// the final success; then a QA veto fails it, and it still fails after a
// push (a veto outlives a push) until QA withdraws it, when the release
// waits again for everything of the new head. The whole status
// sequence is a golden file. It also checks how votes are answered on
// GitHub: one +1 per counted vote, one confused reaction and one reply for
// a refused NOGO, never repeated by later evaluations.
func TestReleaseToSuccess(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{jenkinsAPI: true, zenhub: true})
	const n = 2
	// GitHub already has the release branch's merged pull request #17,
	// which links issue #1; ZenHub knows that issue.
	r.gh.addMerged(mergedPull(t, 17, "18936fb4b760b985e35fae9aa953a349703a4c53", 1))
	r.zh.know(repoID, 1)

	step := func(what string, deliver func()) pull {
		t.Helper()
		deliver()
		p := r.settle(n)
		t.Logf("%s: %s %q", what, p.Latest.Decision.State, p.Latest.Description)
		return p
	}

	payload, pr := opened(t, n, headA, releaseBody)
	r.gh.setPull(pr)
	step("opened", func() { r.github("pull_request", payload) })

	r.jk.addBuild(build10)
	step("jenkins notification", func() { r.jenkinsOK(notification(t, build10)) })
	step("pipeline report with the chart", func() { r.jenkinsOK(pipelineReport(t, build10, chartOf(build10))) })

	for i, user := range []string{leadUser, sreUser, qaUser, mgmtUser} {
		at := []string{"2019-05-15T16:01:00Z", "2019-05-15T16:02:00Z", "2019-05-15T16:03:00Z", "2019-05-15T16:04:00Z"}[i]
		payload, review := approval(t, pr, 208201100+i, user, headA, at)
		r.gh.addReview(n, review)
		step("approval by "+user, func() { r.github("pull_request_review", payload) })
	}

	// The GO/NOGO meeting, after the approvals (GitHub's clock places each
	// vote on the head the pull request had then).
	votes := []struct {
		id         int64
		user, body string
		at         string
	}{
		{751955701, leadUser, "/go", "2020-12-29T05:49:14Z"},
		{751955702, sreUser, "/go", "2020-12-29T05:50:14Z"},
		{751955703, qaUser, "/go", "2020-12-29T05:51:14Z"},
	}
	var p pull
	for _, v := range votes {
		payload, c := comment(t, n, v.id, v.user, v.body, v.at)
		r.gh.addComment(c)
		p = step("vote by "+v.user, func() { r.github("issue_comment", payload) })
	}
	if p.Latest.Decision.State != "success" {
		t.Fatalf("every piece of evidence in: state %q, want success: %+v", p.Latest.Decision.State, p.Latest.Decision)
	}
	if got, want := r.last(headA)["description"], "All release checks pass (channel stable)"; got != want {
		t.Errorf("success status says %q, want %q", got, want)
	}
	if r.zh.lookups(repoID, 1) == 0 {
		t.Error("ZenHub was never asked about the linked issue")
	}

	// A NOGO without a reason (by management, who is not in the quorum)
	// is refused and answered, and changes nothing.
	payload, c := comment(t, n, 751955704, mgmtUser, "/nogo", "2020-12-29T05:52:14Z")
	r.gh.addComment(c)
	if p := step("refused nogo", func() { r.github("issue_comment", payload) }); p.Latest.Decision.State != "success" {
		t.Errorf("a refused NOGO changed the state to %q", p.Latest.Decision.State)
	}

	// QA's veto fails the release and says so.
	payload, c = comment(t, n, 751955705, qaUser, "/nogo payments smoke test flaky", "2020-12-29T05:53:14Z")
	r.gh.addComment(c)
	step("qa veto", func() { r.github("issue_comment", payload) })
	veto := r.last(headA)
	if veto["state"] != "failure" || !strings.Contains(veto["description"].(string), "veto by qa-carol: payments smoke test flaky") {
		t.Errorf("after QA's NOGO the status is %v, want a failure naming the veto", veto)
	}

	// A push: the approvals, GO votes and build of the old head do not
	// count, but QA's veto does: a NOGO is about the release, not a
	// commit, and stands until its author takes it back.
	payload, pr = synchronize(t, n, headA, headB, releaseBody, "2021-01-04T11:00:00Z")
	r.gh.setPull(pr)
	p = step("push", func() { r.github("pull_request", payload) })
	pushed := r.last(headB)
	wantVeto := "QA veto by qa-carol: payments smoke test flaky (on " + headA[:7] + ")"
	if pushed == nil || pushed["state"] != "failure" || !strings.Contains(pushed["description"].(string), wantVeto) {
		t.Fatalf("status on the new head %v, want a failure naming the veto that stands", pushed)
	}

	// QA withdraws the NOGO on the new head: nothing fails any more, and
	// everything of the old head is waited for again.
	payload, c = comment(t, n, 751955706, qaUser, "/withdraw", "2021-01-04T11:05:00Z")
	r.gh.addComment(c)
	p = step("qa withdraws", func() { r.github("issue_comment", payload) })
	if st := r.last(headB); st == nil || st["state"] != "pending" {
		t.Fatalf("status on the new head after the withdrawal %v, want pending", st)
	}
	waiting := strings.Join(p.Latest.Decision.Waiting, "\n")
	for _, want := range []string{"Jenkins PR-merge build of " + headB[:7], "module lead", "SRE", "QA", "management", "GO vote"} {
		if !strings.Contains(waiting, want) {
			t.Errorf("after the push the decision does not wait for %q: %q", want, p.Latest.Decision.Waiting)
		}
	}
	if len(p.Latest.Decision.Reasons) != 0 {
		t.Errorf("after the withdrawal the release still fails: %q", p.Latest.Decision.Reasons)
	}

	golden(t, "release-to-success", r.statuses())

	// Vote answers, after all the evaluations above: exactly once each.
	wantReactions := []reactionPost{
		{751955701, "+1"}, {751955702, "+1"}, {751955703, "+1"}, {751955704, "confused"}, {751955705, "+1"},
	}
	if diff := cmp.Diff(wantReactions, r.gh.Reactions()); diff != "" {
		t.Errorf("reactions on vote comments (-want +got):\n%s", diff)
	}
	replies := r.gh.Replies()
	if len(replies) != 1 || replies[0].Number != n || !strings.HasPrefix(replies[0].Body, "@"+mgmtUser+" ") ||
		!strings.Contains(replies[0].Body, "NOGO was not counted") || !strings.Contains(replies[0].Body, "reason") {
		t.Errorf("replies = %+v, want one to @%s saying the NOGO needs a reason", replies, mgmtUser)
	}
}
