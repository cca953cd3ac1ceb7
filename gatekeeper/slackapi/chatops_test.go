package slackapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var chatKey = gatekeeper.PullKey{Owner: "acme", Repo: "payments", Number: 42}

// fakeAPI is Slack's Web API and response_urls on 127.0.0.1.
type fakeAPI struct {
	*httptest.Server
	mu     sync.Mutex
	calls  []apiCall
	answer string
}

type apiCall struct {
	Path, Auth string
	Body       map[string]any
}

func newFakeAPI(t *testing.T, answer string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		f.mu.Lock()
		f.calls = append(f.calls, apiCall{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: body})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, f.answer)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) Calls() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

func TestOpenReason(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t, `{"ok":true}`)
	in, err := NewInteractor(InteractOptions{APIURL: api.URL + "/api", BotToken: "xoxb-test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.OpenReason(context.Background(), "trig-1", chatKey); err != nil {
		t.Fatal(err)
	}
	calls := api.Calls()
	if len(calls) != 1 || calls[0].Path != "/api/views.open" || calls[0].Auth != "Bearer xoxb-test" || calls[0].Body["trigger_id"] != "trig-1" {
		t.Fatalf("calls %+v, want one views.open with the token and trigger id", calls)
	}
	view := calls[0].Body["view"].(map[string]any)
	if view["callback_id"] != gatekeeper.SlackNogoCallback || view["private_metadata"] != "acme/payments#42" {
		t.Errorf("view %v", view)
	}
	input := view["blocks"].([]any)[1].(map[string]any)
	if input["block_id"] != gatekeeper.SlackReasonBlock || input["element"].(map[string]any)["action_id"] != gatekeeper.SlackReasonAction {
		t.Errorf("input block %v does not carry the ids the endpoint reads", input)
	}

	refusing := newFakeAPI(t, `{"ok":false,"error":"expired_trigger_id"}`)
	in2, _ := NewInteractor(InteractOptions{APIURL: refusing.URL + "/api/", BotToken: "xoxb-test"})
	if err := in2.OpenReason(context.Background(), "old", chatKey); !errors.Is(err, ErrAPI) || !strings.Contains(err.Error(), "expired_trigger_id") {
		t.Errorf("refused views.open: %v, want ErrAPI naming Slack's error", err)
	}
	noToken, _ := NewInteractor(InteractOptions{APIURL: api.URL + "/api/"})
	if noToken.CanAsk() || noToken.OpenReason(context.Background(), "t", chatKey) == nil {
		t.Error("an Interactor without a bot token opens forms")
	}
	if _, err := NewInteractor(InteractOptions{APIURL: "http://slack.example/api/"}); err == nil {
		t.Error("plain http to another host is accepted")
	}
}

// TestTellOnlySlack: a response_url is posted to only on Slack's host;
// the payload is signed, but the gatekeeper must not post wherever a
// payload points.
func TestTellOnlySlack(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t, "ok")
	in, err := NewInteractor(InteractOptions{APIURL: api.URL + "/api/"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in.Tell(ctx, api.URL+"/actions/1", "recorded <!channel>")
	in.Tell(ctx, "http://169.254.169.254/latest/meta-data", "x")
	in.Tell(ctx, "::bad", "x")
	calls := api.Calls()
	if len(calls) != 1 || calls[0].Path != "/actions/1" {
		t.Fatalf("calls %+v, want only the Slack-hosted response_url", calls)
	}
	if calls[0].Body["response_type"] != "ephemeral" || calls[0].Body["text"] != "recorded &lt;!channel&gt;" {
		t.Errorf("answer %v, want an ephemeral, escaped text", calls[0].Body)
	}
	prod, _ := NewInteractor(InteractOptions{})
	if !prod.hosts["hooks.slack.com"] || len(prod.hosts) != 1 || !prod.secure {
		t.Errorf("production hosts %v secure %v, want hooks.slack.com over https only", prod.hosts, prod.secure)
	}
}

func TestSummaryMessage(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 6, 16, 0, 0, 0, time.FixedZone("IST", 5*3600+1800))
	rows := []gatekeeper.SummaryRow{
		{Key: chatKey, Title: "Release <!channel> & co", State: gatekeeper.Pending, Description: "Waiting for approval by QA",
			TargetURL: "https://gate.example/pulls/acme/payments/42", Missing: []string{"approval by QA", "GO vote by SRE"}},
		{Key: gatekeeper.PullKey{Owner: "acme", Repo: "web", Number: 7}, State: gatekeeper.Failure, Reasons: []string{"QA veto by qa: flaky"}},
	}
	m := summaryMessage(rows, at, "IST", true)
	b, _ := json.Marshal(m)
	s := string(b)
	for _, want := range []string{
		"Go/NoGo Mon 6 May 16:00 IST", "2 open release pull requests",
		"Release \\u0026lt;!channel\\u0026gt; \\u0026amp; co", "still needs approval by QA", "still needs GO vote by SRE",
		"QA veto by qa: flaky", `"action_id":"gatekeeper_go","style":"primary","text":{"text":"GO"`, `"value":"acme/web#7"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %s:\n%s", want, s)
		}
	}
	if strings.Contains(s, "<!channel>") {
		t.Error("a title mentions the channel")
	}
	if n := len(m["blocks"].([]any)); n != 5 {
		t.Errorf("%d blocks, want a header and a section and buttons per row", n)
	}
	many := make([]gatekeeper.SummaryRow, 30)
	for i := range many {
		many[i] = gatekeeper.SummaryRow{Key: gatekeeper.PullKey{Owner: "o", Repo: "r", Number: i + 1}, State: gatekeeper.Pending}
	}
	if n := len(summaryMessage(many, at, "IST", true)["blocks"].([]any)); n > 50 {
		t.Errorf("%d blocks, over Slack's 50", n)
	}
	if !strings.Contains(mustJSON(t, summaryMessage(nil, at, "IST", false)), "no open release pull request") {
		t.Error("an empty summary does not say so")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNotifyButtons(t *testing.T) {
	t.Parallel()
	for _, buttons := range []bool{false, true} {
		f := newFakeSlack(t)
		clock := newFakeClock()
		n, err := New(Options{WebhookURL: f.URL, Clock: clock, Sleep: clock.Sleep, Buttons: buttons})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Notify(context.Background(), fixtureNotification(t)); err != nil {
			t.Fatal(err)
		}
		body := string(f.posts()[0].Body)
		if got := strings.Contains(body, `"action_id":"gatekeeper_nogo"`); got != buttons {
			t.Errorf("Buttons %v: message has buttons %v: %s", buttons, got, body)
		}
	}
}

func TestSummaryTick(t *testing.T) {
	t.Parallel()
	ist := time.FixedZone("IST", 5*3600+1800)
	due := time.Date(2024, 5, 6, 16, 0, 0, 0, ist)
	tests := []struct {
		name    string
		now     time.Time
		claimed bool // another replica claimed the day
		want    bool
	}{
		{name: "a minute early", now: due.Add(-time.Minute)},
		{name: "on time", now: due, want: true},
		{name: "ten minutes late", now: due.Add(10 * time.Minute), want: true},
		{name: "an hour late", now: due.Add(time.Hour)},
		{name: "claimed by another replica", now: due.Add(time.Minute), claimed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var claims []string
			posted := 0
			o := SummaryOptions{
				Due: func(time.Time) (time.Time, string, bool) { return due, "IST", true },
				Claim: func(_ context.Context, id string) (bool, error) {
					claims = append(claims, id)
					return !tt.claimed, nil
				},
				Rows: func(context.Context) ([]gatekeeper.SummaryRow, error) { return nil, nil },
				Post: func(context.Context, []gatekeeper.SummaryRow, time.Time, string) error {
					posted++
					return nil
				},
				Clock: fixedClock(tt.now), Late: 30 * time.Minute,
			}
			if got := SummaryTick(context.Background(), o); got != tt.want || (posted == 1) != tt.want {
				t.Errorf("posted %v (%d posts), want %v", got, posted, tt.want)
			}
			if len(claims) > 0 && claims[0] != "slack-summary:2024-05-06" {
				t.Errorf("claimed %v, want the day in the window's zone", claims)
			}
		})
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// TestVoteButtonsNameTheHead: the GO and NOGO buttons carry the head the
// message is about (a state change's commit, the summary's decision), so
// that a GO pressed on a message about an older head is that head's vote
// and never counts on a newer one.
func TestVoteButtonsNameTheHead(t *testing.T) {
	t.Parallel()
	sha := "0b1d4a7c9e2f44d1a4c2b9e8f7a6d5c4b3a2f1e0"
	want := `"value":"acme/payments#42@` + sha + `"`
	n := &Notifier{buttons: true}
	note, _ := json.Marshal(n.render(gatekeeper.Notification{Key: chatKey, SHA: sha, To: gatekeeper.Failure}))
	rows, _ := json.Marshal(summaryMessage([]gatekeeper.SummaryRow{{Key: chatKey, HeadSHA: sha, State: gatekeeper.Pending}}, time.Now(), "UTC", true))
	for name, b := range map[string][]byte{"state change": note, "summary": rows} {
		if got := strings.Count(string(b), want); got != 2 {
			t.Errorf("%s: %d buttons with %s, want GO and NOGO:\n%s", name, got, want, b)
		}
	}
}
