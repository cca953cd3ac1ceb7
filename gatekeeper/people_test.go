package gatekeeper

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseVote(t *testing.T) {
	t.Parallel()
	type vote struct{ Vote, Reason, Refused string }
	tests := []struct {
		name string
		body string
		want *vote
	}{
		{"go", "/go", &vote{Vote: "go"}},
		{"go with note", "/go  looks good to QA ", &vote{Vote: "go", Reason: "looks good to QA"}},
		{"nogo with reason", "/nogo payment flow broken on staging", &vote{Vote: "nogo", Reason: "payment flow broken on staging"}},
		{"vote form", "/vote nogo DR plan missing", &vote{Vote: "nogo", Reason: "DR plan missing"}},
		{"vote go upper case", "/VOTE GO", &vote{Vote: "go"}},
		{"nogo without reason is refused", "/nogo", &vote{Vote: "nogo", Refused: "a NOGO needs a reason: /nogo <reason> (until then you have no vote)"}},
		{"last line wins", "/nogo flaky tests\nfixed now\n/go", &vote{Vote: "go"}},
		{"command in a later line", "Checked the dashboards.\n  /go", &vote{Vote: "go"}},
		{"not at line start", "please /go ahead", nil},
		{"other command", "/gopher", nil},
		{"no vote", "LGTM", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, r, ref, ok := ParseVote(tc.body)
			var got *vote
			if ok {
				got = &vote{v, r, ref}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvidenceVotes(t *testing.T) {
	t.Parallel()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ev := Evidence{
		Heads: []HeadChange{{SHA: "aaa", At: at(0)}, {SHA: "bbb", At: at(10)}},
		Comments: []Comment{
			{ID: 1, User: "qa", Body: "/nogo checkout broken", CreatedAt: at(1), UpdatedAt: at(1)},
			{ID: 2, User: "sre", Body: "/go", CreatedAt: at(2), UpdatedAt: at(2)},
			{ID: 3, User: "qa", Body: "/go", CreatedAt: at(11), UpdatedAt: at(11)},
			{ID: 4, User: "lead", Body: "/go", CreatedAt: at(12), UpdatedAt: at(12), Deleted: true},
			{ID: 5, User: "dev", Body: "nice", CreatedAt: at(13)},
			// Written before the push, edited after it: cast on the new head.
			{ID: 6, User: "mgmt", Body: "/go", CreatedAt: at(5), UpdatedAt: at(15)},
		},
	}
	want := []Vote{
		{User: "mgmt", Vote: "go", CommentID: 6, HeadSHA: "bbb"},
		{User: "qa", Vote: "go", CommentID: 3, HeadSHA: "bbb"},
		{User: "sre", Vote: "go", CommentID: 2, HeadSHA: "aaa"},
	}
	if diff := cmp.Diff(want, ev.Votes()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseChecklist(t *testing.T) {
	t.Parallel()
	body := "## Release\n- [x] Release notes\n- [ ] DR plan\n* [X] Unit tests listed\n  - [x] nested item \n- [x] DR plan\ntext - [x] not an item"
	want := map[string]bool{"Release notes": true, "DR plan": false, "Unit tests listed": true, "nested item": true}
	if diff := cmp.Diff(want, ParseChecklist(body)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseIssueLinks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, branch string
		want               []IssueRef
	}{
		{"short and full forms", "Release: #12, acme/infra#7 and (#12)", "staging", []IssueRef{
			{"acme", "shop", 12, "body"}, {"acme", "infra", 7, "body"},
		}},
		{"zenhub urls", "https://app.zenhub.com/workspaces/release-5f1/issues/gh/acme/shop/31 and https://app.zenhub.com/workspace/o/acme/api/issues/4", "", []IssueRef{
			{"acme", "shop", 31, "body"}, {"acme", "api", 4, "body"},
		}},
		{"github issue url", "see https://github.com/acme/shop/issues/99#issuecomment-1", "", []IssueRef{{"acme", "shop", 99, "body"}}},
		{"branch", "", "feature/123-checkout", []IssueRef{{"acme", "shop", 123, "branch"}}},
		{"issue branch", "", "issue-45", []IssueRef{{"acme", "shop", 45, "branch"}}},
		{"gh branch in a folder", "", "fix/gh_46", []IssueRef{{"acme", "shop", 46, "branch"}}},
		{"a date is not an issue", "", "release/2024-06", nil},
		{"a version is not an issue", "", "hotfix/2-14-3", nil},
		{"staging is not an issue", "", "staging", nil},
		{"no links", "colour #fff is not an issue, nor is a#1", "staging", nil},
		{"url fragment is not an issue", "https://example.com/page#3", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ParseIssueLinks(tc.body, tc.branch, "acme", "shop")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseComment(f *testing.F) {
	f.Add("/nogo broken\n/go", "feature/1-x")
	f.Add("- [x] Release notes\n#12 acme/shop#3 https://app.zenhub.com/workspaces/w-1/issues/gh/a/b/2", "issue-9")
	f.Fuzz(func(t *testing.T, body, branch string) {
		if v, _, refused, ok := ParseVote(body); ok && v != "go" && v != "nogo" {
			t.Fatalf("vote %q", v)
		} else if ok && v == "go" && refused != "" {
			t.Fatalf("a GO refused: %q", refused)
		}
		ParseChecklist(body)
		for _, ref := range ParseIssueLinks(body, branch, "o", "r") {
			if ref.Number <= 0 || ref.Owner == "" || ref.Repo == "" {
				t.Fatalf("bad ref %+v", ref)
			}
		}
	})
}

func TestVotesSurviveOutOfOrderDelivery(t *testing.T) {
	t.Parallel()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	var ev Evidence
	ev.Apply(Event{PullRequest: &PullRequest{HeadSHA: "aaa", UpdatedAt: at(0)}})
	// The 12:00 NOGO arrives before the redelivered 11:00 GO.
	ev.Apply(Event{Comment: &Comment{ID: 101, User: "qa", Body: "/nogo smoke red", CreatedAt: at(60), UpdatedAt: at(60)}})
	ev.Apply(Event{Comment: &Comment{ID: 100, User: "qa", Body: "/go", CreatedAt: at(0), UpdatedAt: at(0)}})
	// A deletion delivered before the creation stays deleted.
	ev.Apply(Event{Comment: &Comment{ID: 200, User: "sre", Body: "/go", CreatedAt: at(5), UpdatedAt: at(5), Deleted: true}})
	ev.Apply(Event{Comment: &Comment{ID: 200, User: "sre", Body: "/go", CreatedAt: at(5), UpdatedAt: at(5)}})
	want := []Vote{{User: "qa", Vote: "nogo", Reason: "smoke red", CommentID: 101, HeadSHA: "aaa"}}
	if diff := cmp.Diff(want, ev.Votes()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDismissalIsFinal(t *testing.T) {
	t.Parallel()
	var ev Evidence
	ev.Apply(Event{Review: &Review{ID: 1, User: "qa", State: "dismissed", CommitID: "aaa", SubmittedAt: t0}})
	ev.Apply(Event{Review: &Review{ID: 1, User: "qa", State: "approved", CommitID: "aaa", SubmittedAt: t0}})
	if got := ev.Reviews[0].State; got != "DISMISSED" {
		t.Errorf("state %s after a late submitted delivery, want DISMISSED", got)
	}
}

func TestOthersCannotChangeAVote(t *testing.T) {
	t.Parallel()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	nogo := Comment{ID: 1, User: "qa-carol", Body: "/nogo smoke test flaky", CreatedAt: at(1), UpdatedAt: at(1)}
	tests := []struct {
		name   string
		events []Comment
		want   []Vote
	}{
		{"another person's edit is ignored", []Comment{nogo,
			{ID: 1, User: "qa-carol", Body: "/go", CreatedAt: at(1), UpdatedAt: at(2), EditedBy: "dev-dave"}},
			[]Vote{{User: "qa-carol", Vote: "nogo", Reason: "smoke test flaky", CommentID: 1, HeadSHA: "aaa"}}},
		{"another person's deletion is ignored", []Comment{nogo,
			{ID: 1, User: "qa-carol", Body: nogo.Body, CreatedAt: at(1), UpdatedAt: at(1), Deleted: true, EditedBy: "dev-dave"}},
			[]Vote{{User: "qa-carol", Vote: "nogo", Reason: "smoke test flaky", CommentID: 1, HeadSHA: "aaa"}}},
		{"the author's own edit of a NOGO waits for GitHub", []Comment{nogo,
			{ID: 1, User: "qa-carol", Body: "/go", CreatedAt: at(1), UpdatedAt: at(2), EditedBy: "qa-carol"}},
			[]Vote{{User: "qa-carol", Vote: "nogo", Reason: "smoke test flaky", CommentID: 1, HeadSHA: "aaa"}}},
		{"the author's own edit counts once GitHub shows it", []Comment{nogo,
			{ID: 1, User: "qa-carol", Body: "/go", CreatedAt: at(1), UpdatedAt: at(2), EditedBy: "qa-carol"},
			{ID: 1, User: "qa-carol", Body: "/go", CreatedAt: at(1), UpdatedAt: at(2), EditedBy: "qa-carol", Confirmed: true}},
			[]Vote{{User: "qa-carol", Vote: "go", CommentID: 1, HeadSHA: "aaa"}}},
		{"the author's own edit of a GO counts", []Comment{
			{ID: 2, User: "sre-dan", Body: "/go", CreatedAt: at(1), UpdatedAt: at(1)},
			{ID: 2, User: "sre-dan", Body: "/nogo db migration", CreatedAt: at(1), UpdatedAt: at(2), EditedBy: "sre-dan"}},
			[]Vote{{User: "sre-dan", Vote: "nogo", Reason: "db migration", CommentID: 2, HeadSHA: "aaa"}}},
		{"first seen through another person's edit: no vote", []Comment{
			{ID: 1, User: "qa-carol", Body: "/go", CreatedAt: at(1), UpdatedAt: at(2), EditedBy: "dev-dave"}},
			[]Vote{}},
		{"a fetched list never overrides a webhook", []Comment{nogo,
			{ID: 1, User: "qa-carol", Body: "/go", CreatedAt: at(1), UpdatedAt: at(3), Fetched: true}},
			[]Vote{{User: "qa-carol", Vote: "nogo", Reason: "smoke test flaky", CommentID: 1, HeadSHA: "aaa"}}},
		{"a fetched list recovers a lost comment", []Comment{
			{ID: 2, User: "sre-dan", Body: "/go", CreatedAt: at(1), UpdatedAt: at(1), Fetched: true}},
			[]Vote{{User: "sre-dan", Vote: "go", CommentID: 2, HeadSHA: "aaa"}}},
		{"vanished from the list: a NOGO stays", []Comment{nogo,
			{ID: 1, User: "qa-carol", Deleted: true, Fetched: true, UpdatedAt: at(5)}},
			[]Vote{{User: "qa-carol", Vote: "nogo", Reason: "smoke test flaky", CommentID: 1, HeadSHA: "aaa"}}},
		{"vanished from the list: a GO goes", []Comment{
			{ID: 2, User: "sre-dan", Body: "/go", CreatedAt: at(1), UpdatedAt: at(1)},
			{ID: 2, User: "sre-dan", Deleted: true, Fetched: true, UpdatedAt: at(5)}},
			[]Vote{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := Evidence{Heads: []HeadChange{{SHA: "aaa", At: t0}}}
			for _, c := range tc.events {
				ev.Apply(Event{Comment: &c})
			}
			if diff := cmp.Diff(tc.want, ev.Votes(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestVoteInTheSecondOfAPushIsOnTheOlderHead: GitHub's times have a
// resolution of one second, so a /go written in the same second as a push
// may have been written before it. It counts on the older head (fail
// closed: the voter votes again), never on the pushed one; so does a
// NOGO's head, a lift's, and Decisive. The first head known has no older
// head: a vote in its second is on it.
func TestVoteInTheSecondOfAPushIsOnTheOlderHead(t *testing.T) {
	t.Parallel()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ev := &Evidence{}
	ev.Apply(Event{PullRequest: &PullRequest{HeadSHA: "aaa", UpdatedAt: at(0)}})
	ev.Apply(Event{Comment: &Comment{ID: 1, User: "qa", Body: "/go", CreatedAt: at(0), UpdatedAt: at(0)}})
	ev.Apply(Event{Comment: &Comment{ID: 2, User: "sre", Body: "/go", CreatedAt: at(1), UpdatedAt: at(1)}})
	ev.Apply(Event{PullRequest: &PullRequest{HeadSHA: "bbb", UpdatedAt: at(10)}})
	ev.Apply(Event{Comment: &Comment{ID: 3, User: "lead", Body: "/go", CreatedAt: at(10), UpdatedAt: at(10)}})
	ev.Apply(Event{Comment: &Comment{ID: 4, User: "qa-carol", Body: "/nogo broken", CreatedAt: at(10), UpdatedAt: at(10)}})
	ev.Apply(Event{Comment: &Comment{ID: 5, User: "mgmt", Body: "/go", CreatedAt: at(11), UpdatedAt: at(11)}})
	want := []Vote{
		{User: "lead", Vote: "go", CommentID: 3, HeadSHA: "aaa"},
		{User: "mgmt", Vote: "go", CommentID: 5, HeadSHA: "bbb"},
		{User: "qa", Vote: "go", CommentID: 1, HeadSHA: "aaa"},
		{User: "qa-carol", Vote: "nogo", Reason: "broken", CommentID: 4, HeadSHA: "aaa"},
		{User: "sre", Vote: "go", CommentID: 2, HeadSHA: "aaa"},
	}
	if diff := cmp.Diff(want, ev.Votes()); diff != "" {
		t.Errorf("votes (-want +got):\n%s", diff)
	}
	if n := ev.Nogos(); len(n) != 1 || n[0].HeadSHA != "aaa" {
		t.Errorf("NOGOs %+v, want qa-carol's on aaa", n)
	}
	var decisive []int64
	for _, c := range ev.Decisive() {
		decisive = append(decisive, c.ID)
	}
	if diff := cmp.Diff([]int64{5}, decisive); diff != "" {
		t.Errorf("decisive comments (-want +got):\n%s", diff)
	}
}
