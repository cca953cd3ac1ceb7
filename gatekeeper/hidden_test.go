package gatekeeper

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackCodeBlocksNeverOpenTheGate: Markdown shows a line indented by
// four columns (spaces or a tab) after a blank line, and a fenced block
// inside a list item or a quote, as code. A command line there is an
// example, not a vote: only a NOGO counts wherever it is.
func TestAttackCodeBlocksNeverOpenTheGate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		kind       string // "": no command
	}{
		{"indented code, four spaces", "/nogo payments flaky\n\nOnce fixed I will post:\n\n    /go\n", "nogo"},
		{"indented code, a tab", "/nogo payments flaky\n\n\t/withdraw", "nogo"},
		{"indented code alone", "example:\n\n    /go", ""},
		{"space and tab make four columns", "  \t/go", ""},
		{"indented lift", "\n    /lift @qa-carol fixed", ""},
		{"fence in a list item", "- to ship, post\n  ```\n  /go\n  ```", ""},
		{"fence after an ordered list marker", "1. ```\n   /go\n   ```", ""},
		{"fence in a quote", "> ```\n> /go\n> ```", ""},
		{"fence with CRLF line ends", "looks fine\r\n```\r\n/go\r\n```\r\n", ""},
		{"fence with lone CR line ends", "/nogo flaky\r```\r/go\r```", "nogo"},
		{"an HTML pre block", "example:\n<pre>\n/go\n</pre>", ""},
		{"an HTML pre block left open", "<PRE class=x>\n/withdraw", ""},
		{"indented NOGO still counts", "\n    /nogo still broken", "nogo"},
		{"after a closed pre block", "<pre>\nlog\n</pre>\n/go", "go"},
		// Visible commands as before.
		{"three spaces is not code", "   /go", "go"},
		{"after a closed fence", "```\nlog\n```\n/go", "go"},
		{"after a closed list fence", "- ```\n  log\n  ```\n\n/go", "go"},
		{"CR line ends", "looks fine\r/go", "go"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd, ok := ParseCommand(tc.body)
			got := ""
			if ok {
				got = cmd.Kind
			}
			if got != tc.kind {
				t.Errorf("ParseCommand(%q) = %q (%+v), want %q", tc.body, got, cmd, tc.kind)
			}
		})
	}
}

// hide returns body as Markdown shows as code: style 0 indents every line
// four spaces after a blank line, 1 by a tab, 2 fences it with more
// backticks than body holds in a row, 3 fences it in a list item.
func hide(body string, style int) string {
	lines := strings.Split(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(body), "\n")
	fence := "```"
	for strings.Contains(body, fence) {
		fence += "`"
	}
	switch style % 4 {
	case 0:
		return "a remark\n\n    " + strings.Join(lines, "\n    ")
	case 1:
		return "a remark\n\n\t" + strings.Join(lines, "\n\t")
	case 2:
		return "a remark\n" + fence + "\n" + strings.Join(lines, "\n") + "\n" + fence
	default:
		return "- a remark\n  " + fence + "\n  " + strings.Join(lines, "\n  ") + "\n  " + fence
	}
}

// FuzzCodeBlocksHideCommands: whatever a comment holds, shown as code it
// casts nothing that could open the gate (a NOGO still counts). Seeded
// with real comment bodies (the recorded webhooks) with commands added.
func FuzzCodeBlocksHideCommands(f *testing.F) {
	for _, b := range recordedCommentBodies(f) {
		for _, cmd := range []string{"/go", "/withdraw", "/lift @qa-carol fixed", "/vote go"} {
			f.Add(b+"\n"+cmd, 0)
			f.Add(cmd+"\r\n"+b, 3)
		}
	}
	f.Add("```\n/go\n```", 2)
	f.Add("<!--\n/go", 1)
	f.Fuzz(func(t *testing.T, body string, style int) {
		if style < 0 {
			style = -style
		}
		hidden := hide(body, style)
		if cmd, ok := ParseCommand(hidden); ok && cmd.Kind != "nogo" {
			t.Fatalf("ParseCommand(%q) = %+v, a command from a code block", hidden, cmd)
		}
	})
}

// recordedCommentBodies returns the comment bodies of the recorded
// issue_comment webhooks.
func recordedCommentBodies(tb testing.TB) []string {
	tb.Helper()
	files, _ := filepath.Glob("../test/testdata/fixtures/github/public/octokit-webhooks/issue_comment/*.json")
	files = append(files, "../test/testdata/fixtures/github/issue_comment.created.json")
	var out []string
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatalf("reading %s: %v", name, err)
		}
		var p struct {
			Comment struct {
				Body string `json:"body"`
			} `json:"comment"`
		}
		if err := json.Unmarshal(b, &p); err != nil || p.Comment.Body == "" {
			tb.Fatalf("reading the comment body of %s: %v", name, err)
		}
		out = append(out, p.Comment.Body)
	}
	if len(out) < 2 {
		tb.Fatalf("found %d recorded comment bodies", len(out))
	}
	return out
}
