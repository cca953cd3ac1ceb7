package githubapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

const createStatusFixture = "rest/create-status.recorded-exchange.json"

// recordedStatus turns a recorded POST …/statuses/{sha} exchange into the
// Publish arguments that should produce it, and the fake server route.
func recordedStatus(t *testing.T, ex exchange) (gatekeeper.PullKey, string, gatekeeper.Status, string) {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(ex.Path, "/"), "/")
	if len(parts) != 5 || parts[0] != "repos" || parts[3] != "statuses" {
		t.Fatalf("recorded path %q is not /repos/{o}/{r}/statuses/{sha}", ex.Path)
	}
	var st gatekeeper.Status
	if err := json.Unmarshal(ex.Body, &st); err != nil {
		t.Fatalf("decoding recorded request body: %v", err)
	}
	key := gatekeeper.PullKey{Owner: parts[1], Repo: parts[2], Number: 1}
	return key, parts[4], st, strings.ToUpper(ex.Method) + " " + ex.Path
}

// jsonValue decodes b into a generic JSON value for comparison.
func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return v
}

// TestPublishRecordedExchanges replays octokit's recorded create-status
// exchanges: the real go-github client must send the recorded request
// (method, path, body) with our token, and accept the recorded 201.
func TestPublishRecordedExchanges(t *testing.T) {
	t.Parallel()
	for i, ex := range loadExchanges(t, createStatusFixture) {
		if ex.Method != "post" {
			continue
		}
		t.Run(fmt.Sprintf("exchange %d %s", i, ex.Path), func(t *testing.T) {
			t.Parallel()
			key, sha, st, route := recordedStatus(t, ex)
			gh := newFakeGitHub(t, "")
			gh.on(route, ex.reply())
			obs := &observed{}
			p := NewPublisher(newTestClient(t, gh.URL, newFakeTime(), obs, testRetry()))

			if err := p.Publish(context.Background(), key, sha, st); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			reqs := gh.served()
			if len(reqs) != 1 {
				t.Fatalf("server got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.Method != http.MethodPost || got.Path != ex.Path {
				t.Errorf("request = %s %s, want POST %s", got.Method, got.Path, ex.Path)
			}
			if diff := cmp.Diff(jsonValue(t, ex.Body), jsonValue(t, got.Body)); diff != "" {
				t.Errorf("request body differs from the recorded one (-want +got):\n%s", diff)
			}
			if auth := got.Header.Get("Authorization"); auth != "Bearer "+testToken {
				t.Errorf("Authorization = %q, want the token as Bearer", auth)
			}
			if v := got.Header.Get("X-GitHub-Api-Version"); v == "" {
				t.Errorf("X-GitHub-Api-Version not sent")
			}
			if diff := cmp.Diff([]string{"create_status 201"}, obs.list()); diff != "" {
				t.Errorf("observed calls (-want +got):\n%s", diff)
			}
		})
	}
}

// span is an accepted range for one wait; backoffs are jittered.
type span struct{ lo, hi time.Duration }

func exactly(d time.Duration) span { return span{d, d} }

func checkSleeps(t *testing.T, want []span, got []time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("waits = %v, want %d waits in %v", got, len(want), want)
	}
	for i, d := range got {
		if d < want[i].lo || d > want[i].hi {
			t.Errorf("wait %d = %s, want within [%s, %s]", i, d, want[i].lo, want[i].hi)
		}
	}
}

// unix is an X-RateLimit-Reset value d after the fake clock's start.
func unix(d time.Duration) string {
	return strconv.FormatInt(testEpoch.Add(d).Unix(), 10)
}

const (
	primaryLimitBody   = `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit"}`
	secondaryLimitBody = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`
	serverErrorBody    = `{"message":"Server Error"}`
)

func TestPublishRetries(t *testing.T) {
	t.Parallel()
	exs := loadExchanges(t, createStatusFixture)
	created := exs[0].reply()
	invalid := loadExchanges(t, "rest/errors.recorded-exchange.json")[0].reply()
	primary := func(reset time.Duration) reply {
		return jsonReply(http.StatusForbidden, primaryLimitBody,
			"X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "0",
			"X-RateLimit-Used", "5000", "X-RateLimit-Resource", "core",
			"X-RateLimit-Reset", unix(reset))
	}

	tests := []struct {
		name        string
		replies     []reply
		retry       func(*Retry)
		wantFail    bool
		wantErr     []error // sentinels the error must wrap
		wantNotErr  []error
		wantInError string
		wantSleeps  []span
		wantCodes   []string
		timeout     time.Duration // of the HTTP client, when set
	}{
		{
			name:      "created",
			replies:   []reply{created},
			wantCodes: []string{"201"},
		},
		{
			name:        "validation failed is reported, not retried",
			replies:     []reply{invalid},
			wantFail:    true,
			wantErr:     []error{gatekeeper.ErrInvalid},
			wantNotErr:  []error{ErrRateLimited},
			wantInError: "422 Validation Failed (Label.color: invalid)",
			wantCodes:   []string{"422"},
		},
		{
			name:    "server errors are retried with backoff",
			replies: []reply{jsonReply(500, serverErrorBody), jsonReply(502, serverErrorBody), created},
			// BaseDelay 10ms, doubled, half of each jittered.
			wantSleeps: []span{{5 * time.Millisecond, 10 * time.Millisecond}, {10 * time.Millisecond, 20 * time.Millisecond}},
			wantCodes:  []string{"500", "502", "201"},
		},
		{
			name:      "backoff is capped by MaxDelay",
			replies:   []reply{jsonReply(503, serverErrorBody), jsonReply(503, serverErrorBody), jsonReply(503, serverErrorBody), created},
			retry:     func(r *Retry) { r.MaxDelay = 15 * time.Millisecond },
			wantCodes: []string{"503", "503", "503", "201"},
			wantSleeps: []span{
				{5 * time.Millisecond, 10 * time.Millisecond},
				{7 * time.Millisecond, 15 * time.Millisecond},
				{7 * time.Millisecond, 15 * time.Millisecond},
			},
		},
		{
			name:        "gives up after MaxAttempts",
			replies:     []reply{jsonReply(503, serverErrorBody)},
			retry:       func(r *Retry) { r.MaxAttempts = 3 },
			wantFail:    true,
			wantInError: "giving up after 3 attempts",
			wantSleeps:  []span{{5 * time.Millisecond, 10 * time.Millisecond}, {10 * time.Millisecond, 20 * time.Millisecond}},
			wantCodes:   []string{"503", "503", "503"},
		},
		{
			name:       "a dropped connection is retried",
			replies:    []reply{{hangup: true}, created},
			wantSleeps: []span{{5 * time.Millisecond, 10 * time.Millisecond}},
			wantCodes:  []string{CodeError, "201"},
		},
		{
			name:       "an HTTP client timeout is retried",
			replies:    []reply{{stall: true}, created},
			timeout:    200 * time.Millisecond,
			wantSleeps: []span{{5 * time.Millisecond, 10 * time.Millisecond}},
			wantCodes:  []string{CodeError, "201"},
		},
		{
			name:       "not found is not retried",
			replies:    []reply{jsonReply(404, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`)},
			wantFail:   true,
			wantNotErr: []error{gatekeeper.ErrInvalid, ErrRateLimited},
			wantCodes:  []string{"404"},
		},
		{
			name:       "primary rate limit waits for the reset",
			replies:    []reply{primary(30 * time.Second), created},
			wantSleeps: []span{exactly(30*time.Second + resetMargin)},
			wantCodes:  []string{"403", "201"},
		},
		{
			name:       "primary rate limit wait is capped by MaxRateLimitWait",
			replies:    []reply{primary(time.Hour), created},
			wantSleeps: []span{exactly(10 * time.Minute)},
			wantCodes:  []string{"403", "201"},
		},
		{
			name:        "primary rate limit beyond MaxElapsed gives up without waiting",
			replies:     []reply{primary(time.Hour), created},
			retry:       func(r *Retry) { r.MaxRateLimitWait = 2 * time.Hour },
			wantFail:    true,
			wantErr:     []error{ErrRateLimited},
			wantInError: "retry limit",
			wantCodes:   []string{"403"},
		},
		{
			name: "secondary rate limit honours Retry-After",
			replies: []reply{
				jsonReply(http.StatusForbidden, secondaryLimitBody, "Retry-After", "42"),
				created,
			},
			wantSleeps: []span{exactly(42 * time.Second)},
			wantCodes:  []string{"403", "201"},
		},
		{
			name: "secondary rate limit without Retry-After waits SecondaryWait, doubling",
			replies: []reply{
				jsonReply(http.StatusForbidden, secondaryLimitBody),
				jsonReply(http.StatusForbidden, secondaryLimitBody),
				created,
			},
			wantSleeps: []span{exactly(60 * time.Millisecond), exactly(120 * time.Millisecond)},
			wantCodes:  []string{"403", "403", "201"},
		},
		{
			name: "403 with Retry-After and another documentation_url is a limit too",
			replies: []reply{
				jsonReply(http.StatusForbidden, `{"message":"You have triggered an abuse detection mechanism.","documentation_url":"https://docs.github.com/rest"}`, "Retry-After", "5"),
				created,
			},
			wantSleeps: []span{exactly(5 * time.Second)},
			wantCodes:  []string{"403", "201"},
		},
		{
			name:       "429 honours Retry-After",
			replies:    []reply{jsonReply(http.StatusTooManyRequests, secondaryLimitBody, "Retry-After", "7"), created},
			wantSleeps: []span{exactly(7 * time.Second)},
			wantCodes:  []string{"429", "201"},
		},
		{
			name: "429 with the primary limit used up waits for X-RateLimit-Reset",
			replies: []reply{
				jsonReply(http.StatusTooManyRequests, primaryLimitBody,
					"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(20*time.Second)),
				created,
			},
			wantSleeps: []span{exactly(20*time.Second + resetMargin)},
			wantCodes:  []string{"429", "201"},
		},
		{
			name:       "429 naming no wait waits SecondaryWait",
			replies:    []reply{jsonReply(http.StatusTooManyRequests, `{"message":"Too Many Requests"}`), created},
			wantSleeps: []span{exactly(60 * time.Millisecond)},
			wantCodes:  []string{"429", "201"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, sha, st, route := recordedStatus(t, exs[0])
			gh := newFakeGitHub(t, "")
			gh.on(route, tt.replies...)
			retry := testRetry()
			if tt.retry != nil {
				tt.retry(&retry)
			}
			tm, obs := newFakeTime(), &observed{}
			p := NewPublisher(newTestClient(t, gh.URL, tm, obs, retry, func(o *Options) {
				if tt.timeout > 0 {
					o.HTTPClient = &http.Client{Timeout: tt.timeout}
				}
			}))

			err := p.Publish(context.Background(), key, sha, st)

			switch {
			case !tt.wantFail && err != nil:
				t.Fatalf("Publish: %v", err)
			case tt.wantFail && err == nil:
				t.Fatalf("Publish succeeded, want an error")
			}
			for _, target := range tt.wantErr {
				if !errors.Is(err, target) {
					t.Errorf("error %q does not wrap %v", err, target)
				}
			}
			for _, target := range tt.wantNotErr {
				if errors.Is(err, target) {
					t.Errorf("error %q wraps %v", err, target)
				}
			}
			if tt.wantInError != "" && !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error %q does not say %q", err, tt.wantInError)
			}
			checkSleeps(t, tt.wantSleeps, tm.sleeps())
			var wantCalls []string
			for _, code := range tt.wantCodes {
				wantCalls = append(wantCalls, EndpointCreateStatus+" "+code)
			}
			if diff := cmp.Diff(wantCalls, obs.list()); diff != "" {
				t.Errorf("observed calls (-want +got):\n%s", diff)
			}
			// Every attempt, retried or not, sends the same status.
			reqs := gh.served()
			if len(reqs) != len(tt.wantCodes) {
				t.Errorf("server got %d requests, want %d", len(reqs), len(tt.wantCodes))
			}
			for _, r := range reqs {
				if len(r.Body) == 0 {
					continue // hung up on before reading
				}
				if diff := cmp.Diff(jsonValue(t, exs[0].Body), jsonValue(t, r.Body)); diff != "" {
					t.Errorf("request body (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestPublishRefusesInvalidStatusWithoutCallingGitHub(t *testing.T) {
	t.Parallel()
	key := gatekeeper.PullKey{Owner: "octokit-fixture-org", Repo: "create-status", Number: 1}
	sha := "0000000000000000000000000000000000000001"
	good := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Pending, Description: "Waiting for: QA approval", TargetURL: "https://gate.example/pulls/o/r/1"}

	tests := []struct {
		name   string
		key    gatekeeper.PullKey
		sha    string
		change func(*gatekeeper.Status)
	}{
		{name: "description of 141 characters", key: key, sha: sha, change: func(s *gatekeeper.Status) { s.Description = strings.Repeat("x", 141) }},
		{name: "description of 141 multibyte characters", key: key, sha: sha, change: func(s *gatekeeper.Status) { s.Description = strings.Repeat("é", 141) }},
		{name: "unknown state", key: key, sha: sha, change: func(s *gatekeeper.Status) { s.State = "green" }},
		{name: "empty state", key: key, sha: sha, change: func(s *gatekeeper.Status) { s.State = "" }},
		{name: "empty context", key: key, sha: sha, change: func(s *gatekeeper.Status) { s.Context = "" }},
		{name: "empty sha", key: key, sha: "", change: func(*gatekeeper.Status) {}},
		{name: "invalid key", key: gatekeeper.PullKey{Owner: "o"}, sha: sha, change: func(*gatekeeper.Status) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			gh.on("POST /repos/octokit-fixture-org/create-status/statuses/"+sha, jsonReply(201, `{}`))
			p := NewPublisher(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()))
			st := good
			tt.change(&st)

			err := p.Publish(context.Background(), tt.key, tt.sha, st)
			if !errors.Is(err, gatekeeper.ErrInvalid) {
				t.Errorf("Publish error = %v, want one wrapping ErrInvalid", err)
			}
			if n := len(gh.served()); n != 0 {
				t.Errorf("server got %d requests, want none", n)
			}
		})
	}
}

// TestPublishSendsLongestAllowedDescription pins the boundary: 140
// characters, counted as characters and not bytes, are sent.
func TestPublishSendsLongestAllowedDescription(t *testing.T) {
	t.Parallel()
	for _, desc := range []string{strings.Repeat("x", 140), strings.Repeat("é", 140)} {
		t.Run(fmt.Sprintf("%d bytes", len(desc)), func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			gh.on("POST /repos/o/r/statuses/abc", jsonReply(201, `{}`))
			p := NewPublisher(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()))
			st := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Failure, Description: desc}
			if err := p.Publish(context.Background(), gatekeeper.PullKey{Owner: "o", Repo: "r", Number: 1}, "abc", st); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			reqs := gh.served()
			if len(reqs) != 1 {
				t.Fatalf("server got %d requests, want 1", len(reqs))
			}
			var body map[string]any
			if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"context": "release-gate", "state": "failure", "description": desc}
			if diff := cmp.Diff(want, body); diff != "" {
				t.Errorf("request body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPublishStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	exs := loadExchanges(t, createStatusFixture)
	tests := []struct {
		name string
		// cancelBefore cancels before Publish; otherwise the context is
		// cancelled during the first wait.
		cancelBefore bool
		replies      []reply
		wantRequests int
	}{
		{
			name:         "cancelled before the call",
			cancelBefore: true,
			replies:      []reply{exs[0].reply()},
			wantRequests: 0,
		},
		{
			name:         "cancelled while waiting to retry a 502",
			replies:      []reply{jsonReply(502, serverErrorBody)},
			wantRequests: 1,
		},
		{
			name:         "cancelled while waiting for a rate limit",
			replies:      []reply{jsonReply(http.StatusForbidden, secondaryLimitBody, "Retry-After", "60")},
			wantRequests: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, sha, st, route := recordedStatus(t, exs[0])
			gh := newFakeGitHub(t, "")
			gh.on(route, tt.replies...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tm := newFakeTime()
			tm.onSleep = cancel
			if tt.cancelBefore {
				cancel()
			}
			p := NewPublisher(newTestClient(t, gh.URL, tm, nil, testRetry()))

			err := p.Publish(ctx, key, sha, st)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Publish error = %v, want one wrapping context.Canceled", err)
			}
			if n := len(gh.served()); n != tt.wantRequests {
				t.Errorf("server got %d requests, want %d", n, tt.wantRequests)
			}
		})
	}
}

// TestPublishEnterpriseBaseURL checks that a GitHub Enterprise Server base
// keeps its /api/v3/ prefix, with or without the trailing slash.
func TestPublishEnterpriseBaseURL(t *testing.T) {
	t.Parallel()
	ex := loadExchanges(t, createStatusFixture)[0]
	for _, suffix := range []string{"", "/"} {
		t.Run("base ends in /api/v3"+suffix, func(t *testing.T) {
			t.Parallel()
			key, sha, st, route := recordedStatus(t, ex)
			gh := newFakeGitHub(t, "/api/v3")
			gh.on(route, ex.reply())
			base := strings.TrimSuffix(gh.URL, "/") + suffix
			c := newTestClient(t, base, newFakeTime(), nil, testRetry())
			if want := strings.TrimSuffix(gh.URL, "/") + "/"; c.BaseURL() != want {
				t.Errorf("BaseURL() = %q, want %q", c.BaseURL(), want)
			}

			if err := NewPublisher(c).Publish(context.Background(), key, sha, st); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			reqs := gh.served()
			if len(reqs) != 1 || reqs[0].Path != "/api/v3"+ex.Path {
				t.Errorf("requests = %+v, want one to /api/v3%s", reqs, ex.Path)
			}
		})
	}
}

func TestDryRunLogsAndPostsNothing(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	var logs bytes.Buffer
	p := NewDryRun(slog.New(slog.NewJSONHandler(&logs, nil)))
	if !p.DryRun() {
		t.Errorf("DryRun() = false for NewDryRun")
	}
	key := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}
	sha := "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	st := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Failure, Description: "Failing: coverage 71.2% below 80%", TargetURL: "http://localhost:8080/pulls/Codertocat/Hello-World/2"}

	if err := p.Publish(context.Background(), key, sha, st); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if n := len(gh.served()); n != 0 {
		t.Errorf("server got %d requests in a dry run", n)
	}
	var rec map[string]any
	if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
		t.Fatalf("decoding log line %q: %v", logs.String(), err)
	}
	for k, want := range map[string]any{
		"repo": "Codertocat/Hello-World", "pr": float64(2), "sha": sha, "context": "release-gate",
		"state": "failure", "description": st.Description, "target_url": st.TargetURL,
	} {
		if rec[k] != want {
			t.Errorf("log %s = %v, want %v", k, rec[k], want)
		}
	}

	// A dry run refuses what GitHub would refuse, so it shows the same bugs.
	st.Description = strings.Repeat("x", 141)
	if err := p.Publish(context.Background(), key, sha, st); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("dry-run Publish of a 141-character description = %v, want ErrInvalid", err)
	}

	if NewPublisher(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry())).DryRun() {
		t.Errorf("DryRun() = true for NewPublisher")
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"ftp://ghe.example/api/v3/", "ghe.example/api/v3", "/api/v3/", "http://%zz/"} {
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			if _, err := New(Options{BaseURL: base}); !errors.Is(err, gatekeeper.ErrInvalid) {
				t.Errorf("New(%q) error = %v, want ErrInvalid", base, err)
			}
		})
	}
	c, err := New(Options{})
	if err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
	if c.BaseURL() != DefaultBaseURL {
		t.Errorf("default BaseURL() = %q, want %q", c.BaseURL(), DefaultBaseURL)
	}
}

// TestPublishWaitsForKnownLimit checks that a Publish after a rate limit
// waits for the recorded reset before calling GitHub, not after a refusal.
func TestPublishWaitsForKnownLimit(t *testing.T) {
	t.Parallel()
	ex := loadExchanges(t, createStatusFixture)[0]
	key, sha, st, route := recordedStatus(t, ex)
	gh := newFakeGitHub(t, "")
	gh.on(route, jsonReply(http.StatusForbidden, primaryLimitBody,
		"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(30*time.Second)), ex.reply())
	retry := testRetry()
	retry.MaxAttempts = 1
	tm := newFakeTime()
	p := NewPublisher(newTestClient(t, gh.URL, tm, nil, retry))

	if err := p.Publish(context.Background(), key, sha, st); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("first Publish error = %v, want ErrRateLimited", err)
	}
	if len(tm.sleeps()) != 0 {
		t.Fatalf("first Publish waited %v with MaxAttempts 1", tm.sleeps())
	}
	if err := p.Publish(context.Background(), key, sha, st); err != nil {
		t.Fatalf("second Publish: %v", err)
	}
	checkSleeps(t, []span{exactly(30*time.Second + resetMargin)}, tm.sleeps())
	if n := len(gh.served()); n != 2 {
		t.Errorf("server got %d requests, want 2", n)
	}
}

func BenchmarkPublish(b *testing.B) {
	ex := loadExchanges(b, createStatusFixture)[0]
	gh := newFakeGitHub(b, "")
	gh.on("POST "+ex.Path, ex.reply())
	c, err := New(Options{BaseURL: gh.URL, Token: testToken})
	if err != nil {
		b.Fatal(err)
	}
	p := NewPublisher(c)
	key := gatekeeper.PullKey{Owner: "octokit-fixture-org", Repo: "create-status", Number: 1}
	st := gatekeeper.Status{Context: "example/1", State: gatekeeper.Failure, Description: "create-status failure test", TargetURL: "https://example.com"}
	sha := "0000000000000000000000000000000000000001"
	b.ResetTimer()
	for b.Loop() {
		if err := p.Publish(context.Background(), key, sha, st); err != nil {
			b.Fatal(err)
		}
	}
}
