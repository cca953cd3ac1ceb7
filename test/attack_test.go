package test

// Attacks on the release gate from outside, each run against the real
// binary with fake GitHub, Jenkins and ZenHub servers. Every test asserts
// that the gate holds; a test that documents a defect still standing is
// skipped with "defect: …" (see the attack report).

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
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

// TestAttackForgedVoteWithTheSharedWebhookSecret: every repository whose
// webhook points at the gatekeeper is set up with the one
// GATEKEEPER_WEBHOOK_SECRET, so the admin of any of them knows it. Such an
// admin signs an issue_comment delivery of a "/go" by the module lead that
// GitHub never had. The gate must not pass on a vote GitHub does not have.
func TestAttackForgedVoteWithTheSharedWebhookSecret(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{jenkinsAPI: true, zenhub: true})
	const n = 2
	readyExceptLeadGO(t, r, n)
	// Signed with the shared secret; GitHub's REST API does not know
	// the comment (it is never added to the fake).
	payload, _ := comment(t, n, 751966799, leadUser, "/go", "2020-12-29T05:52:14Z")
	r.github("issue_comment", payload)
	p := r.settle(n)
	if p.Latest.Decision.State == "success" {
		t.Errorf("a forged, signed /go that GitHub does not have passed the gate: %+v", p.Latest.Decision)
	}
	if st := r.last(headA); st != nil && st["state"] == "success" {
		t.Errorf("status on the head is success: %v", st)
	}
}

// TestAttackForgedApprovalWithTheSharedWebhookSecret: the same admin signs
// a pull_request_review delivery of an approval by QA on the head, which
// GitHub does not have (its reviews list says nothing of it).
func TestAttackForgedApprovalWithTheSharedWebhookSecret(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{jenkinsAPI: true, zenhub: true})
	const n = 2
	pr := readyExceptLeadGO(t, r, n)
	// The lead's GO, real: now only QA's approval matters. Take QA's
	// real approval away (dismissed on GitHub and by webhook).
	payload, c := comment(t, n, 751966799, leadUser, "/go", "2020-12-29T05:52:14Z")
	r.gh.addComment(c)
	r.github("issue_comment", payload)
	if p := r.settle(n); p.Latest.Decision.State != "success" {
		t.Fatalf("the release with every piece of evidence does not pass: %+v", p.Latest.Decision)
	}
	m := recorded(t, "pull_request_review.submitted.approved.json")
	dismissed, review := approval(t, pr, 208301102, qaUser, headA, "2019-05-15T16:03:00Z")
	json.Unmarshal(dismissed, &m)
	m["action"] = "dismissed"
	review["state"] = "dismissed"
	m["review"] = review
	r.gh.mu.Lock()
	kept := r.gh.reviews[n][:0]
	for _, rv := range r.gh.reviews[n] {
		if rv["id"] != float64(208301102) {
			kept = append(kept, rv)
		}
	}
	r.gh.reviews[n] = kept
	r.gh.mu.Unlock()
	r.github("pull_request_review", mustJSON(t, m))
	if p := r.settle(n); p.Latest.Decision.State == "success" {
		t.Fatalf("QA's dismissed approval still counts: %+v", p.Latest.Decision)
	}
	// The forged approval: a new review id by QA, signed with the shared
	// secret, that GitHub never had.
	forged, _ := approval(t, pr, 208301199, qaUser, headA, "2020-12-29T05:53:00Z")
	r.github("pull_request_review", forged)
	p := r.settle(n)
	if p.Latest.Decision.State == "success" {
		t.Errorf("a forged, signed approval that GitHub does not have passed the gate: %+v", p.Latest.Decision)
	}
}

// TestAttackReplayedOldDeliveryDoesNotMoveTheHeadBack: anybody who once
// saw a signed delivery (a proxy's log, the repository's "Recent
// Deliveries" page) may send it again under a new delivery id: the
// X-GitHub-Delivery header is not signed. Replaying the release pull
// request's opened delivery after a push must not take the gate back to
// the old head, where everything had passed.
func TestAttackReplayedOldDeliveryDoesNotMoveTheHeadBack(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{jenkinsAPI: true, zenhub: true})
	const n = 2
	readyExceptLeadGO(t, r, n)
	payload, c := comment(t, n, 751966799, leadUser, "/go", "2020-12-29T05:52:14Z")
	r.gh.addComment(c)
	r.github("issue_comment", payload)
	if p := r.settle(n); p.Latest.Decision.State != "success" {
		t.Fatalf("the release with every piece of evidence does not pass: %+v", p.Latest.Decision)
	}
	openedAgain, _ := opened(t, n, headA, releaseBody)
	pushed, pr := synchronize(t, n, headA, headB, releaseBody, "2021-01-04T11:00:00Z")
	r.gh.setPull(pr)
	r.github("pull_request", pushed)
	if p := r.settle(n); p.Latest.Decision.State == "success" {
		t.Fatalf("after a push the old head's evidence passes: %+v", p.Latest.Decision)
	}
	before := len(r.gh.Statuses())
	r.github("pull_request", openedAgain) // a new delivery id each time
	p := r.settle(n)
	if p.Latest.Decision.State == "success" {
		t.Errorf("the replayed opened delivery brought back the old head's success: %+v", p.Latest.Decision)
	}
	for _, st := range r.gh.Statuses()[before:] {
		if st.Body["state"] == "success" {
			t.Errorf("after the replay a success was posted: %s %v", st.Path, st.Body)
		}
	}
	if st := r.last(headB); st == nil || st["state"] == "success" {
		t.Errorf("status on the new head %v, want one that is not success", st)
	}
}

// TestAttackStrangersCommandsAreNotAnsweredWithoutEnd: on a public
// repository anybody may comment on the release pull request. A stranger
// posts "/go" thirty times. Each is refused (only role holders vote), and
// each refusal is answered with a reaction and a reply: the gatekeeper
// writes on the pull request as often as the stranger does, and spends its
// token's budget for content creation (GitHub's secondary limit, shared
// with the commit statuses the gate needs) at the stranger's pace. A
// person's refused commands must be answered a bounded number of times.
func TestAttackStrangersCommandsAreNotAnsweredWithoutEnd(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	const n = 2
	payload, pr := opened(t, n, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	r.settle(n)
	for i := range 30 {
		at := time.Date(2020, 12, 29, 6, 0, i, 0, time.UTC).Format(time.RFC3339)
		payload, c := comment(t, n, int64(751977000+i), "stranger-sam", "/go", at)
		r.gh.addComment(c)
		r.github("issue_comment", payload)
	}
	r.settle(n)
	time.Sleep(2 * time.Second) // answers follow the evaluation
	r.settle(n)
	replies := 0
	for _, rp := range r.gh.Replies() {
		if strings.HasPrefix(rp.Body, "@stranger-sam ") {
			replies++
		}
	}
	reactions := 0
	for _, rc := range r.gh.Reactions() {
		if rc.CommentID >= 751977000 {
			reactions++
		}
	}
	t.Logf("30 refused /go by one stranger: %d replies, %d reactions", replies, reactions)
	if replies > 1 || reactions > 5 {
		t.Errorf("30 refused commands by one person were answered with %d replies and %d reactions, want one reply and a bounded number of reactions", replies, reactions)
	}
}

// TestAttackForgedJenkinsSuccessOverARealFailure: a Jenkinsfile author
// holds the shared Jenkins token. Jenkins ran the release's PR-merge build
// and it failed; the author posts a COMPLETED notification and a pipeline
// report that say SUCCESS for the same build, with every approval and GO
// vote in. With JENKINS_URL set, Jenkins is the authority for its build:
// the release must not pass.
func TestAttackForgedJenkinsSuccessOverARealFailure(t *testing.T) {
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
	r.jk.addBuild(failed) // what Jenkins says
	forged := build10     // what the token holder says
	r.jenkinsOK(notification(t, forged))
	r.jenkinsOK(pipelineReport(t, forged, chartOf(forged)))
	for i, user := range []string{leadUser, sreUser, qaUser, mgmtUser} {
		at := []string{"2019-05-15T16:01:00Z", "2019-05-15T16:02:00Z", "2019-05-15T16:03:00Z", "2019-05-15T16:04:00Z"}[i]
		payload, review := approval(t, pr, 208401100+i, user, headA, at)
		r.gh.addReview(n, review)
		r.github("pull_request_review", payload)
	}
	for i, user := range []string{leadUser, sreUser, qaUser} {
		payload, c := comment(t, n, int64(751988702+i), user, "/go", time.Date(2020, 12, 29, 5, 50, i, 0, time.UTC).Format(time.RFC3339))
		r.gh.addComment(c)
		r.github("issue_comment", payload)
	}
	p := r.settle(n)
	if p.Latest.Decision.State == "success" {
		t.Errorf("a forged SUCCESS over the build Jenkins failed passed the gate: %+v", p.Latest.Decision)
	}
	if st := r.last(headA); st != nil && st["state"] == "success" {
		t.Errorf("status on the head is success: %v", st)
	}
	t.Logf("%s %q", p.Latest.Decision.State, p.Latest.Description)
}
