package githubapi

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
)

// commentsPerPage is the REST maximum of the comments list.
const commentsPerPage = 100

// maxCommentPages bounds the pagination of the comments list (5,000
// comments), for the reason maxReviewPages does.
const maxCommentPages = 50

// deletionGrace is how old (by GitHub's clock) a comment the evidence knows
// must be before its absence from the list reads as a deletion. A webhook
// can bring a comment seconds before a lagging GitHub replica lists it, and
// a vanished GO is dropped for good; a comment younger than this is left
// for the next fetch to judge.
const deletionGrace = time.Minute

// comments lists the pull request's conversation comments: one EventComment
// per comment listed, each marked Fetched, and then, when the whole list was
// read, one EventCommentDeleted per comment of ev that is not deleted, older
// than deletionGrace and missing from the list. What a vanished comment
// means (a GO goes, a NOGO stays) is the domain's decision, not this one's.
// When a page fails, the comments of the pages read are returned with the
// error and no deletion is inferred: a partial list proves no absence.
func (s *Source) comments(ctx context.Context, key gatekeeper.PullKey, ev *gatekeeper.Evidence, now time.Time) ([]gatekeeper.Event, error) {
	listed, err := s.listComments(ctx, key)
	events := make([]gatekeeper.Event, 0, len(listed))
	seen := make(map[int64]bool, len(listed))
	for _, ic := range listed {
		c := githubevents.Comment(ic)
		c.Fetched = true
		seen[c.ID] = true
		events = append(events, gatekeeper.Event{Name: EventComment, Received: now, Key: key, Comment: &c})
	}
	if err != nil {
		return events, err
	}
	for _, known := range ev.Comments {
		if known.Deleted || seen[known.ID] || now.Sub(known.CreatedAt) < deletionGrace {
			continue
		}
		events = append(events, gatekeeper.Event{
			Name:     EventCommentDeleted,
			Received: now,
			Key:      key,
			Comment: &gatekeeper.Comment{
				ID:        known.ID,
				User:      known.User,
				Body:      known.Body,
				CreatedAt: known.CreatedAt,
				// GitHub does not say when it went; the time it was
				// found gone keeps the deletion newer than any edit.
				UpdatedAt: now,
				Deleted:   true,
				Fetched:   true,
			},
		})
	}
	return events, nil
}

// listComments lists every conversation comment of key, oldest first,
// following the Link header's next page. On failure it returns the comments
// of the pages read before.
func (s *Source) listComments(ctx context.Context, key gatekeeper.PullKey) ([]*github.IssueComment, error) {
	var all []*github.IssueComment
	opts := &github.IssueListCommentsOptions{
		Sort:        github.String("created"),
		Direction:   github.String("asc"),
		ListOptions: github.ListOptions{PerPage: commentsPerPage},
	}
	for pages := 1; ; pages++ {
		var page []*github.IssueComment
		var next int
		err := s.c.do(ctx, EndpointListComments, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			page, resp, err = gh.Issues.ListComments(ctx, key.Owner, key.Repo, key.Number, opts)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return all, fmt.Errorf("listing comments of %s (page %d): %w", key, max(opts.Page, 1), err)
		}
		for _, c := range page {
			if c != nil {
				all = append(all, c)
			}
		}
		if next == 0 {
			return all, nil
		}
		if next <= opts.Page || pages >= maxCommentPages {
			return all, fmt.Errorf("listing comments of %s: pagination did not end after page %d", key, max(opts.Page, 1))
		}
		opts.Page = next
	}
}
