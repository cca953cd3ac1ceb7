package zenhubapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

const helloRepoID = 186853002 // Codertocat/Hello-World's GitHub id

var helloKey = gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}

func issuePath(repoID int64, n int) string {
	return fmt.Sprintf("/p1/repositories/%d/issues/%d", repoID, n)
}

func ref(owner, repo string, n int, from string) gatekeeper.IssueRef {
	return gatekeeper.IssueRef{Owner: owner, Repo: repo, Number: n, From: from}
}

// linkedEvidence is a release pull request linking #1 and acme/roadmap#7 in
// its body and #3 in its branch, with one merged pull request linking #1
// again, #9 and an issue of a repository GitHub does not know.
func linkedEvidence() *gatekeeper.Evidence {
	return &gatekeeper.Evidence{
		Key: helloKey,
		PR: &gatekeeper.PullRequest{
			Key: helloKey, RepoID: helloRepoID, Title: "Release", State: "open",
			Body: "Fixes #1, part of acme/roadmap#7", HeadRef: "3-fix", BaseRef: "master", HeadSHA: "ec26c3e5",
		},
		MergedPulls: []gatekeeper.MergedPull{{Number: 5, Title: "Totals", Author: "dev", HeadRef: "fix-totals", Links: []gatekeeper.IssueRef{
			ref("Codertocat", "Hello-World", 1, "body"), ref("Codertocat", "Hello-World", 9, "body"), ref("gone", "repo", 4, "body"),
		}}},
	}
}

// repoIDs is a RepoIDFunc answering from a table and recording its calls;
// an unknown repository is not found.
type repoIDs struct {
	ids   map[string]int64
	err   error // returned for every call when set
	mu    sync.Mutex
	calls []string
}

func (r *repoIDs) lookup(_ context.Context, owner, repo string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, owner+"/"+repo)
	if r.err != nil {
		return 0, r.err
	}
	if id, ok := r.ids[owner+"/"+repo]; ok {
		return id, nil
	}
	return 0, fmt.Errorf("repository %s/%s: %w", owner, repo, gatekeeper.ErrNotFound)
}

// checksOf returns the checks of events, which must all be EventIssueCheck
// events for helloKey received at at.
func checksOf(t *testing.T, events []gatekeeper.Event, at time.Time) []gatekeeper.IssueCheck {
	t.Helper()
	var out []gatekeeper.IssueCheck
	for _, e := range events {
		if e.Name != EventIssueCheck || e.Key != helloKey || !e.Received.Equal(at) || e.IssueCheck == nil {
			t.Errorf("event %+v: want a %s event for %s received at the clock's now", e, EventIssueCheck, helloKey)
			continue
		}
		out = append(out, *e.IssueCheck)
	}
	return out
}

func TestGatherLooksUpEveryLink(t *testing.T) {
	t.Parallel()
	zh := newFakeZenHub(t, "")
	doc := string(readFixture(t, "rest.v1.issue.get.json"))
	zh.on(issuePath(helloRepoID, 1), jsonReply(http.StatusOK, doc))
	zh.on(issuePath(helloRepoID, 9), jsonReply(http.StatusOK, doc))
	zh.on(issuePath(4242, 7), jsonReply(http.StatusOK, doc))
	ids := &repoIDs{ids: map[string]int64{"acme/roadmap": 4242}}
	var observed []string
	s := newTestSource(t, zh, newFakeTime(), func(o *Options) {
		o.RepoID = ids.lookup
		o.Observe = func(endpoint, code string) { observed = append(observed, endpoint+" "+code) }
	})
	if s.Name() != "zenhub" {
		t.Errorf("Name() = %q, want zenhub", s.Name())
	}
	ev := linkedEvidence()

	got, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	at := testEpoch
	want := []gatekeeper.IssueCheck{
		{Ref: ref("Codertocat", "Hello-World", 1, "body"), Found: true, Pipeline: "QA", CheckedAt: at},
		{Ref: ref("acme", "roadmap", 7, "body"), Found: true, Pipeline: "QA", CheckedAt: at},
		{Ref: ref("Codertocat", "Hello-World", 3, "branch"), Found: false, CheckedAt: at},
		{Ref: ref("Codertocat", "Hello-World", 9, "body"), Found: true, Pipeline: "QA", CheckedAt: at},
		{Ref: ref("gone", "repo", 4, "body"), Found: false, CheckedAt: at},
	}
	if diff := cmp.Diff(want, checksOf(t, got, testEpoch)); diff != "" {
		t.Errorf("issue checks (-want +got):\n%s", diff)
	}
	wantPaths := []string{issuePath(helloRepoID, 1), issuePath(4242, 7), issuePath(helloRepoID, 3), issuePath(helloRepoID, 9)}
	if diff := cmp.Diff(wantPaths, zh.paths()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	for _, r := range zh.served() {
		if r.Token != testToken {
			t.Errorf("%s: X-Authentication-Token = %q, want %q", r.Path, r.Token, testToken)
		}
	}
	if diff := cmp.Diff([]string{"acme/roadmap", "gone/repo"}, ids.calls); diff != "" {
		t.Errorf("RepoID calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"get_issue 200", "get_issue 200", "get_issue 404", "get_issue 200"}, observed); diff != "" {
		t.Errorf("observed calls (-want +got):\n%s", diff)
	}

	// Folded, the policy sees each link's verification; a second Gather
	// within the TTL asks nobody.
	for _, e := range got {
		ev.Apply(e)
	}
	links := gatekeeper.BuildInput(ev, gatekeeper.InputOptions{Now: testEpoch}).Map()["links"].(map[string]any)
	issues := links["issues"].([]any)
	wantFirst := map[string]any{"found": true, "pipeline": "QA"}
	if diff := cmp.Diff(wantFirst, issues[0].(map[string]any)["zenhub"]); diff != "" {
		t.Errorf("input.links.issues[0].zenhub (-want +got):\n%s", diff)
	}
	again, err := s.Gather(context.Background(), ev)
	if err != nil || len(again) != 0 || len(zh.served()) != 4 || len(ids.calls) != 2 {
		t.Errorf("second Gather: %d events, error %v, %d requests, %d RepoID calls in all; want nothing new",
			len(again), err, len(zh.served()), len(ids.calls))
	}
}

// onlyIssue1 is evidence linking only #1 of the pull request's repository.
func onlyIssue1() *gatekeeper.Evidence {
	return &gatekeeper.Evidence{
		Key: helloKey,
		PR:  &gatekeeper.PullRequest{Key: helloKey, RepoID: helloRepoID, Body: "Fixes #1", HeadRef: "release", State: "open"},
	}
}

func TestGatherAnswers(t *testing.T) {
	t.Parallel()
	doc := func(t *testing.T) reply {
		return jsonReply(http.StatusOK, string(readFixture(t, "rest.v1.issue.get.json")))
	}
	reset := func(after time.Duration) string { return strconv.FormatInt(testEpoch.Add(after).Unix(), 10) }
	limited := func(after time.Duration, date bool) reply {
		r := jsonReply(http.StatusForbidden, `{"message":"API Rate limit reached."}`,
			"X-RateLimit-Limit", "100", "X-RateLimit-Used", "100", "X-RateLimit-Reset", reset(after))
		if date {
			r.header.Set("Date", testEpochUTC)
		} else {
			r.noDate = true
		}
		return r
	}
	type span struct{ min, max time.Duration }
	exactly := func(d time.Duration) span { return span{d, d} }
	backoff1 := span{5 * time.Millisecond, 10 * time.Millisecond}
	backoff2 := span{10 * time.Millisecond, 20 * time.Millisecond}
	tests := []struct {
		name         string
		replies      func(t *testing.T) []reply
		want         *gatekeeper.IssueCheck // nil: an error
		wantErr      error
		wantInError  string
		wantRequests int
		wantSleeps   []span
	}{
		{
			name:         "found",
			replies:      func(t *testing.T) []reply { return []reply{doc(t)} },
			want:         &gatekeeper.IssueCheck{Found: true, Pipeline: "QA"},
			wantRequests: 1,
		},
		{
			name: "found, no pipeline",
			replies: func(*testing.T) []reply {
				return []reply{jsonReply(http.StatusOK, `{"estimate":null,"plus_ones":[],"is_epic":false}`)}
			},
			want:         &gatekeeper.IssueCheck{Found: true},
			wantRequests: 1,
		},
		{
			name:         "not found is an answer",
			replies:      func(*testing.T) []reply { return []reply{notFound} },
			want:         &gatekeeper.IssueCheck{Found: false},
			wantRequests: 1,
		},
		{
			name:         "bad token is not retried",
			replies:      func(*testing.T) []reply { return []reply{badToken} },
			wantErr:      gatekeeper.ErrUnauthorized,
			wantRequests: 1,
		},
		{
			name:         "rate limit waits until the reset by ZenHub's clock",
			replies:      func(t *testing.T) []reply { return []reply{limited(30*time.Second, true), doc(t)} },
			want:         &gatekeeper.IssueCheck{Found: true, Pipeline: "QA"},
			wantRequests: 2,
			wantSleeps:   []span{exactly(31 * time.Second)},
		},
		{
			name:         "rate limit without Date waits by our clock",
			replies:      func(t *testing.T) []reply { return []reply{limited(30*time.Second, false), doc(t)} },
			want:         &gatekeeper.IssueCheck{Found: true, Pipeline: "QA"},
			wantRequests: 2,
			wantSleeps:   []span{exactly(21 * time.Second)},
		},
		{
			name:         "rate limit wait is capped",
			replies:      func(t *testing.T) []reply { return []reply{limited(10*time.Minute, true), doc(t)} },
			want:         &gatekeeper.IssueCheck{Found: true, Pipeline: "QA"},
			wantRequests: 2,
			wantSleeps:   []span{exactly(65 * time.Second)},
		},
		{
			name:         "rate limited throughout",
			replies:      func(*testing.T) []reply { return []reply{rateLimited} },
			wantErr:      ErrRateLimited,
			wantInError:  "giving up after 3 attempts",
			wantRequests: 3,
			wantSleeps:   []span{backoff1, backoff2},
		},
		{
			name:         "server error, then found",
			replies:      func(t *testing.T) []reply { return []reply{serverError, doc(t)} },
			want:         &gatekeeper.IssueCheck{Found: true, Pipeline: "QA"},
			wantRequests: 2,
			wantSleeps:   []span{backoff1},
		},
		{
			name:         "connection dropped, then found",
			replies:      func(t *testing.T) []reply { return []reply{{hangup: true}, doc(t)} },
			want:         &gatekeeper.IssueCheck{Found: true, Pipeline: "QA"},
			wantRequests: 2,
			wantSleeps:   []span{backoff1},
		},
		{
			name:         "server errors throughout",
			replies:      func(*testing.T) []reply { return []reply{serverError} },
			wantInError:  "giving up after 3 attempts: zenhub answered 502",
			wantRequests: 3,
			wantSleeps:   []span{backoff1, backoff2},
		},
		{
			name:         "malformed document",
			replies:      func(*testing.T) []reply { return []reply{jsonReply(http.StatusOK, `<html>maintenance</html>`)} },
			wantInError:  "decoding zenhub issue document",
			wantRequests: 1,
		},
		{
			name: "unexpected status",
			replies: func(*testing.T) []reply {
				return []reply{jsonReply(http.StatusBadRequest, `{"message":"Bad Request"}`)}
			},
			wantInError:  `zenhub answered 400: {"message":"Bad Request"}`,
			wantRequests: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			zh := newFakeZenHub(t, "")
			zh.on(issuePath(helloRepoID, 1), tt.replies(t)...)
			// Our clock runs 10s ahead of ZenHub's Date header.
			tm := newFakeTime()
			tm.now = testEpoch.Add(10 * time.Second)
			start := tm.now
			s := newTestSource(t, zh, tm)

			got, err := s.Gather(context.Background(), onlyIssue1())
			if n := len(zh.served()); n != tt.wantRequests {
				t.Errorf("server got %d requests, want %d", n, tt.wantRequests)
			}
			sleeps := tm.sleeps()
			if len(sleeps) != len(tt.wantSleeps) {
				t.Errorf("slept %v, want %d waits", sleeps, len(tt.wantSleeps))
			} else {
				for i, w := range tt.wantSleeps {
					if sleeps[i] < w.min || sleeps[i] > w.max {
						t.Errorf("wait %d = %s, want %s..%s", i, sleeps[i], w.min, w.max)
					}
				}
			}
			if tt.want == nil {
				if err == nil {
					t.Fatalf("Gather returned %+v and no error", got)
				}
				if len(got) != 0 {
					t.Errorf("Gather returned events for a failed lookup: %+v", got)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %q does not wrap %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "looking up Codertocat/Hello-World#1 in zenhub") || !strings.Contains(err.Error(), tt.wantInError) {
					t.Errorf("error %q does not name the link and say %q", err, tt.wantInError)
				}
				if strings.Contains(err.Error(), testToken) {
					t.Errorf("error %q shows the token", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			want := *tt.want
			want.Ref = ref("Codertocat", "Hello-World", 1, "body")
			want.CheckedAt = start
			if diff := cmp.Diff([]gatekeeper.IssueCheck{want}, checksOf(t, got, start)); diff != "" {
				t.Errorf("issue checks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGatherCacheAndBudget(t *testing.T) {
	t.Parallel()
	checked := func(n int, ago time.Duration) gatekeeper.IssueCheck {
		return gatekeeper.IssueCheck{Ref: ref("Codertocat", "Hello-World", n, "body"), Found: true, Pipeline: "Done", CheckedAt: testEpoch.Add(-ago)}
	}
	tests := []struct {
		name     string
		body     string
		checks   []gatekeeper.IssueCheck
		maxCalls int
		want     []string
	}{
		{name: "looked up within the TTL", body: "Fixes #1", checks: []gatekeeper.IssueCheck{checked(1, 14*time.Minute)}},
		{name: "looked up a TTL ago", body: "Fixes #1", checks: []gatekeeper.IssueCheck{checked(1, 15*time.Minute)}, want: []string{issuePath(helloRepoID, 1)}},
		{
			name:     "budget: never looked up first, then the oldest",
			body:     "Fixes #1, #2, #3 and #4",
			checks:   []gatekeeper.IssueCheck{checked(1, time.Hour), checked(2, 2*time.Hour), checked(4, time.Minute)},
			maxCalls: 2,
			want:     []string{issuePath(helloRepoID, 3), issuePath(helloRepoID, 2)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			zh := newFakeZenHub(t, "")
			s := newTestSource(t, zh, newFakeTime(), func(o *Options) { o.MaxCalls = tt.maxCalls })
			ev := onlyIssue1()
			ev.PR.Body = tt.body
			ev.IssueChecks = map[string]gatekeeper.IssueCheck{}
			for _, c := range tt.checks {
				ev.IssueChecks[c.Ref.String()] = c
			}

			got, err := s.Gather(context.Background(), ev)
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			if diff := cmp.Diff(tt.want, zh.paths()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if len(got) != len(tt.want) {
				t.Errorf("Gather returned %d events, want %d", len(got), len(tt.want))
			}
		})
	}
}

func TestGatherRepositoryIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		ids         *repoIDs // nil: no RepoID option
		wantInError string
		wantChecks  int // returned with the error
	}{
		{name: "no RepoID option", wantInError: "no way to look up the GitHub id of repository acme/roadmap", wantChecks: 1},
		{name: "RepoID fails", ids: &repoIDs{err: errors.New("github rate limit exceeded")}, wantInError: "looking up acme/roadmap#7 in zenhub: github rate limit exceeded", wantChecks: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			zh := newFakeZenHub(t, "")
			zh.on(issuePath(helloRepoID, 1), jsonReply(http.StatusOK, string(readFixture(t, "rest.v1.issue.get.json"))))
			s := newTestSource(t, zh, newFakeTime(), func(o *Options) {
				if tt.ids != nil {
					o.RepoID = tt.ids.lookup
				}
			})
			ev := onlyIssue1()
			ev.PR.Body = "Fixes #1, part of acme/roadmap#7"

			got, err := s.Gather(context.Background(), ev)
			if err == nil || !strings.Contains(err.Error(), tt.wantInError) {
				t.Fatalf("Gather error = %v, want one saying %q", err, tt.wantInError)
			}
			if len(got) != tt.wantChecks {
				t.Errorf("Gather returned %d checks with its error, want %d (the ones made)", len(got), tt.wantChecks)
			}
		})
	}
}

func TestGatherStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	zh := newFakeZenHub(t, "")
	zh.on(issuePath(helloRepoID, 1), rateLimited)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tm := newFakeTime()
	tm.onSleep = cancel
	s := newTestSource(t, zh, tm)

	if _, err := s.Gather(ctx, onlyIssue1()); !errors.Is(err, context.Canceled) {
		t.Errorf("Gather error = %v, want context.Canceled", err)
	}
	if n := len(zh.served()); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}

func TestGatherRejectsBadEvidence(t *testing.T) {
	t.Parallel()
	zh := newFakeZenHub(t, "")
	s := newTestSource(t, zh, newFakeTime())
	for _, ev := range []*gatekeeper.Evidence{nil, {Key: gatekeeper.PullKey{Owner: "Codertocat"}}} {
		if _, err := s.Gather(context.Background(), ev); !errors.Is(err, gatekeeper.ErrInvalid) {
			t.Errorf("Gather(%+v) error = %v, want ErrInvalid", ev, err)
		}
	}
	if n := len(zh.served()); n != 0 {
		t.Errorf("server got %d requests, want none", n)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{name: "defaults", opts: Options{Token: testToken}},
		{name: "no token", opts: Options{}, wantErr: true},
		{name: "relative URL", opts: Options{BaseURL: "api.zenhub.com", Token: testToken}, wantErr: true},
		{name: "other scheme", opts: Options{BaseURL: "ftp://api.zenhub.com/", Token: testToken}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(tt.opts)
			if tt.wantErr {
				if !errors.Is(err, gatekeeper.ErrInvalid) {
					t.Errorf("New error = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := s.c.base.String(); got != DefaultBaseURL {
				t.Errorf("base URL = %q, want %q", got, DefaultBaseURL)
			}
		})
	}
}

// TestEnterpriseBaseURL checks that a ZenHub Enterprise root without its
// trailing slash keeps its path.
func TestEnterpriseBaseURL(t *testing.T) {
	t.Parallel()
	zh := newFakeZenHub(t, "/api")
	zh.on(issuePath(helloRepoID, 1), jsonReply(http.StatusOK, string(readFixture(t, "rest.v1.issue.get.json"))))
	s := newTestSource(t, zh, newFakeTime(), func(o *Options) { o.BaseURL = strings.TrimSuffix(zh.URL, "/") })

	got, err := s.Gather(context.Background(), onlyIssue1())
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	if len(got) != 1 || !got[0].IssueCheck.Found {
		t.Errorf("Gather = %+v, want #1 found", got)
	}
	if diff := cmp.Diff([]string{issuePath(helloRepoID, 1)}, zh.paths()); diff != "" {
		t.Errorf("requests under /api (-want +got):\n%s", diff)
	}
}
