package githubapi

import (
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// PullRequestFromGitHub converts a go-github pull request, from the REST API
// or from a webhook's "pull_request" object (the same schema), into the
// domain snapshot. The key comes from base.repo, the repository the pull
// request merges into (head.repo is the fork, for a pull request from one);
// a payload without base.repo leaves Owner and Repo empty for the caller to
// fill from the event's "repository". Missing fields give zero values, and
// no labels give nil Labels, as Evidence.Clone does.
func PullRequestFromGitHub(pr *github.PullRequest) gatekeeper.PullRequest {
	if pr == nil {
		return gatekeeper.PullRequest{}
	}
	base, head := pr.GetBase(), pr.GetHead()
	repo := base.GetRepo()
	out := gatekeeper.PullRequest{
		Key: gatekeeper.PullKey{
			Owner:  repo.GetOwner().GetLogin(),
			Repo:   repo.GetName(),
			Number: pr.GetNumber(),
		},
		RepoID:    repo.GetID(),
		Title:     pr.GetTitle(),
		Body:      pr.GetBody(),
		Author:    pr.GetUser().GetLogin(),
		State:     pr.GetState(),
		Draft:     pr.GetDraft(),
		Merged:    pr.GetMerged(),
		HeadRef:   head.GetRef(),
		HeadSHA:   head.GetSHA(),
		BaseRef:   base.GetRef(),
		BaseSHA:   base.GetSHA(),
		HTMLURL:   pr.GetHTMLURL(),
		UpdatedAt: utc(pr.GetUpdatedAt()),
	}
	for _, l := range pr.Labels {
		if name := l.GetName(); name != "" {
			out.Labels = append(out.Labels, name)
		}
	}
	return out
}

// ReviewFromGitHub converts a go-github review, from the REST list (state
// APPROVED) or from a pull_request_review webhook (state approved), into a
// domain Review with the state in the REST API's upper-case spelling. A
// review whose commit was garbage-collected has an empty CommitID, so it
// never counts for a head.
func ReviewFromGitHub(r *github.PullRequestReview) gatekeeper.Review {
	if r == nil {
		return gatekeeper.Review{}
	}
	return gatekeeper.Review{
		ID:                r.GetID(),
		User:              r.GetUser().GetLogin(),
		State:             gatekeeper.NormalizeReviewState(r.GetState()),
		CommitID:          r.GetCommitID(),
		SubmittedAt:       utc(r.GetSubmittedAt()),
		AuthorAssociation: r.GetAuthorAssociation(),
	}
}

// utc returns the timestamp in UTC, or the zero time when it is missing.
func utc(ts github.Timestamp) time.Time {
	if ts.IsZero() {
		return time.Time{}
	}
	return ts.UTC()
}
