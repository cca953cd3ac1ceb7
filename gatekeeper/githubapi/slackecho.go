package githubapi

import (
	"context"
	"fmt"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// SlackEchoName is the name of the SlackEcho source in the evidence and
// the policy input.
const SlackEchoName = "slack-votes"

// SlackEcho is the source that turns votes cast in Slack into comments on
// the pull request, so that GitHub stays the record (see
// gatekeeper.SlackVote). For each Slack vote not echoed yet it posts
// gatekeeper.EchoBody as a comment and returns the events that make that
// comment the voter's vote: the comment, attributed to the voter with the
// vote cast (Via = ViaSlack) on the head of the press (Comment.HeadSHA),
// and the SlackEcho that marks the vote done.
//
// A failure is the source's error: the pull request stays pending, since a
// NOGO cast in Slack and not yet recorded must hold the gate. If the
// comment was posted but the events were lost (a crash between the two),
// the next gather posts it again; a second copy of the same vote changes
// nothing, since each person's latest vote counts.
type SlackEcho struct {
	c *Client
}

var _ gatekeeper.Source = (*SlackEcho)(nil)

// NewSlackEcho returns the source posting through c.
func NewSlackEcho(c *Client) *SlackEcho { return &SlackEcho{c: c} }

// Name returns SlackEchoName.
func (s *SlackEcho) Name() string { return SlackEchoName }

// Gather posts the echo of every pending Slack vote of ev, oldest first.
func (s *SlackEcho) Gather(ctx context.Context, ev *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	var out []gatekeeper.Event
	for _, v := range ev.PendingSlackVotes() {
		var created *github.IssueComment
		key := ev.Key
		body := gatekeeper.EchoBody(v) + gatekeeper.MovedOnNote(v, ev.HeadSHA())
		err := s.c.do(ctx, EndpointCreateComment, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			created, resp, err = gh.Issues.CreateComment(ctx, key.Owner, key.Repo, key.Number,
				&github.IssueComment{Body: github.String(body)})
			return resp, err
		})
		if err != nil {
			return out, fmt.Errorf("echoing %s's Slack %s on %s: %w", v.Voter, v.Command.Kind, key, err)
		}
		at := created.GetCreatedAt().Time
		if at.IsZero() || (v.HeadSHA == "" && !v.At.IsZero() && v.At.Before(at)) {
			// No head was known at the press: the vote is placed by
			// the press's time, never by the later echo's (a push in
			// between must not receive it).
			at = v.At
		}
		cmd := v.Command
		out = append(out, gatekeeper.Event{
			Name: "slack.echo", Key: key,
			Comment: &gatekeeper.Comment{
				ID: created.GetID(), User: v.Voter, Command: &cmd,
				CreatedAt: at, UpdatedAt: at, Via: gatekeeper.ViaSlack,
				// The vote is cast on the head of the press, not of
				// the echo (see gatekeeper.SlackVote).
				HeadSHA: v.HeadSHA,
				// GitHub's own answer to the post: nothing to read back.
				// (The vote itself was signed by Slack.)
				Confirmed: true,
			},
			SlackEcho: &gatekeeper.SlackEcho{Vote: v.ID, CommentID: created.GetID()},
		})
		s.c.log.InfoContext(ctx, "Slack vote echoed", "repo", key.Owner+"/"+key.Repo, "pr", key.Number,
			"voter", v.Voter, "vote", v.Command.Kind, "comment_id", created.GetID())
	}
	return out, nil
}
