package gatekeeper_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// TestAttackStrangersPullDoesNotHoldTheRelease: on a public repository
// anyone can open a second pull request from the repository's own staging
// into master, at the release's head. Only pull requests whose author can
// write to the repository (GitHub's author_association OWNER, MEMBER or
// COLLABORATOR; unknown counts too) take part in the worst-of rule when
// one of them is on the head; a stranger's decision stays on its own page.
// Two pull requests of people with write access still get the worst of
// both: a pass never comes from ignoring a legit blocking one.
func TestAttackStrangersPullDoesNotHoldTheRelease(t *testing.T) {
	t.Parallel()
	ok := gatekeeper.Decision{State: gatekeeper.Success}
	failing := gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"no approvals"}}
	for _, tc := range []struct {
		name        string
		association string // of #9's author
		want        gatekeeper.Status
	}{
		{"a stranger's pull request", "NONE", gatekeeper.Status{Context: "release-gate", State: gatekeeper.Success,
			Description: "All release checks pass", TargetURL: "https://gate.example/pulls/acme/shop/2"}},
		{"a first-time contributor's", "FIRST_TIME_CONTRIBUTOR", gatekeeper.Status{Context: "release-gate", State: gatekeeper.Success,
			Description: "All release checks pass", TargetURL: "https://gate.example/pulls/acme/shop/2"}},
		{"a collaborator's still counts", "COLLABORATOR", gatekeeper.Status{Context: "release-gate", State: gatekeeper.Failure,
			Description: "#9: Failing: no approvals; #2: All release checks pass", TargetURL: "https://gate.example/pulls/acme/shop/9"}},
		{"an unknown author's still counts", "", gatekeeper.Status{Context: "release-gate", State: gatekeeper.Failure,
			Description: "#9: Failing: no approvals; #2: All release checks pass", TargetURL: "https://gate.example/pulls/acme/shop/9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, gh := startEcho(t, &byNumber{decisions: map[int]gatekeeper.Decision{2: ok, 9: failing}})
			release := pullAt(2, head, t0)
			release.PullRequest.AuthorAssociation = "MEMBER"
			second := pullAt(9, head, t0)
			second.PullRequest.Author, second.PullRequest.AuthorAssociation = "passer-by", tc.association
			h.accept(t, release)
			h.accept(t, second)
			quiet(t, h, gh)
			posts := gh.list()
			if len(posts) == 0 {
				t.Fatal("nothing posted")
			}
			if diff := cmp.Diff(tc.want, posts[len(posts)-1].St); diff != "" {
				t.Errorf("status on the shared head (-want +got):\n%s", diff)
			}
		})
	}
}
