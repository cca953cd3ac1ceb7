package test

import (
	"context"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// TestAttackHandSetSuccessOverAnotherSystemsFailure: anyone with write
// access may set a commit status in any context. The repository's CI
// (ci-bot) failed ci/build on the release head; a developer sets
// ci/build to success by hand, newer. GitHub keeps the newest status per
// context, and so does the gatekeeper: the failing check is gone. The
// gatekeeper knows who set each status (the status webhook's sender) and
// names a hand-set release-gate (issue 7 item 13); the same must hold for
// the checks it relies on: a check another creator took over is not a
// pass.
func TestAttackHandSetSuccessOverAnotherSystemsFailure(t *testing.T) {
	t.Parallel()
	engine, err := opa.Load(context.Background(), policyCopy(t))
	if err != nil {
		t.Fatal(err)
	}
	ev := verifiedRelease()
	ownCI(ev)
	if got := decideOnce(t, engine, ev); got.Status.State != gatekeeper.Failure {
		t.Fatalf("the failing ci/build does not fail the release: %s %q", got.Status.State, got.Status.Description)
	}
	handSet := gatekeeper.Event{Name: "status", SHA: helloHead, Repo: &gatekeeper.Repo{ID: repoID, Owner: "Codertocat", Name: "Hello-World"},
		Check: &gatekeeper.Check{Name: "ci/build", SHA: helloHead, Kind: "status", State: "success", Description: "fine",
			UpdatedAt: time.Date(2026, 11, 27, 11, 20, 0, 0, time.UTC), Creator: "dev-zoe"}}
	got := decideOnce(t, engine, ev, handSet)
	if got.Status.State == gatekeeper.Success {
		t.Errorf("dev-zoe's hand-set ci/build success over ci-bot's failure passed the gate: %q", got.Status.Description)
	}
}
