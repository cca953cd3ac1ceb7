package test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
)

const (
	slackSecret = "e2e-slack-signing-secret-0123456789"
	slackBot    = "xoxb-e2e-bot-token"
	// slackQA is qa-carol's Slack user id in the policy data.
	slackQA = "U0QACAROL"
)

// fakeSlack is Slack for the gatekeeper: the incoming webhook (/hook),
// the Web API (/api/views.open) and response_urls (/response/…). It
// records what it was sent.
type fakeSlack struct {
	*httptest.Server
	mu        sync.Mutex
	messages  []map[string]any // posted to the incoming webhook
	opened    []map[string]any // views.open bodies
	responses []map[string]any // posted to response_urls
	badAuth   int
}

func newFakeSlack(t *testing.T) *fakeSlack {
	t.Helper()
	f := &fakeSlack{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil || r.Method != http.MethodPost {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case r.URL.Path == "/hook":
			f.messages = append(f.messages, body)
			w.Write([]byte("ok"))
		case r.URL.Path == "/api/views.open":
			// Slack's Web API answers 200 with {"ok": …} either way.
			w.Header().Set("Content-Type", "application/json")
			if r.Header.Get("Authorization") != "Bearer "+slackBot {
				f.badAuth++
				w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
				return
			}
			f.opened = append(f.opened, body)
			w.Write([]byte(`{"ok":true,"view":{"id":"V0E2E"}}`))
		case strings.HasPrefix(r.URL.Path, "/response/"):
			f.responses = append(f.responses, body)
			w.Write([]byte("ok"))
		default:
			http.Error(w, "not_found", http.StatusNotFound)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlack) snapshot() (messages, opened, responses []map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.messages...), append([]map[string]any(nil), f.opened...),
		append([]map[string]any(nil), f.responses...)
}

// slack posts a Slack interaction payload, signed as Slack signs it now.
func (r *rig) slack(payload map[string]any) (int, string) {
	r.t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		r.t.Fatal(err)
	}
	body := []byte(url.Values{"payload": {string(b)}}.Encode())
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(slackSecret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, r.s.url("/webhooks/slack"), bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// TestSlackVotesOnTheRealBinary takes the recorded release to the point
// where only QA's GO is missing; QA presses GO in Slack, and the release
// passes: the vote was echoed on the pull request as a comment and
// counted as qa-carol's, as her /go comment would be. Then QA presses
// NOGO, the reason form opens (views.open with the press's trigger_id),
// she submits a reason, and the release fails with her veto. The gate
// change messages carry the GO/NOGO buttons, and the daily summary is
// posted once.
func TestSlackVotesOnTheRealBinary(t *testing.T) {
	t.Parallel()
	sl := newFakeSlack(t)
	ist, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	summaryAt := time.Now().In(ist).Add(-time.Minute).Format("15:04")
	r := newRig(t, rigOptions{jenkinsAPI: true, zenhub: true,
		extra: []string{
			"SLACK_WEBHOOK_URL=" + sl.URL + "/hook", "SLACK_SIGNING_SECRET=" + slackSecret,
			"SLACK_BOT_TOKEN=" + slackBot, "SLACK_API_URL=" + sl.URL + "/api/",
		},
		data: func(t *testing.T, y string) string {
			for old, repl := range map[string]string{
				"    users: {}\n":           "    users: {" + slackQA + ": " + qaUser + "}\n",
				`    summary_at: ""` + "\n": `    summary_at: "` + summaryAt + `"` + "\n",
				"      - Friday\n":          "      - Friday\n      - Saturday\n      - Sunday\n",
			} {
				if !strings.Contains(y, old) {
					t.Fatalf("data.yaml has no %q", old)
				}
				y = strings.Replace(y, old, repl, 1)
			}
			return y
		}})
	const n = 2
	r.gh.addMerged(mergedPull(t, 17, "18936fb4b760b985e35fae9aa953a349703a4c53", 1))
	r.zh.know(repoID, 1)
	payload, pr := opened(t, n, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	r.jk.addBuild(build10)
	r.jenkinsOK(notification(t, build10))
	r.jenkinsOK(pipelineReport(t, build10, chartOf(build10)))
	for i, user := range []string{leadUser, sreUser, qaUser, mgmtUser} {
		payload, review := approval(t, pr, 208201100+i, user, headA, "2019-05-15T16:0"+strconv.Itoa(i+1)+":00Z")
		r.gh.addReview(n, review)
		r.github("pull_request_review", payload)
	}
	for i, user := range []string{leadUser, sreUser} {
		payload, c := comment(t, n, int64(751955701+i), user, "/go", "2020-12-29T05:4"+strconv.Itoa(i)+":14Z")
		r.gh.addComment(c)
		r.github("issue_comment", payload)
	}
	p := r.settle(n)
	if p.Latest.Decision.State != "pending" || !strings.Contains(strings.Join(p.Latest.Decision.Waiting, "; "), "GO vote by QA") {
		t.Fatalf("before QA's vote: %s %v, want pending on QA's GO", p.Latest.Decision.State, p.Latest.Decision.Waiting)
	}

	// Someone Slack does not map presses GO: nothing is recorded.
	code, _ := r.slack(press("U0STRANGER", "gatekeeper_go", "1.0001", sl.URL))
	if code != http.StatusOK {
		t.Fatalf("stranger's press: %d", code)
	}

	// QA presses GO.
	code, body := r.slack(press(slackQA, "gatekeeper_go", "1.0002", sl.URL))
	if code != http.StatusOK {
		t.Fatalf("GO press: %d %s", code, body)
	}
	p = r.settleUntil(n, func(p pull) bool { return p.Latest.Decision.State == "success" })
	if p.Latest.Decision.State != "success" {
		t.Fatalf("after QA's Slack GO: %s %v %v, want success", p.Latest.Decision.State, p.Latest.Decision.Reasons, p.Latest.Decision.Waiting)
	}
	echoes := r.gh.Replies()
	if len(echoes) != 1 || echoes[0].Number != n || !strings.Contains(echoes[0].Body, "**GO** from @"+qaUser+", cast in Slack") {
		t.Fatalf("comments posted on GitHub %+v, want one echo of qa-carol's GO", echoes)
	}

	// The echo arrives as GitHub's issue_comment webhook, by the
	// gatekeeper's own account: it must neither count for the bot nor
	// take the vote from qa-carol.
	payload, c := comment(t, n, 990001, "release-gatekeeper[bot]", echoes[0].Body, "2020-12-29T05:49:14Z")
	r.gh.addComment(c)
	r.github("issue_comment", payload)
	if p = r.settle(n); p.Latest.Decision.State != "success" {
		t.Fatalf("after the echo's own webhook: %s %v %v", p.Latest.Decision.State, p.Latest.Decision.Reasons, p.Latest.Decision.Waiting)
	}

	// QA presses NOGO: the reason form opens, nothing is recorded yet.
	code, body = r.slack(press(slackQA, "gatekeeper_nogo", "1.0003", sl.URL))
	if code != http.StatusOK {
		t.Fatalf("NOGO press: %d %s", code, body)
	}
	_, opened, _ := sl.snapshot()
	if len(opened) != 1 || opened[0]["trigger_id"] != "trigger-1.0003" {
		t.Fatalf("views.open calls %v, want one with the press's trigger_id", opened)
	}
	view := opened[0]["view"].(map[string]any)
	if view["callback_id"] != "gatekeeper_nogo_reason" || view["private_metadata"] != "Codertocat/Hello-World#2" {
		t.Errorf("modal %v", view)
	}
	if p = r.settle(n); p.Latest.Decision.State != "success" {
		t.Fatalf("a NOGO press without a reason changed the state: %s", p.Latest.Decision.State)
	}

	code, body = r.slack(map[string]any{
		"type": "view_submission", "team": map[string]any{"id": "T0E2E"}, "user": map[string]any{"id": slackQA},
		"view": map[string]any{"id": "V0E2E", "callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
			"state": map[string]any{"values": map[string]any{"reason": map[string]any{"reason": map[string]any{"type": "plain_text_input", "value": "payments smoke test flaky"}}}}},
	})
	if code != http.StatusOK || !strings.Contains(body, `"response_action":"clear"`) {
		t.Fatalf("NOGO submission: %d %s", code, body)
	}
	p = r.settleUntil(n, func(p pull) bool { return p.Latest.Decision.State == "failure" })
	if d := strings.Join(p.Latest.Decision.Reasons, "; "); p.Latest.Decision.State != "failure" || !strings.Contains(d, "QA veto by "+qaUser+": payments smoke test flaky") {
		t.Fatalf("after QA's Slack NOGO: %s %q, want QA's veto", p.Latest.Decision.State, d)
	}
	if echoes = r.gh.Replies(); len(echoes) < 2 || !strings.Contains(echoes[1].Body, "> payments smoke test flaky") {
		t.Errorf("NOGO echo %+v", echoes)
	}

	// Gate change messages carry the buttons; the summary came once.
	messages, _, responses := sl.snapshot()
	summaries, withButtons := 0, 0
	for _, m := range messages {
		if strings.Contains(m["text"].(string), "Go/NoGo") {
			summaries++
		}
		if strings.Contains(mustString(t, m), `"action_id":"gatekeeper_nogo"`) {
			withButtons++
		}
	}
	if summaries != 1 {
		t.Errorf("%d Go/NoGo summaries posted, want 1: %v", summaries, messages)
	}
	if withButtons < 2 {
		t.Errorf("%d messages with GO/NOGO buttons, want the gate changes to carry them: %v", withButtons, messages)
	}
	// The stranger was told why their press does not count.
	told := false
	for _, resp := range responses {
		if strings.Contains(resp["text"].(string), "not mapped") {
			told = true
		}
	}
	if !told {
		t.Errorf("responses %v, want the stranger told that their account is not mapped", responses)
	}
}

// press is a block_actions payload of a GO or NOGO button on the recorded
// pull request.
func press(user, action, ts, slackURL string) map[string]any {
	return map[string]any{
		"type": "block_actions", "team": map[string]any{"id": "T0E2E"},
		"user": map[string]any{"id": user}, "trigger_id": "trigger-" + ts,
		"response_url": slackURL + "/response/" + ts,
		"actions":      []any{map[string]any{"type": "button", "action_id": action, "value": "Codertocat/Hello-World#2", "action_ts": ts}},
	}
}

func mustString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// settleUntil waits, up to 20 seconds, for the pull request's decision to
// satisfy ok, and returns the last one seen.
func (r *rig) settleUntil(n int, ok func(pull) bool) pull {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := r.settle(n)
		if ok(p) || time.Now().After(deadline) {
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSlackSummaryOncePerDayOnReplicas: three gatekeepers on one Redis,
// each with the Slack webhook, all start after the day's summary time:
// exactly one summary reaches Slack, and it lists the open release pull
// request.
func TestSlackSummaryOncePerDayOnReplicas(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	sl := newFakeSlack(t)
	gh := newFakeGitHub(t)
	ist, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	policies := policyCopy(t)
	path := filepath.Join(policies, "data.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), `    summary_at: ""`, `    summary_at: "`+time.Now().In(ist).Add(-time.Minute).Format("15:04")+`"`, 1)
	y = strings.Replace(y, "      - Friday\n", "      - Friday\n      - Saturday\n      - Sunday\n", 1)
	if y == string(b) {
		t.Fatal("data.yaml has no summary_at to set")
	}
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	store := "GATEKEEPER_STORE=" + rds.URL(6)
	github := []string{"GITHUB_API_URL=" + gh.URL + "/", "GITHUB_TOKEN=e2e-token"}

	// The release pull request is known before the replicas with Slack
	// start.
	first := startServer(t, serverOptions{policies: policies, extra: append([]string{store}, github...)})
	if code, body := first.deliver("pull_request", "slack-replicas-open", fixture(t, "github/pull_request.opened.json")); code != http.StatusAccepted {
		t.Fatalf("opened: %d %s", code, body)
	}
	first.settled("Codertocat", "Hello-World", 2)
	first.stop(syscall.SIGTERM)

	for i := 0; i < 3; i++ {
		startServer(t, serverOptions{policies: policies, extra: append([]string{store, "SLACK_WEBHOOK_URL=" + sl.URL + "/hook"}, github...)})
	}
	var summaries []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		messages, _, _ := sl.snapshot()
		summaries = summaries[:0]
		for _, m := range messages {
			if strings.Contains(m["text"].(string), "Go/NoGo") {
				summaries = append(summaries, m)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(summaries) != 1 {
		t.Fatalf("%d summaries posted by three replicas, want 1: %v", len(summaries), summaries)
	}
	if s := mustString(t, summaries[0]); !strings.Contains(s, "Codertocat/Hello-World#2") || !strings.Contains(s, "1 open release pull request") {
		t.Errorf("summary does not list the open release pull request: %s", s)
	}
}
