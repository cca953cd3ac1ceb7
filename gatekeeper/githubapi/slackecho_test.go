package githubapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// TestSlackEchoPostsAndAttributes: each pending Slack vote is posted as a
// comment, and the events make that comment (GitHub's id and time) the
// voter's vote as cast; echoed votes are not posted again.
func TestSlackEchoPostsAndAttributes(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	created := patchJSON(t, fixtureField(t, "issue_comment.created.json", "comment"),
		map[string]any{"id": 4242, "user": map[string]any{"login": "release-gatekeeper[bot]", "type": "Bot"}})
	gh.on(replyRoute, jsonReply(http.StatusCreated, string(created)))
	src := NewSlackEcho(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()))

	at := time.Date(2024, 5, 6, 10, 30, 0, 0, time.UTC)
	nogo, err := gatekeeper.NewSlackVote("slack:T:U1:1.1", "U1", "qa-frank", "nogo", "flaky", at)
	if err != nil {
		t.Fatal(err)
	}
	done := nogo
	done.ID, done.CommentID = "slack:T:U1:0.9", 1
	ev := &gatekeeper.Evidence{Key: voteKey, SlackVotes: []gatekeeper.SlackVote{done, nogo}}
	events, err := src.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	reqs := sentRequests(t, gh)
	if len(reqs) != 1 || reqs[0].Route != replyRoute {
		t.Fatalf("requests %+v, want one comment posted", reqs)
	}
	body := reqs[0].Body.(map[string]any)["body"].(string)
	if !strings.HasPrefix(body, "**NOGO** from @qa-frank, cast in Slack") || !strings.Contains(body, "> flaky") {
		t.Errorf("echo body %q", body)
	}
	when := time.Date(2020, 12, 29, 5, 49, 14, 0, time.UTC) // the recorded comment's created_at
	want := []gatekeeper.Event{{Name: "slack.echo", Key: voteKey,
		Comment:   &gatekeeper.Comment{ID: 4242, User: "qa-frank", Command: &gatekeeper.Command{Kind: "nogo", Reason: "flaky"}, CreatedAt: when, UpdatedAt: when, Via: gatekeeper.ViaSlack, Confirmed: true},
		SlackEcho: &gatekeeper.SlackEcho{Vote: nogo.ID, CommentID: 4242}}}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, e := range events {
		ev.Apply(e)
	}
	if n := len(ev.Nogos()); n != 1 {
		t.Errorf("%d NOGOs after the echo, want qa-frank's", n)
	}
	if _, err := src.Gather(context.Background(), ev); err != nil || len(sentRequests(t, gh)) != 1 {
		t.Errorf("second gather: %v, %d requests; want nothing posted again", err, len(sentRequests(t, gh)))
	}
}

func TestSlackEchoFailureHoldsTheGate(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	gh.on(replyRoute, jsonReply(http.StatusForbidden, `{"message":"Resource not accessible by integration"}`))
	src := NewSlackEcho(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()))
	v, _ := gatekeeper.NewSlackVote("slack:T:U1:1.1", "U1", "qa-frank", "go", "", time.Now())
	events, err := src.Gather(context.Background(), &gatekeeper.Evidence{Key: voteKey, SlackVotes: []gatekeeper.SlackVote{v}})
	if err == nil || len(events) != 0 {
		t.Fatalf("Gather = %v, %v; want the error (the release waits) and no event", events, err)
	}
}

// TestRefusalOfASlackVoteAddressesTheVoter: a refused vote cast in Slack
// is the gatekeeper's own comment; the reply names the voter, not the bot.
// Text that only looks like an echo, by a person, is answered as theirs.
func TestRefusalOfASlackVoteAddressesTheVoter(t *testing.T) {
	t.Parallel()
	recorded := fixtureField(t, "issue_comment.created.json", "comment")
	echo := gatekeeper.EchoBody(gatekeeper.SlackVote{Voter: "qa-frank", SlackUser: "U1", Command: gatekeeper.Command{Kind: "go"}})
	for _, tt := range []struct {
		name    string
		comment []byte
		want    string
	}{
		{"echo by the gatekeeper", patchJSON(t, recorded, map[string]any{"body": echo,
			"user": map[string]any{"login": "release-gatekeeper[bot]", "type": "Bot"}}), "@qa-frank your GO was not counted: qa-frank holds no release role"},
		{"echo text by a person", patchJSON(t, recorded, map[string]any{"body": echo}), "@lts-def your vote was not counted: qa-frank holds no release role"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			gh.on(voteRoute, jsonReply(http.StatusOK, string(tt.comment)))
			gh.on(reactionRoute, jsonReply(http.StatusCreated, reactionCreated))
			gh.on(replyRoute, jsonReply(http.StatusCreated, commentCreated))
			r := NewResponder(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()))
			if err := r.Answer(context.Background(), voteKey, voteID, VerdictRefused, "qa-frank holds no release role"); err != nil {
				t.Fatal(err)
			}
			reqs := sentRequests(t, gh)
			if got := reqs[len(reqs)-1].Body.(map[string]any)["body"]; got != tt.want {
				t.Errorf("reply %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSlackGoPressedBeforePushDoesNotCountOnNewHead: a GO pressed in Slack
// while the head is A, echoed only after staging was pushed to B (GitHub
// slow, the worker behind), is a GO on A: it never counts on B, although
// its echo comment is written while B is the head.
func TestSlackGoPressedBeforePushDoesNotCountOnNewHead(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	// The echo is posted at 05:49:14 (the recorded comment's created_at).
	created := patchJSON(t, fixtureField(t, "issue_comment.created.json", "comment"),
		map[string]any{"id": 4242, "user": map[string]any{"login": "release-gatekeeper[bot]", "type": "Bot"}})
	gh.on(replyRoute, jsonReply(http.StatusCreated, string(created)))
	src := NewSlackEcho(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()))

	headA, headB := strings.Repeat("a", 40), strings.Repeat("b", 40)
	t0 := time.Date(2020, 12, 29, 5, 0, 0, 0, time.UTC)
	ev := &gatekeeper.Evidence{}
	ev.Apply(gatekeeper.Event{Name: "pull_request.opened", Key: voteKey,
		PullRequest: &gatekeeper.PullRequest{Key: voteKey, State: "open", HeadSHA: headA, UpdatedAt: t0}})
	press := t0.Add(20 * time.Minute)
	vote, err := gatekeeper.NewSlackVote("slack:T:U1:1.1", "U1", "qa-frank", "go", "", press)
	if err != nil {
		t.Fatal(err)
	}
	ev.Apply(gatekeeper.Event{Name: "slack.go", Key: voteKey, Received: press, SlackVote: &vote})
	ev.Apply(gatekeeper.Event{Name: "pull_request.synchronize", Key: voteKey,
		PullRequest: &gatekeeper.PullRequest{Key: voteKey, State: "open", HeadSHA: headB, UpdatedAt: t0.Add(30 * time.Minute)}})

	events, err := src.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		ev.Apply(e)
	}
	votes := ev.Votes()
	if len(votes) != 1 || votes[0].User != "qa-frank" || votes[0].Vote != "go" {
		t.Fatalf("votes %+v, want qa-frank's GO", votes)
	}
	if votes[0].HeadSHA != headA {
		t.Errorf("the GO pressed on head A is placed on %q, want A (%s)", votes[0].HeadSHA, headA)
	}
	for _, c := range ev.Decisive() {
		if c.ID == 4242 {
			t.Errorf("the GO for head A is decisive on head B: %+v", c)
		}
	}
	if body := sentRequests(t, gh)[0].Body.(map[string]any)["body"].(string); !strings.Contains(body, headA[:7]) ||
		!strings.Contains(body, "moved on to `"+headB[:7]+"`") {
		t.Errorf("echo body %q does not name the head the vote was cast on and the one it does not count on", body)
	} else if cmd, ok := gatekeeper.ParseCommand(body); ok {
		t.Errorf("echo body casts %+v", cmd)
	}
}

// TestSlackVoteWithoutHeadIsPlacedByPressTime: a vote recorded while no
// head was known (or before votes were pinned to a head) is placed by the
// time of the press, never by the echo's, which comes after a push.
func TestSlackVoteWithoutHeadIsPlacedByPressTime(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	created := patchJSON(t, fixtureField(t, "issue_comment.created.json", "comment"), // created_at 05:49:14
		map[string]any{"id": 4242, "user": map[string]any{"login": "release-gatekeeper[bot]", "type": "Bot"}})
	gh.on(replyRoute, jsonReply(http.StatusCreated, string(created)))
	src := NewSlackEcho(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()))

	headA, headB := strings.Repeat("a", 40), strings.Repeat("b", 40)
	t0 := time.Date(2020, 12, 29, 5, 0, 0, 0, time.UTC)
	vote, err := gatekeeper.NewSlackVote("slack:T:U1:1.1", "U1", "qa-frank", "go", "", t0.Add(20*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ev := &gatekeeper.Evidence{Key: voteKey, SlackVotes: []gatekeeper.SlackVote{vote},
		Heads: []gatekeeper.HeadChange{{SHA: headA, At: t0}, {SHA: headB, At: t0.Add(30 * time.Minute)}},
		PR:    &gatekeeper.PullRequest{Key: voteKey, State: "open", HeadSHA: headB, UpdatedAt: t0.Add(30 * time.Minute)}}
	events, err := src.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		ev.Apply(e)
	}
	if votes := ev.Votes(); len(votes) != 1 || votes[0].HeadSHA != headA {
		t.Errorf("votes %+v, want qa-frank's GO on head A", votes)
	}
}
