package webhooks_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"github.com/releasegate/gatekeeper/gatekeeper/githubauth"
	"github.com/releasegate/gatekeeper/gatekeeper/githubauth/githubauthtest"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
	"github.com/releasegate/gatekeeper/webhooks"
)

// boardRig is a real gin engine over a real gatekeeper.Service deciding
// with the shipped policy (real OPA), its Decided hook feeding the board's
// Hub. The clock is Monday 6 May 2024 10:00 UTC, 15:30 IST: half an hour
// before the Go/NoGo meeting of the shipped window.
type boardRig struct {
	store   *gatekeepertest.Store
	pub     *gatekeepertest.Publisher
	svc     *gatekeeper.Service
	engine  *opa.Engine
	hub     *webhooks.Hub
	handler http.Handler
	gh      *githubauthtest.Server // nil: pages open to all
}

// shippedPolicy loads policies/ once for the package's tests.
var shippedPolicy = sync.OnceValues(func() (*opa.Engine, error) {
	return opa.Load(context.Background(), "../policies")
})

func newBoardRig(t *testing.T, signIn bool, edit ...func(*gatekeeper.Options)) *boardRig {
	t.Helper()
	engine, err := shippedPolicy()
	if err != nil {
		t.Fatalf("loading the shipped policy: %v", err)
	}
	clock := gatekeepertest.NewClock(time.Date(2024, 5, 6, 10, 0, 0, 0, time.UTC))
	gated, err := gatekeeper.ParseBranchPairs("staging:master,changes:master")
	if err != nil {
		t.Fatal(err)
	}
	r := &boardRig{store: gatekeepertest.NewStore(clock), pub: gatekeepertest.NewPublisher(true), engine: engine, hub: webhooks.NewHub()}
	log := slog.New(slog.DiscardHandler)
	so := gatekeeper.Options{
		Store: r.store, Evaluator: engine, Publisher: r.pub, Clock: clock, Logger: log,
		Gated: gated, PublicURL: "https://gate.example", Decided: r.hub.Publish, Debounce: -1,
	}
	for _, e := range edit {
		e(&so)
	}
	r.svc, err = gatekeeper.New(so)
	if err != nil {
		t.Fatal(err)
	}
	o := webhooks.Options{
		Service: r.svc, ParseGitHub: githubevents.ParseDelivery, WebhookSecret: []byte(testSecret), Logger: log,
		Settings: engine.Settings, Hub: r.hub,
		Auth: webhooks.AuthOptions{Mode: webhooks.AuthNone, Now: clock.Now},
	}
	if signIn {
		r.gh = githubauthtest.NewServer(t)
		var payload struct {
			Repository map[string]any `json:"repository"`
		}
		if err := json.Unmarshal(readFixture(t, "pull_request.opened.json"), &payload); err != nil {
			t.Fatal(err)
		}
		r.gh.AddRepo("Codertocat/Hello-World", payload.Repository, true, "alice")
		gh, err := githubauth.New(githubauth.Options{ClientID: githubauthtest.ClientID, ClientSecret: githubauthtest.ClientSecret, APIURL: r.gh.APIURL()})
		if err != nil {
			t.Fatal(err)
		}
		o.Auth = webhooks.AuthOptions{Mode: webhooks.AuthGitHub, GitHub: gh, SessionKey: testKey, PublicURL: "https://gate.example", Now: clock.Now}
	}
	r.handler, err = webhooks.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

// accept records events as the webhook receivers would.
func (r *boardRig) accept(t *testing.T, events ...gatekeeper.Event) {
	t.Helper()
	for _, e := range events {
		if _, err := r.svc.Accept(context.Background(), e); err != nil {
			t.Fatalf("Accept %s: %v", e.Name, err)
		}
	}
}

// page GETs path with the headers given ("Name: value").
func (r *boardRig) page(t *testing.T, path string, headers ...string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	r.handler.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

// waitFor polls the page at path until it contains want.
func (r *boardRig) waitFor(t *testing.T, path, want string, headers ...string) string {
	t.Helper()
	var body string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, body = r.page(t, path, headers...); strings.Contains(body, want) {
			return body
		}
	}
	t.Fatalf("%s never showed %q; last body:\n%s", path, want, body)
	return ""
}

// releaseEvidence is the recorded pull request (changes → master) with a
// build, a QA holder's approval and GO, and a GO by someone holding no role.
func releaseEvidence(t *testing.T) []gatekeeper.Event {
	t.Helper()
	e, err := githubevents.Parse("pull_request", "delivery-1", readFixture(t, "pull_request.opened.json"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 5, 6, 9, 50, 0, 0, time.UTC)
	branch := 71.5
	return []gatekeeper.Event{e,
		{Delivery: "jenkins-1", Name: "jenkins.completed", Key: helloKey, Build: &gatekeeper.Build{
			JobPath: "job/Codertocat/job/Hello-World/job/PR-2-merge", JobName: "PR-2-merge", Number: 7, Key: helloKey,
			Strategy: "merge", HeadSHA: helloHead, MergeSHA: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", Result: "FAILURE",
			Stages: []gatekeeper.Stage{{Name: "Checkout", Key: "clone", Status: "SUCCESS"}, {Name: "Build image", Status: "SUCCESS"},
				{Name: "Deploy", Key: "deploy", Status: "FAILED"}},
			Coverage:        &gatekeeper.Coverage{Line: 84.25, Branch: &branch, Source: "coverage"},
			Vulnerabilities: &gatekeeper.VulnCounts{Medium: 4},
			ChartVersion:    "hello-world-1-2-3-1a2b3c4",
		}},
		{Delivery: "member-1", Name: "membership", Key: helloKey, Membership: &gatekeeper.Membership{Team: "releasegate/qa", User: "qa-carol", Active: true, CheckedAt: at}},
		{Delivery: "member-z0", Name: "membership", Key: helloKey, Membership: &gatekeeper.Membership{Team: "releasegate/module-leads", User: "dev-zoe", CheckedAt: at}},
		{Delivery: "member-z1", Name: "membership", Key: helloKey, Membership: &gatekeeper.Membership{Team: "releasegate/sre", User: "dev-zoe", CheckedAt: at}},
		{Delivery: "member-z2", Name: "membership", Key: helloKey, Membership: &gatekeeper.Membership{Team: "releasegate/qa", User: "dev-zoe", CheckedAt: at}},
		{Delivery: "member-z3", Name: "membership", Key: helloKey, Membership: &gatekeeper.Membership{Team: "releasegate/management", User: "dev-zoe", CheckedAt: at}},
		{Delivery: "member-z4", Name: "membership", Key: helloKey, Membership: &gatekeeper.Membership{Team: "releasegate/release-managers", User: "dev-zoe", CheckedAt: at}},
		{Delivery: "review-1", Name: "pull_request_review.submitted", Key: helloKey, Review: &gatekeeper.Review{ID: 80, User: "qa-carol", State: "APPROVED", CommitID: helloHead, SubmittedAt: at}},
		{Delivery: "comment-1", Name: "issue_comment.created", Key: helloKey, Comment: &gatekeeper.Comment{ID: 901, User: "qa-carol", Body: "/go", CreatedAt: at, UpdatedAt: at}},
		{Delivery: "comment-2", Name: "issue_comment.created", Key: helloKey, Comment: &gatekeeper.Comment{ID: 902, User: "dev-zoe", Body: "/go", CreatedAt: at, UpdatedAt: at}},
	}
}

// rowOf cuts the board row of key out of a page.
func rowOf(t *testing.T, body, id string) string {
	t.Helper()
	start := strings.Index(body, `<tr id="`+id+`"`)
	if start < 0 {
		t.Fatalf("no row %s on the board:\n%s", id, body)
	}
	end := strings.Index(body[start:], "\n</tr>")
	return body[start : start+end]
}

const helloRow = "pr-Codertocat-Hello-World-2"

// allEvidence is on a page once a decision made on all of releaseEvidence
// is: the policy's verdict on dev-zoe's GO, the last event.
const allEvidence = "only module lead, SRE, QA, management and release manager vote"

func TestBoard(t *testing.T) {
	t.Parallel()
	r := newBoardRig(t, false)
	closed, err := githubevents.Parse("pull_request", "delivery-3", readFixture(t, "pull_request.opened.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Another pull request of the same repository, closed: not on the board.
	closed.Key.Number, closed.PullRequest.Key.Number, closed.PullRequest.State = 3, 3, "closed"
	events := releaseEvidence(t)
	// A pull request title is anyone's text: the board escapes it, and
	// its policy lets no script run but its own.
	events[0].PullRequest.Title = `<img src=x onerror=alert(1)> release`
	r.accept(t, append(events, closed)...)
	body := r.waitFor(t, "/", allEvidence)
	if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt; release") || strings.Contains(body, "<img") {
		t.Errorf("the title is not escaped on the board")
	}
	w := httptest.NewRecorder()
	r.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if csp := w.Header().Get("Content-Security-Policy"); csp != "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'" {
		t.Errorf("the board's Content-Security-Policy: %q", csp)
	}
	row := rowOf(t, body, helloRow)
	for _, want := range []*regexp.Regexp{
		// The role matrix: QA's holder approved the head and voted GO.
		regexp.MustCompile(`(?s)<tr data-role="qa"><td>QA.*<span class="tag"[^>]*>veto</span>.*data-user="qa-carol" data-approved="true" data-vote="go">qa-carol <span class="pill ok">approved</span> <span class="pill ok">GO</span>`),
		// A GO by someone holding no role is shown, not counted.
		regexp.MustCompile(`(?s)<tr class="not-counted" data-user="dev-zoe"><td class="muted">no role</td><td><span class="holder">dev-zoe <span class="pill nc">GO · not counted</span> <span class="muted">only module lead, SRE, QA, management and release manager vote</span>`),
		regexp.MustCompile(`(?s)<tr data-role="module_lead"><td>module lead.*<span class="muted" title="members of releasegate/module-leads show once they review or vote">no holder known yet</span>`),
		// The seven stages, mapped with the policy's Jenkins names.
		regexp.MustCompile(`(?s)data-stage="clone" data-status="SUCCESS".*data-stage="build" data-status="SUCCESS".*data-stage="unit_tests" data-status="".*data-stage="scan".*data-stage="push".*data-stage="chart".*data-stage="deploy" data-status="FAILED"`),
		regexp.MustCompile(`(?s)84\.25% <span class="muted">\(base not known\)</span>`),
		regexp.MustCompile(`(?s)0 critical, 0 high, 4 medium, 0 low`),
		regexp.MustCompile(`(?s)<code>hello-world-1-2-3-1a2b3c4</code>`),
		// The policy's verdict and what it waits for.
		regexp.MustCompile(`(?s)<span class="pill state-(pending|failure)">`),
		regexp.MustCompile(`(?s)<ul class="reasons`),
		// Times in the window's zone, the countdowns from its data.
		regexp.MustCompile(`(?s)decided 2024-05-06 15:30:00 IST`),
		regexp.MustCompile(`(?s)Go/NoGo <span class="countdown" data-at="\d+" data-clock="16:00 IST">16:00 IST, in 30m</span> · release <span class="countdown" data-at="\d+" data-clock="17:00 IST">17:00 IST, in 1h 30m</span>`),
	} {
		if !want.MatchString(row) {
			t.Errorf("the row does not match %s:\n%s", want, row)
		}
	}
	if strings.Contains(row, `data-user="dev-zoe" data-approved`) {
		t.Errorf("dev-zoe holds no role but is shown as a holder:\n%s", row)
	}
	if strings.Contains(body, "pr-Codertocat-Hello-World-3") {
		t.Errorf("a closed pull request is on the board")
	}
	for _, want := range []string{"<b>Go/NoGo today</b>", `<script src="/board.js" defer></script>`, `<meta http-equiv="refresh" content="60">`, "times in Asia/Kolkata"} {
		if !strings.Contains(body, want) {
			t.Errorf("the board lacks %q", want)
		}
	}
	if code, js := r.page(t, "/board.js"); code != http.StatusOK || !strings.Contains(js, "new EventSource('/board/events')") {
		t.Errorf("/board.js: %d", code)
	}
}

// TestBoardShowsOnlyReadableRepositories: the board lists the releases of
// the repositories GitHub says the viewer may read, and nothing of others.
func TestBoardShowsOnlyReadableRepositories(t *testing.T) {
	t.Parallel()
	r := newBoardRig(t, true)
	r.accept(t, releaseEvidence(t)...)
	alice, bob := "Authorization: Bearer "+r.gh.Token("alice"), "Authorization: Bearer "+r.gh.Token("bob")
	r.waitFor(t, "/", allEvidence, alice)
	code, body := r.page(t, "/", bob)
	if code != http.StatusOK || strings.Contains(body, helloRow) || strings.Contains(body, "Update the README") ||
		!strings.Contains(body, "No open release pull request in a repository you may read.") {
		t.Errorf("bob's board: %d\n%s", code, body)
	}
	if code, _ := r.page(t, "/", "Authorization: Bearer gho_forged"); code != http.StatusFound {
		t.Errorf("a token GitHub refuses: %d, want a redirect to sign in", code)
	}
	if code, _ := r.page(t, "/"); code != http.StatusFound {
		t.Errorf("no sign-in: %d, want a redirect to sign in", code)
	}
	// bob's event stream carries nothing of the repository either.
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close) // after the streams' cleanups end them
	events := stream(t, srv.URL+"/board/events", bob)
	if ev := events.next(t, "ready"); ev.name != "ready" || len(events.rows) != 0 {
		t.Errorf("bob's stream sent rows: %v", events.rows)
	}
	r.accept(t, gatekeeper.Event{Delivery: "comment-3", Name: "issue_comment.created", Key: helloKey,
		Comment: &gatekeeper.Comment{ID: 903, User: "qa-carol", Body: "/nogo smoke tests red", CreatedAt: time.Date(2024, 5, 6, 9, 55, 0, 0, time.UTC), UpdatedAt: time.Date(2024, 5, 6, 9, 55, 0, 0, time.UTC)}})
	alices := stream(t, srv.URL+"/board/events", alice)
	alices.next(t, "ready")
	if len(alices.rows) != 1 {
		t.Fatalf("alice's stream: %d rows, want 1", len(alices.rows))
	}
	if ev := events.nextWithin(t, 500*time.Millisecond); ev.name == "row" {
		t.Errorf("bob's stream sent a row of a repository he may not read: %s", ev.data)
	}
}

// sse reads a server-sent event stream.
type sse struct {
	events chan sseEvent
	rows   []string
}

type sseEvent struct{ name, data string }

func stream(t *testing.T, url string, headers ...string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %d %s %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	s := &sse{events: make(chan sseEvent, 100)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.name != "":
				s.events <- ev
				ev = sseEvent{}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	return s
}

// next reads events until one named name, keeping the rows' data.
func (s *sse) next(t *testing.T, name string) sseEvent {
	t.Helper()
	for {
		ev := s.nextWithin(t, 20*time.Second)
		if ev.name == "" {
			t.Fatalf("the stream ended or stalled before %q", name)
		}
		if ev.name == "row" {
			s.rows = append(s.rows, ev.data)
		}
		if ev.name == name {
			return ev
		}
	}
}

// nextWithin returns the next event, or none after d.
func (s *sse) nextWithin(t *testing.T, d time.Duration) sseEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(d):
		return sseEvent{}
	}
}

// TestBoardEventsFollowDecisions: the stream starts with every row, then
// sends a row again within moments of a new decision about it.
func TestBoardEventsFollowDecisions(t *testing.T) {
	t.Parallel()
	r := newBoardRig(t, false)
	r.accept(t, releaseEvidence(t)...)
	r.waitFor(t, "/", allEvidence)
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close) // after the streams' cleanups end them
	s := stream(t, srv.URL+"/board/events")
	s.next(t, "ready")
	if len(s.rows) != 1 || !strings.Contains(s.rows[0], `"id":"`+helloRow+`"`) {
		t.Fatalf("the stream starts with %v, want the row of #2", s.rows)
	}
	start := time.Now()
	at := time.Date(2024, 5, 6, 9, 58, 0, 0, time.UTC)
	r.accept(t, gatekeeper.Event{Delivery: "comment-3", Name: "issue_comment.created", Key: helloKey,
		Comment: &gatekeeper.Comment{ID: 903, User: "qa-carol", Body: "/nogo smoke tests red", CreatedAt: at, UpdatedAt: at}})
	for {
		ev := s.next(t, "row")
		var row struct{ ID, Key, HTML string }
		if err := json.Unmarshal([]byte(ev.data), &row); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(row.HTML, "smoke tests red") {
			if !strings.Contains(row.HTML, `<span class="pill bad" title="smoke tests red">VETO</span>`) {
				t.Errorf("QA's NOGO is not shown as a veto:\n%s", row.HTML)
			}
			t.Logf("the row changed %v after the comment", time.Since(start).Round(time.Millisecond))
			break
		}
	}
}

// TestPullPageRolesAndFixes: the details page has the role matrix and the
// stage strip, the branch coverage as a number, times in the window's
// zone, the policy revision of each decision, and a GO by someone
// without a role shown as not counted.
func TestPullPageRolesAndFixes(t *testing.T) {
	t.Parallel()
	r := newBoardRig(t, false)
	r.accept(t, releaseEvidence(t)...)
	body := r.waitFor(t, "/pulls/Codertocat/Hello-World/2", allEvidence)
	rev := r.engine.Revision()
	for _, want := range []string{
		"Decided 2024-05-06 15:30:00 IST",
		"84.25% lines, 71.50% branches",
		`<span class="pill nc">go · not counted</span> <span class="muted">only module lead, SRE, QA, management and release manager vote</span>`,
		`data-user="qa-carol" data-approved="true" data-vote="go"`,
		`data-stage="deploy" data-status="FAILED"`,
		"<th>policy revision</th>",
		"times in Asia/Kolkata",
		"<code>" + rev,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the details page lacks %q", want)
		}
	}
	for _, bad := range []string{"%!", " UTC<", `<td>dev-zoe</td><td><span class="pill ok">go</span>`} {
		if strings.Contains(body, bad) {
			t.Errorf("the details page shows %q", bad)
		}
	}
}

// TestBoardEventsWithoutTheHub: a decision the board's Hub never carries
// (another replica made it) still reaches an open board, when the stream
// next compares its rows with the store.
func TestBoardEventsWithoutTheHub(t *testing.T) {
	old := webhooks.SetResyncEvery(200 * time.Millisecond)
	t.Cleanup(func() { webhooks.SetResyncEvery(old) })
	r := newBoardRig(t, false, func(o *gatekeeper.Options) { o.Decided = nil })
	r.accept(t, releaseEvidence(t)...)
	r.waitFor(t, "/", allEvidence)
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close)
	s := stream(t, srv.URL+"/board/events")
	s.next(t, "ready")
	at := time.Date(2024, 5, 6, 9, 58, 0, 0, time.UTC)
	r.accept(t, gatekeeper.Event{Delivery: "comment-3", Name: "issue_comment.created", Key: helloKey,
		Comment: &gatekeeper.Comment{ID: 903, User: "qa-carol", Body: "/nogo smoke tests red", CreatedAt: at, UpdatedAt: at}})
	for {
		ev := s.next(t, "row")
		if strings.Contains(ev.data, "smoke tests red") {
			break
		}
	}
}
