package githubapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// maxRepoIDs bounds the RepoID cache; when it is full the cache starts
// again, which costs one call per repository and never a wrong answer.
const maxRepoIDs = 1024

// RepoID returns the numeric id of owner/repo (GET /repos/{owner}/{repo}),
// which ZenHub's REST API names repositories by. Answers are cached in
// memory for the life of the Client: a repository keeps its id across
// renames, so the only way an entry goes wrong is a repository deleted and
// another created under the same name, which a restart repairs. Names are
// compared case-insensitively, as GitHub does.
//
// A 404 (no such repository, or one the token cannot see) is an error
// wrapping gatekeeper.ErrNotFound and is not cached. Like the Source, it
// does not wait for a rate limit: it fails with ErrRateLimited.
func (c *Client) RepoID(ctx context.Context, owner, repo string) (int64, error) {
	if owner == "" || repo == "" || strings.ContainsAny(owner+repo, "/#?") {
		return 0, fmt.Errorf("looking up repository id of %s/%s: %w repository name", owner, repo, gatekeeper.ErrInvalid)
	}
	name := strings.ToLower(owner + "/" + repo)
	c.idsMu.Lock()
	id, ok := c.repoIDs[name]
	c.idsMu.Unlock()
	if ok {
		return id, nil
	}

	var r *github.Repository
	err := c.do(ctx, EndpointGetRepo, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		r, resp, err = gh.Repositories.Get(ctx, owner, repo)
		return resp, err
	})
	switch {
	case notFound(err):
		return 0, fmt.Errorf("looking up repository id of %s/%s: %w: %w", owner, repo, gatekeeper.ErrNotFound, err)
	case err != nil:
		return 0, fmt.Errorf("looking up repository id of %s/%s: %w", owner, repo, err)
	case r.GetID() == 0:
		return 0, fmt.Errorf("looking up repository id of %s/%s: github returned no id", owner, repo)
	}

	c.idsMu.Lock()
	if c.repoIDs == nil || len(c.repoIDs) >= maxRepoIDs {
		c.repoIDs = map[string]int64{}
	}
	c.repoIDs[name] = r.GetID()
	c.idsMu.Unlock()
	return r.GetID(), nil
}
