package slackapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/httpretry"
)

// maxSummaryRows bounds the pull requests one summary lists: Slack allows
// 50 blocks a message, and each row takes a section and an actions block.
const maxSummaryRows = 20

// voteButtons is the actions block with the GO and NOGO buttons for key
// at head sha (the head the message is about; "" when unknown). The
// interaction endpoint (POST /webhooks/slack) reads action_id and value
// back: a GO pressed is a vote on that head.
func voteButtons(key gatekeeper.PullKey, sha string) map[string]any {
	v := gatekeeper.SlackButtonValue(key, sha)
	return map[string]any{
		"type": "actions", "block_id": "vote:" + v,
		"elements": []any{
			map[string]any{"type": "button", "action_id": gatekeeper.SlackActionGo, "value": v, "style": "primary",
				"text": map[string]any{"type": "plain_text", "text": "GO"}},
			map[string]any{"type": "button", "action_id": gatekeeper.SlackActionNogo, "value": v, "style": "danger",
				"text": map[string]any{"type": "plain_text", "text": "NOGO"}},
		},
	}
}

// render is the message posted for note: the message of buildMessage,
// with the GO/NOGO buttons when votes are enabled.
func (n *Notifier) render(note gatekeeper.Notification) any {
	m := buildMessage(note)
	if !n.buttons || !note.Key.Valid() {
		return m
	}
	blocks := make([]any, 0, len(m.Blocks)+1)
	for _, b := range m.Blocks {
		blocks = append(blocks, b)
	}
	blocks = append(blocks, voteButtons(note.Key, note.SHA))
	return map[string]any{"text": m.Text, "blocks": blocks}
}

// summaryMessage is the daily Go/NoGo summary of rows, as of at (in the
// window's zone, labelled zone).
func summaryMessage(rows []gatekeeper.SummaryRow, at time.Time, zone string, buttons bool) map[string]any {
	head := fmt.Sprintf(":clipboard: *Go/NoGo %s %s %s*: ", at.Format("Mon 2 Jan"), at.Format("15:04"), escape(zone, 20))
	switch len(rows) {
	case 0:
		head += "no open release pull request."
	case 1:
		head += "1 open release pull request."
	default:
		head += strconv.Itoa(len(rows)) + " open release pull requests."
	}
	text := strings.TrimSuffix(strings.ReplaceAll(head, "*", ""), ".")
	blocks := []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": head}}}
	for i, r := range rows {
		if i == maxSummaryRows {
			blocks = append(blocks, map[string]any{"type": "context", "elements": []any{
				map[string]any{"type": "mrkdwn", "text": "…and " + strconv.Itoa(len(rows)-maxSummaryRows) + " more on the board."}}})
			break
		}
		emoji, _ := summary(gatekeeper.Notification{To: r.State}, "", "")
		label := escape(r.Key.String(), maxKey)
		if t := escape(r.Title, maxTitle); t != "" {
			label += " “" + t + "”"
		}
		var b strings.Builder
		b.WriteString(emoji + " *")
		if link := linkURL(r.TargetURL); link != "" {
			b.WriteString("<" + link + "|" + label + ">")
		} else {
			b.WriteString(label)
		}
		b.WriteString("*\n*State:* `" + escape(string(r.State), 20) + "`")
		if d := escape(r.Description, maxDescription); d != "" {
			b.WriteString(" · " + d)
		}
		if len(r.Missing) == 0 {
			b.WriteString("\n*Approvals and GO votes:* none missing")
		}
		for _, m := range r.Missing {
			b.WriteString("\n• still needs " + escape(m, maxReason))
		}
		for j, reason := range r.Reasons {
			if j == 3 {
				b.WriteString("\n_…and " + strconv.Itoa(len(r.Reasons)-3) + " more_")
				break
			}
			b.WriteString("\n• " + escape(reason, maxReason))
		}
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": b.String()}})
		if buttons {
			blocks = append(blocks, voteButtons(r.Key, r.HeadSHA))
		}
	}
	return map[string]any{"text": text, "blocks": blocks}
}

// PostSummary posts the daily Go/NoGo summary of rows (as of at, in the
// window's zone named zone) through the webhook, with the notifier's
// pace and retries.
func (n *Notifier) PostSummary(ctx context.Context, rows []gatekeeper.SummaryRow, at time.Time, zone string) error {
	body, err := json.Marshal(summaryMessage(rows, at, zone, n.buttons))
	if err != nil {
		return fmt.Errorf("encoding the Go/NoGo summary: %w", err)
	}
	select {
	case n.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting to post the Go/NoGo summary: %w", ctx.Err())
	}
	defer func() { <-n.turn }()
	if err := n.post(ctx, gatekeeper.Notification{To: "summary"}, body); err != nil {
		return fmt.Errorf("posting the Go/NoGo summary to slack (%s): %w", n.host, err)
	}
	return nil
}

// SummaryOptions configure RunSummaries.
type SummaryOptions struct {
	// Due returns when today's summary is due (in the window's zone), its
	// zone's label, and false when none is due today. It reads the
	// policy data in force.
	Due func(now time.Time) (at time.Time, zone string, ok bool)
	// Claim records, for every replica, that the summary id is being
	// posted; false: another replica (or an earlier run) did.
	Claim func(ctx context.Context, id string) (bool, error)
	// Rows lists the open release pull requests.
	Rows func(ctx context.Context) ([]gatekeeper.SummaryRow, error)
	// Post posts the summary (Notifier.PostSummary).
	Post  func(ctx context.Context, rows []gatekeeper.SummaryRow, at time.Time, zone string) error
	Clock gatekeeper.Clock
	// Every is how often the time is checked (default a minute).
	Every time.Duration
	// Late is how long after the time a summary not yet posted is still
	// posted (a replica that starts at 16:10 posts it; one that starts at
	// 18:00 does not). Default 30 minutes.
	Late   time.Duration
	Logger *slog.Logger
	// Sleep waits (default: a timer that ends with ctx).
	Sleep func(ctx context.Context, d time.Duration) error
}

// RunSummaries posts the daily Go/NoGo summary until ctx ends: at every
// check, when today's time has come (and is less than Late ago), it
// claims the day in the store and, if the claim is its own, posts. With
// several replicas exactly one claims the day; a post that fails after the
// claim is logged, not retried by another replica (at most once a day).
func RunSummaries(ctx context.Context, o SummaryOptions) {
	o = o.withDefaults()
	for {
		SummaryTick(ctx, o)
		if err := o.Sleep(ctx, o.Every); err != nil {
			return
		}
	}
}

// withDefaults fills the zero fields of o.
func (o SummaryOptions) withDefaults() SummaryOptions {
	if o.Every <= 0 {
		o.Every = time.Minute
	}
	if o.Late <= 0 {
		o.Late = 30 * time.Minute
	}
	if o.Clock == nil {
		o.Clock = gatekeeper.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = httpretry.SleepContext
	}
	return o
}

// SummaryTick is one check of RunSummaries; it reports whether it posted.
func SummaryTick(ctx context.Context, o SummaryOptions) bool {
	o = o.withDefaults()
	now := o.Clock.Now()
	at, zone, ok := o.Due(now)
	if !ok || now.Before(at) || now.Sub(at) > o.Late {
		return false
	}
	id := "slack-summary:" + at.Format("2006-01-02")
	mine, err := o.Claim(ctx, id)
	if err != nil {
		o.Logger.ErrorContext(ctx, "claiming the Go/NoGo summary", "day", at.Format("2006-01-02"), "err", err)
		return false
	}
	if !mine {
		return false
	}
	rows, err := o.Rows(ctx)
	if err != nil {
		o.Logger.ErrorContext(ctx, "listing release pull requests for the Go/NoGo summary", "err", err)
		return false
	}
	if err := o.Post(ctx, rows, at, zone); err != nil {
		o.Logger.ErrorContext(ctx, "posting the Go/NoGo summary", "err", err)
		return false
	}
	o.Logger.InfoContext(ctx, "Go/NoGo summary posted", "day", at.Format("2006-01-02"), "pull_requests", len(rows))
	return true
}
