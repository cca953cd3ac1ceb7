package githubapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// checkRunBodies records what the fake was sent for check runs.
type checkRunBodies struct {
	mu       sync.Mutex
	sent     []map[string]any
	existing string // a check run already on the head (JSON), "" for none
}

// serveCheckRuns makes f answer POST …/check-runs (201, id 9001) and
// PATCH …/check-runs/9001 (200) as GitHub documents, refusing a summary
// over 65535 characters with 422 as GitHub does.
func serveCheckRuns(t *testing.T, f *fakeApp) *checkRunBodies {
	b := &checkRunBodies{}
	f.repo = func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/commits/"+testSHA+"/check-runs") {
			b.mu.Lock()
			existing := b.existing
			b.mu.Unlock()
			if r.URL.Query().Get("check_name") != ChecklistName || r.URL.Query().Get("app_id") != "424242" {
				existing = ""
			}
			if existing == "" {
				writeJSON(w, http.StatusOK, `{"total_count":0,"check_runs":[]}`)
				return
			}
			writeJSON(w, http.StatusOK, `{"total_count":1,"check_runs":[`+existing+`]}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			writeJSON(w, http.StatusBadRequest, `{"message":"Problems parsing JSON"}`)
			return
		}
		m["_method"] = r.Method
		b.mu.Lock()
		b.sent = append(b.sent, m)
		b.mu.Unlock()
		if out, ok := m["output"].(map[string]any); ok {
			if s, _ := out["summary"].(string); utf8.RuneCountInString(s) > 65535 {
				writeJSON(w, http.StatusUnprocessableEntity, `{"message":"Invalid request.\n\nOnly 65535 characters are allowed; 70000 were supplied."}`)
				return
			}
		}
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/check-runs"):
			writeJSON(w, http.StatusCreated, `{"id":9001,"name":"release-gate checklist","head_sha":"`+testSHA+`","status":"completed","app":{"id":424242,"slug":"release-gate"}}`)
		case r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/check-runs/9001"):
			writeJSON(w, http.StatusOK, `{"id":9001,"name":"release-gate checklist","head_sha":"`+testSHA+`","app":{"id":424242,"slug":"release-gate"}}`)
		default:
			writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
		}
	}
	return b
}

func (b *checkRunBodies) list() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]any(nil), b.sent...)
}

// TestChecklistCreatedOnceThenUpdatedOnlyOnChange: the first decision
// creates the check run, the same decision again costs no call, a changed
// one PATCHes the same run.
func TestChecklistCreatedOnceThenUpdatedOnlyOnChange(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	f.Repos["octo-org/hello"] = 7
	sent := serveCheckRuns(t, f)
	l, err := NewChecklist(newAppClient(t, f, newFakeTime(), &observed{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	key := gatekeeper.PullKey{Owner: "octo-org", Repo: "hello", Number: 1}
	waiting := gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"approval from qa", "stage deploy-beta"}, PolicyRevision: "0123456789abcdef0123"}
	st := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Pending, Description: "Waiting for: approval from qa, stage deploy-beta"}
	ctx := context.Background()
	for range 2 {
		if err := l.Checklist(ctx, key, testSHA, st, waiting); err != nil {
			t.Fatalf("Checklist: %v", err)
		}
	}
	failing := gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"coverage 71.2% below master's 80.0%"}, Waiting: []string{"approval from qa"}}
	fst := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Failure, Description: "Failing: coverage"}
	for range 2 {
		if err := l.Checklist(ctx, key, testSHA, fst, failing); err != nil {
			t.Fatalf("Checklist: %v", err)
		}
	}
	var calls []string
	for _, c := range f.Calls() {
		if strings.Contains(c, "check-runs") {
			calls = append(calls, c)
		}
	}
	want := []string{
		"GET /repos/octo-org/hello/commits/" + testSHA + "/check-runs inst 7",
		"POST /repos/octo-org/hello/check-runs inst 7",
		"PATCH /repos/octo-org/hello/check-runs/9001 inst 7",
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
	got := sent.list()
	create, update := got[0], got[1]
	if create["name"] != "release-gate checklist" || create["head_sha"] != testSHA || create["status"] != "in_progress" || create["conclusion"] != nil {
		t.Errorf("create = %v, want the checklist in progress on the head", create)
	}
	summary := create["output"].(map[string]any)["summary"].(string)
	for _, s := range []string{"Awaited", "approval from qa", "stage deploy-beta", "`0123456789ab`", "`release-gate` is the required check"} {
		if !strings.Contains(summary, s) {
			t.Errorf("create summary lacks %q:\n%s", s, summary)
		}
	}
	actions, _ := create["actions"].([]any)
	if len(actions) != 1 || actions[0].(map[string]any)["identifier"] != ReevaluateAction {
		t.Errorf("actions = %v, want one Re-evaluate", actions)
	}
	if update["status"] != "completed" || update["conclusion"] != "failure" || update["head_sha"] != nil {
		t.Errorf("update = %v, want completed with failure", update)
	}
	usum := update["output"].(map[string]any)["summary"].(string)
	if !strings.Contains(usum, "### Fails (1)\n\n- :x: coverage 71.2% below master's 80.0%") || strings.Contains(usum, "stage deploy-beta") {
		t.Errorf("update summary:\n%s", usum)
	}
}

// TestChecklistOutputWithinLimits: however many and long the reasons, the
// summary and title stay within GitHub's limits, every section says how
// many of its items it leaves out (shown + left out = all of them), the
// footer is kept, and the fake GitHub (which refuses more, as GitHub
// does) accepts the post.
func TestChecklistOutputWithinLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 700)
	var reasons, waiting, passes []string
	for i := range 200 {
		reasons = append(reasons, fmt.Sprintf("%d %s", i, long))
		waiting = append(waiting, fmt.Sprintf("waiting %d", i))
		passes = append(passes, fmt.Sprintf("passes %d", i))
	}
	dec := gatekeeper.Decision{State: gatekeeper.Failure, Reasons: reasons, Waiting: waiting, Passes: passes, PolicyRevision: "0123456789abcdef"}
	st := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Failure, Description: strings.Repeat("x", 400),
		TargetURL: "https://gate.example/pr/octo-org/hello/1"}
	_, title, summary := ChecklistOutput(st, dec)
	if n := utf8.RuneCountInString(summary); n > MaxChecklistSummary || n < MaxChecklistSummary-1000 {
		t.Errorf("summary has %d characters, want at most (and about) %d", n, MaxChecklistSummary)
	}
	if n := utf8.RuneCountInString(title); n > MaxChecklistTitle {
		t.Errorf("title has %d characters, want at most %d", n, MaxChecklistTitle)
	}
	for _, sec := range []struct{ head, mark string }{{"Fails", ":x:"}, {"Awaited", ":hourglass:"}, {"Passes", ":white_check_mark:"}} {
		shown, more := sectionCounts(t, summary, sec.head, sec.mark)
		if shown+more != 200 {
			t.Errorf("section %s shows %d and says %d more, want 200 in all", sec.head, shown, more)
		}
		if sec.head == "Fails" && (shown == 0 || more == 0) {
			t.Errorf("Fails shows %d and leaves out %d: want as many whole reasons as fit, then the rest counted", shown, more)
		}
	}
	if !strings.Contains(summary, "more not shown here: [the details page](https://gate.example/pr/octo-org/hello/1) lists them all") ||
		!strings.HasSuffix(summary, "this run only explains it.\n") {
		t.Errorf("summary does not point to the details page or lost its footer:\n…%s", summary[len(summary)-600:])
	}
	f := newFakeApp(t, "")
	f.Repos["octo-org/hello"] = 7
	serveCheckRuns(t, f)
	l, err := NewChecklist(newAppClient(t, f, newFakeTime(), &observed{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Checklist(context.Background(), gatekeeper.PullKey{Owner: "octo-org", Repo: "hello", Number: 1}, testSHA, st, dec); err != nil {
		t.Fatalf("Checklist with 140,000 characters of reasons: %v", err)
	}
}

// sectionCounts reads the section head of summary: how many items it
// shows (lines "- mark …") and how many it says it leaves out.
func sectionCounts(t *testing.T, summary, head, mark string) (shown, more int) {
	t.Helper()
	_, body, ok := strings.Cut(summary, "### "+head+" (")
	if !ok {
		t.Fatalf("no section %s in the summary", head)
	}
	body, _, _ = strings.Cut(body, "\n\n###")
	for _, line := range strings.Split(body, "\n") {
		switch {
		case strings.HasPrefix(line, "- "+mark+" "):
			shown++
		case strings.HasPrefix(line, "- … "):
			if _, err := fmt.Sscanf(line, "- … %d more", &more); err != nil {
				t.Fatalf("section %s: %q: %v", head, line, err)
			}
		}
	}
	return shown, more
}

// TestChecklistSummaryListsPasses: the summary is the checklist of what
// fails, what is awaited and what passes, in the policy's order, each
// section counted.
func TestChecklistSummaryListsPasses(t *testing.T) {
	t.Parallel()
	dec := gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"approval by QA"},
		Passes: []string{"build stage clone passed on build #57", "coverage 84.2% ≥ 80%", "approved by SRE @sre-dan on the head"}}
	_, _, summary := ChecklistOutput(gatekeeper.Status{Context: "release-gate", State: gatekeeper.Pending}, dec)
	want := "**release-gate: pending**\n\n" +
		"### Awaited (1)\n\n- :hourglass: approval by QA\n\n" +
		"### Passes (3)\n\n" +
		"- :white_check_mark: build stage clone passed on build #57\n" +
		"- :white_check_mark: coverage 84.2% ≥ 80%\n" +
		"- :white_check_mark: approved by SRE @sre-dan on the head\n\n"
	if summary != want {
		t.Errorf("summary:\n%s\nwant:\n%s", summary, want)
	}
	// An error's summary stands alone: its reasons are for the signed-in
	// page, and it has nothing that passes.
	_, _, summary = ChecklistOutput(gatekeeper.Status{Context: "release-gate", State: gatekeeper.Error},
		gatekeeper.Decision{State: gatekeeper.Error, Reasons: []string{"release policy: secret.internal:8181 refused"}, Summary: "Error: policy error"})
	if strings.Contains(summary, "secret.internal") || strings.Contains(summary, "### Passes") || !strings.Contains(summary, "Error: policy error") {
		t.Errorf("error summary:\n%s", summary)
	}
}

// TestChecklistSummaryEscapes: a reason cannot inject markdown links,
// HTML or extra list items into the summary.
func TestChecklistSummaryEscapes(t *testing.T) {
	t.Parallel()
	dec := gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"[click](https://evil.example) <img src=x>\n- :white_check_mark: all good"}}
	_, _, summary := ChecklistOutput(gatekeeper.Status{Context: "release-gate", State: gatekeeper.Failure}, dec)
	for _, bad := range []string{"[click](", "<img", "\n- :white_check_mark:"} {
		if strings.Contains(summary, bad) {
			t.Errorf("summary contains %q:\n%s", bad, summary)
		}
	}
}

// TestChecklistNeedsAnApp: a token client gets no checklist.
func TestChecklistNeedsAnApp(t *testing.T) {
	t.Parallel()
	if l, err := NewChecklist(nil); err == nil || l != nil {
		t.Errorf("NewChecklist(nil) = %v, %v; want an error", l, err)
	}
}

// TestOwnCheckRunByAppID: the App's own checklist run is recognised by its
// app id (or slug); another App's run of the same name is not.
func TestOwnCheckRunByAppID(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "")
	c := newAppClient(t, f, newFakeTime(), &observed{}, nil)
	run := func(name string, id int64, slug string) *github.CheckRun {
		return &github.CheckRun{Name: github.String(name), App: &github.App{ID: github.Int64(id), Slug: github.String(slug)}}
	}
	if !c.ownCheckRun(run(ChecklistName, testAppID, "release-gate")) {
		t.Error("own run not recognised")
	}
	if c.ownCheckRun(run(ChecklistName, 1, "release-gate")) {
		t.Error("another App's run (same slug, other id) taken for own")
	}
	if c.ownCheckRun(run("release-gate", testAppID, "release-gate")) {
		t.Error("a run named like the status context taken for the checklist")
	}
}

// TestChecklistAfterRestart: a new process finds the App's run already on
// the head: the same decision posts nothing, a changed one PATCHes that
// run; nothing is created twice.
func TestChecklistAfterRestart(t *testing.T) {
	t.Parallel()
	st := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Success, Description: "Ready to merge"}
	dec := gatekeeper.Decision{State: gatekeeper.Success}
	concl, title, summary := ChecklistOutput(st, dec)
	out, _ := json.Marshal(map[string]any{"id": 9001, "name": ChecklistName, "head_sha": testSHA, "status": "completed", "conclusion": concl,
		"output": map[string]any{"title": title, "summary": summary}, "app": map[string]any{"id": testAppID, "slug": "release-gate"}})
	for _, tt := range []struct {
		name string
		dec  gatekeeper.Decision
		st   gatekeeper.Status
		want string
	}{
		{"unchanged", dec, st, ""},
		{"changed", gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"qa"}}, gatekeeper.Status{Context: "release-gate", State: gatekeeper.Pending, Description: "Waiting for: qa"}, "PATCH /repos/octo-org/hello/check-runs/9001 inst 7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeApp(t, "")
			f.Repos["octo-org/hello"] = 7
			b := serveCheckRuns(t, f)
			b.existing = string(out)
			l, err := NewChecklist(newAppClient(t, f, newFakeTime(), &observed{}, nil))
			if err != nil {
				t.Fatal(err)
			}
			key := gatekeeper.PullKey{Owner: "octo-org", Repo: "hello", Number: 1}
			for range 2 {
				if err := l.Checklist(context.Background(), key, testSHA, tt.st, tt.dec); err != nil {
					t.Fatal(err)
				}
			}
			var writes []string
			for _, c := range f.Calls() {
				if strings.Contains(c, "check-runs") && !strings.HasPrefix(c, "GET ") {
					writes = append(writes, c)
				}
			}
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if diff := cmp.Diff(want, writes); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
		})
	}
}
