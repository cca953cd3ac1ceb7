package test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestApprovalRacingAPush delivers QA's approval of head A at the same time
// as the push that moves the pull request to head B, round after round,
// then every other piece of evidence for B. The approval must never count
// for B: no status on B says success, and the decision on B waits for QA's
// approval and nothing else, until QA approves B.
//
// Odd rounds: QA submitted before the push (GitHub's clock), so the
// review's pull_request object still shows head A. Even rounds: QA
// approved from a page loaded before the push, after it; the review's
// pull_request shows head B, its commit_id A.
func TestApprovalRacingAPush(t *testing.T) {
	t.Parallel()
	const rounds = 25
	r := newRig(t, rigOptions{jenkinsAPI: true, zenhub: true})
	r.zh.know(repoID, 1)
	for round := 1; round <= rounds; round++ {
		n := 300 + round // a pull request per round: renumbered payloads
		payload, prA := opened(t, n, headA, releaseBody)
		r.gh.setPull(prA)
		r.github("pull_request", payload)
		r.settle(n)

		push, prB := synchronize(t, n, headA, headB, releaseBody, "2021-01-04T11:00:00Z")
		snapshot, submitted := prA, "2021-01-04T10:59:00Z"
		if round%2 == 0 {
			snapshot, submitted = prB, "2021-01-04T11:01:00Z"
		}
		review, qaReview := approval(t, snapshot, 500000+round, qaUser, headA, submitted)
		// GitHub knows the push and the review before it sends either.
		r.gh.setPull(prB)
		r.gh.addReview(n, qaReview)
		codes := r.concurrently(
			webhook{"pull_request", push},
			webhook{"pull_request_review", review},
		)
		for i, c := range codes {
			if c != http.StatusAccepted {
				t.Fatalf("round %d: concurrent delivery %d answered %d", round, i, c)
			}
		}
		r.settle(n)

		// Everything else B needs.
		b := jenkinsBuild{job: prJob(n), number: 1, head: headB, merge: mergeB, result: "SUCCESS"}
		r.jk.addBuild(b)
		r.jenkinsOK(notification(t, b))
		r.jenkinsOK(pipelineReport(t, b, chartOf(b)))
		for i, user := range []string{leadUser, sreUser, mgmtUser} {
			payload, rv := approval(t, prB, 600000+10*round+i, user, headB, fmt.Sprintf("2021-01-04T11:0%d:00Z", 2+i))
			r.gh.addReview(n, rv)
			r.github("pull_request_review", payload)
		}
		for i, user := range []string{leadUser, sreUser, qaUser} {
			payload, c := comment(t, n, int64(700000+10*round+i), user, "/go", fmt.Sprintf("2021-01-04T11:1%d:00Z", i))
			r.gh.addComment(c)
			r.github("issue_comment", payload)
		}
		p := r.settle(n)

		if w := p.Latest.Decision.Waiting; p.Latest.Decision.State != "pending" || len(w) != 1 || !strings.HasPrefix(w[0], "approval by QA") {
			t.Errorf("round %d: decision on B %+v, want pending waiting for QA's approval only", round, p.Latest.Decision)
		}
		for _, s := range r.statusesOf(n, headB) {
			if s["state"] == "success" {
				t.Errorf("round %d: the approval of A counted for B: %v", round, s)
			}
		}

		// QA approves B: now, and only now, it passes.
		payload, rv := approval(t, prB, 800000+round, qaUser, headB, "2021-01-04T11:20:00Z")
		r.gh.addReview(n, rv)
		r.github("pull_request_review", payload)
		if p := r.settle(n); p.Latest.Decision.State != "success" {
			t.Errorf("round %d: QA's approval of B gave %+v, want success", round, p.Latest.Decision)
		}
	}
}

// webhook is one GitHub delivery: event type and payload.
type webhook struct {
	event   string
	payload []byte
}

// concurrently posts the deliveries at the same moment, each from its own
// goroutine, and returns their status codes (0: the request failed).
func (r *rig) concurrently(ds ...webhook) []int {
	codes := make([]int, len(ds))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range ds {
		body := d.payload
		id := fmt.Sprintf("%s-race-%d", strings.ReplaceAll(r.t.Name(), "/", "-"), r.seq.Add(1))
		req, err := http.NewRequest(http.MethodPost, r.s.url("/webhooks/github"), bytes.NewReader(body))
		if err != nil {
			r.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", d.event)
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("X-Hub-Signature-256", sign(body))
		wg.Go(func() {
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	return codes
}

// statusesOf returns the bodies of the statuses posted on sha for pull
// request n (told apart by their target_url).
func (r *rig) statusesOf(n int, sha string) []map[string]any {
	var out []map[string]any
	suffix := fmt.Sprintf("/pulls/Codertocat/Hello-World/%d", n)
	for _, p := range r.gh.Statuses() {
		if strings.HasSuffix(p.Path, "/"+sha) && strings.HasSuffix(p.Body["target_url"].(string), suffix) {
			out = append(out, p.Body)
		}
	}
	return out
}
