package gatekeeper

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Vote is a GO or NOGO vote parsed from a pull request comment.
type Vote struct {
	User   string `json:"user"`
	Vote   string `json:"vote"` // "go" or "nogo"
	Reason string `json:"reason,omitempty"`
	// Refused says why the comment is not a valid vote (a NOGO without a
	// reason); the policy never counts a refused vote.
	Refused   string `json:"refused,omitempty"`
	CommentID int64  `json:"comment_id"`
	// HeadSHA is the head the vote was cast on; a push asks for it again.
	HeadSHA string `json:"head_sha"`
}

// Votes returns each person's latest vote, cast in comments that still
// exist, ordered by user; a /withdraw after it takes it back. A vote's head
// is the head the pull request had when the comment was written or last
// edited, by GitHub's clock (on a tie with a push, the older head), so a
// vote cast before a push never counts for the pushed head; a Slack vote's
// is the head when its press was recorded, whenever its echo is written.
func (ev *Evidence) Votes() []Vote {
	latest := map[string]Vote{}
	for _, k := range ev.casts() {
		switch k.cmd.Kind {
		case "go", "nogo":
			latest[k.c.User] = Vote{User: k.c.User, Vote: k.cmd.Kind, Reason: k.cmd.Reason, Refused: k.cmd.Refused,
				CommentID: k.c.ID, HeadSHA: k.head}
		case "withdraw":
			// The author takes their vote back, whatever it was.
			delete(latest, k.c.User)
		}
	}
	out := make([]Vote, 0, len(latest))
	for _, v := range latest {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

// taskItem matches a GitHub task-list item: "- [x] Release notes".
var taskItem = regexp.MustCompile(`(?m)^[ \t]*[-*+][ \t]+\[([ xX])\][ \t]+(.+?)[ \t]*$`)

// ParseChecklist returns the task-list items of a pull request body, keyed
// by their text, with whether they are ticked. When the same item appears
// twice it counts as ticked only if every copy is.
func ParseChecklist(body string) map[string]bool {
	out := map[string]bool{}
	for _, m := range taskItem.FindAllStringSubmatch(body, -1) {
		text := strings.TrimSpace(m[2])
		ticked := m[1] != " "
		if prev, seen := out[text]; seen {
			ticked = ticked && prev
		}
		out[text] = ticked
	}
	return out
}

// IssueRef names an issue that a pull request is linked to.
type IssueRef struct {
	Owner  string `json:"owner"`
	Repo   string `json:"repo"`
	Number int    `json:"number"`
	// From says where the link was found: "body" or "branch".
	From string `json:"from"`
}

// String returns "owner/repo#n".
func (r IssueRef) String() string {
	return r.Owner + "/" + r.Repo + "#" + strconv.Itoa(r.Number)
}

var (
	// ZenHub issue URLs, current and legacy:
	// https://app.zenhub.com/workspaces/<name>-<id>/issues/gh/<owner>/<repo>/<n>
	// https://app.zenhub.com/workspace/o/<owner>/<repo>/issues/<n>
	zenhubURL = regexp.MustCompile(`https?://[^\s/]*zenhub[^\s/]*/workspaces?/(?:[^\s]*?/)?(?:issues/gh|o)/([\w.-]+)/([\w.-]+)/(?:issues/)?(\d+)`)
	// https://github.com/<owner>/<repo>/issues/<n> (or a GHES host)
	issueURL = regexp.MustCompile(`https?://[^\s/]+/([\w.-]+)/([\w.-]+)/issues/(\d+)`)
	// owner/repo#123 or #123, not inside a word or a URL fragment.
	issueShort = regexp.MustCompile(`(?:^|[\s(\[,;:])(?:([\w.-]+)/([\w.-]+))?#(\d+)\b`)
	// Branch names such as 123-fix, feature/123_fix-checkout, issue-123,
	// gh-123: a number that starts a name and is followed by words, or
	// that follows issue/gh. Not dates or versions (release/2024-06).
	branchIssue = regexp.MustCompile(`(?i)(?:(?:^|/)(\d+)[-_][a-z]|(?:^|/|[-_])(?:issue|gh)[-_]?(\d+)(?:[-_/]|$))`)
)

// ParseIssueLinks finds the issues a pull request body and head branch
// link to. owner and repo resolve the short form #123. GitHub's closing
// keywords are deliberately not required: GitHub ignores them for a base
// other than the default branch, so a plain reference is what counts here.
func ParseIssueLinks(body, branch, owner, repo string) []IssueRef {
	seen := map[IssueRef]bool{}
	var out []IssueRef
	add := func(o, r, n, from string) {
		num, err := strconv.Atoi(n)
		if err != nil || num <= 0 {
			return
		}
		if o == "" {
			o, r = owner, repo
		}
		ref := IssueRef{Owner: o, Repo: r, Number: num, From: from}
		if !seen[ref] {
			seen[ref] = true
			out = append(out, ref)
		}
	}
	rest := body
	for _, re := range []*regexp.Regexp{zenhubURL, issueURL} {
		for _, m := range re.FindAllStringSubmatch(rest, -1) {
			add(m[1], m[2], m[3], "body")
		}
		rest = re.ReplaceAllString(rest, " ")
	}
	for _, m := range issueShort.FindAllStringSubmatch(rest, -1) {
		add(m[1], m[2], m[3], "body")
	}
	for _, m := range branchIssue.FindAllStringSubmatch(branch, -1) {
		add("", "", m[1]+m[2], "branch") // one of the two groups matched
	}
	return out
}
