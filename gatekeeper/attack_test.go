package gatekeeper

import "testing"

// TestAttackHiddenCommandsNeverOpenTheGate: GitHub renders a fenced code
// block as code and does not show an HTML comment at all. A command line
// there is not what readers of the pull request see: a comment that reads
// as a NOGO must not count as a GO because of an example in a code block
// or a hidden line. A hidden NOGO still counts (closing the gate is the
// safe direction), and a visible command is read as before.
func TestAttackHiddenCommandsNeverOpenTheGate(t *testing.T) {
	for _, tc := range []struct {
		body string
		kind string // "": no command
	}{
		{"/nogo payments flaky\n\nOnce fixed I will post:\n```\n/go\n```", "nogo"},
		{"/nogo payments flaky\n~~~\n/withdraw\n~~~", "nogo"},
		{"/nogo payments flaky <!--\n/go\n-->", "nogo"},
		{"/nogo payments flaky\n<!-- /go -->\n<!--\n/go\n-->", "nogo"},
		{"looks fine\n```\n/go\n```", ""},
		{"<!--\n/go\n-->", ""},
		{"<!--\n/go", ""}, // an HTML comment left open hides the rest
		{"```\n/lift @qa-carol fixed\n```", ""},
		// A hidden NOGO counts: fail closed.
		{"/go\n```\n/nogo flaky\n```", "nogo"},
		{"<!-- /nogo hidden reason -->", ""}, // not at the start of a line
		{"<!--\n/nogo hidden reason\n-->", "nogo"},
		// Visible commands as before.
		{"/go", "go"},
		{"```\nlog\n```\n/go", "go"},
		{"/nogo flaky\n/go", "go"},
		{"/nogo flaky", "nogo"},
	} {
		cmd, ok := ParseCommand(tc.body)
		got := ""
		if ok {
			got = cmd.Kind
		}
		if got != tc.kind {
			t.Errorf("ParseCommand(%q) = %q (%+v), want %q", tc.body, got, cmd, tc.kind)
		}
	}
}
