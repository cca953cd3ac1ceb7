package githubapi

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

func TestRepoID(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	// GET /repos/{o}/{r} answers the repository object webhooks carry.
	gh.on("GET /repos/Codertocat/Hello-World", jsonReply(http.StatusOK, string(fixtureField(t, "pull_request.opened.json", "repository"))))
	c := newTestClient(t, gh.URL, newFakeTime(), nil, testRetry())

	tests := []struct {
		name         string
		owner, repo  string
		want         int64
		wantErr      error
		wantRequests int // in all, so far
	}{
		{name: "looked up", owner: "Codertocat", repo: "Hello-World", want: 186853002, wantRequests: 1},
		{name: "cached, whatever the case", owner: "codertocat", repo: "hello-world", want: 186853002, wantRequests: 1},
		{name: "no such repository", owner: "Codertocat", repo: "Gone", wantErr: gatekeeper.ErrNotFound, wantRequests: 2},
		{name: "not found is not cached", owner: "Codertocat", repo: "Gone", wantErr: gatekeeper.ErrNotFound, wantRequests: 3},
		{name: "malformed name", owner: "Codertocat", repo: "a/b", wantErr: gatekeeper.ErrInvalid, wantRequests: 3},
	}
	// Sequential: each step depends on the cache the one before left.
	for _, tt := range tests {
		got, err := c.RepoID(context.Background(), tt.owner, tt.repo)
		if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.wantErr)
		}
		if tt.wantErr == nil && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: RepoID = %d, want %d", tt.name, got, tt.want)
		}
		if n := len(gh.served()); n != tt.wantRequests {
			t.Errorf("%s: server got %d requests in all, want %d", tt.name, n, tt.wantRequests)
		}
	}
	want := []string{"GET /repos/Codertocat/Hello-World", "GET /repos/Codertocat/Gone", "GET /repos/Codertocat/Gone"}
	if diff := cmp.Diff(want, gh.paths()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestRepoIDRateLimitFailsAtOnce(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	gh.on("GET /repos/Codertocat/Hello-World", jsonReply(http.StatusForbidden, primaryLimitBody,
		"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(10*time.Minute)))
	tm := newFakeTime()
	c := newTestClient(t, gh.URL, tm, nil, testRetry())
	if _, err := c.RepoID(context.Background(), "Codertocat", "Hello-World"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("error = %v, want ErrRateLimited", err)
	}
	if len(tm.sleeps()) != 0 {
		t.Errorf("RepoID waited %v for a rate limit", tm.sleeps())
	}
}
