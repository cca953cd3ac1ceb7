package webhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/webhooks"
)

const slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// slackNow is the clock of the Slack endpoint in these tests.
var slackNow = time.Date(2024, 5, 6, 10, 30, 0, 0, time.UTC)

// slackSign is Slack's v0 signature of body at timestamp ts.
func slackSign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// slackBody is an interaction as Slack posts it: payload=<JSON>, form
// encoded.
func slackBody(t testing.TB, payload any) []byte {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(url.Values{"payload": {string(b)}}.Encode())
}

// pressPayload is a block_actions payload: user pressed action on key.
func pressPayload(user, action, key, ts string) map[string]any {
	return map[string]any{
		"type": "block_actions", "team": map[string]any{"id": "T0001"},
		"user":       map[string]any{"id": user, "team_id": "T0001"},
		"trigger_id": "trigger-" + ts, "response_url": "",
		"actions": []any{map[string]any{"action_id": action, "value": key, "action_ts": ts, "type": "button"}},
	}
}

// submitPayload is a view_submission of the NOGO modal.
func submitPayload(user, viewID, key, reason string) map[string]any {
	return map[string]any{
		"type": "view_submission", "team": map[string]any{"id": "T0001"},
		"user": map[string]any{"id": user, "team_id": "T0001"},
		"view": map[string]any{
			"id": viewID, "callback_id": gatekeeper.SlackNogoCallback, "private_metadata": key,
			"state": map[string]any{"values": map[string]any{
				gatekeeper.SlackReasonBlock: map[string]any{gatekeeper.SlackReasonAction: map[string]any{"type": "plain_text_input", "value": reason}},
			}},
		},
	}
}

// slackHarness is the harness with the Slack endpoint enabled: U-QA is
// qa-frank, and the modal opener records what it was asked.
type slackHarness struct {
	*harness
	mu     sync.Mutex
	opened []string // trigger ids
}

func newSlackHarness(t testing.TB, edit ...func(*webhooks.SlackOptions)) *slackHarness {
	t.Helper()
	sh := &slackHarness{}
	sh.harness = newHarness(t, func(o *webhooks.Options) {
		o.Slack = webhooks.SlackOptions{
			SigningSecret: []byte(slackSecret),
			Voter: func(team, user string) (string, bool) {
				if team == "T0001" && user == "U-QA" {
					return "qa-frank", true
				}
				return "", false
			},
			OpenReason: func(_ context.Context, trigger string, _ gatekeeper.PullKey) error {
				sh.mu.Lock()
				defer sh.mu.Unlock()
				sh.opened = append(sh.opened, trigger)
				return nil
			},
			Votes: true,
			Now:   func() time.Time { return slackNow },
		}
		for _, e := range edit {
			e(&o.Slack)
		}
	})
	// The pull request must be known: a Slack vote never starts tracking.
	if w := sh.deliver(t, "pull_request", "d-open", readFixture(t, "pull_request.opened.json")); w.Code != http.StatusAccepted {
		t.Fatalf("opening the pull request: %d %s", w.Code, w.Body)
	}
	return sh
}

func (sh *slackHarness) post(t testing.TB, body []byte, ts, sig string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/webhooks/slack", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if ts != "" {
		r.Header.Set("X-Slack-Request-Timestamp", ts)
	}
	if sig != "" {
		r.Header.Set("X-Slack-Signature", sig)
	}
	w := httptest.NewRecorder()
	sh.handler.ServeHTTP(w, r)
	return w
}

// slackVotes returns the Slack votes recorded for the hello pull request.
func (sh *slackHarness) slackVotes(t testing.TB) []gatekeeper.SlackVote {
	t.Helper()
	ev, err := sh.store.Evidence(context.Background(), helloKey)
	if err != nil {
		t.Fatal(err)
	}
	return ev.SlackVotes
}

func TestSlackSignature(t *testing.T) {
	t.Parallel()
	now := strconv.FormatInt(slackNow.Unix(), 10)
	body := func(t testing.TB) []byte {
		return slackBody(t, pressPayload("U-QA", gatekeeper.SlackActionGo, helloKey.String(), "1714991400.000100"))
	}
	tests := []struct {
		name   string
		ts     func(b []byte) (ts, sig string)
		tamper func(b []byte) []byte
		want   int
		votes  int
	}{
		{name: "signed now", ts: func(b []byte) (string, string) { return now, slackSign(slackSecret, now, b) }, want: 200, votes: 1},
		{name: "signed 4m59s ago", ts: func(b []byte) (string, string) {
			ts := strconv.FormatInt(slackNow.Add(-299*time.Second).Unix(), 10)
			return ts, slackSign(slackSecret, ts, b)
		}, want: 200, votes: 1},
		{name: "signed 5m01s ago", ts: func(b []byte) (string, string) {
			ts := strconv.FormatInt(slackNow.Add(-301*time.Second).Unix(), 10)
			return ts, slackSign(slackSecret, ts, b)
		}, want: 401},
		{name: "signed an hour ahead", ts: func(b []byte) (string, string) {
			ts := strconv.FormatInt(slackNow.Add(time.Hour).Unix(), 10)
			return ts, slackSign(slackSecret, ts, b)
		}, want: 401},
		{name: "wrong secret", ts: func(b []byte) (string, string) { return now, slackSign("another-secret", now, b) }, want: 401},
		{name: "signature of another timestamp", ts: func(b []byte) (string, string) {
			return now, slackSign(slackSecret, strconv.FormatInt(slackNow.Unix()-1, 10), b)
		}, want: 401},
		{name: "body changed after signing", ts: func(b []byte) (string, string) { return now, slackSign(slackSecret, now, b) },
			tamper: func(b []byte) []byte { return bytes.Replace(b, []byte("U-QA"), []byte("U-QB"), 1) }, want: 401},
		{name: "no signature", ts: func([]byte) (string, string) { return now, "" }, want: 401},
		{name: "no timestamp", ts: func(b []byte) (string, string) { return "", slackSign(slackSecret, now, b) }, want: 401},
		{name: "timestamp not a number", ts: func(b []byte) (string, string) { return "soon", slackSign(slackSecret, "soon", b) }, want: 401},
		{name: "huge timestamp", ts: func(b []byte) (string, string) {
			return "99999999999999999999", slackSign(slackSecret, "99999999999999999999", b)
		}, want: 401},
		{name: "v1 prefix", ts: func(b []byte) (string, string) {
			return now, strings.Replace(slackSign(slackSecret, now, b), "v0=", "v1=", 1)
		}, want: 401},
		{name: "upper-case hex", ts: func(b []byte) (string, string) {
			s := slackSign(slackSecret, now, b)
			return now, "v0=" + strings.ToUpper(s[3:])
		}, want: 200, votes: 1},
		{name: "truncated signature", ts: func(b []byte) (string, string) { return now, slackSign(slackSecret, now, b)[:40] }, want: 401},
		{name: "GitHub's header form", ts: func(b []byte) (string, string) { return now, sign(slackSecret, b) }, want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sh := newSlackHarness(t)
			b := body(t)
			ts, sig := tt.ts(b)
			if tt.tamper != nil {
				b = tt.tamper(b)
			}
			w := sh.post(t, b, ts, sig)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			if got := len(sh.slackVotes(t)); got != tt.votes {
				t.Errorf("%d Slack votes recorded, want %d", got, tt.votes)
			}
			if tt.want == 401 && !strings.Contains(w.Body.String(), "Slack signature") {
				t.Errorf("401 body %s does not say what is wrong", w.Body)
			}
		})
	}
}

func TestSlackWithoutSecretRefusesEveryone(t *testing.T) {
	t.Parallel()
	sh := newSlackHarness(t, func(o *webhooks.SlackOptions) { o.SigningSecret = nil })
	now := strconv.FormatInt(slackNow.Unix(), 10)
	b := slackBody(t, pressPayload("U-QA", gatekeeper.SlackActionGo, helloKey.String(), "1.1"))
	for _, sig := range []string{slackSign("", now, b), slackSign(slackSecret, now, b)} {
		if w := sh.post(t, b, now, sig); w.Code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", w.Code)
		}
	}
	if n := len(sh.slackVotes(t)); n != 0 {
		t.Errorf("%d votes recorded", n)
	}
}

func TestSlackReplayRecordsOnce(t *testing.T) {
	t.Parallel()
	sh := newSlackHarness(t)
	now := strconv.FormatInt(slackNow.Unix(), 10)
	b := slackBody(t, pressPayload("U-QA", gatekeeper.SlackActionGo, helloKey.String(), "1714991400.000100"))
	sig := slackSign(slackSecret, now, b)
	for i := 0; i < 3; i++ {
		if w := sh.post(t, b, now, sig); w.Code != http.StatusOK {
			t.Fatalf("press %d: status %d %s", i, w.Code, w.Body)
		}
	}
	votes := sh.slackVotes(t)
	if len(votes) != 1 {
		t.Fatalf("%d Slack votes after a replayed press, want 1: %+v", len(votes), votes)
	}
	v := votes[0]
	if v.Voter != "qa-frank" || v.SlackUser != "U-QA" || v.Command.Kind != "go" || v.CommentID != 0 {
		t.Errorf("vote %+v, want a pending GO by qa-frank", v)
	}
	// A replay of the same press with a new timestamp is the same press.
	later := strconv.FormatInt(slackNow.Unix()+60, 10)
	if w := sh.post(t, b, later, slackSign(slackSecret, later, b)); w.Code != http.StatusOK {
		t.Fatalf("re-signed replay: %d", w.Code)
	}
	if n := len(sh.slackVotes(t)); n != 1 {
		t.Errorf("%d Slack votes after a re-signed replay, want 1", n)
	}
}

func TestSlackNogoAsksThenRecords(t *testing.T) {
	t.Parallel()
	sh := newSlackHarness(t)
	now := strconv.FormatInt(slackNow.Unix(), 10)
	press := slackBody(t, pressPayload("U-QA", gatekeeper.SlackActionNogo, helloKey.String(), "1714991401.000200"))
	if w := sh.post(t, press, now, slackSign(slackSecret, now, press)); w.Code != http.StatusOK {
		t.Fatalf("NOGO press: %d %s", w.Code, w.Body)
	}
	if len(sh.slackVotes(t)) != 0 {
		t.Fatal("a NOGO press recorded a vote before its reason")
	}
	if len(sh.opened) != 1 || sh.opened[0] != "trigger-1714991401.000200" {
		t.Fatalf("modal opened with %v, want the press's trigger id", sh.opened)
	}

	empty := slackBody(t, submitPayload("U-QA", "V-1", helloKey.String(), "   "))
	w := sh.post(t, empty, now, slackSign(slackSecret, now, empty))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"response_action":"errors"`) {
		t.Fatalf("empty reason: %d %s, want the modal's errors", w.Code, w.Body)
	}
	if len(sh.slackVotes(t)) != 0 {
		t.Fatal("a NOGO without a reason was recorded")
	}

	sub := slackBody(t, submitPayload("U-QA", "V-2", helloKey.String(), "smoke test\n/go failed on staging"))
	w = sh.post(t, sub, now, slackSign(slackSecret, now, sub))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"response_action":"clear"`) {
		t.Fatalf("submission: %d %s", w.Code, w.Body)
	}
	votes := sh.slackVotes(t)
	if len(votes) != 1 {
		t.Fatalf("%d votes, want 1", len(votes))
	}
	want := gatekeeper.Command{Kind: "nogo", Reason: "smoke test /go failed on staging"}
	if votes[0].Command != want || votes[0].Voter != "qa-frank" {
		t.Errorf("vote %+v, want %+v by qa-frank", votes[0], want)
	}
}

func TestSlackUnmappedUserDoesNotVote(t *testing.T) {
	t.Parallel()
	sh := newSlackHarness(t)
	now := strconv.FormatInt(slackNow.Unix(), 10)
	for _, p := range []map[string]any{
		pressPayload("U-STRANGER", gatekeeper.SlackActionGo, helloKey.String(), "1.2"),
		submitPayload("U-STRANGER", "V-9", helloKey.String(), "no"),
		// The right user id from another workspace.
		func() map[string]any {
			p := pressPayload("U-QA", gatekeeper.SlackActionGo, helloKey.String(), "1.3")
			p["team"] = map[string]any{"id": "T0002"}
			return p
		}(),
	} {
		b := slackBody(t, p)
		if w := sh.post(t, b, now, slackSign(slackSecret, now, b)); w.Code != http.StatusOK {
			t.Errorf("status %d %s, want 200 (Slack shows nothing else)", w.Code, w.Body)
		}
	}
	if n := len(sh.slackVotes(t)); n != 0 {
		t.Errorf("%d votes recorded for unmapped users", n)
	}
	if len(sh.opened) != 0 {
		t.Errorf("a modal opened for an unmapped user")
	}
}

func TestSlackMalformedPayloads(t *testing.T) {
	t.Parallel()
	sh := newSlackHarness(t)
	now := strconv.FormatInt(slackNow.Unix(), 10)
	for _, tt := range []struct {
		name string
		body string
		want int
	}{
		{"not a form", "%zz", 400},
		{"no payload", "token=abc", 400},
		{"payload not JSON", "payload=%7Bnot", 400},
		{"no user", url.Values{"payload": {`{"type":"block_actions","actions":[{"action_id":"gatekeeper_go","value":"a/b#1","action_ts":"1"}]}`}}.Encode(), 400},
		{"bad key", url.Values{"payload": {`{"type":"block_actions","user":{"id":"U-QA"},"actions":[{"action_id":"gatekeeper_go","value":"a/b#x","action_ts":"1"}]}`}}.Encode(), 400},
		{"another button", url.Values{"payload": {`{"type":"block_actions","user":{"id":"U-QA"},"actions":[{"action_id":"details","value":"","action_ts":"1"}]}`}}.Encode(), 200},
		{"modal closed", url.Values{"payload": {`{"type":"view_closed","user":{"id":"U-QA"}}`}}.Encode(), 200},
		{"unknown pull request", url.Values{"payload": {`{"type":"block_actions","team":{"id":"T0001"},"user":{"id":"U-QA"},"actions":[{"action_id":"gatekeeper_go","value":"a/b#1","action_ts":"1"}]}`}}.Encode(), 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.body)
			w := sh.post(t, b, now, slackSign(slackSecret, now, b))
			if w.Code != tt.want {
				t.Errorf("status %d, want %d; %s", w.Code, tt.want, w.Body)
			}
		})
	}
	if n := len(sh.slackVotes(t)); n != 0 {
		t.Errorf("%d votes recorded", n)
	}
}

// FuzzSlackInteraction feeds the endpoint arbitrary bodies, both signed
// (so that the parser runs) and with an arbitrary signature: it must
// never panic or answer 5xx, a body signed with another key is always
// 401, and anything recorded is a vote by the mapped user.
func FuzzSlackInteraction(f *testing.F) {
	seed := func(p any) []byte {
		b, _ := json.Marshal(p)
		return []byte(url.Values{"payload": {string(b)}}.Encode())
	}
	f.Add(seed(pressPayload("U-QA", gatekeeper.SlackActionGo, "Codertocat/Hello-World#2", "1.1")), "v0=00")
	f.Add(seed(submitPayload("U-QA", "V1", "Codertocat/Hello-World#2", "because")), "v0=")
	f.Add([]byte("payload=%7B%7D"), "")
	f.Add([]byte("payload=null"), "v0=zz")
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		sh := newSlackHarness(t)
		now := strconv.FormatInt(slackNow.Unix(), 10)
		w := sh.post(t, body, now, slackSign(slackSecret, now, body))
		if w.Code >= 500 || (w.Code != 200 && w.Code != 400 && w.Code != 413) {
			t.Fatalf("signed body: status %d %s", w.Code, w.Body)
		}
		if sig != slackSign(slackSecret, now, body) {
			if w := sh.post(t, body, now, sig); w.Code != http.StatusUnauthorized {
				t.Fatalf("body with signature %q: status %d, want 401", sig, w.Code)
			}
		}
		for _, v := range sh.slackVotes(t) {
			if v.Voter != "qa-frank" || v.SlackUser != "U-QA" {
				t.Fatalf("vote %+v by someone not mapped", v)
			}
			if v.Command.Kind == "nogo" && strings.TrimSpace(v.Command.Reason) == "" {
				t.Fatalf("NOGO without a reason: %+v", v)
			}
		}
	})
}

// TestSlackNoVoteWithoutTheMeans: without GitHub access no vote can be
// echoed, and without a bot token the NOGO form cannot open; either way
// nothing is recorded and no form opens.
func TestSlackNoVoteWithoutTheMeans(t *testing.T) {
	t.Parallel()
	now := strconv.FormatInt(slackNow.Unix(), 10)
	for _, tt := range []struct {
		name   string
		edit   func(*webhooks.SlackOptions)
		action string
	}{
		{"no GitHub token, GO", func(o *webhooks.SlackOptions) { o.Votes = false }, gatekeeper.SlackActionGo},
		{"no GitHub token, NOGO", func(o *webhooks.SlackOptions) { o.Votes = false }, gatekeeper.SlackActionNogo},
		{"no bot token, NOGO", func(o *webhooks.SlackOptions) { o.OpenReason = nil }, gatekeeper.SlackActionNogo},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sh := newSlackHarness(t, tt.edit)
			b := slackBody(t, pressPayload("U-QA", tt.action, helloKey.String(), "1.5"))
			if w := sh.post(t, b, now, slackSign(slackSecret, now, b)); w.Code != http.StatusOK {
				t.Fatalf("status %d %s", w.Code, w.Body)
			}
			if n := len(sh.slackVotes(t)); n != 0 || len(sh.opened) != 0 {
				t.Errorf("%d votes recorded, %d forms opened; want none", n, len(sh.opened))
			}
		})
	}
}

func TestSlackGetIs405(t *testing.T) {
	t.Parallel()
	sh := newSlackHarness(t)
	if w := sh.get(t, "/webhooks/slack"); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
		t.Errorf("GET: %d Allow %q, want 405 POST", w.Code, w.Header().Get("Allow"))
	}
}

// BenchmarkSlackPress measures one signed GO press through the endpoint:
// verify, parse, map, record (the in-memory store), answer.
func BenchmarkSlackPress(b *testing.B) {
	sh := newSlackHarness(b)
	now := strconv.FormatInt(slackNow.Unix(), 10)
	bodies := make([][]byte, b.N)
	sigs := make([]string, b.N)
	for i := range bodies {
		bodies[i] = slackBody(b, pressPayload("U-QA", gatekeeper.SlackActionGo, helloKey.String(), "1714991400."+strconv.Itoa(i)))
		sigs[i] = slackSign(slackSecret, now, bodies[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w := sh.post(b, bodies[i], now, sigs[i]); w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// TestSlackGoIsForTheHeadItsMessageShowed: a button names the head its
// message was about; the GO is that head's vote. A press on a message
// about an older head is recorded for that head (it never counts on the
// newer one); a button without a head (an older message) votes on the
// head when the press is recorded; a malformed head is refused.
func TestSlackGoIsForTheHeadItsMessageShowed(t *testing.T) {
	t.Parallel()
	sh := newSlackHarness(t)
	ev, err := sh.store.Evidence(context.Background(), helloKey)
	if err != nil {
		t.Fatal(err)
	}
	current, older := ev.HeadSHA(), "0b1d4a7c9e2f44d1a4c2b9e8f7a6d5c4b3a2f1e0"
	now := strconv.FormatInt(slackNow.Unix(), 10)
	press := func(value, ts string) *httptest.ResponseRecorder {
		b := slackBody(t, pressPayload("U-QA", gatekeeper.SlackActionGo, value, ts))
		return sh.post(t, b, now, slackSign(slackSecret, now, b))
	}
	for i, tt := range []struct {
		value, head string
	}{
		{gatekeeper.SlackButtonValue(helloKey, older), older},
		{gatekeeper.SlackButtonValue(helloKey, current), current},
		{helloKey.String(), current},
	} {
		if w := press(tt.value, "1714991400.00010"+strconv.Itoa(i)); w.Code != http.StatusOK {
			t.Fatalf("press on %q: %d %s", tt.value, w.Code, w.Body)
		}
		votes := sh.slackVotes(t)
		if len(votes) != 1 || votes[0].HeadSHA != tt.head {
			t.Errorf("press on %q: votes %+v, want one pending GO on %s", tt.value, votes, tt.head)
		}
	}
	if w := press(helloKey.String()+"@not-a-sha", "1714991400.000200"); w.Code != http.StatusBadRequest {
		t.Errorf("press with a malformed head: %d %s, want 400", w.Code, w.Body)
	}
}
