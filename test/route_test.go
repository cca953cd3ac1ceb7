package test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// Heads of pull requests that are not the release, each its own commit.
const (
	headC = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
	headD = "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"
	// newTip is master after a push that is not in the release.
	newTip = "e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4"
)

// mirrorRepository turns a recorded payload's repository into another
// repository's (a mirror or fork with the same commits): another id, owner
// and full name.
func mirrorRepository(ev map[string]any) {
	repo := ev["repository"].(map[string]any)
	repo["id"], repo["full_name"] = 999999, "mirror/Hello-World"
	repo["owner"].(map[string]any)["login"] = "mirror"
}

// TestStatusOfAnotherRepositoryEndToEnd: the release's own CI fails on its
// head; a newer passing status of the same name on the same sha from
// another repository (an organisation-wide hook, a mirror) is acknowledged,
// ignored, and the failure stands.
func TestStatusOfAnotherRepositoryEndToEnd(t *testing.T) {
	t.Parallel()
	f := newEchoRepo(t)
	s := startEchoServer(t, f)
	pr2 := f.setPull(2, nil)
	if code, body := s.deliver("pull_request", "open-2", openedPayload(t, pr2)); code != http.StatusAccepted {
		t.Fatalf("opened #2: %d %s", code, body)
	}
	quietPosts(f)
	f.set(headA, "ci/build", "failure", "tests failed", "", "ci-bot")
	failing := func() bool {
		p := s.settled("Codertocat", "Hello-World", 2)
		return slices.Contains(p.Latest.Decision.Reasons, "check ci/build failed")
	}
	eventually(t, "the release's own failing check counts", failing)

	ev := fixtureMap(t, "github/status.json")
	mirrorRepository(ev)
	later := time.Now().UTC().Add(time.Minute).Format(time.RFC3339)
	ev["sha"], ev["context"], ev["state"], ev["description"] = headA, "ci/build", "success", "all green"
	ev["created_at"], ev["updated_at"] = later, later
	code, body := s.deliver("status", "mirror-status", mustJSON(t, ev))
	if code != http.StatusAccepted || !strings.Contains(body, "ignored") {
		t.Errorf("another repository's status: %d %s, want 202 ignored", code, body)
	}
	if !failing() {
		p := s.settled("Codertocat", "Hello-World", 2)
		t.Errorf("after another repository's success the decision is %s %q, want the failing check named",
			p.Latest.Decision.State, p.Latest.Description)
	}
	posts := quietPosts(f)
	if last := posts[len(posts)-1].Body; last["state"] != "failure" {
		t.Errorf("status on the head %v, want failure", last)
	}
}

// TestEveryPullIntoMasterIsGatedEndToEnd: a pull request into master from
// a branch that is not gated, and one from a fork's staging, each get
// failure; a hand-set success on one is corrected like on a release.
func TestEveryPullIntoMasterIsGatedEndToEnd(t *testing.T) {
	t.Parallel()
	f := newEchoRepo(t)
	s := startEchoServer(t, f)
	feature := f.setPull(7, nil)
	fork := f.setPull(8, nil)
	f.mu.Lock()
	h := feature["head"].(map[string]any)
	h["ref"], h["sha"] = "feature/x", headC
	h = fork["head"].(map[string]any)
	h["ref"], h["sha"] = "staging", headD
	h["repo"].(map[string]any)["id"] = 999999
	h["repo"].(map[string]any)["full_name"] = "mallory/Hello-World"
	f.mu.Unlock()

	lastOn := func(sha string) map[string]any {
		var out map[string]any
		for _, p := range f.Posts() {
			if strings.HasSuffix(p.Path, "/"+sha) {
				out = p.Body
			}
		}
		return out
	}
	for _, c := range []struct {
		pr   map[string]any
		sha  string
		want string
	}{
		{feature, headC, "Failing: only staging or changes may merge into master"},
		{fork, headD, "Failing: only staging or changes may merge into master, not a fork's staging"},
	} {
		n := int(c.pr["number"].(int))
		if code, body := s.deliver("pull_request", "open-"+c.sha[:4], openedPayload(t, c.pr)); code != http.StatusAccepted || !strings.Contains(body, "accepted") {
			t.Fatalf("opened #%d: %d %s, want accepted", n, code, body)
		}
		quietPosts(f)
		if got := lastOn(c.sha); got == nil || got["state"] != "failure" || got["description"] != c.want {
			t.Errorf("#%d: status %v, want failure %q", n, got, c.want)
		}
	}

	// A hand-set success on the feature branch's head is corrected.
	before := len(f.Posts())
	f.set(headC, "release-gate", "success", "LGTM, shipping", "", "hurried-manager")
	posts := quietPosts(f)
	var corrections []map[string]any
	for _, p := range posts[before:] {
		if strings.HasSuffix(p.Path, "/"+headC) {
			corrections = append(corrections, p.Body)
		}
	}
	if len(corrections) == 0 {
		t.Fatal("a hand-set success on a pull request into master from feature/x stands")
	}
	if c := corrections[0]; c["state"] != "failure" || !strings.Contains(c["description"].(string), "from someone else (hurried-manager)") {
		t.Errorf("correction %v, want a failure naming hurried-manager", c)
	}
	if last := lastOn(headC); last["state"] != "failure" {
		t.Errorf("after the correction the status is %v, want failure", last)
	}
}

// pushPayload is the recorded push to master (octokit's with-new-branch
// example, of Codertocat/Hello-World) moving master from before to after,
// pushed now.
func pushPayload(t *testing.T, before, after string) map[string]any {
	t.Helper()
	ev := fixtureMap(t, "github/public/octokit-webhooks/push/with-new-branch.payload.json")
	ev["before"], ev["after"], ev["created"] = before, after, false
	ev["repository"].(map[string]any)["pushed_at"] = time.Now().Unix()
	return ev
}

// TestBuildOfTodaysMasterEndToEnd: the PR-merge build counts while it
// merged master's tip (read from GitHub); a push to master makes the status
// wait for "a PR-merge build on master e5f6a7b", and a build of the new
// master counts again. A push to another repository's master changes
// nothing.
func TestBuildOfTodaysMasterEndToEnd(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{jenkinsAPI: true})
	const n = 2
	payload, pr := opened(t, n, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	r.settle(n)
	r.jk.addBuild(build10)
	r.jenkinsOK(notification(t, build10))
	p := r.settle(n)
	waiting := strings.Join(p.Latest.Decision.Waiting, "; ")
	if strings.Contains(waiting, "PR-merge build") || strings.Contains(waiting, "tip of master") {
		t.Fatalf("the build of master's tip does not count: waiting for %q", waiting)
	}

	// Another repository's master moves: nothing here changes.
	other := pushPayload(t, baseSHA, newTip)
	mirrorRepository(other)
	code, body := r.s.deliver("push", "push-mirror", mustJSON(t, other))
	if code != http.StatusAccepted || !strings.Contains(body, "ignored") {
		t.Errorf("push to another repository's master: %d %s, want 202 ignored", code, body)
	}

	// master moves under the release.
	r.gh.setTip("master", newTip)
	r.github("push", mustJSON(t, pushPayload(t, baseSHA, newTip)))
	p = r.settle(n)
	want := "a PR-merge build on master " + newTip[:7]
	if len(p.Latest.Decision.Waiting) == 0 || p.Latest.Decision.Waiting[0] != want || p.Latest.Decision.State != "pending" {
		t.Fatalf("after the push to master: %s waiting for %q, want %q first", p.Latest.Decision.State, p.Latest.Decision.Waiting, want)
	}
	if got := r.last(headA); got == nil || !strings.HasPrefix(got["description"].(string), "Waiting for: "+want) {
		t.Errorf("status %v, want it to wait for %q", got, want)
	}

	// Jenkins builds the release merged with today's master.
	b := build10
	b.number, b.base = 11, newTip
	r.jk.addBuild(b)
	r.jenkinsOK(notification(t, b))
	p = r.settle(n)
	waiting = strings.Join(p.Latest.Decision.Waiting, "; ")
	if strings.Contains(waiting, "PR-merge build") {
		t.Errorf("the build of today's master does not count: waiting for %q", waiting)
	}
}
