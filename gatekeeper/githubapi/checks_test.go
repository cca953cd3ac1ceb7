package githubapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// helloHead is the head of fixturePR; pushedHead is the head_sha of the
// recorded check run list, used as the head a push moves the pull request
// to.
const (
	helloHead  = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	pushedHead = "9272f18514cbd3fa935b3ced62ae1c2bf6efa76d"
)

const checkRunsFixture = "rest/commits.check-runs.list.json"

func statusPath(sha string) string {
	return "/repos/Codertocat/Hello-World/commits/" + sha + "/status"
}

func checkRunsPath(sha string) string {
	return "/repos/Codertocat/Hello-World/commits/" + sha + "/check-runs"
}

// statusRequest and checkRunsRequest are the requests one fetch of sha's
// checks makes, as fakeGitHub.paths renders them.
func statusRequest(sha string) string {
	return "GET " + statusPath(sha) + "?per_page=100"
}

// listStatusesRequest reads who posted each status (see history).
func listStatusesRequest(sha string) string {
	return "GET " + listStatusesPath(sha) + "?per_page=100"
}

func checkRunsRequest(sha string) string {
	return "GET " + checkRunsPath(sha) + "?filter=latest&per_page=100"
}

// recordedCombinedStatus returns the recorded GET …/commits/{sha}/status
// exchange of the create-status fixture.
func recordedCombinedStatus(t testing.TB) exchange {
	t.Helper()
	for _, ex := range loadExchanges(t, createStatusFixture) {
		if ex.Method == "get" && strings.HasSuffix(ex.Path, "/status") {
			return ex
		}
	}
	t.Fatalf("%s has no combined status exchange", createStatusFixture)
	return exchange{}
}

// serveChecks scripts the fake to answer for sha's combined status with the
// recorded one and for its check runs with the recorded list.
func serveChecks(t testing.TB, gh *fakeGitHub, sha string) {
	t.Helper()
	gh.on("GET "+statusPath(sha), recordedCombinedStatus(t).reply())
	// Who posted each status: the recorded list (newest first).
	gh.on("GET "+listStatusesPath(sha), recordedListStatuses(t).reply())
	gh.on("GET "+checkRunsPath(sha), jsonReply(http.StatusOK, string(readFixture(t, checkRunsFixture))))
}

// The domain values of the recorded statuses and check runs, written out
// field by field from the fixtures, on the sha they were asked for.
func recordedStatusChecks(sha string) []gatekeeper.Check {
	at := time.Date(2017, 10, 10, 16, 0, 0, 0, time.UTC)
	return []gatekeeper.Check{
		{Name: "example/1", SHA: sha, Kind: "status", State: "failure", Description: "create-status failure test", URL: "https://example.com", UpdatedAt: at, Creator: "octokit-fixture-user-a", FirstCreator: "octokit-fixture-user-a"},
		{Name: "example/2", SHA: sha, Kind: "status", State: "success", Description: "create-status success test", URL: "https://example.com", UpdatedAt: at, Creator: "octokit-fixture-user-a", FirstCreator: "octokit-fixture-user-a"},
	}
}

// applied is checks as the evidence holds them: the first report of each
// names its first creator.
func applied(checks []gatekeeper.Check) []gatekeeper.Check {
	out := append([]gatekeeper.Check(nil), checks...)
	for i := range out {
		if out[i].FirstCreator == "" {
			out[i].FirstCreator = out[i].Creator
		}
	}
	return out
}

// recordedCheckRun is the run of commits.check-runs.list.json: a failure
// reported by another system's GitHub App.
func recordedCheckRun(sha string) gatekeeper.Check {
	return gatekeeper.Check{
		Name: "ampproject/owners-check", SHA: sha, Kind: "check_run", State: "failure",
		Description: "Probot check!", URL: "https://github.com/erwinmombay/github-owners-bot-test-repo/runs/53472313",
		UpdatedAt: time.Date(2019, 1, 23, 3, 33, 52, 0, time.UTC), // completed_at
		Creator:   "amp-owners-bot",                               // app.Slug
	}
}

// webhookCheckRun is check_run.completed.json's "check_run".
func webhookCheckRun(sha string) gatekeeper.Check {
	return gatekeeper.Check{
		Name: "Octocoders-linter", SHA: sha, Kind: "check_run", State: "success",
		URL: "https://github.com/Codertocat/Hello-World/runs/128620228", UpdatedAt: time.Date(2019, 5, 15, 15, 21, 12, 0, time.UTC),
		Creator: "octocoders-linter", // app.name: the payload has no slug
	}
}

// checkEvents are the events of one fetch of sha's checks that found
// statuses and runs; a complete fetch ends with EventChecks.
func checkEvents(sha string, statuses []gatekeeper.Check, runs []gatekeeper.Check, complete bool) []gatekeeper.Event {
	var out []gatekeeper.Event
	for _, c := range statuses {
		out = append(out, gatekeeper.Event{Name: EventStatus, Received: testEpoch, Key: helloKey, SHA: sha, Check: &c})
	}
	for _, c := range runs {
		out = append(out, gatekeeper.Event{Name: EventCheckRun, Received: testEpoch, Key: helloKey, SHA: sha, Check: &c})
	}
	if complete {
		out = append(out, gatekeeper.Event{Name: EventChecks, Received: testEpoch, Key: helloKey, SHA: sha})
	}
	return out
}

// withLink returns r with a Link header naming next as the next page (and
// the last one).
func withLink(r reply, next string) reply {
	h := r.header.Clone()
	h.Set("Link", fmt.Sprintf(`<%s>; rel="next", <%s>; rel="last"`, next, next))
	r.header = h
	return r
}

// freshPull is evidence whose pull request was fetched a minute ago and
// whose checks were never fetched.
func freshPull() *gatekeeper.Evidence {
	pr := fixturePR
	return &gatekeeper.Evidence{
		Key: helloKey, PR: &pr,
		Log:     []gatekeeper.LogEntry{{Event: EventPullRequest, SHA: pr.HeadSHA, At: testEpoch.Add(-time.Minute)}},
		Sources: map[string]gatekeeper.SourceStatus{"github": {OK: true, CheckedAt: testEpoch.Add(-time.Minute)}},
	}
}

func TestGatherChecksPaginates(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	// Statuses: the recorded combined status split over two pages.
	ex := recordedCombinedStatus(t)
	var combined struct {
		Statuses []any `json:"statuses"`
	}
	if err := json.Unmarshal(ex.Response, &combined); err != nil || len(combined.Statuses) != 2 {
		t.Fatalf("decoding the recorded combined status: %d statuses, %v", len(combined.Statuses), err)
	}
	page1, page2 := ex.reply(), ex.reply()
	page1.body = patchJSON(t, ex.Response, map[string]any{"statuses": combined.Statuses[:1]})
	page2.body = patchJSON(t, ex.Response, map[string]any{"statuses": combined.Statuses[1:]})
	gh.on("GET "+statusPath(helloHead), withLink(page1, gh.URL+strings.TrimPrefix(statusPath(helloHead), "/")+"?per_page=100&page=2"))
	gh.on("GET "+statusPath(helloHead)+"?page=2", page2)
	gh.on("GET "+listStatusesPath(helloHead), recordedListStatuses(t).reply())
	// Check runs: the recorded list, then the webhook's run (the same
	// schema) on page 2.
	gh.on("GET "+checkRunsPath(helloHead), withLink(jsonReply(http.StatusOK, string(readFixture(t, checkRunsFixture))),
		gh.URL+strings.TrimPrefix(checkRunsPath(helloHead), "/")+"?filter=latest&per_page=100&page=2"))
	gh.on("GET "+checkRunsPath(helloHead)+"?page=2", jsonReply(http.StatusOK,
		`{"total_count":2,"check_runs":[`+string(fixtureField(t, "check_run.completed.json", "check_run"))+`]}`))
	s := newTestSource(t, gh, newFakeTime(), testRetry())

	got, err := s.Gather(context.Background(), freshPull())
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	want := checkEvents(helloHead, recordedStatusChecks(helloHead),
		[]gatekeeper.Check{recordedCheckRun(helloHead), webhookCheckRun(helloHead)}, true)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Gather events (-want +got):\n%s", diff)
	}
	wantPaths := []string{
		statusRequest(helloHead), "GET " + statusPath(helloHead) + "?page=2&per_page=100", listStatusesRequest(helloHead),
		checkRunsRequest(helloHead), "GET " + checkRunsPath(helloHead) + "?filter=latest&page=2&per_page=100",
	}
	if diff := cmp.Diff(wantPaths, gh.paths()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestGatherChecksErrors(t *testing.T) {
	t.Parallel()
	statusRoute, runsRoute := "GET "+statusPath(helloHead), "GET "+checkRunsPath(helloHead)
	tests := []struct {
		name        string
		script      func(t *testing.T, gh *fakeGitHub)
		wantErr     error // a sentinel the error wraps, or nil
		wantInError []string
		want        []gatekeeper.Event
		wantCalls   []string
	}{
		{
			name: "check runs keep failing, statuses still returned",
			script: func(t *testing.T, gh *fakeGitHub) {
				serveChecks(t, gh, helloHead)
				gh.on(runsRoute, jsonReply(http.StatusInternalServerError, serverErrorBody))
			},
			wantInError: []string{"listing check runs of " + helloHead + " for Codertocat/Hello-World#2 (page 1)"},
			want:        checkEvents(helloHead, recordedStatusChecks(helloHead), nil, false),
			wantCalls:   []string{"get_combined_status 200", "list_statuses 200", "list_check_runs 500", "list_check_runs 500"},
		},
		{
			name: "statuses keep failing, check runs still returned",
			script: func(t *testing.T, gh *fakeGitHub) {
				serveChecks(t, gh, helloHead)
				gh.on(statusRoute, jsonReply(http.StatusBadGateway, serverErrorBody))
			},
			wantInError: []string{"fetching commit statuses of " + helloHead + " for Codertocat/Hello-World#2 (page 1)"},
			want:        checkEvents(helloHead, nil, []gatekeeper.Check{recordedCheckRun(helloHead)}, false),
			wantCalls:   []string{"get_combined_status 502", "get_combined_status 502", "list_check_runs 200"},
		},
		{
			name: "both fail",
			script: func(t *testing.T, gh *fakeGitHub) {
				gh.on(statusRoute, jsonReply(http.StatusInternalServerError, serverErrorBody))
				gh.on(runsRoute, jsonReply(http.StatusInternalServerError, serverErrorBody))
			},
			wantInError: []string{"fetching commit statuses of", "listing check runs of"},
			wantCalls:   []string{"get_combined_status 500", "get_combined_status 500", "list_check_runs 500", "list_check_runs 500"},
		},
		{
			name: "check run pagination does not end",
			script: func(t *testing.T, gh *fakeGitHub) {
				serveChecks(t, gh, helloHead)
				self := gh.URL + strings.TrimPrefix(checkRunsPath(helloHead), "/") + "?page=1"
				runs := jsonReply(http.StatusOK, string(readFixture(t, checkRunsFixture)))
				gh.on(runsRoute, withLink(runs, self))
				gh.on(runsRoute+"?page=1", withLink(runs, self))
			},
			wantInError: []string{"listing check runs of " + helloHead + " for Codertocat/Hello-World#2: pagination did not end after page 1"},
			// What the pages held is returned; the error keeps the
			// source failed all the same.
			want: checkEvents(helloHead, recordedStatusChecks(helloHead),
				[]gatekeeper.Check{recordedCheckRun(helloHead), recordedCheckRun(helloHead)}, false),
			wantCalls: []string{"get_combined_status 200", "list_statuses 200", "list_check_runs 200", "list_check_runs 200"},
		},
		{
			name: "check runs fail on page 2, page 1 still returned",
			script: func(t *testing.T, gh *fakeGitHub) {
				serveChecks(t, gh, helloHead)
				next := gh.URL + strings.TrimPrefix(checkRunsPath(helloHead), "/") + "?page=2"
				gh.on(runsRoute, withLink(jsonReply(http.StatusOK, string(readFixture(t, checkRunsFixture))), next))
				gh.on(runsRoute+"?page=2", jsonReply(http.StatusInternalServerError, serverErrorBody))
			},
			wantInError: []string{"listing check runs of " + helloHead + " for Codertocat/Hello-World#2 (page 2)"},
			want:        checkEvents(helloHead, recordedStatusChecks(helloHead), []gatekeeper.Check{recordedCheckRun(helloHead)}, false),
			wantCalls:   []string{"get_combined_status 200", "list_statuses 200", "list_check_runs 200", "list_check_runs 500", "list_check_runs 500"},
		},
		{
			name: "rate limit fails at once",
			script: func(t *testing.T, gh *fakeGitHub) {
				serveChecks(t, gh, helloHead)
				gh.on(statusRoute, jsonReply(http.StatusForbidden, primaryLimitBody,
					"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(10*time.Minute)))
			},
			wantErr: ErrRateLimited,
			// The limit holds for the check runs too: no second call.
			wantCalls: []string{"get_combined_status 403"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			tt.script(t, gh)
			retry := testRetry()
			retry.MaxAttempts = 2
			tm := newFakeTime()
			obs := &observed{}
			s := NewSource(newTestClient(t, gh.URL, tm, obs, retry), SourceOptions{})

			got, err := s.Gather(context.Background(), freshPull())
			if err == nil {
				t.Fatalf("Gather returned %d events and no error", len(got))
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tt.wantErr)
			}
			for _, s := range tt.wantInError {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events returned with the error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCalls, obs.list()); diff != "" {
				t.Errorf("observed calls (-want +got):\n%s", diff)
			}
			if tt.wantErr == ErrRateLimited && len(tm.sleeps()) != 0 {
				t.Errorf("the source waited %v for a rate limit", tm.sleeps())
			}
		})
	}
}

// TestGatherFollowsTheHead runs Gather the way the Service does while the
// pull request moves: a CI system's failed check run on the new head,
// whose webhook came before the gatekeeper knew that head, is found as
// soon as the synchronize webhook has moved the head.
func TestGatherFollowsTheHead(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	serveHelloWorld(t, gh)
	serveChecks(t, gh, pushedHead)
	tm := newFakeTime()
	s := newTestSource(t, gh, tm, testRetry())
	ev := &gatekeeper.Evidence{Key: helloKey}
	apply := func(events ...gatekeeper.Event) {
		for _, e := range events {
			ev.Apply(e)
		}
	}
	gather := func() {
		t.Helper()
		events, err := s.Gather(context.Background(), ev)
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		apply(events...)
		ev.Sources = map[string]gatekeeper.SourceStatus{"github": {OK: true, CheckedAt: tm.Now()}}
	}
	pullRequests := []string{"GET " + helloPath, "GET " + helloPath + "/reviews?per_page=100", commentsRequest}

	for _, step := range []struct {
		name     string
		after    time.Duration
		webhook  func()
		wantNew  []string // requests this step makes
		wantHead string
	}{
		{
			name:     "first gather",
			wantNew:  append(pullRequests, statusRequest(helloHead), listStatusesRequest(helloHead), checkRunsRequest(helloHead)),
			wantHead: helloHead,
		},
		{
			name:     "a minute later",
			after:    time.Minute,
			wantHead: helloHead,
		},
		{
			name:  "after the push",
			after: time.Second,
			webhook: func() {
				pr := *ev.PR
				pr.HeadSHA, pr.UpdatedAt = pushedHead, tm.Now()
				apply(gatekeeper.Event{Delivery: "d-sync", Name: "pull_request.synchronize", Received: tm.Now(), Key: helloKey, SHA: pushedHead, PullRequest: &pr})
			},
			wantNew:  []string{statusRequest(pushedHead), listStatusesRequest(pushedHead), checkRunsRequest(pushedHead)},
			wantHead: pushedHead,
		},
		{
			name:     "a minute after the push",
			after:    time.Minute,
			wantHead: pushedHead,
		},
	} {
		before := len(gh.paths())
		tm.Sleep(context.Background(), step.after)
		if step.webhook != nil {
			step.webhook()
		}
		gather()
		if diff := cmp.Diff(step.wantNew, gh.paths()[before:], cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: requests (-want +got):\n%s", step.name, diff)
		}
		if ev.HeadSHA() != step.wantHead {
			t.Errorf("%s: head %s, want %s", step.name, ev.HeadSHA(), step.wantHead)
		}
	}

	var onHead []gatekeeper.Check
	for _, c := range ev.Checks {
		if c.SHA == pushedHead {
			onHead = append(onHead, c)
		}
	}
	want := applied(append(recordedStatusChecks(pushedHead), recordedCheckRun(pushedHead)))
	if diff := cmp.Diff(want, onHead); diff != "" {
		t.Errorf("checks on the pushed head (-want +got):\n%s", diff)
	}
}

func TestStatusCheck(t *testing.T) {
	t.Parallel()
	var combined struct {
		Statuses []json.RawMessage `json:"statuses"`
	}
	if err := json.Unmarshal(recordedCombinedStatus(t).Response, &combined); err != nil || len(combined.Statuses) == 0 {
		t.Fatalf("decoding the recorded combined status: %d statuses, %v", len(combined.Statuses), err)
	}
	recorded := combined.Statuses[0]
	want := recordedStatusChecks(helloHead)[0]
	// The combined status does not say who posted it (history does).
	want.Creator, want.FirstCreator = "", ""
	with := func(change func(*gatekeeper.Check)) gatekeeper.Check {
		c := want
		change(&c)
		return c
	}
	tests := []struct {
		name string
		raw  []byte
		want gatekeeper.Check
	}{
		{name: "recorded", raw: recorded, want: want},
		{name: "upper-case state", raw: patchJSON(t, recorded, map[string]any{"state": "FAILURE"}), want: want},
		{
			name: "undocumented state is an error",
			raw:  patchJSON(t, recorded, map[string]any{"state": "exploded"}),
			want: with(func(c *gatekeeper.Check) { c.State = "error" }),
		},
		{
			name: "no updated_at falls back to created_at",
			raw:  patchJSON(t, recorded, map[string]any{"updated_at": nil, "created_at": "2017-10-10T15:00:00+02:00"}),
			want: with(func(c *gatekeeper.Check) { c.UpdatedAt = time.Date(2017, 10, 10, 13, 0, 0, 0, time.UTC) }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var st github.RepoStatus
			if err := json.Unmarshal(tt.raw, &st); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if diff := cmp.Diff(tt.want, statusCheck(&st, helloHead)); diff != "" {
				t.Errorf("statusCheck (-want +got):\n%s", diff)
			}
		})
	}
}
