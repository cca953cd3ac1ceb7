package githubapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Membership bodies in the documented shape of GET
// /orgs/{org}/teams/{team_slug}/memberships/{username} (OpenAPI schema
// "team-membership"; no recorded response is published).
const (
	activeMember     = `{"url":"https://api.github.com/teams/1/memberships/alice","role":"member","state":"active"}`
	activeMaintainer = `{"url":"https://api.github.com/teams/2/memberships/Codertocat","role":"maintainer","state":"active"}`
	pendingMember    = `{"url":"https://api.github.com/teams/1/memberships/bob","role":"member","state":"pending"}`
)

func membershipRoute(team, user string) string {
	org, slug, _ := strings.Cut(team, "/")
	return "GET /orgs/" + org + "/teams/" + slug + "/memberships/" + user
}

// peopleEvidence is fixturePR's evidence with people around it: alice
// approved the head, bob voted GO on it, Codertocat wrote it; carol
// approved and erin voted GO on an older head, dan only commented, a bot
// approved, and frank wrote a comment that is no vote. Only alice, bob and
// Codertocat matter to the current head.
func peopleEvidence() *gatekeeper.Evidence {
	pr := fixturePR
	head := pr.HeadSHA
	pushed := testEpoch.Add(-time.Hour)
	return &gatekeeper.Evidence{
		Key:   helloKey,
		PR:    &pr,
		Heads: []gatekeeper.HeadChange{{SHA: "0ld", At: pushed.Add(-time.Hour)}, {SHA: head, At: pushed}},
		Reviews: []gatekeeper.Review{
			{ID: 1, User: "alice", State: "APPROVED", CommitID: head, SubmittedAt: pushed.Add(time.Minute)},
			{ID: 2, User: "carol", State: "APPROVED", CommitID: "0ld", SubmittedAt: pushed.Add(-time.Minute)},
			{ID: 3, User: "dan", State: "COMMENTED", CommitID: head, SubmittedAt: pushed.Add(time.Minute)},
			{ID: 4, User: "renovate[bot]", State: "APPROVED", CommitID: head, SubmittedAt: pushed.Add(time.Minute)},
		},
		Comments: []gatekeeper.Comment{
			{ID: 10, User: "bob", Body: "/go", CreatedAt: pushed.Add(2 * time.Minute)},
			{ID: 11, User: "erin", Body: "/go", CreatedAt: pushed.Add(-2 * time.Minute)},
			{ID: 12, User: "frank", Body: "lgtm", CreatedAt: pushed.Add(2 * time.Minute)},
		},
	}
}

// olderHeadReviews are reviews on peopleEvidence's older head "0ld": gus
// requested changes and has not approved since; hal requested changes,
// then approved; ivy's change request was dismissed.
func olderHeadReviews() []gatekeeper.Review {
	at := testEpoch.Add(-3 * time.Hour)
	return []gatekeeper.Review{
		{ID: 20, User: "gus", State: "CHANGES_REQUESTED", CommitID: "0ld", SubmittedAt: at},
		{ID: 21, User: "hal", State: "CHANGES_REQUESTED", CommitID: "0ld", SubmittedAt: at},
		{ID: 22, User: "hal", State: "APPROVED", CommitID: "0ld", SubmittedAt: at.Add(time.Minute)},
		{ID: 23, User: "ivy", State: "DISMISSED", CommitID: "0ld", SubmittedAt: at},
	}
}

func TestTeamSourceGather(t *testing.T) {
	t.Parallel()
	const sre, qa = "octo-org/sre", "octo-org/qa"
	teams := func() []string { return []string{sre, qa, "not a team", sre, "octo-org/..", "octo-org/../admin?x"} }
	// Never-checked pairs in budget order: reviewer, voter, author; each
	// person's teams by name.
	allPairs := []string{
		membershipRoute(qa, "alice"), membershipRoute(sre, "alice"),
		membershipRoute(qa, "bob"), membershipRoute(sre, "bob"),
		membershipRoute(qa, "Codertocat"), membershipRoute(sre, "Codertocat"),
	}
	m := func(team, user string, active bool) gatekeeper.Membership {
		return gatekeeper.Membership{Team: team, User: user, Active: active, CheckedAt: testEpoch}
	}
	allAnswers := []gatekeeper.Membership{
		m(qa, "alice", false), m(sre, "alice", true),
		m(qa, "bob", false), m(sre, "bob", false),
		m(qa, "Codertocat", true), m(sre, "Codertocat", false),
	}
	checked := func(ago time.Duration, ms ...gatekeeper.Membership) map[string]gatekeeper.Membership {
		out := map[string]gatekeeper.Membership{}
		for _, mm := range ms {
			mm.CheckedAt = testEpoch.Add(-ago)
			out[mm.Key()] = mm
		}
		return out
	}
	tests := []struct {
		name     string
		teams    TeamsFunc
		maxCalls int
		change   func(ev *gatekeeper.Evidence)
		want     []string // requests
		wantM    []gatekeeper.Membership
		// wantTeams is input.teams after folding the events.
		wantTeams map[string]any
	}{
		{
			// alice's sre membership is active, bob's is a pending
			// invitation, Codertocat maintains qa, the rest are 404.
			name:  "active, pending and 404",
			teams: teams,
			want:  allPairs,
			wantM: allAnswers,
			wantTeams: map[string]any{
				sre: map[string]any{"alice": true, "bob": false, "Codertocat": false},
				qa:  map[string]any{"alice": false, "bob": false, "Codertocat": true},
			},
		},
		{
			name:  "checks younger than the TTL are skipped, expired ones go last",
			teams: teams,
			change: func(ev *gatekeeper.Evidence) {
				ev.Memberships = checked(9*time.Minute, m(sre, "alice", true), m(qa, "alice", false), m(qa, "bob", false))
				for k, v := range checked(10*time.Minute, m(sre, "Codertocat", true)) {
					ev.Memberships[k] = v
				}
			},
			want:  []string{membershipRoute(sre, "bob"), membershipRoute(qa, "Codertocat"), membershipRoute(sre, "Codertocat")},
			wantM: []gatekeeper.Membership{m(sre, "bob", false), m(qa, "Codertocat", true), m(sre, "Codertocat", false)},
		},
		{
			name:     "budget spent on never-checked pairs first",
			teams:    teams,
			maxCalls: 3,
			change: func(ev *gatekeeper.Evidence) {
				ev.Memberships = checked(time.Hour, m(sre, "alice", true))
			},
			want:  []string{membershipRoute(qa, "alice"), membershipRoute(qa, "bob"), membershipRoute(sre, "bob")},
			wantM: []gatekeeper.Membership{m(qa, "alice", false), m(qa, "bob", false), m(sre, "bob", false)},
		},
		{
			// gus's change request on the older head still blocks, so
			// his role is checked like a head reviewer's; hal approved
			// since his request and ivy's request was dismissed, so
			// neither matters.
			name:  "changes requested on an older commit",
			teams: func() []string { return []string{sre} },
			change: func(ev *gatekeeper.Evidence) {
				ev.Reviews = append(ev.Reviews, olderHeadReviews()...)
			},
			want: []string{
				membershipRoute(sre, "alice"), membershipRoute(sre, "gus"),
				membershipRoute(sre, "bob"), membershipRoute(sre, "Codertocat"),
			},
			wantM: []gatekeeper.Membership{m(sre, "alice", true), m(sre, "gus", true), m(sre, "bob", false), m(sre, "Codertocat", false)},
			wantTeams: map[string]any{
				sre: map[string]any{"alice": true, "bob": false, "Codertocat": false, "gus": true},
			},
		},
		{
			name:     "changes requested on an older commit rank with head reviewers",
			teams:    func() []string { return []string{sre} },
			maxCalls: 2,
			change: func(ev *gatekeeper.Evidence) {
				ev.Reviews = append(ev.Reviews, olderHeadReviews()...)
			},
			want:  []string{membershipRoute(sre, "alice"), membershipRoute(sre, "gus")},
			wantM: []gatekeeper.Membership{m(sre, "alice", true), m(sre, "gus", true)},
		},
		{
			// erin's NOGO on the older head stands across the push, so
			// her roles matter; so do those of ivy, who tries to lift
			// it, and of jon, who lifts nobody's on the head.
			name:  "a standing NOGO's author and the lifters are checked whatever the head",
			teams: func() []string { return []string{sre} },
			change: func(ev *gatekeeper.Evidence) {
				pushed := testEpoch.Add(-time.Hour)
				ev.Comments = append(ev.Comments,
					gatekeeper.Comment{ID: 13, User: "erin", Body: "/nogo flaky", CreatedAt: pushed.Add(-time.Minute)},
					gatekeeper.Comment{ID: 14, User: "ivy", Body: "/lift @erin fixed", CreatedAt: pushed.Add(3 * time.Minute)},
					gatekeeper.Comment{ID: 15, User: "jon", Body: "/lift @kim fixed", CreatedAt: pushed.Add(3 * time.Minute)},
				)
			},
			want: []string{
				membershipRoute(sre, "alice"), membershipRoute(sre, "bob"), membershipRoute(sre, "erin"),
				membershipRoute(sre, "ivy"), membershipRoute(sre, "jon"), membershipRoute(sre, "Codertocat"),
			},
			wantM: []gatekeeper.Membership{m(sre, "alice", true), m(sre, "bob", false), m(sre, "erin", false), m(sre, "ivy", false), m(sre, "jon", false), m(sre, "Codertocat", false)},
		},
		{
			name:  "no teams in the policy",
			teams: func() []string { return nil },
		},
		{
			name: "no teams function",
		},
		{
			name:   "no pull request snapshot",
			teams:  teams,
			change: func(ev *gatekeeper.Evidence) { ev.PR = nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			gh.on(membershipRoute(sre, "alice"), jsonReply(http.StatusOK, activeMember))
			gh.on(membershipRoute(sre, "bob"), jsonReply(http.StatusOK, pendingMember))
			gh.on(membershipRoute(qa, "Codertocat"), jsonReply(http.StatusOK, activeMaintainer))
			gh.on(membershipRoute(sre, "gus"), jsonReply(http.StatusOK, activeMember))
			obs := &observed{}
			s := NewTeamSource(newTestClient(t, gh.URL, newFakeTime(), obs, testRetry()),
				TeamSourceOptions{Teams: tt.teams, MaxCalls: tt.maxCalls})
			if s.Name() != "github-teams" {
				t.Errorf("Name() = %q, want github-teams", s.Name())
			}
			ev := peopleEvidence()
			if tt.change != nil {
				tt.change(ev)
			}

			got, err := s.Gather(context.Background(), ev)
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			if diff := cmp.Diff(tt.want, gh.paths()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			var ms []gatekeeper.Membership
			for _, e := range got {
				if e.Name != EventMembership || e.Key != helloKey || !e.Received.Equal(testEpoch) || e.Membership == nil {
					t.Errorf("event %+v: want a %s event for %s received at the clock's now", e, EventMembership, helloKey)
					continue
				}
				ms = append(ms, *e.Membership)
			}
			if diff := cmp.Diff(tt.wantM, ms); diff != "" {
				t.Errorf("memberships (-want +got):\n%s", diff)
			}
			if tt.wantTeams != nil {
				for _, e := range got {
					ev.Apply(e)
				}
				in := gatekeeper.BuildInput(ev, gatekeeper.InputOptions{Now: testEpoch}).Map()
				if diff := cmp.Diff(tt.wantTeams, in["teams"]); diff != "" {
					t.Errorf("input.teams (-want +got):\n%s", diff)
				}
			}
			for _, call := range obs.list() {
				if !strings.HasPrefix(call, EndpointGetTeamMembership+" ") {
					t.Errorf("observed %q, want only %s calls", call, EndpointGetTeamMembership)
				}
			}
		})
	}
}

func TestTeamSourceErrors(t *testing.T) {
	t.Parallel()
	teams := func() []string { return []string{"octo-org/sre"} }
	tests := []struct {
		name        string
		script      func(gh *fakeGitHub)
		wantErr     error
		wantInError string
		// wantUsers are the users whose answers came back with the error.
		wantUsers    []string
		wantRequests int
	}{
		{
			name: "server error after one answer",
			script: func(gh *fakeGitHub) {
				gh.on(membershipRoute("octo-org/sre", "alice"), jsonReply(http.StatusOK, activeMember))
				gh.on(membershipRoute("octo-org/sre", "bob"), jsonReply(http.StatusBadGateway, serverErrorBody))
			},
			wantInError:  "checking membership of bob in octo-org/sre",
			wantUsers:    []string{"alice"},
			wantRequests: 1 + 2, // MaxAttempts is 2 below
		},
		{
			name: "rate limit fails at once",
			script: func(gh *fakeGitHub) {
				gh.on(membershipRoute("octo-org/sre", "alice"), jsonReply(http.StatusForbidden, primaryLimitBody,
					"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(10*time.Minute)))
			},
			wantErr:      ErrRateLimited,
			wantRequests: 1,
		},
		{
			name: "forbidden is no answer",
			script: func(gh *fakeGitHub) {
				gh.on(membershipRoute("octo-org/sre", "alice"), jsonReply(http.StatusForbidden,
					`{"message":"Resource protected by organization SAML enforcement."}`))
			},
			wantInError:  "checking membership of alice in octo-org/sre",
			wantRequests: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			tt.script(gh)
			retry := testRetry()
			retry.MaxAttempts = 2
			tm := newFakeTime()
			s := NewTeamSource(newTestClient(t, gh.URL, tm, nil, retry), TeamSourceOptions{Teams: teams})

			got, err := s.Gather(context.Background(), peopleEvidence())
			if err == nil {
				t.Fatalf("Gather returned %d events and no error", len(got))
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tt.wantErr)
			}
			if tt.wantInError != "" && !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error %q does not say %q", err, tt.wantInError)
			}
			var users []string
			for _, e := range got {
				users = append(users, e.Membership.User)
			}
			if diff := cmp.Diff(tt.wantUsers, users); diff != "" {
				t.Errorf("memberships returned with the error (-want +got):\n%s", diff)
			}
			if n := len(gh.served()); n != tt.wantRequests {
				t.Errorf("server got %d requests, want %d", n, tt.wantRequests)
			}
			if tt.wantErr == ErrRateLimited && len(tm.sleeps()) != 0 {
				t.Errorf("the source waited %v for a rate limit", tm.sleeps())
			}
		})
	}
}

func TestTeamSourceRejectsBadEvidence(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	s := NewTeamSource(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()),
		TeamSourceOptions{Teams: func() []string { return []string{"octo-org/sre"} }})
	for _, ev := range []*gatekeeper.Evidence{nil, {Key: gatekeeper.PullKey{Owner: "octo-org"}}} {
		if _, err := s.Gather(context.Background(), ev); !errors.Is(err, gatekeeper.ErrInvalid) {
			t.Errorf("Gather(%+v) error = %v, want ErrInvalid", ev, err)
		}
	}
	if n := len(gh.served()); n != 0 {
		t.Errorf("server got %d requests, want none", n)
	}
}
