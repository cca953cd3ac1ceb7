package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ViaSlack marks a Comment that is the gatekeeper's echo of a vote cast
// with a Slack button (Comment.Via).
const ViaSlack = "slack"

// SlackVote is a GO or NOGO cast with a Slack button (or, for a NOGO, the
// reason modal), from a request whose Slack signature was verified, by a
// Slack user the policy data maps to a GitHub login.
//
// It is not a vote yet. GitHub stays the record: the vote counts once the
// gatekeeper has posted its echo, a comment on the pull request, and
// recorded that comment as the voter's (Comment.Via = ViaSlack, User the
// mapped login, Command the one cast here). From then on it is that
// comment, and counts as the voter's own /go or /nogo comment would,
// until the voter votes again, with one difference: it is cast on the head
// the pull request had when the press was recorded (HeadSHA), not on the
// head of the comment's time. The echo can come minutes later (GitHub
// down or rate limited, the worker behind); a GO pressed while the
// evidence of head A was shown never counts on a head B pushed meanwhile. The echo's body holds no command line, so the webhook
// GitHub sends for it, which names the gatekeeper's own account as its
// author, adds no vote of its own.
type SlackVote struct {
	// ID is the delivery id of the Slack request: one per button press
	// or modal submission, so that a replayed request records nothing.
	ID string `json:"id"`
	// Voter is the GitHub login the Slack user is mapped to.
	Voter string `json:"voter"`
	// SlackUser is the Slack user id (U…, W…) that pressed the button.
	SlackUser string    `json:"slack_user"`
	Command   Command   `json:"command"`
	At        time.Time `json:"at"`
	// HeadSHA is the head the vote is cast on: the head the pressed
	// button's message was about (SlackButtonValue), or else the pull
	// request's head when the press was recorded (applySlackVote); ""
	// when neither was known (the echo then places the vote by the press
	// time).
	HeadSHA string `json:"head_sha,omitempty"`
	// CommentID is the echo comment, 0 until it was posted.
	CommentID int64 `json:"comment_id,omitempty"`
}

// SlackEcho says that the echo of SlackVote Vote is comment CommentID.
type SlackEcho struct {
	Vote      string `json:"vote"`
	CommentID int64  `json:"comment_id"`
}

// maxSlackVotes bounds the Slack votes kept per pull request, oldest
// echoed ones first: their comments are the record.
const maxSlackVotes = 50

// applySlackVote records a vote cast in Slack, once per id, on the head
// its button named (the head its message was about), or else on the head
// the pull request has when it is recorded: the press's head. A voter's
// newer vote replaces their vote still waiting for its echo: only each
// person's latest vote counts, and so pending votes stay at most one per
// person however often the buttons are pressed while GitHub is away.
func (ev *Evidence) applySlackVote(v SlackVote) {
	for _, cur := range ev.SlackVotes {
		if cur.ID == v.ID {
			return
		}
	}
	if v.HeadSHA == "" {
		// The button named no head (an older message, the NOGO form).
		v.HeadSHA = ev.HeadSHA()
	}
	kept := ev.SlackVotes[:0]
	for _, cur := range ev.SlackVotes {
		if cur.CommentID == 0 && cur.Voter == v.Voter && !cur.At.After(v.At) {
			continue
		}
		kept = append(kept, cur)
	}
	ev.SlackVotes = append(kept, v)
	if n := len(ev.SlackVotes); n > maxSlackVotes {
		out := ev.SlackVotes[:0:0]
		drop := n - maxSlackVotes
		for _, cur := range ev.SlackVotes {
			if drop > 0 && cur.CommentID != 0 {
				drop--
				continue
			}
			out = append(out, cur)
		}
		ev.SlackVotes = out
	}
}

// applySlackEcho marks a Slack vote as echoed.
func (ev *Evidence) applySlackEcho(e SlackEcho) {
	for i := range ev.SlackVotes {
		if ev.SlackVotes[i].ID == e.Vote {
			ev.SlackVotes[i].CommentID = e.CommentID
		}
	}
}

// PendingSlackVotes returns the Slack votes whose echo is not posted yet,
// oldest first.
func (ev *Evidence) PendingSlackVotes() []SlackVote {
	var out []SlackVote
	for _, v := range ev.SlackVotes {
		if v.CommentID == 0 {
			out = append(out, v)
		}
	}
	return out
}

// EchoBody is the text of the comment that echoes v on the pull request.
// It names the voter, the vote and its reason, and holds no command line
// (the reason is quoted, every line of it), so that the comment read back
// from GitHub, which names the gatekeeper's account as its author, casts
// no vote of its own; the vote is the one recorded with the comment's id.
func EchoBody(v SlackVote) string {
	var b strings.Builder
	kind := strings.ToUpper(v.Command.Kind)
	on := ""
	if v.HeadSHA != "" {
		on = " on head `" + shortHead(v.HeadSHA) + "`"
	}
	fmt.Fprintf(&b, "**%s** from @%s, cast in Slack (Slack user `%s`)%s, recorded by the release gatekeeper as @%s's vote.",
		kind, v.Voter, strings.ReplaceAll(v.SlackUser, "`", ""), on, v.Voter)
	if v.Command.Reason != "" {
		b.WriteString("\n\nReason:\n")
		for _, line := range strings.Split(v.Command.Reason, "\n") {
			// "@" would mention; a quoted line never starts a command.
			b.WriteString("> " + strings.ReplaceAll(line, "@", "@\u200b") + "\n")
		}
	}
	b.WriteString("\n<sub>To change this vote, press GO or NOGO in Slack again, or comment /go, /nogo &lt;reason&gt; or /withdraw here yourself.</sub>")
	return b.String()
}

// shortHead is the first 7 characters of a head sha, as GitHub shows it.
func shortHead(sha string) string {
	sha = strings.ReplaceAll(sha, "`", "")
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// MovedOnNote is what an echo adds when the head moved after the press:
// the vote is the older head's, and a GO counts for nothing on head. It
// holds no command line.
func MovedOnNote(v SlackVote, head string) string {
	if v.HeadSHA == "" || head == "" || v.HeadSHA == head || v.Command.Kind != "go" {
		return ""
	}
	return "\n\nThe pull request has moved on to `" + shortHead(head) + "` since this GO was cast on `" + shortHead(v.HeadSHA) +
		"`: it does not count on the new head. To vote on it, press GO on its newest Slack message or comment /go here."
}

// NewSlackVote builds the vote a Slack button or modal casts: kind "go" or
// "nogo" (which needs a reason). The reason is one line, clipped as a
// comment's would be, so that it reads as a /nogo <reason> comment does.
func NewSlackVote(id, slackUser, voter, kind, reason string, at time.Time) (SlackVote, error) {
	reason = strings.Join(strings.Fields(reason), " ")
	cmd := Command{Kind: kind, Reason: clipText(reason, maxReason)}
	switch kind {
	case "go":
		cmd.Reason = ""
	case "nogo":
		if cmd.Reason == "" {
			return SlackVote{}, fmt.Errorf("%w: a NOGO needs a reason", ErrInvalid)
		}
	default:
		return SlackVote{}, fmt.Errorf("%w: vote %q, want go or nogo", ErrInvalid, kind)
	}
	if voter == "" || id == "" {
		return SlackVote{}, fmt.Errorf("%w: a Slack vote needs an id and a voter", ErrInvalid)
	}
	return SlackVote{ID: id, Voter: voter, SlackUser: slackUser, Command: cmd, At: at}, nil
}

// SummaryRow is one open release pull request in the daily Go/NoGo
// summary.
type SummaryRow struct {
	Key PullKey `json:"key"`
	// HeadSHA is the head the row's decision is about: what its vote
	// buttons vote on.
	HeadSHA     string   `json:"head_sha,omitempty"`
	Title       string   `json:"title"`
	State       State    `json:"state"`
	Description string   `json:"description"`
	TargetURL   string   `json:"target_url"`
	Reasons     []string `json:"reasons,omitempty"`
	// Missing are the approvals and GO votes still missing, as the
	// policy words them ("approval by QA, SRE", "GO vote by QA").
	Missing []string `json:"missing,omitempty"`
}

// missingPrefixes pick, from a decision's waiting list, what people
// still owe: their approval or their vote.
var missingPrefixes = []string{"approval by", "emergency approval by", "GO vote by", "another approver", "another GO vote", "more approvers", "more GO votes"}

// Summary lists every open pull request into a gated base that the
// gatekeeper tracks, with its latest decision, ordered by key.
func (s *Service) Summary(ctx context.Context) ([]SummaryRow, error) {
	keys, err := s.o.Store.Pulls(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing pull requests for the summary: %w", err)
	}
	var rows []SummaryRow
	for _, k := range keys {
		ev, err := s.o.Store.Evidence(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("loading %s for the summary: %w", k, err)
		}
		if ev.PR == nil || ev.PR.State != "open" || !s.o.Gated.GatedBase(ev.PR.BaseRef) {
			continue
		}
		row := SummaryRow{Key: k, Title: ev.PR.Title, State: Pending, TargetURL: s.TargetURL(k),
			Description: "not evaluated yet"}
		recs, err := s.o.Store.Decisions(ctx, k, 1)
		if err != nil {
			return nil, fmt.Errorf("loading the decision of %s for the summary: %w", k, err)
		}
		if len(recs) > 0 {
			d := recs[0]
			row.State, row.Description, row.Reasons = d.Decision.State, d.Description, d.Decision.Reasons
			row.HeadSHA = d.HeadSHA
			for _, w := range d.Decision.Waiting {
				for _, p := range missingPrefixes {
					if strings.HasPrefix(w, p) {
						row.Missing = append(row.Missing, w)
						break
					}
				}
			}
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key.String() < rows[j].Key.String() })
	return rows, nil
}

// Claim records that the once-only task id (the daily summary of a date)
// is being done, and reports false when this or another replica claimed
// it before. It uses the store's delivery ids, which replicas share and
// which are remembered for DeliveryTTL.
func (s *Service) Claim(ctx context.Context, id string) (bool, error) {
	err := s.o.Store.Record(ctx, id, nil, func(*Evidence) {})
	if errors.Is(err, ErrDuplicate) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claiming %s: %w", id, err)
	}
	return true, nil
}

// The Block Kit ids the Slack messages and the NOGO modal carry, and the
// interaction endpoint reads back. A button's value is the pull request
// key and the head its message is about (SlackButtonValue); the modal's
// private_metadata is the key alone.
const (
	SlackActionGo     = "gatekeeper_go"
	SlackActionNogo   = "gatekeeper_nogo"
	SlackNogoCallback = "gatekeeper_nogo_reason"
	SlackReasonBlock  = "reason"
	SlackReasonAction = "reason"
)

// SlackButtonValue is the value of the GO and NOGO buttons of a message
// about head sha of key: "owner/repo#number@sha", or the key alone when
// the head is not known. A GO pressed on it is a vote on that head: a
// message about an older head never votes on a newer one.
func SlackButtonValue(key PullKey, sha string) string {
	if sha == "" {
		return key.String()
	}
	return key.String() + "@" + sha
}

// buttonHead is a commit sha as GitHub writes it (SHA-1, or SHA-256).
var buttonHead = regexp.MustCompile(`^[0-9a-f]{40}(?:[0-9a-f]{24})?$`)

// ParseSlackButtonValue reads a button's value (SlackButtonValue): the
// pull request, and the head its message was about ("" for a value
// without one, from a message posted before heads were named). A
// malformed value wraps ErrInvalid.
func ParseSlackButtonValue(v string) (PullKey, string, error) {
	k, head, named := strings.Cut(v, "@")
	key, err := ParsePullKey(k)
	if err != nil {
		return PullKey{}, "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if named && !buttonHead.MatchString(head) {
		return PullKey{}, "", fmt.Errorf("%w: button value %q: the head is not a commit sha", ErrInvalid, v)
	}
	return key, head, nil
}

// echoHead matches the first line EchoBody writes: the vote and the voter.
var echoHead = regexp.MustCompile(`^\*\*(GO|NOGO)\*\* from @([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?), cast in Slack`)

// ParseEcho reads the vote ("GO" or "NOGO") and the voter from the text of
// an echo comment. Only the gatekeeper's own comments are echoes: the
// caller must check the author before believing it, and use it for words
// only (whom a reply addresses), never to count a vote.
func ParseEcho(body string) (vote, voter string, ok bool) {
	m := echoHead.FindStringSubmatch(body)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}
