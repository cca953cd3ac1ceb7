package test

import (
	"context"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// attackAt is the evaluation time of releaseEvidence.
var attackAt = time.Date(2026, 11, 27, 11, 30, 0, 0, time.UTC)

// decideOnce runs one Service over the real policy on a fresh store seeded
// with ev, delivers events through Service.Accept as webhooks would, and
// returns the first status it publishes.
func decideOnce(t *testing.T, engine gatekeeper.Evaluator, ev *gatekeeper.Evidence, events ...gatekeeper.Event) gatekeepertest.Published {
	t.Helper()
	got, _, _ := firstStatus(t, gatekeeper.Options{
		Evaluator: engine,
		Sources:   []gatekeeper.Source{flakySource{name: "jenkins"}, flakySource{name: "github"}},
		Gated:     gatekeeper.BranchPairs{{Head: "staging", Base: "master"}},
		Workers:   1,
		RetryMin:  time.Hour, RetryMax: time.Hour, Debounce: -1, SourceErrorLimit: 3, Reconcile: time.Hour,
	}, ev, attackAt, events...)
	return got
}

// withoutComment drops comment id from the evidence.
func withoutComment(ev *gatekeeper.Evidence, id int64) {
	kept := ev.Comments[:0]
	for _, c := range ev.Comments {
		if c.ID != id {
			kept = append(kept, c)
		}
	}
	ev.Comments = kept
}

// TestAttackEditSomeoneElsesCommentIntoGO: anybody with write access may
// edit anybody's comment on GitHub. A developer edits the module lead's
// old "thanks" into "/go". The comment list (the GitHub source's read,
// which fills in lost webhooks) then shows a "/go" by the lead, edited,
// and does not say by whom. The edit's webhook, which names the editor,
// arrives later than that read, or never. Neither way may the lead's
// missing GO be taken as given.
func TestAttackEditSomeoneElsesCommentIntoGO(t *testing.T) {
	t.Parallel()
	engine, err := opa.Load(context.Background(), policyCopy(t))
	if err != nil {
		t.Fatal(err)
	}
	key := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}
	// The lead's GO (comment 200 in releaseEvidence) was never cast.
	base := verifiedRelease()
	base.Heads[0].At = attackAt.Add(-2 * time.Hour) // opened two hours ago
	withoutComment(base, 200)
	if got := decideOnce(t, engine, base); got.Status.State == gatekeeper.Success {
		t.Fatalf("success without the lead's GO: the test means nothing")
	}
	created, edited := attackAt.Add(-time.Hour), attackAt.Add(-10*time.Minute)
	listed := gatekeeper.Comment{ID: 300, User: "lead-bob", Body: "/go", CreatedAt: created, UpdatedAt: edited, Fetched: true}
	webhook := gatekeeper.Event{Name: "issue_comment.edited", Key: key, Received: attackAt,
		Comment: &gatekeeper.Comment{ID: 300, User: "lead-bob", Body: "/go", CreatedAt: created, UpdatedAt: edited, EditedBy: "dev-zoe"}}

	t.Run("the edit's webhook is late or lost", func(t *testing.T) {
		ev := base.Clone()
		ev.Apply(gatekeeper.Event{Name: "github.comment", Key: key, Received: attackAt, Comment: &listed})
		got := decideOnce(t, engine, ev)
		if got.Status.State == gatekeeper.Success {
			t.Errorf("an edited /go the list shows under the lead's name, editor unknown, passed the gate: %q", got.Status.Description)
		}
	})
	t.Run("the edit's webhook arrives after the list was read", func(t *testing.T) {
		ev := base.Clone()
		ev.Apply(gatekeeper.Event{Name: "github.comment", Key: key, Received: attackAt, Comment: &listed})
		got := decideOnce(t, engine, ev, webhook)
		if got.Status.State == gatekeeper.Success {
			t.Errorf("dev-zoe's edit of the lead's comment into /go passed the gate: %q", got.Status.Description)
		}
	})
	t.Run("the edit's webhook arrives first", func(t *testing.T) {
		ev := base.Clone()
		ev.Apply(webhook)
		ev.Apply(gatekeeper.Event{Name: "github.comment", Key: key, Received: attackAt, Comment: &listed})
		got := decideOnce(t, engine, ev)
		if got.Status.State == gatekeeper.Success {
			t.Errorf("dev-zoe's edit of the lead's comment into /go passed the gate: %q", got.Status.Description)
		}
	})
	t.Run("a NOGO edited away before the list was read", func(t *testing.T) {
		// The lead's GO is in; QA's NOGO (known from a read of the
		// list only: its created webhook was lost) is edited by a
		// developer into "/go".
		ev := verifiedRelease()
		ev.Heads[0].At = attackAt.Add(-2 * time.Hour)
		for i := range ev.Comments { // every GO cast before the NOGO
			ev.Comments[i].CreatedAt = attackAt.Add(-90 * time.Minute)
			ev.Comments[i].UpdatedAt = ev.Comments[i].CreatedAt
		}
		nogo := gatekeeper.Comment{ID: 301, User: "qa-carol", Body: "/nogo payments flaky", CreatedAt: created, UpdatedAt: created, Fetched: true}
		ev.Apply(gatekeeper.Event{Name: "github.comment", Key: key, Received: attackAt, Comment: &nogo})
		if got := decideOnce(t, engine, ev); got.Status.State != gatekeeper.Failure {
			t.Fatalf("QA's NOGO does not fail the release: %s %q", got.Status.State, got.Status.Description)
		}
		forged := gatekeeper.Comment{ID: 301, User: "qa-carol", Body: "/go", CreatedAt: created, UpdatedAt: edited, Fetched: true}
		ev.Apply(gatekeeper.Event{Name: "github.comment", Key: key, Received: attackAt, Comment: &forged})
		got := decideOnce(t, engine, ev, gatekeeper.Event{Name: "issue_comment.edited", Key: key, Received: attackAt,
			Comment: &gatekeeper.Comment{ID: 301, User: "qa-carol", Body: "/go", CreatedAt: created, UpdatedAt: edited, EditedBy: "dev-zoe"}})
		if got.Status.State == gatekeeper.Success {
			t.Errorf("dev-zoe's edit of QA's NOGO into /go passed the gate: %q", got.Status.Description)
		}
	})
}

// TestAttackNewRepositoryUnderAnOldName: the repository of the release
// was renamed, and someone who may create repositories in the
// organisation creates a new one under the old name, pushing the same
// branches (same commits), and opens its pull request #2. The gatekeeper
// keys pull requests by owner/name/number: the new repository's pull
// request must not inherit the approvals, votes and build of the old
// one's (issue 7 item 2: evidence belongs to its repository, by id).
func TestAttackNewRepositoryUnderAnOldName(t *testing.T) {
	t.Parallel()
	engine, err := opa.Load(context.Background(), policyCopy(t))
	if err != nil {
		t.Fatal(err)
	}
	ev := verifiedRelease()
	if got := decideOnce(t, engine, ev); got.Status.State != gatekeeper.Success {
		t.Fatalf("the release does not pass: %s %q", got.Status.State, got.Status.Description)
	}
	pr := *ev.PR
	pr.RepoID, pr.HeadRepoID = 4242, 4242 // another repository, same name
	pr.Author = "mallory"
	pr.UpdatedAt = attackAt.Add(time.Minute) // GitHub's clock, a little ahead
	got := decideOnce(t, engine, ev, gatekeeper.Event{Name: "pull_request.opened", Key: ev.Key, SHA: pr.HeadSHA, Received: attackAt, PullRequest: &pr})
	if got.Status.State == gatekeeper.Success {
		t.Errorf("a new repository's pull request under the old name inherited the old one's evidence and passed: %q", got.Status.Description)
	}
}
