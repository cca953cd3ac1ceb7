package slackapi

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Bounds on the text taken from a notification, in runes after escaping,
// chosen so that the section stays under Slack's 3000-character limit:
// link 1000 + title 250 + key 150 + description 300 + reasons 5×183 +
// about 200 of fixed text is under 2850.
const (
	maxKey         = 150 // owner (≤ 39) / repo (≤ 100) # number
	maxTitle       = 250
	maxDescription = 300
	maxReason      = 180
	maxReasons     = 5
	maxLinkURL     = 1000
	maxSectionText = 3000
)

// dryRunNote marks a message about a status that was only logged.
const dryRunNote = "(dry run: status not posted to GitHub)"

// message is an incoming-webhook payload: text is the fallback that
// notifications show, blocks what the channel shows.
type message struct {
	Text   string  `json:"text"`
	Blocks []block `json:"blocks"`
}

// block is a Block Kit section, the only block type sent.
type block struct {
	Type      string      `json:"type"`
	Text      *textObject `json:"text,omitempty"`
	Accessory *button     `json:"accessory,omitempty"`
}

// textObject is a Block Kit text object, mrkdwn or plain_text.
type textObject struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// button is a link button; Slack opens URL in the browser.
type button struct {
	Type     string     `json:"type"`
	Text     textObject `json:"text"`
	URL      string     `json:"url"`
	ActionID string     `json:"action_id"`
}

// buildMessage renders n. Every string from n is cleaned and escaped
// (see escape) before it is placed in mrkdwn; the only markup in the
// result is what this function writes.
func buildMessage(n gatekeeper.Notification) message {
	pr := escape(n.Key.String(), maxKey)
	title := escape(n.Title, maxTitle)
	desc := escape(trimStatePrefix(n.To, n.Description), maxDescription)
	link := linkURL(n.TargetURL)

	subject := pr
	if title != "" {
		subject += " “" + title + "”"
	}
	emoji, sentence := summary(n, subject, desc)
	text := emoji + " " + sentence
	if n.DryRun {
		text += " " + dryRunNote
	}

	// The section: linked title, the sentence without the title (it is
	// just above), state and head, the first reasons.
	label := title
	if label == "" {
		label = pr
	}
	var b strings.Builder
	b.WriteString(emoji + " *")
	if link != "" {
		b.WriteString("<" + link + "|" + label + ">")
	} else {
		b.WriteString(label)
	}
	b.WriteString("*\n")
	_, short := summary(n, pr, desc)
	b.WriteString(short + "\n")
	b.WriteString("*State:* `" + escape(string(n.To), 20) + "`")
	if n.From != "" {
		b.WriteString(" (was `" + escape(string(n.From), 20) + "`)")
	}
	if sha := shortSHA(n.SHA); sha != "" {
		b.WriteString(" · *Head:* `" + sha + "`")
	}
	for i, r := range n.Reasons {
		if i == maxReasons {
			b.WriteString("\n_…and " + strconv.Itoa(len(n.Reasons)-maxReasons) + " more_")
			break
		}
		if r := escape(r, maxReason); r != "" {
			b.WriteString("\n• " + r)
		}
	}
	if n.DryRun {
		b.WriteString("\n_" + dryRunNote + "_")
	}

	sec := block{Type: "section", Text: &textObject{Type: "mrkdwn", Text: b.String()}}
	if link != "" {
		sec.Accessory = &button{
			Type: "button", Text: textObject{Type: "plain_text", Text: "Details", Emoji: true},
			URL: n.TargetURL, ActionID: "details",
		}
	}
	return message{Text: text, Blocks: []block{sec}}
}

// summary returns the emoji and the sentence for n's new state, about
// subject (the pull request, with its title in the fallback text). desc is
// escaped already.
func summary(n gatekeeper.Notification, subject, desc string) (emoji, sentence string) {
	because := ""
	if desc != "" {
		because = ": " + desc
	}
	switch n.To {
	case gatekeeper.Success:
		s := "Release " + subject + " is ready to merge"
		if ch := escape(n.Channel, 40); ch != "" {
			s += " (channel " + ch + ")"
		}
		return ":white_check_mark:", s
	case gatekeeper.Failure:
		return ":no_entry:", "Release " + subject + " is blocked" + because
	case gatekeeper.Error:
		return ":warning:", "Release gate error on " + subject + because
	case gatekeeper.Pending:
		if n.From == gatekeeper.Success {
			return ":hourglass:", "Release " + subject + " is no longer ready" + because
		}
		return ":hourglass:", "Release " + subject + " is pending" + because
	default:
		return ":grey_question:", "Release " + subject + " is " + escape(string(n.To), 20) + because
	}
}

// trimStatePrefix drops the "Failing: " or "Error: " with which
// gatekeeper.Decision.Description starts a failure's or an error's
// description: the sentence says "is blocked" or "gate error" already.
func trimStatePrefix(to gatekeeper.State, desc string) string {
	switch to {
	case gatekeeper.Failure:
		return strings.TrimPrefix(desc, "Failing: ")
	case gatekeeper.Error:
		return strings.TrimPrefix(desc, "Error: ")
	}
	return desc
}

// escape makes untrusted text safe and single-line inside Slack mrkdwn:
// control characters (newlines included) become spaces, runs of spaces
// shrink to one, and the three characters Slack reserves for markup become
// entities (&amp; &lt; &gt;). The result has at most limit runes; an
// entity is never cut, and a cut is marked with "…".
func escape(s string, limit int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	var pieces []string
	total := 0
	for _, r := range s {
		piece := string(r) // an invalid byte becomes U+FFFD here
		switch r {
		case '&':
			piece = "&amp;"
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		}
		pieces = append(pieces, piece)
		total += utf8.RuneCountInString(piece)
	}
	var b strings.Builder
	if total <= limit {
		for _, p := range pieces {
			b.WriteString(p)
		}
		return b.String()
	}
	runes := 0
	for _, p := range pieces {
		n := utf8.RuneCountInString(p)
		if runes+n > limit-1 { // leave room for the ellipsis
			break
		}
		b.WriteString(p)
		runes += n
	}
	return b.String() + "…"
}

// shortSHA is the first seven characters of a commit sha, as GitHub shows
// it, escaped (a sha is hex, but it came over the wire).
func shortSHA(sha string) string {
	if utf8.RuneCountInString(sha) > 7 {
		sha = string([]rune(sha)[:7])
	}
	return escape(sha, 7*5)
}

// linkURL returns u ready for a mrkdwn link <u|label>, or "" when it is
// not an absolute http(s) URL of reasonable length. The gatekeeper builds
// it from GATEKEEPER_PUBLIC_URL; it is checked anyway, since a bad URL
// would make Slack refuse the whole message.
func linkURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || len(u) > maxLinkURL {
		return ""
	}
	for _, r := range u {
		if r <= ' ' || r == 0x7f || r == '|' || r == '<' || r == '>' {
			return "" // would end the link early; url.Parse lets them through
		}
	}
	return strings.ReplaceAll(u, "&", "&amp;")
}
