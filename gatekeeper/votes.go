package gatekeeper

import (
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Command is what a conversation comment asks of the gate, parsed once when
// the comment is folded into the evidence. The comment's body is not kept:
// the command is all that counts, and a pull request with thousands of
// remarks must not make every webhook rewrite them all.
type Command struct {
	// Kind is "go", "nogo", "withdraw" (the author takes their vote back)
	// or "lift" (a holder of a lift role lifts someone's NOGO).
	Kind   string `json:"kind"`
	Reason string `json:"reason,omitempty"`
	// Refused says why the command does not count as written (a NOGO or
	// a lift without a reason, a lift that names nobody).
	Refused string `json:"refused,omitempty"`
	// Target is the login whose NOGO a lift lifts, without the "@".
	Target string `json:"target,omitempty"`
}

// maxReason bounds the reason kept with a command, in characters; the
// policy shows 60 of them.
const maxReason = 280

// maxCommentsPerUser bounds how many commands of one person the evidence
// keeps (their votes' history): the oldest go first, never the comment of
// a NOGO that still stands.
const maxCommentsPerUser = 20

// commandLine matches a command at the start of a line: /go, /nogo,
// /no-go, /vote go, /vote nogo, /withdraw, /lift, each optionally followed
// by text.
var commandLine = regexp.MustCompile(`(?im)^[ \t]*/(?:vote[ \t]+)?(go|nogo|no-go|withdraw|lift)\b[ \t]*(.*)$`)

// liftArgs matches the arguments of a lift: "@user reason".
var liftArgs = regexp.MustCompile(`^@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)\b[ \t]*(.*)$`)

// ParseCommand reads the command in a comment body. When a comment holds
// several command lines the last one counts, as a person reading it would
// assume. ok is false when the comment holds none.
//
// Only what GitHub shows as text counts, when it would open the gate: a
// command line in a code block (fenced with ``` or ~~~, also inside a list
// item or a quote, or indented by four columns: spaces or a tab), in an
// HTML <pre> block or in an HTML comment is not a GO, a /withdraw or a
// lift (a NOGO saying "once fixed I will post /go" in a code block stays a
// NOGO). A NOGO counts wherever it is: closing the gate is the safe
// direction. Lines end at "\n", "\r\n" or a lone "\r", as in Markdown.
func ParseCommand(body string) (cmd Command, ok bool) {
	if strings.Contains(body, "\r") {
		body = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(body)
	}
	if all, ok := lastCommand(body); ok && all.Kind == "nogo" && all.Refused == "" {
		return all, true
	}
	return lastCommand(visibleText(body))
}

// visibleText is body as GitHub renders it as text, for finding command
// lines: the lines of code blocks are blanked and HTML comments removed
// (one left open hides the rest). It errs towards hiding: a line indented
// by four columns is blanked even where Markdown would continue a
// paragraph or a list item with it, and a fence left open (or one only
// Markdown's finer rules would not take for a fence) hides the rest.
func visibleText(body string) string {
	if !strings.Contains(body, "```") && !strings.Contains(body, "~~~") && !strings.Contains(body, "<") &&
		!strings.Contains(body, "\t") && !strings.Contains(body, "    ") {
		return body
	}
	lines := strings.Split(body, "\n")
	fence := ""
	raw := false // in an HTML block of preformatted text (<pre>, …)
	for i, line := range lines {
		content := stripContainers(line)
		switch {
		case fence != "":
			if closesFence(content, fence) {
				fence = ""
			}
			lines[i] = ""
		case raw || opensRawBlock(content):
			raw = !closesRawBlock(content)
			lines[i] = ""
		case opensFence(content) != "":
			fence = opensFence(content)
			lines[i] = ""
		case indentColumns(line) >= 4:
			lines[i] = "" // an indented code block
		}
	}
	text := strings.Join(lines, "\n")
	var out strings.Builder
	for {
		open := strings.Index(text, "<!--")
		if open < 0 {
			out.WriteString(text)
			return out.String()
		}
		out.WriteString(text[:open])
		end := strings.Index(text[open+4:], "-->")
		if end < 0 {
			return out.String()
		}
		text = text[open+4+end+3:]
	}
}

// rawTags open the HTML blocks Markdown passes through up to their closing
// tag, blank lines and all; <pre> shows its text as code.
var rawTags = []string{"pre", "script", "style", "textarea"}

// opensRawBlock reports whether content (after at most three spaces)
// begins such a block: "<pre", then white space, ">" or the line's end,
// whatever the case.
func opensRawBlock(content string) bool {
	trimmed := strings.TrimLeft(content, " ")
	if len(content)-len(trimmed) > 3 || !strings.HasPrefix(trimmed, "<") {
		return false
	}
	lower := strings.ToLower(trimmed[1:])
	for _, tag := range rawTags {
		if rest, ok := strings.CutPrefix(lower, tag); ok && (rest == "" || strings.ContainsAny(rest[:1], " \t>")) {
			return true
		}
	}
	return false
}

// closesRawBlock reports whether content holds a closing tag that ends
// such a block.
func closesRawBlock(content string) bool {
	lower := strings.ToLower(content)
	for _, tag := range rawTags {
		if strings.Contains(lower, "</"+tag+">") {
			return true
		}
	}
	return false
}

// indentColumns is how many columns of white space begin line, a tab
// reaching the next multiple of four, as Markdown counts them.
func indentColumns(line string) int {
	cols := 0
	for _, r := range line {
		switch r {
		case ' ':
			cols++
		case '\t':
			cols += 4 - cols%4
		default:
			return cols
		}
	}
	return cols
}

// stripContainers removes the quote markers (">") and list item markers
// ("-", "*", "+", "1." or "1)") that begin line, each after at most three
// spaces, so that a fence inside them is seen.
func stripContainers(line string) string {
	for {
		rest := strings.TrimLeft(line, " ")
		if len(line)-len(rest) > 3 {
			return line
		}
		switch {
		case strings.HasPrefix(rest, ">"):
			line = strings.TrimPrefix(rest[1:], " ")
			continue
		case strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "*") || strings.HasPrefix(rest, "+"):
			if after := rest[1:]; after == "" || after[0] == ' ' || after[0] == '\t' {
				line = strings.TrimLeft(after, " \t")
				continue
			}
		default:
			n := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
			if n >= 1 && n <= 9 && len(rest) > n && (rest[n] == '.' || rest[n] == ')') {
				if after := rest[n+1:]; after == "" || after[0] == ' ' || after[0] == '\t' {
					line = strings.TrimLeft(after, " \t")
					continue
				}
			}
		}
		return line
	}
}

// opensFence returns the fence (three or more backticks or tildes) that
// content opens, after at most three spaces, or "".
func opensFence(content string) string {
	trimmed := strings.TrimLeft(content, " ")
	if len(content)-len(trimmed) > 3 || !(strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
		return ""
	}
	n := len(trimmed) - len(strings.TrimLeft(trimmed, trimmed[:1]))
	return strings.Repeat(trimmed[:1], n)
}

// closesFence reports whether content closes fence: at most three spaces,
// at least as many of its characters, nothing after but white space.
func closesFence(content, fence string) bool {
	trimmed := strings.TrimLeft(content, " ")
	return len(content)-len(trimmed) <= 3 && strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]+" \t") == ""
}

// lastCommand reads the last command line of body (see ParseCommand).
func lastCommand(body string) (cmd Command, ok bool) {
	m := commandLine.FindAllStringSubmatch(body, -1)
	if len(m) == 0 {
		return Command{}, false
	}
	last := m[len(m)-1]
	cmd.Kind = strings.ToLower(last[1])
	args := strings.TrimSpace(last[2])
	switch cmd.Kind {
	case "no-go":
		cmd.Kind = "nogo"
	case "withdraw":
		args = ""
	case "lift":
		a := liftArgs.FindStringSubmatch(args)
		if a == nil {
			cmd.Refused = "a lift names the voter and a reason: /lift @user <reason>"
			return cmd, true
		}
		cmd.Target, args = a[1], strings.TrimSpace(a[2])
		if args == "" {
			cmd.Refused = "a lift needs a reason: /lift @" + cmd.Target + " <reason>"
		}
	}
	cmd.Reason = clipText(args, maxReason)
	if cmd.Kind == "nogo" && cmd.Reason == "" {
		cmd.Refused = "a NOGO needs a reason: /nogo <reason> (until then you have no vote)"
	}
	return cmd, true
}

func clipText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// ParseVote reads the vote in a comment body (see ParseCommand): vote is
// the command's kind.
func ParseVote(body string) (vote, reason, refused string, ok bool) {
	cmd, ok := ParseCommand(body)
	return cmd.Kind, cmd.Reason, cmd.Refused, ok
}

// command returns the comment's command: the one parsed when it was folded
// in, or for evidence written before commands were kept, its body's.
func (c *Comment) command() (Command, bool) {
	if c.Command != nil {
		return *c.Command, true
	}
	if c.Body != "" {
		return ParseCommand(c.Body)
	}
	return Command{}, false
}

// compact parses the comment's command and drops its body.
func (c *Comment) compact() {
	if c.Body == "" {
		return
	}
	if cmd, ok := ParseCommand(c.Body); ok {
		c.Command = &cmd
	} else {
		c.Command = nil
	}
	c.Body = ""
}

// castAt is when a comment's command was cast: an edited command is cast
// anew.
func (c *Comment) castAt() time.Time {
	if c.UpdatedAt.After(c.CreatedAt) {
		return c.UpdatedAt
	}
	return c.CreatedAt
}

// Nogo is a NOGO that stands: its author has not taken it back with a later
// /go or /withdraw (or by deleting it). It outlives pushes: a NOGO is about
// the release, not a commit.
type Nogo struct {
	User      string `json:"user"`
	Reason    string `json:"reason"`
	CommentID int64  `json:"comment_id"`
	// HeadSHA is the head it was cast on.
	HeadSHA string    `json:"head_sha"`
	At      time.Time `json:"at"`
	// Lifts are the lifts naming User written after the NOGO, oldest
	// first; the policy decides which of them count (the lifter must hold
	// a lift role).
	Lifts []Lift `json:"lifts,omitempty"`
}

// Lift is a /lift @user <reason> comment.
type Lift struct {
	User    string `json:"user"`
	Target  string `json:"target"`
	Reason  string `json:"reason"`
	Refused string `json:"refused,omitempty"`
	// CommentID is the lift's comment; HeadSHA the head it was written on.
	CommentID int64     `json:"comment_id"`
	HeadSHA   string    `json:"head_sha"`
	At        time.Time `json:"at"`
}

// cast is one command of a comment that still counts, in the order cast,
// with the head it was cast on.
type cast struct {
	c    *Comment
	cmd  Command
	at   time.Time
	head string
}

// casts returns the commands of the comments that were not deleted, by
// GitHub's clock (then comment id), so that a redelivered older command
// never overrides a newer one.
func (ev *Evidence) casts() []cast {
	var out []cast
	for i := range ev.Comments {
		c := &ev.Comments[i]
		if c.Deleted {
			continue
		}
		cmd, ok := c.command()
		if !ok {
			continue
		}
		at := c.castAt()
		head := ev.HeadAt(at)
		if c.Via == ViaSlack && c.HeadSHA != "" {
			// An echo: the vote's head is the press's, not the
			// echo's (see SlackVote).
			head = c.HeadSHA
		}
		out = append(out, cast{c, cmd, at, head})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].at.Equal(out[j].at) {
			return out[i].at.Before(out[j].at)
		}
		return out[i].c.ID < out[j].c.ID
	})
	return out
}

// Nogos returns the NOGOs that stand, one at most per person, ordered by
// user: each person's latest NOGO with a reason, unless they later voted
// /go or /withdraw. A NOGO without a reason is refused and neither casts
// nor clears a NOGO. Lifts are attached for the policy to judge.
func (ev *Evidence) Nogos() []Nogo {
	all := ev.casts()
	standing := map[string]*Nogo{}
	for _, k := range all {
		switch k.cmd.Kind {
		case "go", "withdraw":
			delete(standing, k.c.User)
		case "nogo":
			if k.cmd.Refused == "" {
				standing[k.c.User] = &Nogo{User: k.c.User, Reason: k.cmd.Reason, CommentID: k.c.ID, HeadSHA: k.head, At: k.at}
			}
		case "lift":
			if k.cmd.Refused != "" {
				continue
			}
			for user, n := range standing {
				if strings.EqualFold(user, k.cmd.Target) {
					n.Lifts = append(n.Lifts, liftOf(ev, k))
				}
			}
		}
	}
	out := make([]Nogo, 0, len(standing))
	for _, n := range standing {
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

// Lifts returns every lift comment that was not deleted, in the order
// cast.
func (ev *Evidence) Lifts() []Lift {
	var out []Lift
	for _, k := range ev.casts() {
		if k.cmd.Kind == "lift" {
			out = append(out, liftOf(ev, k))
		}
	}
	return out
}

func liftOf(ev *Evidence, k cast) Lift {
	return Lift{User: k.c.User, Target: k.cmd.Target, Reason: k.cmd.Reason, Refused: k.cmd.Refused,
		CommentID: k.c.ID, HeadSHA: k.head, At: k.at}
}

// trimComments keeps at most maxCommentsPerUser comments of user, dropping
// the oldest first but never the comment of their standing NOGO, and
// forgets the answers to the comments dropped.
func (ev *Evidence) trimComments(user string) {
	idx := []int{}
	for i := range ev.Comments {
		if ev.Comments[i].User == user {
			idx = append(idx, i)
		}
	}
	if len(idx) <= maxCommentsPerUser {
		return
	}
	keep := map[int64]bool{}
	for _, n := range ev.Nogos() {
		if n.User == user {
			keep[n.CommentID] = true
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return ev.Comments[idx[a]].castAt().Before(ev.Comments[idx[b]].castAt())
	})
	drop := map[int]bool{}
	for _, i := range idx {
		if len(idx)-len(drop) <= maxCommentsPerUser {
			break
		}
		if !keep[ev.Comments[i].ID] {
			drop[i] = true
			delete(ev.Answered, ev.Comments[i].ID)
		}
	}
	out := ev.Comments[:0]
	for i, c := range ev.Comments {
		if !drop[i] {
			out = append(out, c)
		}
	}
	ev.Comments = out
}

// compactComments turns evidence written before commands were kept into
// today's: commands parsed, bodies and comments without a command dropped.
func (ev *Evidence) compactComments() {
	out := ev.Comments[:0]
	for _, c := range ev.Comments {
		c.compact()
		if c.Command != nil {
			out = append(out, c)
		}
	}
	ev.Comments = out
}

// Decisive returns the comments whose disappearance, unseen, would turn the
// gate towards passing, oldest first: each person's latest /go when it is
// on the current head (a GO on an older head counts for nothing), each
// person's latest /go or /withdraw when it took back a NOGO, and every lift
// of a standing NOGO. Deleting a NOGO leaves it standing, so NOGOs are not
// among them. A source that cannot see deletions asks about these.
func (ev *Evidence) Decisive() []Comment {
	head := ev.HeadSHA()
	type last struct {
		c       *Comment
		head    string
		kind    string
		cleared bool // took back a NOGO
	}
	latest := map[string]*last{}
	nogo := map[string]bool{}
	for _, k := range ev.casts() {
		switch k.cmd.Kind {
		case "go", "withdraw":
			latest[k.c.User] = &last{c: k.c, head: k.head, kind: k.cmd.Kind, cleared: nogo[k.c.User]}
			nogo[k.c.User] = false
		case "nogo":
			delete(latest, k.c.User)
			if k.cmd.Refused == "" {
				nogo[k.c.User] = true
			}
		}
	}
	ids := map[int64]bool{}
	for _, l := range latest {
		if l.cleared || (l.kind == "go" && head != "" && l.head == head) {
			ids[l.c.ID] = true
		}
	}
	for _, n := range ev.Nogos() {
		for _, l := range n.Lifts {
			ids[l.CommentID] = true
		}
	}
	var out []Comment
	for _, c := range ev.Comments {
		if ids[c.ID] {
			out = append(out, c)
		}
	}
	return out
}
