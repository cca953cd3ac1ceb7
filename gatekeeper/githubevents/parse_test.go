package githubevents_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
)

// fixtures is where the recorded payloads are copied byte for byte from
// shared/fixtures/github.
const fixtures = "../../test/testdata/fixtures/github"

// fixture reads a recorded payload and returns it with the event type that
// GitHub sends it under: the first dotted part of the file name.
func fixture(t testing.TB, name string) (eventType string, payload []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	eventType, _, _ = strings.Cut(name, ".")
	return eventType, data
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// helloWorldPR is Codertocat/Hello-World#2 as the octokit pull_request
// payloads describe it; updated is the only field that differs between them.
func helloWorldPR(updated string) *gatekeeper.PullRequest {
	return &gatekeeper.PullRequest{
		Key:               gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2},
		RepoID:            186853002,
		Title:             "Update the README with new information.",
		Body:              "This is a pretty simple change that we need to pull into master.",
		Author:            "Codertocat",
		AuthorAssociation: "OWNER",
		State:             "open",
		HeadRef:           "changes",
		HeadSHA:           "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
		BaseRef:           "master",
		BaseSHA:           "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
		Labels:            []string{"bug"},
		HTMLURL:           "https://github.com/Codertocat/Hello-World/pull/2",
		UpdatedAt:         ts(updated),
		// The head branch is the repository's own.
		HeadRepoID: 186853002,
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	helloKey := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}
	const helloHead = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	hello := &gatekeeper.Repo{ID: 186853002, Owner: "Codertocat", Name: "Hello-World"}
	dismissedPR := helloWorldPR("2019-05-15T15:20:38Z")
	dismissedPR.Body = ""
	// The octokit dismissed example carries an html_url from another repo;
	// the converter keeps what GitHub sent.
	dismissedPR.HTMLURL = "https://github.com/hellomouse/GNS/pull/902"
	checkRun := func(state, app string) *gatekeeper.Check {
		return &gatekeeper.Check{
			Name: "Octocoders-linter", SHA: helloHead, Kind: "check_run", State: state,
			URL: "https://github.com/Codertocat/Hello-World/runs/128620228", UpdatedAt: ts("2019-05-15T15:21:12Z"),
			Creator: app,
		}
	}

	tests := []struct {
		name string
		file string
		want gatekeeper.Event
	}{
		{
			name: "pull request opened",
			file: "pull_request.opened.json",
			want: gatekeeper.Event{Delivery: "d-1", Name: "pull_request.opened", Key: helloKey, SHA: helloHead, PullRequest: helloWorldPR("2019-05-15T15:20:33Z")},
		},
		{
			name: "pull request synchronize",
			file: "pull_request.synchronize.json",
			want: gatekeeper.Event{Delivery: "d-1", Name: "pull_request.synchronize", Key: helloKey, SHA: helloHead, PullRequest: helloWorldPR("2019-05-15T15:20:33Z")},
		},
		{
			name: "pull request closed with merge",
			file: "pull_request.closed.merged.json",
			want: gatekeeper.Event{
				Delivery: "d-1", Name: "pull_request.closed",
				Key: gatekeeper.PullKey{Owner: "sish8075", Repo: "statistics-source", Number: 17},
				SHA: "f359e26935437fa800e73cd5e4cf69b1c26c5b5c",
				PullRequest: &gatekeeper.PullRequest{
					Key:    gatekeeper.PullKey{Owner: "sish8075", Repo: "statistics-source", Number: 17},
					RepoID: 436929436, Title: "feature/catalog-info", Body: "Fixing the catalog info file.",
					Author: "sish8075", AuthorAssociation: "OWNER", State: "closed", Merged: true,
					HeadRef: "feature/catalog-info", HeadSHA: "f359e26935437fa800e73cd5e4cf69b1c26c5b5c",
					BaseRef: "main", BaseSHA: "c451ce46f93a5c34d7e73fdb55e89df02da726f9",
					HTMLURL: "https://github.com/sish8075/statistics-source/pull/17", UpdatedAt: ts("2022-10-12T08:33:55Z"),
					HeadRepoID: 436929436,
				},
			},
		},
		{
			name: "review approved",
			file: "pull_request_review.submitted.approved.json",
			want: gatekeeper.Event{
				Delivery: "d-1", Name: "pull_request_review.submitted",
				Key: gatekeeper.PullKey{Owner: "erwinmombay", Repo: "github-owners-bot-test-repo", Number: 35},
				SHA: "9272f18514cbd3fa935b3ced62ae1c2bf6efa76d",
				PullRequest: &gatekeeper.PullRequest{
					Key:    gatekeeper.PullKey{Owner: "erwinmombay", Repo: "github-owners-bot-test-repo", Number: 35},
					RepoID: 72889098, Title: "Update file.txt", Author: "ampprojectbot", AuthorAssociation: "COLLABORATOR", State: "open",
					HeadRef: "ampprojectbot-patch-3", HeadSHA: "9272f18514cbd3fa935b3ced62ae1c2bf6efa76d",
					BaseRef: "master", BaseSHA: "e896a1ed550e296573e46bcb7d0ab23afa3bbedf",
					HTMLURL: "https://github.com/erwinmombay/github-owners-bot-test-repo/pull/35", UpdatedAt: ts("2019-02-26T20:53:31Z"),
					HeadRepoID: 72889098,
				},
				Review: &gatekeeper.Review{
					ID: 208201048, User: "erwinmombay", State: "APPROVED", CommitID: "9272f18514cbd3fa935b3ced62ae1c2bf6efa76d",
					SubmittedAt: ts("2019-02-26T20:53:31Z"), AuthorAssociation: "OWNER",
				},
			},
		},
		{
			name: "review dismissed",
			file: "pull_request_review.dismissed.json",
			want: gatekeeper.Event{
				Delivery: "d-1", Name: "pull_request_review.dismissed", Key: helloKey, SHA: helloHead, PullRequest: dismissedPR,
				Review: &gatekeeper.Review{
					ID: 237895671, User: "Codertocat", State: "DISMISSED", CommitID: helloHead,
					SubmittedAt: ts("2019-05-15T15:20:38Z"), AuthorAssociation: "OWNER",
				},
			},
		},
		{
			name: "comment on a pull request",
			file: "issue_comment.created.json",
			want: gatekeeper.Event{
				Delivery: "d-1", Name: "issue_comment.created",
				Key: gatekeeper.PullKey{Owner: "abc", Repo: "def-ci-webhook-test", Number: 2},
				Comment: &gatekeeper.Comment{
					ID: 751955664, User: "lts-def", Body: "trigger abc",
					CreatedAt: ts("2020-12-29T05:49:14Z"), UpdatedAt: ts("2020-12-29T05:49:14Z"),
				},
			},
		},
		{
			name: "status",
			file: "status.json",
			want: gatekeeper.Event{
				Delivery: "d-1", Name: "status", SHA: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
				Check: &gatekeeper.Check{
					Name: "default", SHA: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", Kind: "status", State: "success",
					UpdatedAt: ts("2019-05-15T15:20:55Z"), Creator: "Codertocat",
				},
				Repo: hello,
			},
		},
		{
			name: "check run success",
			file: "check_run.completed.json",
			want: gatekeeper.Event{Delivery: "d-1", Name: "check_run.completed", SHA: helloHead, Check: checkRun("success", "octocoders-linter"), Repo: hello},
		},
		{
			name: "check run failure",
			file: "check_run.completed.failure.json",
			want: gatekeeper.Event{Delivery: "d-1", Name: "check_run.completed", SHA: helloHead, Check: checkRun("failure", "github-actions"), Repo: hello},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eventType, payload := fixture(t, tt.file)
			got, err := githubevents.Parse(eventType, "d-1", payload)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseEveryFixture parses each recorded payload and checks which are
// used and under which name, so that a fixture added later is covered too.
func TestParseEveryFixture(t *testing.T) {
	t.Parallel()
	want := map[string]string{ // file → event name, "" for ignored
		"check_run.completed.failure.json":                                         "check_run.completed",
		"check_run.completed.json":                                                 "check_run.completed",
		"check_suite.completed.json":                                               "",
		"issue_comment.created.json":                                               "issue_comment.created",
		"issue_comment.created.on-issue.json":                                      "",
		"ping.json":                                                                "",
		"ping.with-app_id.json":                                                    "",
		"pull_request.closed.json":                                                 "pull_request.closed",
		"pull_request.closed.merged.json":                                          "pull_request.closed",
		"pull_request.edited.json":                                                 "pull_request.edited",
		"pull_request.labeled.json":                                                "pull_request.labeled",
		"pull_request.opened.json":                                                 "pull_request.opened",
		"pull_request.reopened.json":                                               "pull_request.reopened",
		"pull_request.synchronize.json":                                            "pull_request.synchronize",
		"pull_request_review.dismissed.json":                                       "pull_request_review.dismissed",
		"pull_request_review.submitted.approved.json":                              "pull_request_review.submitted",
		"pull_request_review.submitted.commented.json":                             "pull_request_review.submitted",
		"pull_request_review.submitted.changes_requested.json":                     "pull_request_review.submitted",
		"pull_request_review.submitted.approved.same-pr-as-changes_requested.json": "pull_request_review.submitted",
		"status.json":                                                              "status",
	}
	files, err := filepath.Glob(filepath.Join(fixtures, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("listing fixtures: %v (%d files)", err, len(files))
	}
	for _, path := range files {
		file := filepath.Base(path)
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			wantName, known := want[file]
			if !known {
				t.Fatalf("fixture %s has no expectation in this test; add one", file)
			}
			eventType, payload := fixture(t, file)
			got, err := githubevents.Parse(eventType, "d-1", payload)
			if wantName == "" {
				if !errors.Is(err, githubevents.ErrIgnored) {
					t.Fatalf("Parse = %+v, %v; want ErrIgnored", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.Name != wantName {
				t.Errorf("Name = %q, want %q", got.Name, wantName)
			}
			if !got.Key.Valid() && got.SHA == "" {
				t.Errorf("event %+v names neither a pull request nor a commit", got)
			}
		})
	}
}

func TestParseReviewStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		want string
	}{
		{name: "changes requested", file: "pull_request_review.submitted.changes_requested.json", want: "CHANGES_REQUESTED"},
		{name: "approved", file: "pull_request_review.submitted.approved.same-pr-as-changes_requested.json", want: "APPROVED"},
		{name: "commented", file: "pull_request_review.submitted.commented.json", want: "COMMENTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eventType, payload := fixture(t, tt.file)
			got, err := githubevents.Parse(eventType, "d", payload)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.Review == nil || got.Review.State != tt.want {
				t.Errorf("Review = %+v, want state %s", got.Review, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		eventType string
		payload   string
		want      error
	}{
		{name: "truncated json", eventType: "pull_request", payload: `{"action":"opened","pull_request":`, want: gatekeeper.ErrInvalid},
		{name: "not json for an ignored type", eventType: "push", payload: `not json`, want: gatekeeper.ErrInvalid},
		{name: "wrong shape", eventType: "pull_request", payload: `{"action":"opened","pull_request":[1,2]}`, want: gatekeeper.ErrInvalid},
		{name: "pull request without object", eventType: "pull_request", payload: `{"action":"opened"}`, want: gatekeeper.ErrInvalid},
		{name: "pull request without repository", eventType: "pull_request", payload: `{"action":"opened","pull_request":{"number":2,"head":{"sha":"abc"}}}`, want: gatekeeper.ErrInvalid},
		{name: "pull request without head sha", eventType: "pull_request", payload: `{"action":"opened","pull_request":{"number":2},"repository":{"name":"r","owner":{"login":"o"}}}`, want: gatekeeper.ErrInvalid},
		{name: "status without sha", eventType: "status", payload: `{"state":"success","context":"ci"}`, want: gatekeeper.ErrInvalid},
		{name: "status with unknown state", eventType: "status", payload: `{"sha":"abc","state":"green","context":"ci"}`, want: gatekeeper.ErrInvalid},
		{name: "check run without head sha", eventType: "check_run", payload: `{"action":"completed","check_run":{"name":"lint"}}`, want: gatekeeper.ErrInvalid},
		{name: "unused pull request action", eventType: "pull_request", payload: `{"action":"assigned"}`, want: githubevents.ErrIgnored},
		{name: "unused check run action", eventType: "check_run", payload: `{"action":"unknown"}`, want: githubevents.ErrIgnored},
		{name: "requested action without check run", eventType: "check_run", payload: `{"action":"requested_action"}`, want: gatekeeper.ErrInvalid},
		{name: "unused check suite action", eventType: "check_suite", payload: `{"action":"requested"}`, want: githubevents.ErrIgnored},
		{name: "check suite rerequested without head sha", eventType: "check_suite", payload: `{"action":"rerequested","check_suite":{},"repository":{"id":1,"name":"r","owner":{"login":"o"}}}`, want: gatekeeper.ErrInvalid},
		{name: "unknown event type", eventType: "star", payload: `{"action":"created"}`, want: githubevents.ErrIgnored},
		{name: "ping", eventType: "ping", payload: `{"zen":"Keep it logically awesome."}`, want: githubevents.ErrIgnored},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := githubevents.Parse(tt.eventType, "d", []byte(tt.payload))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %+v, %v; want an error wrapping %v", got, err, tt.want)
			}
		})
	}
}

func TestParseDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		file     string
		wantUsed bool
	}{
		{name: "used", file: "pull_request.opened.json", wantUsed: true},
		{name: "comment on a plain issue", file: "issue_comment.created.on-issue.json", wantUsed: false},
		{name: "check suite", file: "check_suite.completed.json", wantUsed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eventType, payload := fixture(t, tt.file)
			e, used, err := githubevents.ParseDelivery(eventType, "d", payload)
			if err != nil {
				t.Fatalf("ParseDelivery: %v", err)
			}
			if used != tt.wantUsed {
				t.Errorf("used = %v, want %v", used, tt.wantUsed)
			}
			if used && !e.Key.Valid() {
				t.Errorf("used event %+v has no valid key", e)
			}
		})
	}
	if _, _, err := githubevents.ParseDelivery("pull_request", "d", []byte("{")); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("ParseDelivery(malformed) error = %v, want ErrInvalid", err)
	}
}

func TestCheckRunState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, status, conclusion, want string
	}{
		{"queued", "queued", "", "pending"},
		{"in progress", "in_progress", "", "pending"},
		{"waiting", "waiting", "", "pending"},
		{"success", "completed", "success", "success"},
		{"neutral", "completed", "neutral", "success"},
		{"skipped", "completed", "skipped", "success"},
		{"failure", "completed", "failure", "failure"},
		{"timed out", "completed", "timed_out", "failure"},
		{"cancelled", "completed", "cancelled", "failure"},
		{"action required", "completed", "action_required", "failure"},
		{"startup failure", "completed", "startup_failure", "failure"},
		{"stale", "completed", "stale", "failure"},
		{"undocumented conclusion", "completed", "exploded", "error"},
		{"completed without conclusion", "completed", "", "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := githubevents.CheckRunState(tt.status, tt.conclusion); got != tt.want {
				t.Errorf("CheckRunState(%q, %q) = %q, want %q", tt.status, tt.conclusion, got, tt.want)
			}
		})
	}
}

// FuzzParse checks that no payload makes Parse panic, and that whatever it
// accepts names a pull request or a commit.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtures, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("listing fixtures: %v (%d files)", err, len(files))
	}
	for _, path := range files {
		eventType, payload := fixture(f, filepath.Base(path))
		f.Add(eventType, payload)
	}
	// The public push and check_run examples, under their folder's event.
	public, _ := filepath.Glob(filepath.Join(fixtures, "public", "*", "*", "*.json"))
	for _, path := range public {
		if event := filepath.Base(filepath.Dir(path)); event == "push" || event == "check_run" {
			payload, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(event, payload)
		}
	}
	f.Fuzz(func(t *testing.T, eventType string, payload []byte) {
		e, err := githubevents.Parse(eventType, "d", payload)
		if err != nil {
			if e.Name != "" || e.Key != (gatekeeper.PullKey{}) || e.SHA != "" {
				t.Errorf("Parse returned %+v with error %v", e, err)
			}
			return
		}
		if !e.Key.Valid() && e.SHA == "" {
			t.Errorf("Parse accepted %+v, which names neither a pull request nor a commit", e)
		}
		if !e.Key.Valid() && e.Repo == nil {
			t.Errorf("Parse accepted %+v, which names a commit of no repository", e)
		}
		if e.Delivery != "d" {
			t.Errorf("Delivery = %q, want d", e.Delivery)
		}
	})
}

// A "labeled" delivery says when the label was added: GitHub sends no time
// of the event, and the pull request's updated_at is the labelling. Other
// actions carry no label times, even when the pull request has labels.
func TestParseLabeledTime(t *testing.T) {
	t.Parallel()
	typ, body := fixture(t, "pull_request.labeled.json")
	e, err := githubevents.Parse(typ, "d1", body)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{"bug": ts("2019-05-15T15:20:35Z")}
	if diff := cmp.Diff(want, e.PullRequest.LabeledAt); diff != "" {
		t.Errorf("LabeledAt (-want +got):\n%s", diff)
	}
	typ, body = fixture(t, "pull_request.opened.json")
	e, err = githubevents.Parse(typ, "d2", body)
	if err != nil {
		t.Fatal(err)
	}
	if e.PullRequest.LabeledAt != nil {
		t.Errorf("opened: LabeledAt = %v, want none", e.PullRequest.LabeledAt)
	}
}
