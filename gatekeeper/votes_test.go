package gatekeeper

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want *Command
	}{
		{"withdraw", "/withdraw", &Command{Kind: "withdraw"}},
		{"withdraw ignores text", "/withdraw  fixed by the push", &Command{Kind: "withdraw"}},
		{"lift", "/lift @qa-carol refunds fixed in 1a2b3c4, verified by SRE", &Command{Kind: "lift", Target: "qa-carol", Reason: "refunds fixed in 1a2b3c4, verified by SRE"}},
		{"lift without reason", "/lift @qa-carol", &Command{Kind: "lift", Target: "qa-carol", Refused: "a lift needs a reason: /lift @qa-carol <reason>"}},
		{"lift without user", "/lift because", &Command{Kind: "lift", Refused: "a lift names the voter and a reason: /lift @user <reason>"}},
		{"no-go spelling", "/no-go broken", &Command{Kind: "nogo", Reason: "broken"}},
		{"long reason is clipped", "/nogo " + strings.Repeat("x", 400), &Command{Kind: "nogo", Reason: strings.Repeat("x", maxReason-1) + "…"}},
		{"lifter", "/lifter", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd, ok := ParseCommand(tc.body)
			var got *Command
			if ok {
				got = &cmd
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestEvidenceKeepsCommandsNotBodies: thousands of long remarks leave the
// evidence as small as a handful; only the commands, without their bodies,
// are kept, and each person's history is bounded.
func TestEvidenceKeepsCommandsNotBodies(t *testing.T) {
	t.Parallel()
	size := func(n int) int {
		ev := &Evidence{}
		for i := range n {
			body := strings.Repeat("Checked beta again, still fine. ", 20)
			if i%10 == 0 {
				body = "Looked at it all.\n/go"
			}
			at := t0.Add(time.Duration(i) * time.Second)
			ev.Apply(Event{Comment: &Comment{ID: int64(i + 1), User: fmt.Sprintf("dev-%d", i%7), Body: body, CreatedAt: at, UpdatedAt: at}})
		}
		for _, c := range ev.Comments {
			if c.Body != "" {
				t.Fatalf("comment %d keeps its body %q", c.ID, c.Body)
			}
		}
		ev.Log = nil
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	// 1,500 comments hold 150 votes, over the history kept of each of
	// the seven people: from there on the evidence stops growing.
	small, big := size(1500), size(5000)
	if big > small+small/20 || big > 32<<10 {
		t.Errorf("evidence after 5,000 comments is %d bytes, after 1,500 %d: it grows with the conversation", big, small)
	}
}

// TestTrimKeepsAStandingNogo: a person who posts many votes keeps their
// latest ones and their standing NOGO, however old.
func TestTrimKeepsAStandingNogo(t *testing.T) {
	t.Parallel()
	ev := &Evidence{}
	ev.Apply(Event{Comment: &Comment{ID: 1, User: "qa-carol", Body: "/nogo refunds broken", CreatedAt: t0, UpdatedAt: t0}})
	for i := range 3 * maxCommentsPerUser {
		at := t0.Add(time.Duration(i+1) * time.Minute)
		ev.Apply(Event{Comment: &Comment{ID: int64(i + 2), User: "qa-carol", Body: "/nogo", CreatedAt: at, UpdatedAt: at}})
	}
	if len(ev.Comments) != maxCommentsPerUser {
		t.Errorf("kept %d comments of one person, want %d", len(ev.Comments), maxCommentsPerUser)
	}
	nogos := ev.Nogos()
	if len(nogos) != 1 || nogos[0].CommentID != 1 {
		t.Errorf("standing NOGOs %+v, want comment 1's", nogos)
	}
}

// TestNogoOutlivesAPush is the domain side of "a veto outlives a push":
// QA's NOGO on the old head stands on the new one, a GO by another QA
// member does not take it away, and only its author's later /go or
// /withdraw (or deleting it, once GitHub confirms the deletion) does; lifts naming the author after the NOGO
// are attached.
func TestNogoOutlivesAPush(t *testing.T) {
	t.Parallel()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	base := func() *Evidence {
		ev := &Evidence{}
		ev.Apply(Event{PullRequest: &PullRequest{HeadSHA: "aaa", UpdatedAt: at(0)}})
		ev.Apply(Event{Comment: &Comment{ID: 1, User: "qa-carol", Body: "/nogo refunds broken", CreatedAt: at(1), UpdatedAt: at(1)}})
		ev.Apply(Event{PullRequest: &PullRequest{HeadSHA: "bbb", UpdatedAt: at(10)}})
		ev.Apply(Event{Comment: &Comment{ID: 2, User: "qa-frank", Body: "/go", CreatedAt: at(11), UpdatedAt: at(11)}})
		return ev
	}
	comment := func(id int64, user, body string, m int) Event {
		return Event{Comment: &Comment{ID: id, User: user, Body: body, CreatedAt: at(m), UpdatedAt: at(m)}}
	}
	tests := []struct {
		name  string
		then  []Event
		nogos []Nogo
	}{
		{"stands after the push", nil, []Nogo{{User: "qa-carol", Reason: "refunds broken", CommentID: 1, HeadSHA: "aaa", At: at(1)}}},
		{"a refused nogo does not clear it", []Event{comment(3, "qa-carol", "/nogo", 12)},
			[]Nogo{{User: "qa-carol", Reason: "refunds broken", CommentID: 1, HeadSHA: "aaa", At: at(1)}}},
		{"a newer nogo replaces it", []Event{comment(3, "qa-carol", "/nogo still broken", 12)},
			[]Nogo{{User: "qa-carol", Reason: "still broken", CommentID: 3, HeadSHA: "bbb", At: at(12)}}},
		{"the author's go on the new head clears it", []Event{comment(3, "qa-carol", "/go", 12)}, []Nogo{}},
		{"the author's withdraw clears it", []Event{comment(3, "qa-carol", "/withdraw", 12)}, []Nogo{}},
		{"someone else's withdraw does not", []Event{comment(3, "qa-frank", "/withdraw", 12)},
			[]Nogo{{User: "qa-carol", Reason: "refunds broken", CommentID: 1, HeadSHA: "aaa", At: at(1)}}},
		{"the author deleting it, claimed by a webhook only, does not", []Event{{Comment: &Comment{ID: 1, User: "qa-carol", Body: "/go", CreatedAt: at(1), UpdatedAt: at(12), Deleted: true, EditedBy: "qa-carol"}}},
			[]Nogo{{User: "qa-carol", Reason: "refunds broken", CommentID: 1, HeadSHA: "aaa", At: at(1)}}},
		{"the author deleting it clears it once GitHub confirms", []Event{
			{Comment: &Comment{ID: 1, User: "qa-carol", Body: "/nogo refunds broken", CreatedAt: at(1), UpdatedAt: at(12), Deleted: true, EditedBy: "qa-carol"}},
			{Comment: &Comment{ID: 1, User: "qa-carol", CreatedAt: at(1), UpdatedAt: at(1), Deleted: true, Fetched: true, Confirmed: true}},
		}, []Nogo{}},
		{"a deletion GitHub refutes is forgotten", []Event{
			{Comment: &Comment{ID: 1, User: "qa-carol", Body: "/nogo refunds broken", CreatedAt: at(1), UpdatedAt: at(12), Deleted: true, EditedBy: "qa-carol"}},
			{Comment: &Comment{ID: 1, User: "qa-carol", Body: "/nogo refunds broken", CreatedAt: at(1), UpdatedAt: at(1), Fetched: true, Confirmed: true}},
			{Comment: &Comment{ID: 1, User: "qa-carol", CreatedAt: at(1), UpdatedAt: at(1), Deleted: true, Fetched: true, Confirmed: true}},
		}, []Nogo{{User: "qa-carol", Reason: "refunds broken", CommentID: 1, HeadSHA: "aaa", At: at(1)}}},
		{"someone else deleting it does not", []Event{{Comment: &Comment{ID: 1, User: "qa-carol", Body: "/nogo refunds broken", CreatedAt: at(1), UpdatedAt: at(12), Deleted: true, EditedBy: "sre-dan"}}},
			[]Nogo{{User: "qa-carol", Reason: "refunds broken", CommentID: 1, HeadSHA: "aaa", At: at(1)}}},
		{"a lift is attached for the policy to judge", []Event{comment(3, "rm-grace", "/lift @QA-Carol fixed in bbb, checked with QA", 12), comment(4, "dev-zoe", "/lift @qa-carol I want it", 13), comment(5, "rm-grace", "/lift @qa-carol", 14)},
			[]Nogo{{User: "qa-carol", Reason: "refunds broken", CommentID: 1, HeadSHA: "aaa", At: at(1), Lifts: []Lift{
				{User: "rm-grace", Target: "QA-Carol", Reason: "fixed in bbb, checked with QA", CommentID: 3, HeadSHA: "bbb", At: at(12)},
				{User: "dev-zoe", Target: "qa-carol", Reason: "I want it", CommentID: 4, HeadSHA: "bbb", At: at(13)},
			}}}},
		{"a lift before the nogo does not lift it", []Event{comment(3, "rm-grace", "/lift @qa-carol fixed", 12), comment(4, "qa-carol", "/nogo broken again", 13)},
			[]Nogo{{User: "qa-carol", Reason: "broken again", CommentID: 4, HeadSHA: "bbb", At: at(13)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := base()
			for _, e := range tc.then {
				ev.Apply(e)
			}
			if diff := cmp.Diff(tc.nogos, ev.Nogos(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("standing NOGOs (-want +got):\n%s", diff)
			}
			// GO votes stay pinned to the head: qa-frank's GO is on bbb.
			for _, v := range ev.Votes() {
				if v.User == "qa-frank" && v.HeadSHA != "bbb" {
					t.Errorf("qa-frank's GO is on %s, want bbb", v.HeadSHA)
				}
			}
		})
	}
}

// TestWithdrawTakesTheVoteBack: after /withdraw the person has no vote.
func TestWithdrawTakesTheVoteBack(t *testing.T) {
	t.Parallel()
	ev := &Evidence{}
	ev.Apply(Event{Comment: &Comment{ID: 1, User: "sre-dan", Body: "/go", CreatedAt: t0, UpdatedAt: t0}})
	ev.Apply(Event{Comment: &Comment{ID: 2, User: "sre-dan", Body: "/withdraw", CreatedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute)}})
	if v := ev.Votes(); len(v) != 0 {
		t.Errorf("votes after /withdraw: %+v, want none", v)
	}
}

// FuzzParseCommand: whatever a comment says, a command is well formed: a
// known kind, a bounded reason, a NOGO or a lift that counts carries a
// reason, and a lift that counts names someone.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"/go", "/nogo broken", "/nogo", "/withdraw", "/lift @qa-carol fixed", "/lift @x", "/lift", "/vote no-go x\n/go", "/lift @-bad reason", "/nogo " + strings.Repeat("é", 400)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		cmd, ok := ParseCommand(body)
		if !ok {
			if cmd != (Command{}) {
				t.Fatalf("no command, yet %+v", cmd)
			}
			return
		}
		switch cmd.Kind {
		case "go", "nogo", "withdraw", "lift":
		default:
			t.Fatalf("kind %q", cmd.Kind)
		}
		if n := len([]rune(cmd.Reason)); n > maxReason {
			t.Fatalf("reason of %d characters", n)
		}
		if cmd.Refused == "" && (cmd.Kind == "nogo" || cmd.Kind == "lift") && strings.TrimSpace(cmd.Reason) == "" {
			t.Fatalf("%s without a reason counts: %+v", cmd.Kind, cmd)
		}
		if cmd.Kind == "lift" && cmd.Refused == "" && cmd.Target == "" {
			t.Fatalf("lift of nobody counts: %+v", cmd)
		}
		if cmd.Kind != "lift" && cmd.Target != "" {
			t.Fatalf("target on a %s", cmd.Kind)
		}
	})
}
