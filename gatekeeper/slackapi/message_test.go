package slackapi

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// decode unmarshals a JSON document into generic values for cmp.
func decode(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// section is the expected one-section payload: fallback text, section
// mrkdwn, and the Details button when url is set.
func section(text, mrkdwn, url string) string {
	sec := map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": mrkdwn}}
	if url != "" {
		sec["accessory"] = map[string]any{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": "Details", "emoji": true},
			"url": url, "action_id": "details",
		}
	}
	b, _ := json.Marshal(map[string]any{"text": text, "blocks": []any{sec}})
	return string(b)
}

func TestNotifyPayload(t *testing.T) {
	t.Parallel()
	const details = "https://gate.example.com/pulls/Codertocat/Hello-World/2"
	base := func(t *testing.T, edit func(*gatekeeper.Notification)) gatekeeper.Notification {
		n := fixtureNotification(t)
		edit(&n)
		return n
	}
	tests := []struct {
		name string
		edit func(*gatekeeper.Notification)
		want string
	}{
		{
			name: "success",
			edit: func(n *gatekeeper.Notification) {
				n.From, n.To, n.Channel = gatekeeper.Pending, gatekeeper.Success, "stable"
				n.Description = "All release checks pass (channel stable)"
			},
			want: section(
				":white_check_mark: Release Codertocat/Hello-World#2 “Update the README with new information.” is ready to merge (channel stable)",
				":white_check_mark: *<"+details+"|Update the README with new information.>*\n"+
					"Release Codertocat/Hello-World#2 is ready to merge (channel stable)\n"+
					"*State:* `success` (was `pending`) · *Head:* `ec26c3e`",
				details),
		},
		{
			name: "failure",
			edit: func(n *gatekeeper.Notification) {
				n.From, n.To = gatekeeper.Success, gatekeeper.Failure
				n.Description = "Failing: QA approval missing; coverage 71% < 80%"
				n.Reasons = []string{"QA approval missing", "coverage 71% < 80%"}
			},
			want: section(
				":no_entry: Release Codertocat/Hello-World#2 “Update the README with new information.” is blocked: QA approval missing; coverage 71% &lt; 80%",
				":no_entry: *<"+details+"|Update the README with new information.>*\n"+
					"Release Codertocat/Hello-World#2 is blocked: QA approval missing; coverage 71% &lt; 80%\n"+
					"*State:* `failure` (was `success`) · *Head:* `ec26c3e`\n"+
					"• QA approval missing\n"+
					"• coverage 71% &lt; 80%",
				details),
		},
		{
			name: "error, first status, dry run",
			edit: func(n *gatekeeper.Notification) {
				n.To, n.DryRun = gatekeeper.Error, true
				n.Description = "Error: policy error: rego_parse_error: unexpected eof token"
				n.Reasons = []string{"policy error: rego_parse_error: unexpected eof token"}
			},
			want: section(
				":warning: Release gate error on Codertocat/Hello-World#2 “Update the README with new information.”: policy error: rego_parse_error: unexpected eof token (dry run: status not posted to GitHub)",
				":warning: *<"+details+"|Update the README with new information.>*\n"+
					"Release gate error on Codertocat/Hello-World#2: policy error: rego_parse_error: unexpected eof token\n"+
					"*State:* `error` · *Head:* `ec26c3e`\n"+
					"• policy error: rego_parse_error: unexpected eof token\n"+
					"_(dry run: status not posted to GitHub)_",
				details),
		},
		{
			name: "no longer ready",
			edit: func(n *gatekeeper.Notification) {
				n.From, n.To = gatekeeper.Success, gatekeeper.Pending
				n.Description = "Waiting for: jenkins build of ec26c3e"
			},
			want: section(
				":hourglass: Release Codertocat/Hello-World#2 “Update the README with new information.” is no longer ready: Waiting for: jenkins build of ec26c3e",
				":hourglass: *<"+details+"|Update the README with new information.>*\n"+
					"Release Codertocat/Hello-World#2 is no longer ready: Waiting for: jenkins build of ec26c3e\n"+
					"*State:* `pending` (was `success`) · *Head:* `ec26c3e`",
				details),
		},
		{
			name: "many reasons, no title, no details page",
			edit: func(n *gatekeeper.Notification) {
				n.From, n.To = gatekeeper.Pending, gatekeeper.Failure
				n.Title, n.TargetURL, n.Description = "", "", "Failing"
				n.Reasons = []string{"r1", "r2", "r3", "r4", "r5", "r6", "r7"}
			},
			want: section(
				":no_entry: Release Codertocat/Hello-World#2 is blocked: Failing",
				":no_entry: *Codertocat/Hello-World#2*\n"+
					"Release Codertocat/Hello-World#2 is blocked: Failing\n"+
					"*State:* `failure` (was `pending`) · *Head:* `ec26c3e`\n"+
					"• r1\n• r2\n• r3\n• r4\n• r5\n_…and 2 more_",
				""),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeSlack(t)
			n, _ := newTestNotifier(t, f, newFakeClock())
			if err := n.Notify(context.Background(), base(t, tt.edit)); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := f.posts()
			if len(got) != 1 {
				t.Fatalf("got %d posts, want 1", len(got))
			}
			if got[0].Path != secretPath || got[0].ContentType != "application/json" {
				t.Errorf("posted to %q as %q, want %q as application/json", got[0].Path, got[0].ContentType, secretPath)
			}
			if diff := cmp.Diff(decode(t, []byte(tt.want)), decode(t, got[0].Body)); diff != "" {
				t.Errorf("payload (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMessageEscapesGitHubText checks that markup in a title, a
// description, a reason, a channel or a sha reaches Slack as text.
func TestMessageEscapesGitHubText(t *testing.T) {
	t.Parallel()
	n := fixtureNotification(t)
	n.From, n.To, n.Channel = gatekeeper.Pending, gatekeeper.Success, "<!here>"
	n.Title = "<script>alert(1)</script> & <!channel> <https://evil.example|click>\nsecond line"
	n.SHA = "<b>&</b>"
	n.Reasons = []string{"<@U123> & <#C123>"}
	msg := buildMessage(n)

	wantText := ":white_check_mark: Release Codertocat/Hello-World#2 “&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt; " +
		"&lt;https://evil.example|click&gt; second line” is ready to merge (channel &lt;!here&gt;)"
	if diff := cmp.Diff(wantText, msg.Text); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	wantSection := ":white_check_mark: *<https://gate.example.com/pulls/Codertocat/Hello-World/2|" +
		"&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt; &lt;https://evil.example|click&gt; second line>*\n" +
		"Release Codertocat/Hello-World#2 is ready to merge (channel &lt;!here&gt;)\n" +
		"*State:* `success` (was `pending`) · *Head:* `&lt;b&gt;&amp;&lt;/b`\n" +
		"• &lt;@U123&gt; &amp; &lt;#C123&gt;"
	if diff := cmp.Diff(wantSection, msg.Blocks[0].Text.Text); diff != "" {
		t.Errorf("section (-want +got):\n%s", diff)
	}
}

func TestEscape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		limit int
		want  string
	}{
		{name: "plain", in: "Release 2026-03-02", limit: 50, want: "Release 2026-03-02"},
		{name: "reserved characters", in: "a & b <c> d", limit: 50, want: "a &amp; b &lt;c&gt; d"},
		{name: "entity-looking text is escaped again", in: "&lt;", limit: 50, want: "&amp;lt;"},
		{name: "control characters and runs of space", in: "a\n\tb\r\n\x00  c ", limit: 50, want: "a b c"},
		{name: "exactly at the limit", in: "abcde", limit: 5, want: "abcde"},
		{name: "cut with ellipsis", in: "abcdef", limit: 5, want: "abcd…"},
		{name: "entity never cut", in: "abc&d", limit: 6, want: "abc…"},
		{name: "runes, not bytes", in: "ééééé", limit: 5, want: "ééééé"},
		{name: "invalid utf-8", in: "a\xffb", limit: 10, want: "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := escape(tt.in, tt.limit); got != tt.want {
				t.Errorf("escape(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
		})
	}
}

func TestLinkURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{name: "details page", in: "https://gate.example.com/pulls/o/r/2", want: "https://gate.example.com/pulls/o/r/2"},
		{name: "ampersand escaped", in: "http://gate.example.com/p?a=1&b=2", want: "http://gate.example.com/p?a=1&amp;b=2"},
		{name: "empty", in: "", want: ""},
		{name: "relative", in: "/pulls/o/r/2", want: ""},
		{name: "javascript", in: "javascript:alert(1)", want: ""},
		{name: "pipe would end the link", in: "https://gate.example.com/a|b", want: ""},
		{name: "angle bracket would end the link", in: "https://gate.example.com/a>b", want: ""},
		{name: "too long", in: "https://gate.example.com/" + strings.Repeat("a", maxLinkURL), want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := linkURL(tt.in); got != tt.want {
				t.Errorf("linkURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestMessageWithinSlackLimits fills every field to the worst case (each
// character escaping to five) and checks Slack's section limit holds.
func TestMessageWithinSlackLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("&", 10_000)
	reasons := make([]string, 50)
	for i := range reasons {
		reasons[i] = long
	}
	n := gatekeeper.Notification{
		Key:   gatekeeper.PullKey{Owner: strings.Repeat("o", 39), Repo: strings.Repeat("r", 100), Number: 1 << 30},
		Title: long, SHA: long, From: gatekeeper.Success, To: gatekeeper.Pending, Description: long,
		Reasons: reasons, Channel: long, DryRun: true,
		TargetURL: "https://gate.example.com/" + strings.Repeat("a", maxLinkURL-len("https://gate.example.com/")),
	}
	for _, to := range []gatekeeper.State{gatekeeper.Success, gatekeeper.Failure, gatekeeper.Error, gatekeeper.Pending, "odd"} {
		n.To = to
		msg := buildMessage(n)
		if msg.Blocks[0].Accessory == nil {
			t.Fatalf("%s: the longest allowed details URL was dropped", to)
		}
		if got := utf8.RuneCountInString(msg.Blocks[0].Text.Text); got > maxSectionText {
			t.Errorf("%s: section text has %d characters, Slack allows %d", to, got, maxSectionText)
		}
		if got := utf8.RuneCountInString(msg.Text); got > maxSectionText {
			t.Errorf("%s: fallback text has %d characters, want at most %d", to, got, maxSectionText)
		}
	}
}

// TestMessageShapeMatchesSlackSample checks that every key the section
// sends is one Slack's own incoming-webhook sample uses at that place,
// with the same kind of value.
func TestMessageShapeMatchesSlackSample(t *testing.T) {
	t.Parallel()
	sample := decode(t, readFixture(t, "slack/incoming-webhook.blocks.template.json")).(map[string]any)
	sampleSection := sample["blocks"].([]any)[0]

	n := fixtureNotification(t)
	n.To, n.Reasons = gatekeeper.Failure, []string{"QA approval missing"}
	b, err := json.Marshal(buildMessage(n))
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, b).(map[string]any)
	if _, ok := sample["text"].(string); !ok {
		t.Fatal("the sample has no top-level text; the fixture changed")
	}
	if _, ok := got["text"].(string); !ok {
		t.Error("no top-level text: mobile notifications would be empty")
	}
	blocks, _ := got["blocks"].([]any)
	if len(blocks) != 1 {
		t.Fatalf("got %d blocks, want 1", len(blocks))
	}
	if extra := extraKeys(sampleSection, blocks[0], "blocks[0]"); len(extra) > 0 {
		t.Errorf("keys not in Slack's sample section: %v", extra)
	}
	if _, ok := blocks[0].(map[string]any)["accessory"]; !ok {
		t.Error("no Details button")
	}
}

// extraKeys lists the paths in got that have no counterpart of the same
// JSON kind in want.
func extraKeys(want, got any, path string) []string {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if !wok || !gok {
		if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			return []string{fmt.Sprintf("%s (%T, sample has %T)", path, got, want)}
		}
		return nil
	}
	var out []string
	for k, gv := range gm {
		wv, ok := wm[k]
		if !ok {
			out = append(out, path+"."+k)
			continue
		}
		out = append(out, extraKeys(wv, gv, path+"."+k)...)
	}
	sort.Strings(out)
	return out
}

// FuzzMessage checks, for any title, description, reason and sha, that the
// payload is valid JSON, that the fallback text holds no markup at all,
// that the section's only markup is the link to the details page, that
// every & starts one of the three entities, and that the title survives,
// unescaped, in the fallback text.
func FuzzMessage(f *testing.F) {
	f.Add("Update the README with new information.", "Failing: QA approval missing", "coverage 71% < 80%", "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
	f.Add("<script>alert(1)</script>", "a & b", "<!channel>", "<>&")
	f.Add("&amp;lt;", ">|<https://x|y>", "\n*bold*\n", "")
	f.Add("\xff\xfe<", "", "", "\x00")
	f.Fuzz(func(t *testing.T, title, desc, reason, sha string) {
		const details = "https://gate.example.com/pulls/o/r/2"
		for _, to := range []gatekeeper.State{gatekeeper.Success, gatekeeper.Failure, gatekeeper.Error, gatekeeper.Pending} {
			n := gatekeeper.Notification{
				Key: gatekeeper.PullKey{Owner: "o", Repo: "r", Number: 2}, Title: title, SHA: sha,
				From: gatekeeper.Success, To: to, Description: desc, Reasons: []string{reason, title},
				Channel: reason, TargetURL: details,
			}
			b, err := json.Marshal(buildMessage(n))
			if err != nil {
				t.Fatalf("encoding: %v", err)
			}
			if !json.Valid(b) {
				t.Fatalf("invalid JSON: %s", b)
			}
			var msg message
			if err := json.Unmarshal(b, &msg); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if strings.ContainsAny(msg.Text, "<>") {
				t.Fatalf("fallback text has markup: %q", msg.Text)
			}
			checkEntities(t, msg.Text)
			sec := msg.Blocks[0].Text.Text
			prefix := ":" // the emoji, then " *<details|"
			link := "*<" + details + "|"
			i := strings.Index(sec, link)
			if !strings.HasPrefix(sec, prefix) || i < 0 {
				t.Fatalf("section does not open with the link: %q", sec)
			}
			end := strings.Index(sec[i:], ">*\n")
			if end < 0 {
				t.Fatalf("link not closed: %q", sec)
			}
			rest := sec[:i] + sec[i+len(link):i+end] + sec[i+end+len(">*\n"):]
			if strings.ContainsAny(rest, "<>") {
				t.Fatalf("section has markup besides the link: %q", sec)
			}
			checkEntities(t, rest)
			if utf8.RuneCountInString(sec) > maxSectionText {
				t.Fatalf("section has %d characters", utf8.RuneCountInString(sec))
			}
			// string([]rune(…)) makes one U+FFFD per bad byte, as escape does.
			clean := strings.Join(strings.Fields(string([]rune(title))), " ")
			if clean != "" && utf8.RuneCountInString(clean)*5 < maxTitle && !strings.ContainsFunc(clean, isControl) &&
				!strings.Contains(unescape(msg.Text), "“"+clean+"”") {
				t.Fatalf("title %q lost from the fallback text %q", clean, msg.Text)
			}
		}
	})
}

// checkEntities fails when an & in s does not start &amp; &lt; or &gt;.
func checkEntities(t *testing.T, s string) {
	t.Helper()
	for i := strings.IndexByte(s, '&'); i >= 0; {
		rest := s[i:]
		if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
			t.Fatalf("bare & at %d in %q", i, s)
		}
		next := strings.IndexByte(s[i+1:], '&')
		if next < 0 {
			break
		}
		i += 1 + next
	}
}

// unescape reverses escape's entities.
func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }
