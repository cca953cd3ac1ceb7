package gatekeeper_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// confirmingSource is a GitHub-like Source that, once open, reads every
// awaited review back as GitHub has it (Confirmed).
type confirmingSource struct {
	mu   sync.Mutex
	open bool
}

func (s *confirmingSource) Name() string { return "github" }
func (s *confirmingSource) Gather(_ context.Context, ev *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []gatekeeper.Event
	for _, r := range ev.Reviews {
		if s.open && r.Awaited() {
			rv := r
			rv.Confirmed = true
			out = append(out, gatekeeper.Event{Name: "github.claim", Key: ev.Key, Review: &rv})
		}
	}
	return out, nil
}

// TestClaimsWaitForGitHub: with GitHub readable (ConfirmClaims), an
// approval only a webhook brought is left out of the policy input and the
// gate waits for GitHub to confirm it, whatever the policy says; once
// GitHub has shown it, it counts. Without (a dry run) it counts at once.
func TestClaimsWaitForGitHub(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	approval := gatekeeper.Event{Name: "pull_request_review.submitted", Key: key, SHA: head,
		Review: &gatekeeper.Review{ID: 7, User: "qa-carol", State: "approved", CommitID: head, SubmittedAt: at.Add(time.Minute)}}
	for _, confirm := range []bool{true, false} {
		ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Success}, "r1")
		src := &confirmingSource{}
		h := startWith(t, gatekeeper.Options{Evaluator: ev, Sources: []gatekeeper.Source{src}, ConfirmClaims: confirm})
		h.accept(t, opened(head, at))
		h.accept(t, approval)
		h.settle(t)
		got := h.pub.Published()
		last := got[len(got)-1].Status
		inputs := ev.Inputs()
		reviews := inputs[len(inputs)-1]["reviews"].([]any)
		if !confirm {
			if last.State != gatekeeper.Success || len(reviews) != 1 {
				t.Errorf("dry run: status %+v with %d reviews in the input, want success on the webhook's approval", last, len(reviews))
			}
			continue
		}
		if last.State != gatekeeper.Pending || !strings.Contains(last.Description, "GitHub to confirm qa-carol's approval") {
			t.Errorf("status %+v, want pending for GitHub to confirm qa-carol's approval", last)
		}
		if len(reviews) != 0 {
			t.Errorf("the claimed approval is in the policy input: %v", reviews)
		}
		src.mu.Lock()
		src.open = true
		src.mu.Unlock()
		if err := h.store.Enqueue(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		h.settle(t)
		got = h.pub.Published()
		if last := got[len(got)-1].Status; last.State != gatekeeper.Success {
			t.Errorf("after GitHub showed the approval: %+v, want success", last)
		}
	}
}

// TestClaimsFold: GitHub's word confirms or disputes a claim; a
// redelivered claim keeps what GitHub said of it; only what closes the
// gate counts unconfirmed.
func TestClaimsFold(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	ev := &gatekeeper.Evidence{Key: key}
	ev.Apply(opened(head, at))
	goVote := gatekeeper.Comment{ID: 1, User: "lead", Body: "/go", CreatedAt: at.Add(time.Minute), UpdatedAt: at.Add(time.Minute)}
	nogo := gatekeeper.Comment{ID: 2, User: "sre", Body: "/nogo flaky", CreatedAt: at.Add(time.Minute), UpdatedAt: at.Add(time.Minute)}
	forged := gatekeeper.Comment{ID: 3, User: "qa", Body: "/go", CreatedAt: at.Add(time.Minute), UpdatedAt: at.Add(time.Minute)}
	blocked := gatekeeper.Review{ID: 10, User: "mgmt", State: "changes_requested", CommitID: head, SubmittedAt: at}
	for _, c := range []gatekeeper.Comment{goVote, nogo, forged} {
		ev.Apply(gatekeeper.Event{Name: "issue_comment.created", Comment: &c})
	}
	ev.Apply(gatekeeper.Event{Name: "pull_request_review.submitted", Review: &blocked})

	counted := ev.Counted(true)
	if len(counted.Comments) != 1 || counted.Comments[0].ID != 2 || len(counted.Reviews) != 1 {
		t.Fatalf("counted before GitHub spoke: comments %+v reviews %+v, want the NOGO and the changes requested alone", counted.Comments, counted.Reviews)
	}
	if ev.Counted(false) != ev {
		t.Error("without GitHub the evidence counts as it is")
	}
	if w := ev.AwaitedClaims(); len(w) != 2 || w[0] != "GitHub to confirm lead's /go" {
		t.Errorf("awaited %v", w)
	}

	shown := goVote
	shown.Fetched, shown.Confirmed = true, true
	ev.Apply(gatekeeper.Event{Name: "github.claim", Comment: &shown})
	ev.Apply(gatekeeper.Event{Name: "github.claim", Comment: &gatekeeper.Comment{ID: 3, User: "qa", Disputed: "GitHub has no comment 3"}})
	// Redelivered (the X-GitHub-Delivery header is not signed).
	for _, c := range []gatekeeper.Comment{goVote, forged} {
		ev.Apply(gatekeeper.Event{Name: "issue_comment.created", Comment: &c})
	}
	counted = ev.Counted(true)
	var ids []int64
	for _, c := range counted.Comments {
		ids = append(ids, c.ID)
	}
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 2 {
		t.Errorf("counted comments %v, want the confirmed GO and the NOGO", ids)
	}
	if len(ev.AwaitedClaims()) != 0 {
		t.Errorf("still awaited: %v", ev.AwaitedClaims())
	}
	// A dispute never undoes what GitHub showed.
	ev.Apply(gatekeeper.Event{Name: "github.claim", Comment: &gatekeeper.Comment{ID: 1, User: "lead", Disputed: "x"}})
	if c := ev.Counted(true).Comments; len(c) != 2 {
		t.Errorf("a dispute undid a confirmed vote: %+v", c)
	}
	// An edit by webhook is a new claim.
	edited := goVote
	edited.Body, edited.UpdatedAt = "/withdraw", at.Add(2*time.Minute)
	ev.Apply(gatekeeper.Event{Name: "issue_comment.edited", Comment: &edited})
	if w := ev.AwaitedClaims(); len(w) != 1 || w[0] != "GitHub to confirm lead's /withdraw" {
		t.Errorf("awaited after an edit %v", w)
	}
}

// TestForgedEditsDoNotHideWhatCloses: a signed edit of a NOGO GitHub has
// into a /go, and a signed "approved" for a review GitHub has as changes
// requested, neither hide what GitHub has: the review is kept as GitHub
// showed it, and the NOGO is put back when GitHub disputes the edit.
func TestForgedEditsDoNotHideWhatCloses(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	ev := &gatekeeper.Evidence{Key: key}
	ev.Apply(opened(head, at))
	blocked := gatekeeper.Review{ID: 10, User: "mgmt", State: "CHANGES_REQUESTED", CommitID: head, SubmittedAt: at, Confirmed: true}
	ev.Apply(gatekeeper.Event{Name: "github.review", Review: &blocked})
	forgedReview := blocked
	forgedReview.State, forgedReview.Confirmed = "approved", false
	ev.Apply(gatekeeper.Event{Name: "pull_request_review.edited", Review: &forgedReview})
	if r := ev.Counted(true).LatestReviews(); len(r) != 1 || r[0].State != "CHANGES_REQUESTED" {
		t.Errorf("after a forged approval of the same review: %+v, want GitHub's changes requested", r)
	}

	nogo := gatekeeper.Comment{ID: 2, User: "sre", Body: "/nogo flaky", CreatedAt: at.Add(time.Minute), UpdatedAt: at.Add(time.Minute), Fetched: true, Confirmed: true}
	ev.Apply(gatekeeper.Event{Name: "github.comment", Comment: &nogo})
	forged := nogo
	forged.Body, forged.UpdatedAt, forged.EditedBy, forged.Fetched, forged.Confirmed = "/go", at.Add(2*time.Minute), "sre", false, false
	ev.Apply(gatekeeper.Event{Name: "issue_comment.edited", Comment: &forged})
	// GitHub's answer to the read-back: the NOGO as it was, disputing the edit.
	dispute := nogo
	dispute.Disputed = "GitHub has comment 2 by sre at … saying otherwise"
	ev.Apply(gatekeeper.Event{Name: "github.claim", Comment: &dispute})
	if n := ev.Counted(true).Nogos(); len(n) != 1 || n[0].User != "sre" {
		t.Errorf("after a forged edit of a NOGO GitHub disputed: nogos %+v, want sre's", n)
	}
}
