package githubevents

import (
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// The conversions below take go-github's REST types, which webhook payloads
// share, so that the GitHub REST adapter can reuse them for what it fetches.
// They never fail: a missing field becomes its zero value, and the callers
// decide which zero values make an event unusable.

// PullRequest converts a go-github pull request into the domain snapshot.
// The key's owner and name come from repo, the repository the event or
// request was about; when repo is nil, from the pull request's base
// repository.
func PullRequest(pr *github.PullRequest, repo *github.Repository) gatekeeper.PullRequest {
	if repo == nil {
		repo = pr.GetBase().GetRepo()
	}
	var labels []string
	for _, l := range pr.Labels {
		if name := l.GetName(); name != "" {
			labels = append(labels, name)
		}
	}
	return gatekeeper.PullRequest{
		Key:    gatekeeper.PullKey{Owner: repo.GetOwner().GetLogin(), Repo: repo.GetName(), Number: pr.GetNumber()},
		RepoID: repo.GetID(),
		Title:  pr.GetTitle(),
		Body:   pr.GetBody(),
		Author: pr.GetUser().GetLogin(),
		// GitHub's author_association of the pull request itself.
		AuthorAssociation: pr.GetAuthorAssociation(),
		State:             pr.GetState(),
		Draft:             pr.GetDraft(),
		Merged:            pr.GetMerged(),
		HeadRef:           pr.GetHead().GetRef(),
		HeadSHA:           pr.GetHead().GetSHA(),
		BaseRef:           pr.GetBase().GetRef(),
		BaseSHA:           pr.GetBase().GetSHA(),
		Labels:            labels,
		HTMLURL:           pr.GetHTMLURL(),
		UpdatedAt:         utc(pr.GetUpdatedAt()),
		// A fork's head names the fork; a deleted fork names none (0).
		HeadRepoID: pr.GetHead().GetRepo().GetID(),
	}
}

// Review converts a pull request review. The state takes the REST API's
// upper-case spelling whichever spelling GitHub sent ("approved" in
// webhooks, "APPROVED" in REST).
func Review(r *github.PullRequestReview) gatekeeper.Review {
	return gatekeeper.Review{
		ID:                r.GetID(),
		User:              r.GetUser().GetLogin(),
		State:             gatekeeper.NormalizeReviewState(r.GetState()),
		CommitID:          r.GetCommitID(),
		SubmittedAt:       utc(r.GetSubmittedAt()),
		AuthorAssociation: r.GetAuthorAssociation(),
	}
}

// Comment converts a pull request conversation comment (an issue comment).
func Comment(c *github.IssueComment) gatekeeper.Comment {
	return gatekeeper.Comment{
		ID:        c.GetID(),
		User:      c.GetUser().GetLogin(),
		Body:      c.GetBody(),
		CreatedAt: utc(c.GetCreatedAt()),
		UpdatedAt: utc(c.GetUpdatedAt()),
	}
}

// CheckRun converts a check run into a domain Check on its head sha. Its
// Creator is the app that created it: the app's slug, or its name when the
// payload has no slug.
func CheckRun(cr *github.CheckRun) gatekeeper.Check {
	updated := cr.GetCompletedAt()
	if updated.IsZero() {
		updated = cr.GetStartedAt()
	}
	app := cr.GetApp().GetSlug()
	if app == "" {
		app = cr.GetApp().GetName()
	}
	return gatekeeper.Check{
		Name:        cr.GetName(),
		SHA:         cr.GetHeadSHA(),
		Kind:        "check_run",
		State:       CheckRunState(cr.GetStatus(), cr.GetConclusion()),
		Description: cr.GetOutput().GetTitle(),
		URL:         cr.GetHTMLURL(),
		UpdatedAt:   utc(updated),
		Creator:     app,
	}
}

// CheckRunState maps a check run's status and conclusion onto a commit
// status state. Anything not completed is pending; a completed run that
// did not succeed is a failure; a conclusion GitHub has not documented is
// an error, never a success.
func CheckRunState(status, conclusion string) string {
	if status != "completed" {
		return string(gatekeeper.Pending)
	}
	switch conclusion {
	case "success", "neutral", "skipped":
		return string(gatekeeper.Success)
	case "failure", "timed_out", "cancelled", "action_required", "startup_failure", "stale":
		return string(gatekeeper.Failure)
	}
	return string(gatekeeper.Error)
}

// utc drops go-github's Timestamp wrapper and the zone GitHub happened to
// write the time in ("Z" or "+00:00"), so that equal instants look equal.
func utc(t github.Timestamp) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Time.UTC()
}
