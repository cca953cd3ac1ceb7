package githubapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

const (
	helloPath     = "/repos/Codertocat/Hello-World/pulls/2"
	reviewsRoute  = "GET " + helloPath + "/reviews"
	commentsRoute = "GET /repos/Codertocat/Hello-World/issues/2/comments"
	// commentsRequest is the first page of the comments list as the
	// Source asks for it: oldest first, 100 per page.
	commentsRequest = commentsRoute + "?direction=asc&per_page=100&sort=created"
)

var helloKey = gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}

// serveHelloWorld scripts the fake to answer GET pulls/2 with the fixture
// pull request, its reviews with the recorded REST review list, its
// comments with the recorded comment (see recordedComments), and its head's
// statuses and check runs with the recorded ones (see serveChecks).
func serveHelloWorld(t testing.TB, gh *fakeGitHub) {
	t.Helper()
	gh.on("GET "+helloPath, jsonReply(http.StatusOK, string(fixtureField(t, "pull_request.opened.json", "pull_request"))))
	gh.on(reviewsRoute, jsonReply(http.StatusOK, string(readFixture(t, "rest/pulls.reviews.list.approved.json"))))
	gh.on(commentsRoute, jsonReply(http.StatusOK, recordedComments(t)))
	serveChecks(t, gh, fixturePR.HeadSHA)
}

func newTestSource(t *testing.T, gh *fakeGitHub, tm *fakeTime, retry Retry) *Source {
	t.Helper()
	return NewSource(newTestClient(t, gh.URL, tm, nil, retry), SourceOptions{MaxAge: 5 * time.Minute})
}

func TestGatherFetchesMissingSnapshot(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	serveHelloWorld(t, gh)
	obs := &observed{}
	s := NewSource(newTestClient(t, gh.URL, newFakeTime(), obs, testRetry()), SourceOptions{})
	if s.Name() != "github" {
		t.Errorf("Name() = %q, want github", s.Name())
	}

	// Only an issue_comment arrived: the evidence has a key and no snapshot.
	got, err := s.Gather(context.Background(), &gatekeeper.Evidence{Key: helloKey})
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	pr, review, comment := fixturePR, fixtureRESTReview, fixtureComment
	want := []gatekeeper.Event{
		{Name: EventPullRequest, Received: testEpoch, Key: helloKey, SHA: pr.HeadSHA, PullRequest: &pr},
		{Name: EventReview, Received: testEpoch, Key: helloKey, SHA: review.CommitID, Review: &review},
		{Name: EventComment, Received: testEpoch, Key: helloKey, Comment: &comment},
		// The next read asks only for what changed since this one.
		{Name: EventCommentsCursor, Received: testEpoch, Key: helloKey, CommentsCursor: &gatekeeper.CommentsCursor{Since: testEpoch.Add(-sinceMargin)}},
	}
	// Then the checks of the head the snapshot names.
	want = append(want, checkEvents(pr.HeadSHA, recordedStatusChecks(pr.HeadSHA), []gatekeeper.Check{recordedCheckRun(pr.HeadSHA)}, true)...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Gather events (-want +got):\n%s", diff)
	}

	var paths []string
	for _, r := range gh.served() {
		paths = append(paths, r.Method+" "+r.Path+"?"+r.Query)
		if auth := r.Header.Get("Authorization"); auth != "Bearer "+testToken {
			t.Errorf("%s %s: Authorization = %q", r.Method, r.Path, auth)
		}
	}
	wantPaths := []string{
		"GET " + helloPath + "?", "GET " + helloPath + "/reviews?per_page=100",
		commentsRequest,
		statusRequest(pr.HeadSHA), listStatusesRequest(pr.HeadSHA), checkRunsRequest(pr.HeadSHA),
	}
	if diff := cmp.Diff(wantPaths, paths); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"get_pull 200", "list_reviews 200", "list_comments 200", "get_combined_status 200", "list_statuses 200", "list_check_runs 200"}, obs.list()); diff != "" {
		t.Errorf("observed calls (-want +got):\n%s", diff)
	}

	// Folding the events gives the evidence a snapshot and the approval.
	ev := &gatekeeper.Evidence{Key: helloKey}
	for _, e := range got {
		ev.Apply(e)
	}
	if ev.HeadSHA() != pr.HeadSHA || len(ev.Reviews) != 1 || ev.Reviews[0].State != "APPROVED" {
		t.Errorf("evidence after Gather: head %q, reviews %+v", ev.HeadSHA(), ev.Reviews)
	}
	wantChecks := applied(append(recordedStatusChecks(pr.HeadSHA), recordedCheckRun(pr.HeadSHA)))
	if diff := cmp.Diff(wantChecks, ev.Checks); diff != "" {
		t.Errorf("evidence checks after Gather (-want +got):\n%s", diff)
	}
}

func TestGatherPaginatesReviews(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	serveHelloWorld(t, gh)
	// Page 1 is the recorded REST list; page 2 holds the later approval
	// from the pull_request_review webhook fixture, in the REST schema
	// (the webhook's review object is the same object, state lower-case).
	page2 := gh.URL + strings.TrimPrefix(helloPath, "/") + "/reviews?per_page=100&page=2"
	gh.on(reviewsRoute, jsonReply(http.StatusOK, string(readFixture(t, "rest/pulls.reviews.list.approved.json")),
		"Link", fmt.Sprintf(`<%s>; rel="next", <%s>; rel="last"`, page2, page2)))
	gh.on(reviewsRoute+"?page=2", jsonReply(http.StatusOK,
		"["+string(fixtureField(t, "pull_request_review.submitted.approved.json", "review"))+"]"))
	s := newTestSource(t, gh, newFakeTime(), testRetry())

	got, err := s.Gather(context.Background(), &gatekeeper.Evidence{Key: helloKey})
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var reviews []gatekeeper.Review
	for _, e := range got {
		if e.Review != nil {
			reviews = append(reviews, *e.Review)
		}
	}
	if diff := cmp.Diff([]gatekeeper.Review{fixtureRESTReview, fixtureWebhookReview}, reviews); diff != "" {
		t.Errorf("reviews across pages (-want +got):\n%s", diff)
	}

	var pages []url.Values
	for _, r := range gh.served() {
		if strings.HasSuffix(r.Path, "/reviews") {
			q, _ := url.ParseQuery(r.Query)
			pages = append(pages, q)
		}
	}
	wantPages := []url.Values{{"per_page": {"100"}}, {"per_page": {"100"}, "page": {"2"}}}
	if diff := cmp.Diff(wantPages, pages); diff != "" {
		t.Errorf("review page queries (-want +got):\n%s", diff)
	}
}

func TestGatherSkipsFreshEvidence(t *testing.T) {
	t.Parallel()
	snapshot := fixturePR
	// movedAway is the snapshot a webhook brought after the head moved on
	// from the one GitHub's (lagging) answer names.
	movedAway := fixturePR
	movedAway.HeadSHA, movedAway.UpdatedAt = pushedHead, fixturePR.UpdatedAt.Add(time.Minute)
	// fetched is a log whose pull request was fetched pullAgo and whose
	// checks (of checksSHA) checksAgo; a zero age leaves the entry out.
	fetched := func(pullAgo, checksAgo time.Duration, checksSHA string) []gatekeeper.LogEntry {
		var log []gatekeeper.LogEntry
		if pullAgo != 0 {
			log = append(log, gatekeeper.LogEntry{Event: EventPullRequest, SHA: snapshot.HeadSHA, At: testEpoch.Add(-pullAgo)})
		}
		if checksAgo != 0 {
			log = append(log, gatekeeper.LogEntry{Event: EventChecks, SHA: checksSHA, At: testEpoch.Add(-checksAgo)})
		}
		return append(log, gatekeeper.LogEntry{Delivery: "d1", Event: "pull_request_review.submitted", At: testEpoch.Add(-time.Second)})
	}
	ok := map[string]gatekeeper.SourceStatus{"github": {OK: true, CheckedAt: testEpoch.Add(-30 * time.Second)}}
	pull := []string{"GET " + helloPath, "GET " + helloPath + "/reviews?per_page=100", commentsRequest}
	checks := func(sha string) []string {
		return []string{statusRequest(sha), listStatusesRequest(sha), checkRunsRequest(sha)}
	}
	both := append(append([]string(nil), pull...), checks(helloHead)...)
	tests := []struct {
		name     string
		pr       *gatekeeper.PullRequest
		log      []gatekeeper.LogEntry
		sources  map[string]gatekeeper.SourceStatus
		wantReqs []string
	}{
		{
			name:    "snapshot and checks fetched within MaxAge",
			pr:      &snapshot,
			log:     fetched(time.Minute, time.Minute, helloHead),
			sources: ok,
		},
		{
			name:     "no snapshot",
			log:      fetched(time.Minute, 0, ""),
			sources:  ok,
			wantReqs: both,
		},
		{
			name:     "last pull request fetch older than MaxAge",
			pr:       &snapshot,
			log:      fetched(5*time.Minute, time.Minute, helloHead),
			sources:  ok,
			wantReqs: pull,
		},
		{
			name:     "checks of the head never fetched",
			pr:       &snapshot,
			log:      fetched(time.Minute, 0, ""),
			sources:  ok,
			wantReqs: checks(helloHead),
		},
		{
			name:     "checks last fetched for another head",
			pr:       &snapshot,
			log:      fetched(time.Minute, time.Second, pushedHead),
			sources:  ok,
			wantReqs: checks(helloHead),
		},
		{
			name:     "checks fetched longer than MaxAge ago",
			pr:       &snapshot,
			log:      fetched(time.Minute, 5*time.Minute, helloHead),
			sources:  ok,
			wantReqs: checks(helloHead),
		},
		{
			name:     "snapshot fetched for an older head",
			pr:       &gatekeeper.PullRequest{Key: helloKey, HeadSHA: pushedHead, UpdatedAt: fixturePR.UpdatedAt.Add(-time.Hour)},
			log:      fetched(5*time.Minute, time.Minute, pushedHead),
			sources:  ok,
			wantReqs: both,
		},
		{
			name:    "GitHub answers with an older snapshot than the evidence has",
			pr:      &movedAway,
			log:     fetched(5*time.Minute, time.Minute, pushedHead),
			sources: ok,
			// The evidence keeps its head, whose checks are fresh.
			wantReqs: pull,
		},
		{
			name:     "snapshot only from webhooks, gathers that skipped",
			pr:       &snapshot,
			log:      []gatekeeper.LogEntry{{Delivery: "d0", Event: "pull_request.opened", At: testEpoch.Add(-time.Minute)}},
			sources:  ok,
			wantReqs: both,
		},
		{
			name:     "last gather failed",
			pr:       &snapshot,
			log:      fetched(time.Minute, time.Minute, helloHead),
			sources:  map[string]gatekeeper.SourceStatus{"github": {OK: false, Error: "503", Attempts: 1, CheckedAt: testEpoch.Add(-30 * time.Second)}},
			wantReqs: both,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			serveHelloWorld(t, gh)
			s := newTestSource(t, gh, newFakeTime(), testRetry())

			got, err := s.Gather(context.Background(), &gatekeeper.Evidence{Key: helloKey, PR: tt.pr, Log: tt.log, Sources: tt.sources})
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			if diff := cmp.Diff(tt.wantReqs, gh.paths(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			// Each request adds its events: the snapshot and one
			// review, or two statuses, one check run and EventChecks.
			var wantNames, gotNames []string
			for _, r := range tt.wantReqs {
				switch r {
				case "GET " + helloPath:
					wantNames = append(wantNames, EventPullRequest)
				case "GET " + helloPath + "/reviews?per_page=100":
					wantNames = append(wantNames, EventReview)
				case commentsRequest:
					wantNames = append(wantNames, EventComment, EventCommentsCursor)
				case statusRequest(helloHead):
					wantNames = append(wantNames, EventStatus, EventStatus)
				case checkRunsRequest(helloHead):
					wantNames = append(wantNames, EventCheckRun, EventChecks)
				}
			}
			for _, e := range got {
				gotNames = append(gotNames, e.Name)
			}
			if diff := cmp.Diff(wantNames, gotNames); diff != "" {
				t.Errorf("event names (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGatherFetchesOncePerMaxAge runs Gather the way the Service does:
// fold its events into the evidence, stamp the source status, evaluate
// again a minute later (no call), and again after MaxAge (calls again).
func TestGatherFetchesOncePerMaxAge(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	serveHelloWorld(t, gh)
	tm := newFakeTime()
	s := newTestSource(t, gh, tm, testRetry())
	ev := &gatekeeper.Evidence{Key: helloKey}
	gather := func() {
		t.Helper()
		events, err := s.Gather(context.Background(), ev)
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		for _, e := range events {
			ev.Apply(e)
		}
		ev.Sources = map[string]gatekeeper.SourceStatus{"github": {OK: true, CheckedAt: tm.Now()}}
	}

	for _, step := range []struct {
		after        time.Duration
		wantRequests int
	}{
		{after: 0, wantRequests: 6},
		{after: time.Minute, wantRequests: 6},
		{after: 3 * time.Minute, wantRequests: 6},
		{after: time.Minute, wantRequests: 12}, // 5 minutes after the first fetch
		{after: time.Minute, wantRequests: 12},
	} {
		tm.Sleep(context.Background(), step.after)
		gather()
		if n := len(gh.served()); n != step.wantRequests {
			t.Errorf("at +%s: server got %d requests, want %d", tm.Now().Sub(testEpoch), n, step.wantRequests)
		}
	}
}

func TestGatherErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		ev           *gatekeeper.Evidence
		script       func(t *testing.T, gh *fakeGitHub)
		wantErr      error // a sentinel the error wraps, or nil
		wantInError  string
		wantRequests int
	}{
		{
			name:         "pull request not found",
			ev:           &gatekeeper.Evidence{Key: helloKey},
			script:       func(*testing.T, *fakeGitHub) {},
			wantInError:  "fetching pull request Codertocat/Hello-World#2",
			wantRequests: 1,
		},
		{
			name: "reviews keep failing",
			ev:   &gatekeeper.Evidence{Key: helloKey},
			script: func(t *testing.T, gh *fakeGitHub) {
				serveHelloWorld(t, gh)
				gh.on(reviewsRoute, jsonReply(http.StatusBadGateway, serverErrorBody))
			},
			wantInError:  "fetching reviews for Codertocat/Hello-World#2",
			wantRequests: 1 + 2, // MaxAttempts is 2 below
		},
		{
			name: "rate limit fails at once",
			ev:   &gatekeeper.Evidence{Key: helloKey},
			script: func(t *testing.T, gh *fakeGitHub) {
				gh.on("GET "+helloPath, jsonReply(http.StatusForbidden, primaryLimitBody,
					"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(10*time.Minute)))
			},
			wantErr:      ErrRateLimited,
			wantRequests: 1,
		},
		{
			name:    "invalid key",
			ev:      &gatekeeper.Evidence{Key: gatekeeper.PullKey{Owner: "Codertocat"}},
			script:  func(*testing.T, *fakeGitHub) {},
			wantErr: gatekeeper.ErrInvalid,
		},
		{
			name:    "nil evidence",
			script:  func(*testing.T, *fakeGitHub) {},
			wantErr: gatekeeper.ErrInvalid,
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
			s := newTestSource(t, gh, tm, retry)

			got, err := s.Gather(context.Background(), tt.ev)
			if err == nil {
				t.Fatalf("Gather returned %d events and no error", len(got))
			}
			if got != nil {
				t.Errorf("Gather returned events with its error: %+v", got)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tt.wantErr)
			}
			if tt.wantInError != "" && !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error %q does not say %q", err, tt.wantInError)
			}
			if n := len(gh.served()); n != tt.wantRequests {
				t.Errorf("server got %d requests, want %d", n, tt.wantRequests)
			}
			if tt.wantErr == ErrRateLimited && len(tm.sleeps()) != 0 {
				t.Errorf("the source waited %v for a rate limit", tm.sleeps())
			}
		})
	}
}

// TestRateLimitIsShared checks that a limit the Publisher met keeps the
// Source from calling GitHub until the reset, and that calls resume after.
func TestRateLimitIsShared(t *testing.T) {
	t.Parallel()
	ex := loadExchanges(t, createStatusFixture)[0]
	key, sha, st, route := recordedStatus(t, ex)
	gh := newFakeGitHub(t, "")
	gh.on(route, jsonReply(http.StatusForbidden, primaryLimitBody,
		"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(time.Hour)))
	serveHelloWorld(t, gh)
	retry := testRetry()
	retry.MaxAttempts = 1
	tm := newFakeTime()
	c := newTestClient(t, gh.URL, tm, nil, retry)

	if err := NewPublisher(c).Publish(context.Background(), key, sha, st); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("Publish error = %v, want ErrRateLimited", err)
	}
	s := NewSource(c, SourceOptions{})
	if _, err := s.Gather(context.Background(), &gatekeeper.Evidence{Key: helloKey}); !errors.Is(err, ErrRateLimited) {
		t.Errorf("Gather during the limit: error = %v, want ErrRateLimited", err)
	}
	if n := len(gh.served()); n != 1 {
		t.Errorf("server got %d requests during the limit, want only the Publisher's 1", n)
	}

	tm.Sleep(context.Background(), time.Hour+resetMargin)
	if _, err := s.Gather(context.Background(), &gatekeeper.Evidence{Key: helloKey}); err != nil {
		t.Errorf("Gather after the reset: %v", err)
	}
}
