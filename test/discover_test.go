package test

import (
	"net/http"
	"strings"
	"testing"
)

// A release pull request's opened delivery never reached the gatekeeper
// (GitHub does not deliver a failed webhook again by itself). These tests
// take each way the gatekeeper finds it on its own, the other one held
// back, so that each is proved alone.

// TestLostPullFoundByItsReleaseGateStatus: a release-gate status set by
// hand on a commit no known pull request has makes the gatekeeper ask
// GitHub which pull request has that head, and gate it at once; the
// reconcile timer is an hour away and cannot be what found it.
func TestLostPullFoundByItsReleaseGateStatus(t *testing.T) {
	t.Parallel()
	f := newEchoRepo(t)
	s := startServer(t, serverOptions{extra: []string{"GITHUB_API_URL=" + f.URL + "/", "GITHUB_TOKEN=e2e-token", "GATEKEEPER_RECONCILE=1h"}})
	f.mu.Lock()
	f.hook = s.url("/webhooks/github")
	f.mu.Unlock()
	pr := f.setPull(7, nil) // on GitHub, never delivered
	head := pr["head"].(map[string]any)["sha"].(string)
	f.set(head, "release-gate", "success", "LGTM, shipping", "", "hurried-manager")
	eventually(t, "the hand-set success corrected on pull request #7's head", func() bool {
		for _, p := range f.Posts() {
			if strings.HasSuffix(p.Path, "/"+head) && p.Body["state"] != "success" && strings.Contains(p.Body["target_url"].(string), "/7") {
				return true
			}
		}
		return false
	})
	if _, ok := s.getPull("Codertocat", "Hello-World", 7); !ok {
		t.Fatal("pull request #7 is not tracked")
	}
}

// TestLostPullFoundByReconcile: pull request #1 of the repository was
// delivered; #8 into master was not, and nothing names it. Reconcile lists
// the open pull requests into the gated base and gates #8.
func TestLostPullFoundByReconcile(t *testing.T) {
	t.Parallel()
	f := newEchoRepo(t)
	s := startServer(t, serverOptions{extra: []string{"GITHUB_API_URL=" + f.URL + "/", "GITHUB_TOKEN=e2e-token", "GATEKEEPER_RECONCILE=2s"}})
	pr1 := f.setPull(1, nil)
	if code, body := s.deliver("pull_request", "open-1", openedPayload(t, pr1)); code != http.StatusAccepted {
		t.Fatalf("opened #1: %d %s", code, body)
	}
	f.setPull(8, map[string]any{"head": map[string]any{
		"ref": "changes", "sha": "8d6f0b6a5c4e3d2c1b0a99887766554433221100",
		"repo": pr1["head"].(map[string]any)["repo"], "label": "Codertocat:changes", "user": pr1["head"].(map[string]any)["user"],
	}})
	eventually(t, "a status on pull request #8's head", func() bool {
		for _, p := range f.Posts() {
			if strings.HasSuffix(p.Path, "/8d6f0b6a5c4e3d2c1b0a99887766554433221100") {
				return true
			}
		}
		return false
	})
}
