package githubapi

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
)

// commentsPerPage is the REST maximum of the comments list.
const commentsPerPage = 100

// commentPagesPerGather bounds how many pages of the comments list one
// Gather reads. A pass over a longer list (a pull request the gatekeeper
// first sees after thousands of comments) goes on from where it stopped at
// the next Gather, so no list is too long to read and no Gather costs more
// than this.
const commentPagesPerGather = 20

// sinceMargin is subtracted from the start of a pass when it becomes the
// next pass's since: GitHub's clock and the gatekeeper's differ, and a
// lagging replica can list a comment a little after its updated_at.
const sinceMargin = 5 * time.Minute

// maxCommentChecks bounds the comments one Gather asks about one by one
// (see vanished): the people known to hold a team role first, then the
// newest. Past it the rest wait for the next read, and the Gather does not
// fail: anybody can write /go, and a crowd of /go comments must not hold
// the gate in error.
const maxCommentChecks = 20

// deletionGrace is how old (by GitHub's clock) a comment the evidence knows
// must be before a 404 for it reads as a deletion. A webhook can bring a
// comment seconds before a lagging GitHub replica serves it, and a vanished
// GO is dropped for good; a comment younger than this is left for the next
// fetch to judge.
const deletionGrace = time.Minute

// comments reads the comments created or edited since the evidence's
// cursor: one EventComment per comment listed, each marked Fetched, then
// one EventCommentsCursor with the cursor the next read starts from. When a
// pass over the list ended, it then asks GitHub about each decisive comment
// (gatekeeper.Evidence.Decisive: the comments whose unseen deletion would
// wrongly pass the gate) and returns one EventCommentDeleted per comment
// GitHub no longer has. What a vanished comment means is the domain's
// decision, not this one's. When a page fails, the comments of the pages
// read are returned with the error, the cursor stays where it was and no
// deletion is inferred.
func (s *Source) comments(ctx context.Context, key gatekeeper.PullKey, ev *gatekeeper.Evidence, now time.Time) ([]gatekeeper.Event, error) {
	cur := gatekeeper.CommentsCursor{}
	if ev.CommentsCursor != nil {
		cur = *ev.CommentsCursor
	}
	if cur.Page <= 1 {
		cur.Page, cur.PassStart = 1, now
	}
	listed, next, err := s.listComments(ctx, key, cur)
	events := make([]gatekeeper.Event, 0, len(listed)+1)
	for _, ic := range listed {
		c := githubevents.Comment(ic)
		c.Fetched = true
		events = append(events, gatekeeper.Event{Name: EventComment, Received: now, Key: key, Comment: &c})
	}
	if err != nil {
		return events, err
	}
	if next != 0 {
		// Cut short: go on at the next Gather, one page back, so that a
		// comment deleted meanwhile (the pages shift) skips nothing.
		cur.Page = max(next-1, 1)
		events = append(events, gatekeeper.Event{Name: EventCommentsCursor, Received: now, Key: key, CommentsCursor: &cur})
		return events, fmt.Errorf("listing comments of %s: read up to page %d, the rest at the next read", key, next-1)
	}
	done := gatekeeper.CommentsCursor{Since: cur.PassStart.Add(-sinceMargin).UTC()}
	if len(listed) == 0 && !cur.Since.IsZero() && cur.Page <= 1 {
		// Nothing changed since the cursor: keep it, so that the next
		// read asks for the very same URL and GitHub can answer 304,
		// free of rate limit. A since further back only widens the
		// window, which is safe.
		done.Since = cur.Since
	}
	events = append(events, gatekeeper.Event{Name: EventCommentsCursor, Received: now, Key: key, CommentsCursor: &done})
	gone, err := s.vanished(ctx, key, ev, events, now)
	return append(events, gone...), err
}

// vanished asks GitHub about each decisive comment of ev once the listed
// events are folded in, and returns one EventCommentDeleted per comment
// GitHub answers 404 for. A deletion makes another comment decisive (the
// person's earlier /go), which is asked about in turn, at most
// maxCommentChecks in all.
func (s *Source) vanished(ctx context.Context, key gatekeeper.PullKey, ev *gatekeeper.Evidence, listed []gatekeeper.Event, now time.Time) ([]gatekeeper.Event, error) {
	work := &gatekeeper.Evidence{Key: ev.Key, PR: ev.PR, Heads: ev.Heads, Comments: append([]gatekeeper.Comment(nil), ev.Comments...)}
	for _, e := range listed {
		work.Apply(e)
	}
	var out []gatekeeper.Event
	asked := map[int64]bool{}
	for len(asked) < maxCommentChecks {
		var todo []gatekeeper.Comment
		for _, c := range work.Decisive() {
			if !asked[c.ID] && now.Sub(c.CreatedAt) >= deletionGrace {
				todo = append(todo, c)
			}
		}
		if len(todo) == 0 {
			return out, nil
		}
		member := activeMembers(ev)
		sort.SliceStable(todo, func(i, j int) bool {
			if member[todo[i].User] != member[todo[j].User] {
				return member[todo[i].User]
			}
			return todo[i].CreatedAt.After(todo[j].CreatedAt)
		})
		for _, c := range todo[:min(len(todo), maxCommentChecks-len(asked))] {
			asked[c.ID] = true
			exists, err := s.commentExists(ctx, key, c.ID)
			if err != nil {
				return out, err
			}
			if exists {
				continue
			}
			e := gatekeeper.Event{
				Name:     EventCommentDeleted,
				Received: now,
				Key:      key,
				Comment: &gatekeeper.Comment{
					ID:        c.ID,
					User:      c.User,
					Command:   c.Command,
					CreatedAt: c.CreatedAt,
					// GitHub does not say when it went; the time it was
					// found gone keeps the deletion newer than any edit.
					UpdatedAt: now,
					Deleted:   true,
					Fetched:   true,
				},
			}
			work.Apply(e)
			out = append(out, e)
		}
	}
	return out, nil
}

// activeMembers lists the people the evidence knows to be active members of
// some team.
func activeMembers(ev *gatekeeper.Evidence) map[string]bool {
	out := map[string]bool{}
	for _, m := range ev.Memberships {
		if m.Active {
			out[m.User] = true
		}
	}
	return out
}

// commentExists asks GitHub for one comment: false on 404.
func (s *Source) commentExists(ctx context.Context, key gatekeeper.PullKey, id int64) (bool, error) {
	err := s.c.do(ctx, EndpointGetComment, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		_, resp, err := gh.Issues.GetComment(ctx, key.Owner, key.Repo, id)
		return resp, err
	})
	if notFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking comment %d of %s: %w", id, key, err)
	}
	return true, nil
}

// listComments lists the conversation comments of key created or edited
// since cur.Since (all of them when it is zero), oldest first, from page
// cur.Page, following the Link header's next page for at most
// commentPagesPerGather pages. next is the page to read next, 0 when the
// list ended. On failure it returns the comments of the pages read before.
func (s *Source) listComments(ctx context.Context, key gatekeeper.PullKey, cur gatekeeper.CommentsCursor) ([]*github.IssueComment, int, error) {
	var all []*github.IssueComment
	opts := &github.IssueListCommentsOptions{
		Sort:        github.String("created"),
		Direction:   github.String("asc"),
		ListOptions: github.ListOptions{PerPage: commentsPerPage},
	}
	if !cur.Since.IsZero() {
		since := cur.Since
		opts.Since = &since
	}
	if cur.Page > 1 {
		opts.Page = cur.Page
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
			return all, 0, fmt.Errorf("listing comments of %s (page %d): %w", key, max(opts.Page, 1), err)
		}
		for _, c := range page {
			if c != nil {
				all = append(all, c)
			}
		}
		if next == 0 {
			return all, 0, nil
		}
		if next <= opts.Page {
			return all, 0, fmt.Errorf("listing comments of %s: pagination did not end after page %d", key, max(opts.Page, 1))
		}
		if pages >= commentPagesPerGather {
			return all, next, nil
		}
		opts.Page = next
	}
}
