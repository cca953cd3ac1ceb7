package githubapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// The vote comment of these tests is issue_comment.created.json's comment:
// id 751955664 by lts-def on abc/def-ci-webhook-test#2.
const (
	voteID        = 751955664
	voteRoute     = "GET /repos/abc/def-ci-webhook-test/issues/comments/751955664"
	reactionRoute = "POST /repos/abc/def-ci-webhook-test/issues/comments/751955664/reactions"
	replyRoute    = "POST /repos/abc/def-ci-webhook-test/issues/2/comments"
	needsReason   = "a NOGO needs a reason: /nogo <reason> (until then you have no vote)"
)

var voteKey = gatekeeper.PullKey{Owner: "abc", Repo: "def-ci-webhook-test", Number: 2}

// Answers in the documented shapes of POST …/reactions (201) and POST
// …/issues/{n}/comments (201).
const (
	reactionCreated = `{"id":1,"node_id":"MDg6UmVhY3Rpb24x","user":{"login":"release-gatekeeper","id":1,"type":"Bot"},"content":"+1","created_at":"2024-06-14T10:00:00Z"}`
	commentCreated  = `{"id":2,"body":"answer","user":{"login":"release-gatekeeper","id":1,"type":"Bot"}}`
)

// sent is a request as the tests compare it: route and decoded JSON body.
type sent struct {
	Route string
	Body  any
}

func sentRequests(t *testing.T, gh *fakeGitHub) []sent {
	t.Helper()
	var out []sent
	for _, r := range gh.served() {
		s := sent{Route: r.Method + " " + r.Path}
		if len(r.Body) > 0 {
			if err := json.Unmarshal(r.Body, &s.Body); err != nil {
				t.Fatalf("%s: body %q is not JSON: %v", s.Route, r.Body, err)
			}
		}
		out = append(out, s)
	}
	return out
}

func TestResponderAnswers(t *testing.T) {
	t.Parallel()
	recorded := fixtureField(t, "issue_comment.created.json", "comment")
	tests := []struct {
		name    string
		verdict string
		why     string
		comment []byte // the vote comment GitHub returns
		want    []sent
	}{
		{
			name:    "counted",
			verdict: "counted",
			want:    []sent{{Route: reactionRoute, Body: map[string]any{"content": "+1"}}},
		},
		{
			name:    "refused NOGO",
			verdict: "refused",
			why:     needsReason,
			comment: patchJSON(t, recorded, map[string]any{"body": "/nogo"}),
			want: []sent{
				{Route: voteRoute},
				{Route: reactionRoute, Body: map[string]any{"content": "confused"}},
				{Route: replyRoute, Body: map[string]any{"body": "@lts-def your NOGO was not counted: a NOGO needs a reason: /nogo &lt;reason&gt; (until then you have no vote)"}},
			},
		},
		{
			name:    "refused lift",
			verdict: "refused",
			why:     "only release manager or SRE may lift a NOGO",
			comment: patchJSON(t, recorded, map[string]any{"body": "/lift @qa-carol ship it"}),
			want: []sent{
				{Route: voteRoute},
				{Route: reactionRoute, Body: map[string]any{"content": "confused"}},
				{Route: replyRoute, Body: map[string]any{"body": "@lts-def your lift was not counted: only release manager or SRE may lift a NOGO"}},
			},
		},
		{
			// The recorded comment as it is ("trigger abc") no longer
			// holds a vote: it was edited since the verdict.
			name:    "refused, comment edited since",
			verdict: "refused",
			why:     "votes count from release role members only",
			comment: recorded,
			want: []sent{
				{Route: voteRoute},
				{Route: reactionRoute, Body: map[string]any{"content": "confused"}},
				{Route: replyRoute, Body: map[string]any{"body": "@lts-def your vote was not counted: votes count from release role members only"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			gh.on(voteRoute, jsonReply(http.StatusOK, string(tt.comment)))
			gh.on(reactionRoute, jsonReply(http.StatusCreated, reactionCreated))
			gh.on(replyRoute, jsonReply(http.StatusCreated, commentCreated))
			r := NewResponder(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()))
			if r.DryRun() {
				t.Errorf("DryRun() = true for a responder with a client")
			}

			if err := r.Answer(context.Background(), voteKey, voteID, tt.verdict, tt.why); err != nil {
				t.Fatalf("Answer: %v", err)
			}
			if diff := cmp.Diff(tt.want, sentRequests(t, gh)); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			for _, req := range gh.served() {
				if auth := req.Header.Get("Authorization"); auth != "Bearer "+testToken {
					t.Errorf("%s %s: Authorization = %q", req.Method, req.Path, auth)
				}
			}
		})
	}
}

func TestResponderFailures(t *testing.T) {
	t.Parallel()
	nogo := patchJSON(t, fixtureField(t, "issue_comment.created.json", "comment"), map[string]any{"body": "/nogo"})
	tests := []struct {
		name        string
		verdict     string
		key         gatekeeper.PullKey
		commentID   int64
		script      func(gh *fakeGitHub)
		wantErr     error
		wantInError string
		wantRoutes  []string
	}{
		{
			name: "unknown verdict", verdict: "ignored", key: voteKey, commentID: voteID,
			script: func(*fakeGitHub) {}, wantErr: gatekeeper.ErrInvalid,
		},
		{
			name: "invalid key", verdict: "counted", key: gatekeeper.PullKey{Owner: "abc"}, commentID: voteID,
			script: func(*fakeGitHub) {}, wantErr: gatekeeper.ErrInvalid,
		},
		{
			name: "no comment id", verdict: "counted", key: voteKey,
			script: func(*fakeGitHub) {}, wantErr: gatekeeper.ErrInvalid,
		},
		{
			name: "vote deleted", verdict: "refused", key: voteKey, commentID: voteID,
			script:     func(*fakeGitHub) {}, // every route 404s
			wantErr:    gatekeeper.ErrNotFound,
			wantRoutes: []string{voteRoute},
		},
		{
			name: "reaction on a deleted vote", verdict: "counted", key: voteKey, commentID: voteID,
			script:      func(*fakeGitHub) {},
			wantErr:     gatekeeper.ErrNotFound,
			wantInError: "reacting +1 to vote 751955664 on abc/def-ci-webhook-test#2",
			wantRoutes:  []string{reactionRoute},
		},
		{
			// Deleted between the read and the reaction: no reply to
			// a vote nobody can see any more.
			name: "vote deleted before the reaction", verdict: "refused", key: voteKey, commentID: voteID,
			script: func(gh *fakeGitHub) {
				gh.on(voteRoute, jsonReply(http.StatusOK, string(nogo)))
			},
			wantErr:     gatekeeper.ErrNotFound,
			wantInError: "reacting confused to vote 751955664",
			wantRoutes:  []string{voteRoute, reactionRoute},
		},
		{
			name: "reply keeps failing", verdict: "refused", key: voteKey, commentID: voteID,
			script: func(gh *fakeGitHub) {
				gh.on(voteRoute, jsonReply(http.StatusOK, string(nogo)))
				gh.on(reactionRoute, jsonReply(http.StatusOK, reactionCreated))
				gh.on(replyRoute, jsonReply(http.StatusBadGateway, serverErrorBody))
			},
			wantInError: "replying to vote 751955664",
			wantRoutes:  []string{voteRoute, reactionRoute, replyRoute, replyRoute},
		},
		{
			name: "rate limit fails at once", verdict: "counted", key: voteKey, commentID: voteID,
			script: func(gh *fakeGitHub) {
				gh.on(reactionRoute, jsonReply(http.StatusForbidden, primaryLimitBody,
					"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(10*time.Minute)))
			},
			wantErr:    ErrRateLimited,
			wantRoutes: []string{reactionRoute},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			tt.script(gh)
			retry := testRetry()
			retry.MaxAttempts = 2
			r := NewResponder(newTestClient(t, gh.URL, newFakeTime(), nil, retry))

			err := r.Answer(context.Background(), tt.key, tt.commentID, tt.verdict, needsReason)
			if err == nil {
				t.Fatal("Answer returned no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tt.wantErr)
			}
			if tt.wantInError != "" && !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error %q does not say %q", err, tt.wantInError)
			}
			var routes []string
			for _, s := range sentRequests(t, gh) {
				routes = append(routes, s.Route)
			}
			if diff := cmp.Diff(tt.wantRoutes, routes); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDryRunResponderLogsAndPostsNothing(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewDryRunResponder(slog.New(slog.NewJSONHandler(&buf, nil)))
	if !r.DryRun() {
		t.Errorf("DryRun() = false")
	}
	if err := r.Answer(context.Background(), voteKey, voteID, "refused", needsReason); err != nil {
		t.Fatalf("Answer: %v", err)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log %q is not one JSON line: %v", buf.String(), err)
	}
	want := map[string]any{
		"msg": "vote answer not posted (dry run)", "level": "INFO",
		"repo": "abc/def-ci-webhook-test", "pr": float64(2), "comment_id": float64(voteID),
		"verdict": "refused", "why": needsReason,
	}
	delete(line, "time")
	if diff := cmp.Diff(want, line); diff != "" {
		t.Errorf("dry-run log (-want +got):\n%s", diff)
	}
	// A dry run still refuses what it could never answer.
	if err := r.Answer(context.Background(), voteKey, voteID, "maybe", ""); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("Answer with verdict maybe: error = %v, want ErrInvalid", err)
	}
}
