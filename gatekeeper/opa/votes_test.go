package opa

import (
	"context"
	"strings"
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
			// F7: a bot is no team's member, so nobody asks; its NOGO
			// (a workflow running gh pr comment "/nogo x") is refused,
			// never waited on for ever.
			name: "a bot's NOGO is refused, not waited on",
			add: func(ev *gatekeeper.Evidence) {
				ev.Apply(comment(954, "github-actions[bot]", "/nogo release notes say so"))
			},
			wantVotes: append(append([]gatekeeper.VoteVerdict{}, goes...),
				gatekeeper.VoteVerdict{CommentID: 954, User: "github-actions[bot]", Verdict: "refused", Why: "only module lead, SRE, QA, management and release manager vote"}),
			wantState: gatekeeper.Success,
		},
		{
			name: "a bot's change request holds nothing",
			add: func(ev *gatekeeper.Evidence) {
				ev.Apply(gatekeeper.Event{Name: "pull_request_review.submitted", Received: at, Review: &gatekeeper.Review{
					ID: 77, User: "review-bot[bot]", State: "CHANGES_REQUESTED", CommitID: ev.HeadSHA(), SubmittedAt: at, Confirmed: true,
				}})
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

// TestNogoOutlivesAPush evaluates the default policy on evidence where QA's
// NOGO was cast before a push: a second QA member's GO on the new head does
// not pass while it stands; its author's /go on the newer head or /withdraw
// takes it back; a lift by someone outside the lift roles (data.yaml
// votes.lift_roles) is refused with why, and one by an SRE lifts it and is
// shown in the input.
func TestNogoOutlivesAPush(t *testing.T) {
	t.Parallel()
	e := load(t, policiesDir)
	comment := func(id int64, user, body string, at time.Time) gatekeeper.Event {
		return gatekeeper.Event{Name: "issue_comment.created", Received: at, Comment: &gatekeeper.Comment{
			ID: id, User: user, Body: body, CreatedAt: at, UpdatedAt: at,
		}}
	}
	// vetoed: carol's NOGO on the old head, the push, everything else
	// complete on the new head, and qa-frank's GO there instead of hers.
	vetoed := func(t *testing.T) (*gatekeeper.Evidence, string) {
		ev := evidence(t)
		old := ev.HeadSHA()
		ev.Apply(comment(950, "qa-carol", "/nogo refunds regress", now.Add(-30*time.Minute)))
		pr := *ev.PR
		pr.HeadSHA, pr.UpdatedAt = "0b1d4a7c9e2f44d1a4c2b9e8f7a6d5c4b3a2f1e0", now.Add(-20*time.Minute)
		ev.Apply(gatekeeper.Event{Name: "pull_request.synchronize", Received: pr.UpdatedAt, SHA: pr.HeadSHA, PullRequest: &pr})
		complete(t, ev)
		// complete has carol vote /go; she deletes it, so that her
		// latest word is the NOGO.
		at := now.Add(-9 * time.Minute)
		ev.Apply(gatekeeper.Event{Name: "issue_comment.deleted", Received: at, Comment: &gatekeeper.Comment{
			ID: 902, User: "qa-carol", Body: "/go", CreatedAt: now.Add(-10 * time.Minute), UpdatedAt: at, Deleted: true, EditedBy: "qa-carol",
		}})
		for _, team := range []string{"releasegate/module-leads", "releasegate/sre", "releasegate/qa", "releasegate/management"} {
			ev.Apply(gatekeeper.Event{Name: "github.membership", Received: at, Membership: &gatekeeper.Membership{Team: team, User: "qa-frank", Active: team == "releasegate/qa", CheckedAt: at}})
		}
		ev.Apply(comment(955, "qa-frank", "/go", now.Add(-5*time.Minute)))
		return ev, old
	}
	later := now.Add(-4 * time.Minute)
	tests := []struct {
		name        string
		then        []gatekeeper.Event
		wantState   gatekeeper.State
		wantReasons func(old string) []string
		// wantVerdict, when set, is the verdict on comment 960.
		wantVerdict *gatekeeper.VoteVerdict
	}{
		{
			name:      "a second QA GO on the new head does not pass while the NOGO stands",
			wantState: gatekeeper.Failure,
			wantReasons: func(old string) []string {
				return []string{"QA veto by qa-carol: refunds regress (on " + old[:7] + ")"}
			},
		},
		{
			name:      "the author's /go on the newer head takes it back",
			then:      []gatekeeper.Event{comment(960, "qa-carol", "/go", later)},
			wantState: gatekeeper.Success,
		},
		{
			name:      "the author's /withdraw takes it back",
			then:      []gatekeeper.Event{comment(960, "qa-carol", "/withdraw fixed by the push", later)},
			wantState: gatekeeper.Success,
		},
		{
			name:      "someone else's /withdraw does not",
			then:      []gatekeeper.Event{comment(960, "sre-dan", "/withdraw", later)},
			wantState: gatekeeper.Failure,
			wantReasons: func(old string) []string {
				return []string{"QA veto by qa-carol: refunds regress (on " + old[:7] + ")"}
			},
		},
		{
			name:      "a lift by a module lead is refused, and says who may lift",
			then:      []gatekeeper.Event{comment(960, "lead-bob", "/lift @qa-carol we ship anyway", later)},
			wantState: gatekeeper.Failure,
			wantReasons: func(old string) []string {
				return []string{"QA veto by qa-carol: refunds regress (on " + old[:7] + ")"}
			},
			wantVerdict: &gatekeeper.VoteVerdict{CommentID: 960, User: "lead-bob", Verdict: "refused"},
		},
		{
			name:        "a lift by an SRE lifts it",
			then:        []gatekeeper.Event{comment(960, "sre-dan", "/lift @qa-carol refunds fixed in the push, checked with QA", later)},
			wantState:   gatekeeper.Success,
			wantVerdict: &gatekeeper.VoteVerdict{CommentID: 960, User: "sre-dan", Verdict: "counted", Why: "lifted qa-carol's NOGO"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, old := vetoed(t)
			for _, ev2 := range tt.then {
				ev.Apply(ev2)
			}
			in := input(ev)
			got, err := e.Evaluate(context.Background(), in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if got.State != tt.wantState {
				t.Errorf("State = %s (reasons %q, waiting %q), want %s", got.State, got.Reasons, got.Waiting, tt.wantState)
			}
			var wantReasons []string
			if tt.wantReasons != nil {
				wantReasons = tt.wantReasons(old)
			}
			if diff := cmp.Diff(wantReasons, got.Reasons, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Reasons (-want +got):\n%s", diff)
			}
			if w := tt.wantVerdict; w != nil {
				var v *gatekeeper.VoteVerdict
				for i := range got.Votes {
					if got.Votes[i].CommentID == 960 {
						v = &got.Votes[i]
					}
				}
				switch {
				case v == nil:
					t.Errorf("no verdict on the lift; verdicts %+v", got.Votes)
				case w.Verdict == "refused":
					// Who may lift depends on the roles data.yaml
					// names: the refusal says so, whatever they are.
					if v.Verdict != "refused" || !strings.HasPrefix(v.Why, "only ") || !strings.Contains(v.Why, "SRE") || !strings.HasSuffix(v.Why, " may lift a NOGO") {
						t.Errorf("verdict on the lift %+v, want refused saying who may lift", *v)
					}
				default:
					if diff := cmp.Diff(*w, *v); diff != "" {
						t.Errorf("verdict on the lift (-want +got):\n%s", diff)
					}
				}
			}
			if tt.wantVerdict != nil && tt.wantVerdict.Verdict == "counted" {
				// The lift is recorded in the input, with its reason.
				nogos := in.Map()["nogos"].([]any)
				if len(nogos) != 1 {
					t.Fatalf("input nogos %v, want carol's", nogos)
				}
				lifts := nogos[0].(map[string]any)["lifts"].([]any)
				want := map[string]any{"user": "sre-dan", "reason": "refunds fixed in the push, checked with QA", "comment_id": int64(960)}
				if len(lifts) != 1 || !cmp.Equal(want, lifts[0]) {
					t.Errorf("lifts in the input %v, want %v", lifts, want)
				}
			}
		})
	}
}
