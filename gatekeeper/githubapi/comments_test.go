package githubapi

import (
	"context"
	"encoding/json"
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

// fixtureComment is issue_comment.created.json's "comment" as the comments
// list returns it: GET …/issues/{n}/comments answers with the webhook's
// comment schema.
var fixtureComment = gatekeeper.Comment{
	ID:        751955664,
	User:      "lts-def",
	Body:      "trigger abc",
	CreatedAt: time.Date(2020, 12, 29, 5, 49, 14, 0, time.UTC),
	UpdatedAt: time.Date(2020, 12, 29, 5, 49, 14, 0, time.UTC),
	Fetched:   true,
	Confirmed: true,
}

// recordedComments is the JSON list of the recorded comment alone.
func recordedComments(t testing.TB) string {
	t.Helper()
	return "[" + string(fixtureField(t, "issue_comment.created.json", "comment")) + "]"
}

// listedComment is a comment of the list: the recorded comment renumbered,
// re-authored and re-bodied, written (and last edited) at.
type listedComment struct {
	id   int64
	user string
	body string
	at   time.Time
}

// json returns c in the recorded comment's schema.
func (c listedComment) json(t testing.TB) json.RawMessage {
	t.Helper()
	stamp := c.at.UTC().Format(time.RFC3339)
	return patchJSON(t, fixtureField(t, "issue_comment.created.json", "comment"), map[string]any{
		"id": c.id, "user.login": c.user, "body": c.body, "created_at": stamp, "updated_at": stamp,
	})
}

// domain returns c as the Source reports it.
func (c listedComment) domain() gatekeeper.Comment {
	return gatekeeper.Comment{ID: c.id, User: c.user, Body: c.body, CreatedAt: c.at.UTC(), UpdatedAt: c.at.UTC(), Fetched: true, Confirmed: true}
}

// commentList returns a comments-list reply holding cs.
func commentList(t testing.TB, cs ...listedComment) reply {
	t.Helper()
	raws := make([]json.RawMessage, 0, len(cs))
	for _, c := range cs {
		raws = append(raws, c.json(t))
	}
	b, err := json.Marshal(raws)
	if err != nil {
		t.Fatalf("encoding comment list: %v", err)
	}
	return jsonReply(http.StatusOK, string(b))
}

// commentsPage is the URL of page n of the comments list, for Link headers.
func commentsPage(gh *fakeGitHub, n string) string {
	return gh.URL + strings.TrimPrefix(strings.TrimPrefix(commentsRoute, "GET "), "/") +
		"?direction=asc&per_page=100&sort=created&page=" + n
}

// Comments of these tests, all after fixturePR's head was pushed (its
// UpdatedAt) unless named otherwise.
var (
	votedAt   = fixturePR.UpdatedAt.Add(time.Hour)
	ltsGo     = listedComment{id: 1001, user: "lts-def", body: "/go", at: votedAt}
	aliceGo   = listedComment{id: 1002, user: "alice", body: "/go ship it", at: votedAt.Add(time.Minute)}
	bobNogo   = listedComment{id: 1003, user: "bob", body: "/nogo flaky checkout tests", at: votedAt.Add(2 * time.Minute)}
	chatter   = listedComment{id: 1004, user: "carol", body: "trigger abc", at: votedAt.Add(3 * time.Minute)}
	deletedGo = listedComment{id: 1005, user: "dan", body: "/go", at: votedAt.Add(4 * time.Minute)}
	// justNow was written 30 seconds before the Gather: a lagging replica
	// may not list it yet.
	justNow = listedComment{id: 1006, user: "erin", body: "/go", at: testEpoch.Add(-30 * time.Second)}
)

// commentEvidence is fixturePR's evidence knowing cs from webhooks (the
// deleted ones marked so), never fetched from GitHub's list, each already
// read back one by one (Confirmed: claims are claims_test.go's).
func commentEvidence(deleted []listedComment, cs ...listedComment) *gatekeeper.Evidence {
	pr := fixturePR
	ev := &gatekeeper.Evidence{
		Key:   helloKey,
		PR:    &pr,
		Heads: []gatekeeper.HeadChange{{SHA: pr.HeadSHA, At: pr.UpdatedAt}},
	}
	for _, c := range cs {
		dc := c.domain()
		dc.Fetched = false
		ev.Comments = append(ev.Comments, dc)
	}
	for _, c := range deleted {
		dc := c.domain()
		dc.Fetched, dc.Deleted = false, true
		ev.Comments = append(ev.Comments, dc)
	}
	return ev
}

// commentEvents returns the comment and comments cursor events of events.
func commentEvents(events []gatekeeper.Event) []gatekeeper.Event {
	var out []gatekeeper.Event
	for _, e := range events {
		if e.Comment != nil || e.CommentsCursor != nil {
			out = append(out, e)
		}
	}
	return out
}

// listed and gone are the events the Source reports for a listed comment
// and for a known comment gone from the list.
func listed(c listedComment) gatekeeper.Event {
	dc := c.domain()
	return gatekeeper.Event{Name: EventComment, Received: testEpoch, Key: helloKey, Comment: &dc}
}

func gone(c listedComment) gatekeeper.Event {
	cmd, _ := gatekeeper.ParseCommand(c.body)
	dc := gatekeeper.Comment{ID: c.id, User: c.user, Command: &cmd, CreatedAt: c.at.UTC(), UpdatedAt: testEpoch, Deleted: true, Fetched: true}
	return gatekeeper.Event{Name: EventCommentDeleted, Received: testEpoch, Key: helloKey, Comment: &dc}
}

// cursorAt is the cursor event of a pass over the comments list that began
// at testEpoch and ended.
func cursorAt() gatekeeper.Event {
	return gatekeeper.Event{Name: EventCommentsCursor, Received: testEpoch, Key: helloKey, CommentsCursor: &gatekeeper.CommentsCursor{Since: testEpoch.Add(-sinceMargin)}}
}

// commentRoute is the route of GET …/issues/comments/{id}.
func commentRoute(c listedComment) string {
	return fmt.Sprintf("GET /repos/Codertocat/Hello-World/issues/comments/%d", c.id)
}

// exist makes the fake GitHub answer for each of cs as a comment it has;
// any other comment is a 404, as a deleted one is.
func exist(t testing.TB, gh *fakeGitHub, cs ...listedComment) {
	t.Helper()
	for _, c := range cs {
		gh.on(commentRoute(c), jsonReply(http.StatusOK, string(c.json(t))))
	}
}

// voteOf is c's vote on fixturePR's head.
func voteOf(c listedComment, vote, reason string) gatekeeper.Vote {
	return gatekeeper.Vote{User: c.user, Vote: vote, Reason: reason, CommentID: c.id, HeadSHA: fixturePR.HeadSHA}
}

func TestGatherComments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   *gatekeeper.Evidence
		list reply
		// want are the comment events of Gather, wantVotes ev.Votes()
		// after folding every event of Gather into ev.
		want      []gatekeeper.Event
		wantVotes []gatekeeper.Vote
		wantList  bool // whether the comments list was asked for
		// exist are the comments GitHub answers for one by one.
		exist []listedComment
	}{
		{
			// Only the pull_request webhook arrived; the /go comment's
			// issue_comment webhook was lost.
			name:      "lost GO recovered",
			ev:        &gatekeeper.Evidence{Key: helloKey},
			list:      commentList(t, ltsGo, chatter),
			exist:     []listedComment{ltsGo},
			want:      []gatekeeper.Event{listed(ltsGo), listed(chatter), cursorAt()},
			wantVotes: []gatekeeper.Vote{voteOf(ltsGo, "go", "")},
			wantList:  true,
		},
		{
			name:     "recorded comment is no vote",
			ev:       &gatekeeper.Evidence{Key: helloKey},
			list:     jsonReply(http.StatusOK, recordedComments(t)),
			want:     []gatekeeper.Event{{Name: EventComment, Received: testEpoch, Key: helloKey, Comment: &fixtureComment}, cursorAt()},
			wantList: true,
		},
		{
			// The list read since the cursor shows nothing new, and
			// cannot show a deletion: GitHub is asked about each GO.
			// alice's is gone (404) and reported; bob's NOGO is not
			// asked about, since a NOGO stays whoever deleted it; dan's
			// comment was already deleted and erin's is too young to
			// tell from replica lag.
			name:      "a GO GitHub no longer has is reported deleted",
			ev:        commentEvidence([]listedComment{deletedGo}, ltsGo, aliceGo, bobNogo, chatter, justNow),
			list:      commentList(t),
			exist:     []listedComment{ltsGo},
			want:      []gatekeeper.Event{cursorAt(), gone(aliceGo)},
			wantVotes: []gatekeeper.Vote{voteOf(bobNogo, "nogo", "flaky checkout tests"), voteOf(justNow, "go", ""), voteOf(ltsGo, "go", "")},
			wantList:  true,
		},
		{
			// alice's later GO is gone: her earlier one becomes her
			// vote, and is asked about in turn.
			name: "a deletion makes the earlier vote decisive, which is asked about too",
			ev: commentEvidence(nil, listedComment{id: 1010, user: "alice", body: "/go", at: votedAt},
				listedComment{id: 1011, user: "alice", body: "/go again", at: votedAt.Add(time.Minute)}),
			list:      commentList(t),
			want:      []gatekeeper.Event{cursorAt(), gone(listedComment{id: 1011, user: "alice", body: "/go again", at: votedAt.Add(time.Minute)}), gone(listedComment{id: 1010, user: "alice", body: "/go", at: votedAt})},
			wantVotes: []gatekeeper.Vote{},
			wantList:  true,
		},
		{
			name: "not fetched within MaxAge, so nothing is reported deleted",
			ev: func() *gatekeeper.Evidence {
				ev := commentEvidence(nil, aliceGo)
				ev.Log = freshPull().Log
				ev.Log = append(ev.Log, gatekeeper.LogEntry{Event: EventChecks, SHA: helloHead, At: testEpoch.Add(-time.Minute)})
				ev.Sources = freshPull().Sources
				return ev
			}(),
			list:      commentList(t),
			wantVotes: []gatekeeper.Vote{voteOf(aliceGo, "go", "ship it")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			serveHelloWorld(t, gh)
			gh.on(commentsRoute, tt.list)
			exist(t, gh, tt.exist...)
			obs := &observed{}
			s := NewSource(newTestClient(t, gh.URL, newFakeTime(), obs, testRetry()), SourceOptions{MaxAge: 5 * time.Minute})

			got, err := s.Gather(context.Background(), tt.ev)
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			if diff := cmp.Diff(tt.want, commentEvents(got)); diff != "" {
				t.Errorf("comment events (-want +got):\n%s", diff)
			}
			var asked []string
			for _, p := range gh.paths() {
				if strings.HasPrefix(p, commentsRoute) {
					asked = append(asked, p)
				}
			}
			var wantAsked []string
			if tt.wantList {
				wantAsked = []string{commentsRequest}
			}
			if diff := cmp.Diff(wantAsked, asked); diff != "" {
				t.Errorf("comment list requests (-want +got):\n%s", diff)
			}
			if tt.wantList && !strings.Contains(strings.Join(obs.list(), ","), EndpointListComments+" 200") {
				t.Errorf("observed %v, want a %q call", obs.list(), EndpointListComments+" 200")
			}

			for _, e := range got {
				tt.ev.Apply(e)
			}
			if diff := cmp.Diff(tt.wantVotes, tt.ev.Votes(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("votes after folding the events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGatherPaginatesComments(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	serveHelloWorld(t, gh)
	gh.on(commentsRoute, withLink(commentList(t, ltsGo, chatter), commentsPage(gh, "2")))
	gh.on(commentsRoute+"?page=2", commentList(t, aliceGo))
	exist(t, gh, ltsGo, aliceGo)
	s := newTestSource(t, gh, newFakeTime(), testRetry())

	// The list is read since the cursor: only what changed since the
	// last read, whatever the length of the conversation.
	ev := commentEvidence(nil, aliceGo, bobNogo)
	since := testEpoch.Add(-time.Hour)
	ev.CommentsCursor = &gatekeeper.CommentsCursor{Since: since}
	got, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	want := []gatekeeper.Event{listed(ltsGo), listed(chatter), listed(aliceGo), cursorAt()}
	if diff := cmp.Diff(want, commentEvents(got)); diff != "" {
		t.Errorf("comment events across pages (-want +got):\n%s", diff)
	}
	var pages []url.Values
	for _, r := range gh.served() {
		if r.Method+" "+r.Path == commentsRoute {
			q, _ := url.ParseQuery(r.Query)
			pages = append(pages, q)
		}
	}
	stamp := since.Format(time.RFC3339)
	first := url.Values{"direction": {"asc"}, "per_page": {"100"}, "sort": {"created"}, "since": {stamp}}
	second := url.Values{"direction": {"asc"}, "per_page": {"100"}, "sort": {"created"}, "since": {stamp}, "page": {"2"}}
	if diff := cmp.Diff([]url.Values{first, second}, pages); diff != "" {
		t.Errorf("comment page queries (-want +got):\n%s", diff)
	}
}

// TestGatherResumesALongList: a list longer than one Gather reads (a pull
// request first seen after thousands of comments) is read on at the next
// Gather from where it stopped, and the pass ends: the source never fails
// for good on a long conversation (it did past 50 pages).
func TestGatherResumesALongList(t *testing.T) {
	t.Parallel()
	const last = commentPagesPerGather + 5
	gh := newFakeGitHub(t, "")
	serveHelloWorld(t, gh)
	for p := 1; p <= last; p++ {
		c := listedComment{id: int64(5000 + p), user: "dev-zoe", body: "still checking", at: votedAt}
		r := commentList(t, c)
		if p < last {
			r = withLink(r, commentsPage(gh, fmt.Sprint(p+1)))
		}
		route := commentsRoute
		if p > 1 {
			route += fmt.Sprintf("?page=%d", p)
		}
		gh.on(route, r)
	}
	tm := newFakeTime()
	s := newTestSource(t, gh, tm, testRetry())
	ev := commentEvidence(nil)

	got, err := s.Gather(context.Background(), ev)
	if err == nil || !strings.Contains(err.Error(), "the rest at the next read") {
		t.Fatalf("first Gather: err = %v, want one saying the rest comes at the next read", err)
	}
	for _, e := range got {
		ev.Apply(e)
	}
	if c := ev.CommentsCursor; c == nil || c.Page != commentPagesPerGather || !c.Since.IsZero() || !c.PassStart.Equal(testEpoch) {
		t.Fatalf("cursor after the first Gather %+v, want page %d of a pass begun at %v", c, commentPagesPerGather, testEpoch)
	}
	ev.Sources = map[string]gatekeeper.SourceStatus{SourceName: {OK: false, Error: err.Error()}}
	before := len(gh.served())
	if _, err := s.Gather(context.Background(), ev); err != nil {
		t.Fatalf("second Gather: %v", err)
	}
	var pages []string
	for _, r := range gh.served()[before:] {
		if r.Method+" "+r.Path == commentsRoute {
			q, _ := url.ParseQuery(r.Query)
			pages = append(pages, q.Get("page"))
		}
	}
	if want := fmt.Sprint(commentPagesPerGather); len(pages) != last-commentPagesPerGather+1 || pages[0] != want {
		t.Errorf("second Gather read pages %v, want %s to %d", pages, want, last)
	}
}

func TestGatherCommentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		script      func(t *testing.T, gh *fakeGitHub)
		wantInError string
		// want are the comment events returned with the error.
		want []gatekeeper.Event
	}{
		{
			name: "list keeps failing",
			script: func(t *testing.T, gh *fakeGitHub) {
				gh.on(commentsRoute, jsonReply(http.StatusInternalServerError, serverErrorBody))
			},
			wantInError: "listing comments of Codertocat/Hello-World#2 (page 1)",
		},
		{
			name: "second page keeps failing",
			script: func(t *testing.T, gh *fakeGitHub) {
				gh.on(commentsRoute, withLink(commentList(t, ltsGo), commentsPage(gh, "2")))
				gh.on(commentsRoute+"?page=2", jsonReply(http.StatusInternalServerError, serverErrorBody))
			},
			wantInError: "listing comments of Codertocat/Hello-World#2 (page 2)",
			want:        []gatekeeper.Event{listed(ltsGo)},
		},
		{
			name: "pagination never ends",
			script: func(t *testing.T, gh *fakeGitHub) {
				loop := withLink(commentList(t, ltsGo), commentsPage(gh, "1"))
				gh.on(commentsRoute, loop)
				gh.on(commentsRoute+"?page=1", loop)
			},
			wantInError: "listing comments of Codertocat/Hello-World#2: pagination did not end",
			want:        []gatekeeper.Event{listed(ltsGo), listed(ltsGo)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			serveHelloWorld(t, gh)
			tt.script(t, gh)
			retry := testRetry()
			retry.MaxAttempts = 2
			s := newTestSource(t, gh, newFakeTime(), retry)

			// Every comment the evidence knows is missing from what
			// was read, yet none may be reported deleted.
			got, err := s.Gather(context.Background(), commentEvidence(nil, aliceGo, bobNogo))
			if err == nil {
				t.Fatalf("Gather returned %d events and no error", len(got))
			}
			if !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error %q does not say %q", err, tt.wantInError)
			}
			if diff := cmp.Diff(tt.want, commentEvents(got)); diff != "" {
				t.Errorf("comment events returned with the error (-want +got):\n%s", diff)
			}
			// The facts besides the comments still come back: the
			// snapshot, its review, and the head's checks.
			var names []string
			for _, e := range got {
				if e.Comment == nil {
					names = append(names, e.Name)
				}
			}
			wantNames := []string{EventPullRequest, EventReview, EventStatus, EventStatus, EventCheckRun, EventChecks}
			if diff := cmp.Diff(wantNames, names); diff != "" {
				t.Errorf("other events returned with the error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGatherBoundsCommentChecks: a crowd of /go comments costs at most
// maxCommentChecks lookups and never fails the Gather (anybody can write
// /go); the people known to hold a team role are asked about first.
func TestGatherBoundsCommentChecks(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	serveHelloWorld(t, gh)
	gh.on(commentsRoute, commentList(t))
	var crowd []listedComment
	for i := range 3 * maxCommentChecks {
		crowd = append(crowd, listedComment{id: int64(3000 + i), user: fmt.Sprintf("fan-%d", i), body: "/go", at: votedAt.Add(time.Duration(i) * time.Second)})
	}
	// The lead voted first, before the crowd.
	lead := listedComment{id: 2999, user: "lead-bob", body: "/go", at: votedAt.Add(-time.Minute)}
	ev := commentEvidence(nil, append([]listedComment{lead}, crowd...)...)
	ev.Memberships = map[string]gatekeeper.Membership{"org/leads/lead-bob": {Team: "org/leads", User: "lead-bob", Active: true}}
	s := newTestSource(t, gh, newFakeTime(), testRetry())

	got, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var asked []string
	for _, r := range gh.served() {
		if strings.Contains(r.Path, "/issues/comments/") {
			asked = append(asked, r.Path)
		}
	}
	if len(asked) != maxCommentChecks || !strings.HasSuffix(asked[0], "/2999") {
		t.Errorf("asked about %d comments, first %v; want %d, lead-bob's first", len(asked), asked[:min(1, len(asked))], maxCommentChecks)
	}
	if n := len(commentEvents(got)); n != 1+maxCommentChecks {
		t.Errorf("%d comment events, want the cursor and %d deletions (the fake has none of them)", n, maxCommentChecks)
	}
}
