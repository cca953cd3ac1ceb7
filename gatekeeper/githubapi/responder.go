package githubapi

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Verdicts Responder.Answer understands.
const (
	VerdictCounted = "counted"
	VerdictRefused = "refused"
)

// Reactions the Responder adds to a vote comment.
const (
	reactionCounted = "+1"
	reactionRefused = "confused"
)

// Responder answers GO/NOGO vote comments, so that voters see at once
// whether their vote counts: a counted vote gets a +1 reaction; a refused
// one gets a confused reaction and one reply that says why. In a dry run it
// only logs. It is safe for concurrent use.
//
// Answers are not worth holding a worker, let alone the gate, for: like the
// sources, Answer does not wait for a rate limit but fails with
// ErrRateLimited, and the caller logs the failure and may answer again
// later. An error wrapping gatekeeper.ErrNotFound means the vote comment
// (or the pull request) is gone: there is nothing left to answer. Reactions are idempotent
// (GitHub returns the existing one), so answering twice adds nothing; the
// reply is not, and is posted last, after the reaction, so that a retried
// answer repeats it only when the reply itself failed in a way that hid
// its success (a timeout after GitHub stored it).
type Responder struct {
	c   *Client // nil in a dry run
	log *slog.Logger
}

// NewResponder returns a Responder that answers through c.
func NewResponder(c *Client) *Responder {
	return &Responder{c: c, log: c.log}
}

// NewDryRunResponder returns a Responder that logs each answer at info
// level and posts nothing: what runs without GitHub credentials. A nil
// logger uses slog.Default().
func NewDryRunResponder(logger *slog.Logger) *Responder {
	if logger == nil {
		logger = slog.Default()
	}
	return &Responder{log: logger}
}

// DryRun reports whether answers are only logged.
func (r *Responder) DryRun() bool { return r.c == nil }

// Answer answers the vote in issue comment commentID of key's pull request
// with verdict: VerdictCounted adds a +1 reaction
// (POST /repos/{o}/{r}/issues/comments/{id}/reactions); VerdictRefused adds
// a confused reaction and posts one comment on the pull request,
// "@user your NOGO was not counted: <why>", after reading the vote comment
// (GET …/issues/comments/{id}) for its author and vote. An unknown verdict,
// an invalid key or comment id is an error wrapping gatekeeper.ErrInvalid;
// a vote comment that is gone gives an error wrapping gatekeeper.ErrNotFound
// and posts nothing more.
func (r *Responder) Answer(ctx context.Context, key gatekeeper.PullKey, commentID int64, verdict, why string) error {
	switch {
	case !key.Valid():
		return fmt.Errorf("answering vote %d: %w pull request key %+v", commentID, gatekeeper.ErrInvalid, key)
	case commentID <= 0:
		return fmt.Errorf("answering vote %d on %s: %w comment id", commentID, key, gatekeeper.ErrInvalid)
	case verdict != VerdictCounted && verdict != VerdictRefused:
		return fmt.Errorf("answering vote %d on %s: %w verdict %q: want counted or refused", commentID, key, gatekeeper.ErrInvalid, verdict)
	}
	attrs := []slog.Attr{
		slog.String("repo", key.Owner+"/"+key.Repo),
		slog.Int("pr", key.Number),
		slog.Int64("comment_id", commentID),
		slog.String("verdict", verdict),
		slog.String("why", why),
	}
	if r.DryRun() {
		r.log.LogAttrs(ctx, slog.LevelInfo, "vote answer not posted (dry run)", attrs...)
		return nil
	}

	if verdict == VerdictCounted {
		if err := r.react(ctx, key, commentID, reactionCounted); err != nil {
			return err
		}
		r.log.LogAttrs(ctx, slog.LevelInfo, "vote answered", attrs...)
		return nil
	}

	// Read the vote first: its author is who the reply addresses, and a
	// deleted vote needs no answer.
	var comment *github.IssueComment
	err := r.c.do(ctx, EndpointGetComment, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		comment, resp, err = gh.Issues.GetComment(ctx, key.Owner, key.Repo, commentID)
		return resp, err
	})
	if err != nil {
		return answerError(key, commentID, "reading vote", err)
	}
	if err := r.react(ctx, key, commentID, reactionRefused); err != nil {
		return err
	}
	body := refusalText(comment, why)
	err = r.c.do(ctx, EndpointCreateComment, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		_, resp, err := gh.Issues.CreateComment(ctx, key.Owner, key.Repo, key.Number, &github.IssueComment{Body: github.String(body)})
		return resp, err
	})
	if err != nil {
		return answerError(key, commentID, "replying to vote", err)
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "vote answered", attrs...)
	return nil
}

// react adds content as a reaction to the comment.
func (r *Responder) react(ctx context.Context, key gatekeeper.PullKey, commentID int64, content string) error {
	err := r.c.do(ctx, EndpointCreateReaction, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		_, resp, err := gh.Reactions.CreateIssueCommentReaction(ctx, key.Owner, key.Repo, commentID, content)
		return resp, err
	})
	if err != nil {
		return answerError(key, commentID, "reacting "+content+" to vote", err)
	}
	return nil
}

// answerError names the step that failed; a 404 means the comment (or the
// pull request) is gone, which the caller may treat as answered.
func answerError(key gatekeeper.PullKey, commentID int64, step string, err error) error {
	if notFound(err) {
		return fmt.Errorf("%s %d on %s: %w: %w", step, commentID, key, gatekeeper.ErrNotFound, err)
	}
	return fmt.Errorf("%s %d on %s: %w", step, commentID, key, err)
}

// markdownEscaper keeps text such as "/nogo <reason>" visible: GitHub drops
// tags it does not know, and <reason> would vanish from the reply.
var markdownEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// refusalText is the reply to a refused vote, e.g. "@alice your NOGO was
// not counted: a NOGO needs a reason: /nogo <reason> (until then you have no vote)".
func refusalText(c *github.IssueComment, why string) string {
	what := "vote"
	if cmd, ok := gatekeeper.ParseCommand(c.GetBody()); ok {
		switch cmd.Kind {
		case "go", "nogo":
			what = strings.ToUpper(cmd.Kind)
		default:
			what = cmd.Kind // a lift
		}
	}
	if why == "" {
		why = "it is not a valid vote"
	}
	user := c.GetUser().GetLogin()
	if vote, voter, ok := gatekeeper.ParseEcho(c.GetBody()); ok && c.GetUser().GetType() == "Bot" {
		// The gatekeeper's echo of a vote cast in Slack: the vote is the
		// voter's, and so is the answer.
		what, user = vote, voter
	}
	text := fmt.Sprintf("your %s was not counted: %s", what, markdownEscaper.Replace(why))
	if user != "" {
		text = "@" + user + " " + text
	}
	return text
}
