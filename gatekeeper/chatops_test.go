package gatekeeper

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var chatopsAt = time.Date(2024, 5, 6, 10, 30, 0, 0, time.UTC)

func TestNewSlackVote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		kind, reason string
		want         Command
		wantErr      bool
	}{
		{name: "go drops a reason", kind: "go", reason: "ship it", want: Command{Kind: "go"}},
		{name: "nogo keeps one line", kind: "nogo", reason: " smoke\n test \t failed ", want: Command{Kind: "nogo", Reason: "smoke test failed"}},
		{name: "nogo without reason", kind: "nogo", reason: " \n ", wantErr: true},
		{name: "other kind", kind: "lift", reason: "x", wantErr: true},
		{name: "long reason clipped", kind: "nogo", reason: strings.Repeat("a", 400), want: Command{Kind: "nogo", Reason: strings.Repeat("a", maxReason-1) + "…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewSlackVote("slack:T:U:1", "U1", "qa-frank", tt.kind, tt.reason, chatopsAt)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(tt.want, v.Command); diff != "" {
					t.Errorf("command (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestEchoBodyCastsNothing: whatever the reason says, the echo comment
// read back from GitHub holds no command, so that it adds no vote for the
// gatekeeper's account.
func TestEchoBodyCastsNothing(t *testing.T) {
	t.Parallel()
	for _, reason := range []string{"plain", "/go", "x\n/go", "  /lift @qa-frank because", "/vote go", "@org/qa see\n\n/withdraw"} {
		v := SlackVote{ID: "d", Voter: "qa-frank", SlackUser: "U1", Command: Command{Kind: "nogo", Reason: reason}}
		if cmd, ok := ParseCommand(EchoBody(v)); ok {
			t.Errorf("echo of reason %q parses as %+v", reason, cmd)
		}
	}
	if body := EchoBody(SlackVote{Voter: "qa-frank", Command: Command{Kind: "go"}}); !strings.Contains(body, "**GO** from @qa-frank") {
		t.Errorf("echo %q does not name the vote and the voter", body)
	}
}

// TestSlackEchoIsTheVotersVote: the echo comment counts as the voter's vote
// whichever copy arrives first, and GitHub's copies (webhook, comments
// list, an edit by someone with write access) never change it.
func TestSlackEchoIsTheVotersVote(t *testing.T) {
	t.Parallel()
	vote, err := NewSlackVote("slack:T:U1:1.1", "U1", "qa-frank", "nogo", "flaky", chatopsAt)
	if err != nil {
		t.Fatal(err)
	}
	echo := Event{Name: "slack.echo", Comment: &Comment{ID: 77, User: "qa-frank", Command: &vote.Command,
		CreatedAt: chatopsAt, UpdatedAt: chatopsAt, Via: ViaSlack}, SlackEcho: &SlackEcho{Vote: vote.ID, CommentID: 77}}
	body := EchoBody(vote)
	webhook := Event{Name: "issue_comment.created", Comment: &Comment{ID: 77, User: "gatekeeper[bot]", Body: body, CreatedAt: chatopsAt, UpdatedAt: chatopsAt}}
	listed := Event{Name: "github", Comment: &Comment{ID: 77, User: "gatekeeper[bot]", Body: body, CreatedAt: chatopsAt, UpdatedAt: chatopsAt, Fetched: true}}
	edited := Event{Name: "issue_comment.edited", Comment: &Comment{ID: 77, User: "gatekeeper[bot]", Body: "/go", EditedBy: "admin",
		CreatedAt: chatopsAt, UpdatedAt: chatopsAt.Add(time.Minute)}}
	botEdit := Event{Name: "issue_comment.edited", Comment: &Comment{ID: 77, User: "gatekeeper[bot]", Body: "/go",
		CreatedAt: chatopsAt, UpdatedAt: chatopsAt.Add(2 * time.Minute)}}
	want := []Nogo{{User: "qa-frank", Reason: "flaky", CommentID: 77, At: chatopsAt}}
	for _, order := range [][]Event{
		{{SlackVote: &vote}, echo, webhook, listed, edited, botEdit},
		{{SlackVote: &vote}, webhook, echo, edited, botEdit},
		{{SlackVote: &vote}, listed, botEdit, echo, webhook},
	} {
		ev := &Evidence{}
		var names []string
		for _, e := range order {
			ev.Apply(e)
			names = append(names, e.Name)
		}
		if diff := cmp.Diff(want, ev.Nogos()); diff != "" {
			t.Errorf("after %v, NOGOs (-want +got):\n%s", names, diff)
		}
		if p := ev.PendingSlackVotes(); len(p) != 0 {
			t.Errorf("after %v, %d votes still pending", names, len(p))
		}
		if ev.Clone().SlackVotes[0].CommentID != 77 {
			t.Error("Clone lost the Slack vote")
		}
	}
}

func TestSlackVotesBounded(t *testing.T) {
	t.Parallel()
	ev := &Evidence{}
	for i := 0; i < maxSlackVotes+10; i++ {
		id := "v" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		ev.Apply(Event{SlackVote: &SlackVote{ID: id, Voter: id, Command: Command{Kind: "go"}}})
		if i%2 == 0 {
			ev.Apply(Event{SlackEcho: &SlackEcho{Vote: id, CommentID: int64(i + 1)}})
		}
	}
	// A replay of a known id changes nothing.
	n := len(ev.SlackVotes)
	ev.Apply(Event{SlackVote: &SlackVote{ID: ev.SlackVotes[n-1].ID, Voter: "b"}})
	if len(ev.SlackVotes) != n || n != maxSlackVotes {
		t.Fatalf("%d votes kept, want %d", len(ev.SlackVotes), maxSlackVotes)
	}
	if p := len(ev.PendingSlackVotes()); p != (maxSlackVotes+10)/2 {
		t.Errorf("%d pending votes kept, want every one of the %d", p, (maxSlackVotes+10)/2)
	}
}

// TestDeletedSlackEcho: GitHub is the record; a deleted echo takes a GO
// with it, while a NOGO stands (the voter did not take it back).
func TestDeletedSlackEcho(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		kind, reason string
		fetched      bool
		stands       bool
	}{
		{"go", "", false, false},
		{"go", "", true, false},
		{"nogo", "flaky", false, true},
		{"nogo", "flaky", true, true},
	} {
		v, err := NewSlackVote("slack:1", "U1", "qa-frank", tt.kind, tt.reason, chatopsAt)
		if err != nil {
			t.Fatal(err)
		}
		ev := &Evidence{}
		ev.Apply(Event{SlackVote: &v})
		ev.Apply(Event{Comment: &Comment{ID: 9, User: "qa-frank", Command: &v.Command, CreatedAt: chatopsAt, UpdatedAt: chatopsAt, Via: ViaSlack},
			SlackEcho: &SlackEcho{Vote: v.ID, CommentID: 9}})
		ev.Apply(Event{Comment: &Comment{ID: 9, User: "gatekeeper[bot]", Deleted: true, Fetched: tt.fetched, EditedBy: "admin",
			CreatedAt: chatopsAt, UpdatedAt: chatopsAt.Add(time.Hour)}})
		casts := ev.casts()
		if got := len(casts) == 1; got != tt.stands {
			t.Errorf("%s (fetched %v) after its echo was deleted: stands %v, want %v", tt.kind, tt.fetched, got, tt.stands)
		}
	}
}

// TestPendingSlackVotesOnePerVoter: pressing again while the echo waits
// replaces the waiting vote, so a voter's presses cannot grow the evidence.
func TestPendingSlackVotesOnePerVoter(t *testing.T) {
	t.Parallel()
	ev := &Evidence{}
	for i := 0; i < 1000; i++ {
		kind, reason := "go", ""
		if i%2 == 1 {
			kind, reason = "nogo", "flaky"
		}
		v, err := NewSlackVote("slack:"+strconv.Itoa(i), "U1", "qa-frank", kind, reason, chatopsAt.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ev.Apply(Event{SlackVote: &v})
	}
	other, _ := NewSlackVote("slack:x", "U2", "sre-grace", "go", "", chatopsAt)
	ev.Apply(Event{SlackVote: &other})
	p := ev.PendingSlackVotes()
	if len(p) != 2 || p[0].ID != "slack:999" || p[0].Command.Kind != "nogo" || p[1].Voter != "sre-grace" {
		t.Errorf("pending %+v, want qa-frank's latest (a NOGO) and sre-grace's", p)
	}
}

// TestSlackButtonValue: a button's value names the pull request and the
// head its message is about; a value without a head (messages posted
// before heads were named) still names the pull request.
func TestSlackButtonValue(t *testing.T) {
	t.Parallel()
	key := PullKey{Owner: "acme", Repo: "shop", Number: 7}
	sha := "0b1d4a7c9e2f44d1a4c2b9e8f7a6d5c4b3a2f1e0"
	for _, tt := range []struct {
		value   string
		key     PullKey
		head    string
		invalid bool
	}{
		{value: SlackButtonValue(key, sha), key: key, head: sha},
		{value: SlackButtonValue(key, ""), key: key},
		{value: "acme/shop#7", key: key},
		{value: "acme/shop#7@" + strings.ToUpper(sha), invalid: true},
		{value: "acme/shop#7@0b1d4a7", invalid: true},
		{value: "acme/shop#7@", invalid: true},
		{value: "acme/shop@" + sha, invalid: true},
	} {
		k, head, err := ParseSlackButtonValue(tt.value)
		if tt.invalid {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: %v %q %v, want ErrInvalid", tt.value, k, head, err)
			}
			continue
		}
		if err != nil || k != tt.key || head != tt.head {
			t.Errorf("%q: %v %q %v, want %v %q", tt.value, k, head, err, tt.key, tt.head)
		}
	}
}

// TestSlackVoteKeepsTheHeadItNames: a vote whose button named a head is
// that head's, whatever the head when the press is recorded; one without
// is the head's when it is recorded.
func TestSlackVoteKeepsTheHeadItNames(t *testing.T) {
	t.Parallel()
	ev := &Evidence{}
	ev.Apply(Event{PullRequest: &PullRequest{HeadSHA: "bbb", UpdatedAt: chatopsAt}})
	ev.Apply(Event{SlackVote: &SlackVote{ID: "1", Voter: "qa", Command: Command{Kind: "go"}, At: chatopsAt, HeadSHA: "aaa"}})
	ev.Apply(Event{SlackVote: &SlackVote{ID: "2", Voter: "sre", Command: Command{Kind: "go"}, At: chatopsAt}})
	if got := []string{ev.SlackVotes[0].HeadSHA, ev.SlackVotes[1].HeadSHA}; got[0] != "aaa" || got[1] != "bbb" {
		t.Errorf("heads %q, want the button's (aaa) and the current one (bbb)", got)
	}
}
