package gatekeeper_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// shopID is acme/shop's repository id in these tests.
const shopID = 100

// release is acme/shop's release pull request n (staging into master) with
// head sha, described with its repository ids as GitHub's payloads carry
// them.
func release(n int, sha string, at time.Time) gatekeeper.Event {
	e := pullAt(n, sha, at)
	e.PullRequest.RepoID, e.PullRequest.HeadRepoID = shopID, shopID
	return e
}

// TestStatusOfAnotherRepositoryIsNotEvidence: a status or check run on the
// release's head sha from another repository (a mirror, a fork, an
// organisation-wide hook) must not touch the release pull request; the
// repository's own does.
func TestStatusOfAnotherRepositoryIsNotEvidence(t *testing.T) {
	t.Parallel()
	h := start(t, gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending}, "rev1"))
	ctx := context.Background()
	if got := h.accept(t, release(7, head, t0)); got != gatekeeper.Accepted {
		t.Fatalf("release pull request: %s", got)
	}
	check := func(kind string) *gatekeeper.Check {
		return &gatekeeper.Check{Name: "ci", Kind: kind, SHA: head, State: "success", UpdatedAt: t0.Add(time.Hour)}
	}
	tests := []struct {
		name string
		repo *gatekeeper.Repo
		kind string
		want gatekeeper.Outcome
	}{
		{"status of a mirror", &gatekeeper.Repo{ID: 200, Owner: "mirror", Name: "shop"}, "status", gatekeeper.Ignored},
		{"check run of a fork", &gatekeeper.Repo{ID: 300, Owner: "mallory", Name: "shop"}, "check_run", gatekeeper.Ignored},
		// Same name, another id: a repository deleted and created again
		// under the name is another repository.
		{"status of another repository by the same name", &gatekeeper.Repo{ID: 201, Owner: "acme", Name: "shop"}, "status", gatekeeper.Ignored},
		{"status naming no repository", nil, "status", gatekeeper.Ignored},
		{"status of the repository", &gatekeeper.Repo{ID: shopID, Owner: "acme", Name: "shop"}, "status", gatekeeper.Accepted},
		// Renamed: the id is what counts.
		{"check run of the renamed repository", &gatekeeper.Repo{ID: shopID, Owner: "acme", Name: "store"}, "check_run", gatekeeper.Accepted},
	}
	for _, tt := range tests {
		before, err := h.store.Evidence(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got := h.accept(t, gatekeeper.Event{Name: tt.kind, SHA: head, Check: check(tt.kind), Repo: tt.repo})
		if got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
		after, err := h.store.Evidence(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if changed := len(after.Checks) != len(before.Checks); changed != (tt.want == gatekeeper.Accepted) {
			t.Errorf("%s: checks %d → %d", tt.name, len(before.Checks), len(after.Checks))
		}
	}
}

// TestForkIsNeverARelease: a pull request from a fork's branch named
// staging into master is gated and fails, whatever the policy says.
func TestForkIsNeverARelease(t *testing.T) {
	t.Parallel()
	h := start(t, gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Success}, "rev1"))
	e := release(7, head, t0)
	e.PullRequest.HeadRepoID = 300 // mallory/shop, a fork
	if got := h.accept(t, e); got != gatekeeper.Accepted {
		t.Fatalf("fork pull request into master: %s, want accepted (gated)", got)
	}
	got := h.wait(t, 1)[0].Status
	if got.State != gatekeeper.Failure || got.Description != "Failing: only staging may merge into master, not a fork's staging" {
		t.Errorf("status %s %q, want a failure saying a fork's staging is not a release", got.State, got.Description)
	}
}

// TestEveryPullIntoGatedBaseIsGated: a pull request into master from a
// branch other than staging gets failure, so that a hand-set success on it
// never stands; one into a base nothing gates is ignored.
func TestEveryPullIntoGatedBaseIsGated(t *testing.T) {
	t.Parallel()
	h := start(t, gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Success}, "rev1"))
	e := release(7, head, t0)
	e.PullRequest.HeadRef = "feature/x"
	if got := h.accept(t, e); got != gatekeeper.Accepted {
		t.Fatalf("feature/x into master: %s, want accepted", got)
	}
	got := h.wait(t, 1)[0].Status
	if got.State != gatekeeper.Failure || got.Description != "Failing: only staging may merge into master" {
		t.Errorf("status %s %q, want failure: only staging may merge into master", got.State, got.Description)
	}
	other := release(8, "aa"+head[2:], t0)
	other.PullRequest.HeadRef, other.PullRequest.BaseRef = "feature/x", "develop"
	if got := h.accept(t, other); got != gatekeeper.Ignored {
		t.Errorf("feature/x into develop: %s, want ignored", got)
	}
}

// TestForkSharingTheHeadIsNoRelease: a fork's "staging" pull request at the
// release's head is not a release, so only the release decides the status
// of the commit (the fork's pull request merges the same commit).
func TestForkSharingTheHeadIsNoRelease(t *testing.T) {
	t.Parallel()
	h := start(t, &byNumber{decisions: map[int]gatekeeper.Decision{
		7: {State: gatekeeper.Success},
		9: {State: gatekeeper.Pending, Waiting: []string{"QA approval"}},
	}})
	h.accept(t, release(7, head, t0))
	h.settle(t)
	fork := release(9, head, t0)
	fork.PullRequest.HeadRepoID = 300
	h.accept(t, fork)
	k9 := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 9}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, queued, _ := h.store.Generation(context.Background(), k9)
		recs, _ := h.store.Decisions(context.Background(), k9, 1)
		if !queued && len(recs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fork's pull request was never evaluated")
		}
		time.Sleep(2 * time.Millisecond)
	}
	h.settle(t)
	pubs := h.pub.Published()
	if last := pubs[len(pubs)-1].Status; last.State != gatekeeper.Success || last.Description != "All release checks pass" {
		t.Errorf("status on the shared head %s %q, want the release's own success", last.State, last.Description)
	}
}

// TestPushToBaseRequeuesReleases: a push to a gated base reaches every open
// pull request of the repository into it, carrying the new tip; a push to
// another branch or from another repository reaches none. The repository
// is known by id: a push after a rename still reaches them.
func TestPushToBaseRequeuesReleases(t *testing.T) {
	t.Parallel()
	h := start(t, gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending}, "rev1"))
	ctx := context.Background()
	h.accept(t, release(7, head, t0))
	h.settle(t)
	tip := "bb" + head[2:]
	push := func(ref string, repo *gatekeeper.Repo, at time.Time) gatekeeper.Event {
		return gatekeeper.Event{Name: "push", SHA: tip, Repo: repo, BaseTip: &gatekeeper.BaseTip{Ref: ref, SHA: tip, At: at, Source: "push"}}
	}
	own := &gatekeeper.Repo{ID: shopID, Owner: "acme", Name: "shop"}
	if got := h.accept(t, push("develop", own, t0)); got != gatekeeper.Ignored {
		t.Errorf("push to develop: %s, want ignored", got)
	}
	if got := h.accept(t, push("master", &gatekeeper.Repo{ID: 200, Owner: "mirror", Name: "shop"}, t0)); got != gatekeeper.Ignored {
		t.Errorf("push to a mirror's master: %s, want ignored", got)
	}
	// The repository renamed since: the push names it anew, by the same id.
	if got := h.accept(t, push("master", &gatekeeper.Repo{ID: shopID, Owner: "acme", Name: "shop-renamed"}, t0.Add(time.Minute))); got != gatekeeper.Accepted {
		t.Errorf("push to master of the renamed repository: %s, want accepted", got)
	}
	if got := h.accept(t, push("master", own, t0.Add(time.Hour))); got != gatekeeper.Accepted {
		t.Fatalf("push to master: %s, want accepted", got)
	}
	ev, err := h.store.Evidence(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if ev.BaseTip == nil || ev.BaseTip.SHA != tip || ev.BaseTip.Ref != "master" {
		t.Fatalf("base tip %+v, want master at %s", ev.BaseTip, tip)
	}
	// An older push delivered late does not move the tip back.
	old := push("master", own, t0)
	old.BaseTip.SHA, old.SHA = "cc"+head[2:], "cc"+head[2:]
	h.accept(t, old)
	if ev, _ := h.store.Evidence(ctx, key); ev.BaseTip.SHA != tip {
		t.Errorf("an older push moved the tip back to %s", ev.BaseTip.SHA)
	}
	// A push from the known tip is the next one, whatever its time says
	// (GitHub's clock against the gatekeeper's read).
	next := push("master", own, t0)
	next.BaseTip.SHA, next.BaseTip.Before, next.SHA = "dd"+head[2:], tip, "dd"+head[2:]
	h.accept(t, next)
	if ev, _ := h.store.Evidence(ctx, key); ev.BaseTip.SHA != "dd"+head[2:] {
		t.Errorf("a push from the known tip left the tip at %s", ev.BaseTip.SHA)
	}
	if _, err := h.store.Evidence(ctx, gatekeeper.PullKey{Owner: "mirror", Repo: "shop", Number: 7}); !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Errorf("a push created evidence for another repository: %v", err)
	}
}

// TestBaseTipInput: the policy sees the tip of the pull request's own base
// branch, and null while it is unknown or known only for another branch.
func TestBaseTipInput(t *testing.T) {
	t.Parallel()
	tip := "bb" + head[2:]
	tests := []struct {
		name string
		ref  string
		want any
	}{
		{"tip of the base", "master", map[string]any{"ref": "master", "sha": tip, "at": "2026-11-25T10:00:00Z", "source": "push"}},
		{"tip of another branch", "develop", nil},
	}
	for _, tt := range tests {
		ev := &gatekeeper.Evidence{Key: key}
		ev.Apply(release(7, head, t0))
		ev.Apply(gatekeeper.Event{Name: "push", BaseTip: &gatekeeper.BaseTip{Ref: tt.ref, SHA: tip, At: t0, Source: "push"}})
		in := gatekeeper.BuildInput(ev, gatekeeper.InputOptions{Now: t0, Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "master"}}}).Map()
		if diff := cmp.Diff(tt.want, in["base_tip"]); diff != "" {
			t.Errorf("%s: base_tip (-want +got):\n%s", tt.name, diff)
		}
	}
	ev := &gatekeeper.Evidence{Key: key}
	ev.Apply(release(7, head, t0))
	if in := gatekeeper.BuildInput(ev, gatekeeper.InputOptions{Now: t0}).Map(); in["base_tip"] != nil {
		t.Errorf("base_tip %v before any push or read, want null", in["base_tip"])
	}
}

// TestReopenedForgetsTheBaseTip: pushes to the base are not routed to a
// closed pull request, so a reopened one reads the tip again rather than
// trust the one it knew.
func TestReopenedForgetsTheBaseTip(t *testing.T) {
	t.Parallel()
	ev := &gatekeeper.Evidence{Key: key}
	ev.Apply(release(7, head, t0))
	ev.Apply(gatekeeper.Event{Name: "push", BaseTip: &gatekeeper.BaseTip{Ref: "master", SHA: "bb" + head[2:], At: t0, Source: "push"}})
	closed := release(7, head, t0.Add(time.Hour))
	closed.PullRequest.State = "closed"
	ev.Apply(closed)
	if ev.BaseTip == nil {
		t.Fatal("closing forgot the tip")
	}
	ev.Apply(release(7, head, t0.Add(2*time.Hour)))
	if ev.BaseTip != nil {
		t.Errorf("reopened with the tip it knew while closed: %+v", ev.BaseTip)
	}
}

// TestOnlyReleasesReachProduction: the failure of a pull request into
// master that is not a release is its status alone; #production hears
// about releases.
func TestOnlyReleasesReachProduction(t *testing.T) {
	t.Parallel()
	nt := &notifier{}
	h := startWith(t, gatekeeper.Options{Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Success}, "rev1"), Notifier: nt})
	e := release(7, head, t0)
	e.PullRequest.HeadRef = "hotfix/x"
	h.accept(t, e)
	if got := h.wait(t, 1)[0].Status.State; got != gatekeeper.Failure {
		t.Fatalf("status %s, want failure", got)
	}
	h.settle(t)
	if got := nt.got(); len(got) != 0 {
		t.Errorf("notifications %v for a pull request that is not a release", got)
	}
}
