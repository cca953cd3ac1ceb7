package test

// Attacks on the release gate from outside, each run against the real
// binary with fake GitHub, Jenkins and ZenHub servers. Every test asserts
// that the gate holds; a test that documents a defect still standing is
// skipped with "defect: …" (see the attack report).

import (
	"strings"
	"testing"
)

// readyExceptLeadGO takes pull request n of a fresh rig (Jenkins API and
// ZenHub configured) through every piece of evidence the release needs on
// headA except the module lead's GO vote: a verified build with its chart,
// the four approvals, the SRE's and QA's GO. It returns the REST pull
// request object.
func readyExceptLeadGO(t *testing.T, r *rig, n int) map[string]any {
	t.Helper()
	r.gh.addMerged(mergedPull(t, 17, "18936fb4b760b985e35fae9aa953a349703a4c53", 1))
	r.zh.know(repoID, 1)
	payload, pr := opened(t, n, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	b := build10
	b.job = prJob(n)
	r.jk.addBuild(b)
	r.jenkinsOK(notification(t, b))
	r.jenkinsOK(pipelineReport(t, b, chartOf(b)))
	for i, user := range []string{leadUser, sreUser, qaUser, mgmtUser} {
		at := []string{"2019-05-15T16:01:00Z", "2019-05-15T16:02:00Z", "2019-05-15T16:03:00Z", "2019-05-15T16:04:00Z"}[i]
		payload, review := approval(t, pr, 208301100+i, user, headA, at)
		r.gh.addReview(n, review)
		r.github("pull_request_review", payload)
	}
	for i, v := range []struct{ user, at string }{{sreUser, "2020-12-29T05:50:14Z"}, {qaUser, "2020-12-29T05:51:14Z"}} {
		payload, c := comment(t, n, int64(751966702+i), v.user, "/go", v.at)
		r.gh.addComment(c)
		r.github("issue_comment", payload)
	}
	p := r.settle(n)
	if p.Latest.Decision.State == "success" {
		t.Fatalf("success without the module lead's GO: %+v", p.Latest.Decision)
	}
	if w := strings.Join(p.Latest.Decision.Waiting, "\n"); !strings.Contains(w, "GO vote") || len(p.Latest.Decision.Reasons) != 0 {
		t.Fatalf("the release should only wait for the lead's GO vote: %+v", p.Latest.Decision)
	}
	return pr
}

// editedBy is an issue_comment "edited" delivery: sender edited the comment
// c (a REST comment object, user its author) to body at updatedAt.
func editedBy(t *testing.T, n int, c map[string]any, sender, body, updatedAt string) []byte {
	t.Helper()
	m := recorded(t, "issue_comment.created.json")
	m["action"] = "edited"
	m["changes"] = map[string]any{"body": map[string]any{"from": c["body"]}}
	m["repository"] = recorded(t, "pull_request.opened.json")["repository"]
	object(m, "issue")["number"] = n
	cc := clone(t, c)
	cc["body"], cc["updated_at"] = body, updatedAt
	m["comment"] = cc
	object(m, "sender")["login"] = sender
	return mustJSON(t, m)
}
