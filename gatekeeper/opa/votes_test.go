package opa

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// TestVoteVerdicts evaluates the default policy on inputs built by
// gatekeeper.BuildInput from vote comments and team memberships, and checks
// the vote verdicts as the gatekeeper decodes them: the Rego output must
// survive decoding into Decision.Votes.
func TestVoteVerdicts(t *testing.T) {
	t.Parallel()
	e := load(t, policiesDir)
	at := now.Add(-5 * time.Minute) // after complete's evidence, on its head
	comment := func(id int64, user, body string) gatekeeper.Event {
		return gatekeeper.Event{Name: "issue_comment.created", Received: at, Comment: &gatekeeper.Comment{
			ID: id, User: user, Body: body, CreatedAt: at, UpdatedAt: at,
		}}
	}
	// notAMember records that user was checked in every role team and is
	// in none of them.
	notAMember := func(ev *gatekeeper.Evidence, user string) {
		for _, team := range []string{"releasegate/module-leads", "releasegate/sre", "releasegate/qa", "releasegate/management", "releasegate/release-managers"} {
			ev.Apply(gatekeeper.Event{Name: "github.membership", Received: at, Membership: &gatekeeper.Membership{Team: team, User: user, CheckedAt: at}})
		}
	}
	// The /go comments complete() adds for the three quorum roles.
	goes := []gatekeeper.VoteVerdict{
		{CommentID: 900, User: "lead-bob", Verdict: "counted"},
		{CommentID: 901, User: "sre-dan", Verdict: "counted"},
		{CommentID: 902, User: "qa-carol", Verdict: "counted"},
	}
	tests := []struct {
		name        string
		add         func(ev *gatekeeper.Evidence)
		wantVotes   []gatekeeper.VoteVerdict
		wantState   gatekeeper.State
		wantReasons []string
	}{
		{
			name:      "GO votes by role holders are counted",
			add:       func(*gatekeeper.Evidence) {},
			wantVotes: goes,
			wantState: gatekeeper.Success,
		},
		{
			name: "a NOGO without a reason is refused with what to write",
			add: func(ev *gatekeeper.Evidence) {
				ev.Apply(comment(950, "vp-erin", "/nogo"))
			},
			wantVotes: append(append([]gatekeeper.VoteVerdict{}, goes...),
				gatekeeper.VoteVerdict{CommentID: 950, User: "vp-erin", Verdict: "refused", Why: "a NOGO needs a reason: /nogo <reason> (until then you have no vote)"}),
			wantState: gatekeeper.Success,
		},
		{
			name: "a vote by someone holding no role is refused once checked",
			add: func(ev *gatekeeper.Evidence) {
				notAMember(ev, "dev-zoe")
				ev.Apply(comment(951, "dev-zoe", "/nogo I would rather wait"))
			},
			wantVotes: append(append([]gatekeeper.VoteVerdict{}, goes...),
				gatekeeper.VoteVerdict{CommentID: 951, User: "dev-zoe", Verdict: "refused", Why: "only module lead, SRE, QA, management and release manager vote"}),
			wantState: gatekeeper.Success,
		},
		{
			name: "a voter whose memberships are unchecked gets no verdict yet",
			add: func(ev *gatekeeper.Evidence) {
				ev.Apply(comment(952, "dev-yan", "/go"))
			},
			wantVotes: goes,
			wantState: gatekeeper.Success,
		},
		{
			name: "QA's NOGO with a reason is counted and vetoes",
			add: func(ev *gatekeeper.Evidence) {
				ev.Apply(comment(953, "qa-carol", "Found a regression.\n/nogo refunds regress"))
			},
			wantVotes: []gatekeeper.VoteVerdict{
				{CommentID: 900, User: "lead-bob", Verdict: "counted"},
				{CommentID: 901, User: "sre-dan", Verdict: "counted"},
				{CommentID: 953, User: "qa-carol", Verdict: "counted"},
			},
			wantState:   gatekeeper.Failure,
			wantReasons: []string{"QA veto by qa-carol: refunds regress"},
		},
		{
			name: "votes cast before a push get no verdict",
			add: func(ev *gatekeeper.Evidence) {
				pr := *ev.PR
				pr.HeadSHA = "0b1d4a7c9e2f44d1a4c2b9e8f7a6d5c4b3a2f1e0"
				pr.UpdatedAt = now.Add(-time.Minute)
				ev.Apply(gatekeeper.Event{Name: "pull_request.synchronize", Received: now.Add(-time.Minute), SHA: pr.HeadSHA, PullRequest: &pr})
			},
			wantVotes: nil,
			wantState: gatekeeper.Pending,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := complete(t, evidence(t))
			tt.add(ev)
			got, err := e.Evaluate(context.Background(), input(ev))
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if diff := cmp.Diff(tt.wantVotes, got.Votes, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Votes (-want +got):\n%s", diff)
			}
			if got.State != tt.wantState {
				t.Errorf("State = %s (reasons %q, waiting %q), want %s", got.State, got.Reasons, got.Waiting, tt.wantState)
			}
			if diff := cmp.Diff(tt.wantReasons, got.Reasons, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Reasons (-want +got):\n%s", diff)
			}
		})
	}
}
