package githubapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// branchRoute is GET of Hello-World's master branch.
const branchRoute = "GET /repos/Codertocat/Hello-World/branches/master"

// masterBranch is the branch object GitHub answers GET …/branches/master
// with, reduced to the fields read (docs.github.com "Get a branch").
func masterBranch(sha string) string {
	return `{"name":"master","commit":{"sha":"` + sha + `","url":"https://api.github.com/repos/Codertocat/Hello-World/commits/` + sha + `"},"protected":true}`
}

// TestBaseTipSource: the tip is read when the evidence has none for the
// pull request's base, again once MaxAge has passed or after a failed read,
// and not in between; a failed read is an error.
func TestBaseTipSource(t *testing.T) {
	t.Parallel()
	const tipA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
	gh := newFakeGitHub(t, "")
	gh.on(branchRoute, jsonReply(http.StatusOK, masterBranch(tipA)))
	tm := newFakeTime()
	obs := &observed{}
	s := NewBaseTipSource(newTestClient(t, gh.URL, tm, obs, testRetry()), time.Minute)
	ctx := context.Background()
	pr := fixturePR
	ev := &gatekeeper.Evidence{Key: helloKey, PR: &pr}

	got, err := s.Gather(ctx, ev)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	want := []gatekeeper.Event{{Name: EventBaseTip, Received: testEpoch, Key: helloKey, SHA: tipA,
		BaseTip: &gatekeeper.BaseTip{Ref: "master", SHA: tipA, At: testEpoch, Source: "github"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Gather (-want +got):\n%s", diff)
	}
	for _, e := range got {
		ev.Apply(e)
	}
	// Read a moment ago: nothing to do.
	tm.mu.Lock()
	tm.now = tm.now.Add(30 * time.Second)
	tm.mu.Unlock()
	if got, err := s.Gather(ctx, ev); err != nil || len(got) != 0 {
		t.Errorf("Gather within MaxAge = %v, %v; want nothing", got, err)
	}
	// Retargeted: the tip of the new base is due at once.
	ev.PR.BaseRef = "release"
	gh.on("GET /repos/Codertocat/Hello-World/branches/release", jsonReply(http.StatusNotFound, `{"message":"Branch not found"}`))
	if _, err := s.Gather(ctx, ev); err == nil {
		t.Error("a base branch GitHub does not know: no error")
	}
	ev.PR.BaseRef = "master"
	tm.mu.Lock()
	tm.now = tm.now.Add(time.Minute)
	tm.mu.Unlock()
	if got, err := s.Gather(ctx, ev); err != nil || len(got) != 1 {
		t.Errorf("Gather after MaxAge = %v, %v; want a read", got, err)
	}
	if diff := cmp.Diff([]string{"get_branch 200", "get_branch 404", "get_branch 200"}, obs.list()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// TestGatherRereadsSnapshotWithoutHeadRepository: a snapshot that knows
// its repository but not its head's (stored before the head's repository
// was recorded) would read as a deleted fork's and fail the release; the
// Source reads the pull request again at once, well within MaxAge.
func TestGatherRereadsSnapshotWithoutHeadRepository(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	serveHelloWorld(t, gh)
	tm := newFakeTime()
	s := newTestSource(t, gh, tm, testRetry())
	ev := &gatekeeper.Evidence{Key: helloKey}
	got, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		ev.Apply(e)
	}
	if ev.PR.HeadRepoID != 186853002 {
		t.Fatalf("head repository id %d, want 186853002", ev.PR.HeadRepoID)
	}
	ev.PR.HeadRepoID = 0 // as stored by an older release
	got, err = s.Gather(context.Background(), ev)
	if err != nil || len(got) == 0 || got[0].PullRequest == nil || got[0].PullRequest.HeadRepoID != 186853002 {
		t.Errorf("Gather = %d events, %v; want the pull request read again", len(got), err)
	}
}
