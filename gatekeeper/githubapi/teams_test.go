package githubapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// membersBody is a page of GET /orgs/{org}/teams/{team_slug}/members in
// the documented shape (OpenAPI schema "simple-user", trimmed): the team's
// active members, those of its child teams included, pending invitations
// not.
func membersBody(logins ...string) string {
	var users []string
	for i, l := range logins {
		users = append(users, fmt.Sprintf(`{"login":%q,"id":%d,"node_id":"MDQ6VXNlcjE=","url":"https://api.github.com/users/%s","type":"User","site_admin":false}`, l, i+1, l))
	}
	return "[" + strings.Join(users, ",") + "]"
}

func membersRoute(team string) string {
	org, slug, _ := strings.Cut(team, "/")
	return "GET /orgs/" + org + "/teams/" + slug + "/members"
}

// membersRequest is the request path of a team's first page.
func membersRequest(team string) string { return membersRoute(team) + "?per_page=100&role=all" }

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

// The teams of the tests below: alice and gus are on sre's list; bob's
// invitation to sre is pending, so GitHub does not list him; Codertocat
// is on qa's list.
const sre, qa = "octo-org/sre", "octo-org/qa"

func scriptTeams(gh *fakeGitHub) {
	gh.on(membersRoute(sre), jsonReply(http.StatusOK, membersBody("alice", "gus")))
	gh.on(membersRoute(qa), jsonReply(http.StatusOK, membersBody("Codertocat")))
}

func TestTeamSourceGather(t *testing.T) {
	t.Parallel()
	teams := func() []string { return []string{sre, qa, "not a team", sre, "octo-org/..", "octo-org/../admin?x"} }
	m := func(team, user string, active bool) gatekeeper.Membership {
		return gatekeeper.Membership{Team: team, User: user, Active: active, CheckedAt: testEpoch}
	}
	// Teams in budget order (the team of the first never-checked pair:
	// reviewer alice, qa before sre by name), people in that order too.
	allAnswers := []gatekeeper.Membership{
		m(qa, "alice", false), m(qa, "bob", false), m(qa, "Codertocat", true),
		m(sre, "alice", true), m(sre, "bob", false), m(sre, "Codertocat", false),
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
			// One list per team, whoever is asked about; bob's pending
			// invitation is no membership.
			name:  "one list per team",
			teams: teams,
			want:  []string{membersRequest(qa), membersRequest(sre)},
			wantM: allAnswers,
			wantTeams: map[string]any{
				sre: map[string]any{"alice": true, "bob": false, "Codertocat": false},
				qa:  map[string]any{"alice": false, "bob": false, "Codertocat": true},
			},
		},
		{
			name:  "answers younger than the TTL are not given again; a team with none due is not read",
			teams: teams,
			change: func(ev *gatekeeper.Evidence) {
				ev.Memberships = checked(9*time.Minute, m(qa, "alice", false), m(qa, "bob", false), m(qa, "Codertocat", true))
				for k, v := range checked(10*time.Minute, m(sre, "Codertocat", false)) {
					ev.Memberships[k] = v
				}
			},
			want:  []string{membersRequest(sre)},
			wantM: []gatekeeper.Membership{m(sre, "alice", true), m(sre, "bob", false), m(sre, "Codertocat", false)},
		},
		{
			name:     "budget spent on teams with never-checked people first",
			teams:    teams,
			maxCalls: 1,
			change: func(ev *gatekeeper.Evidence) {
				ev.Memberships = checked(time.Hour, m(qa, "alice", false), m(qa, "bob", false), m(qa, "Codertocat", true))
			},
			want:  []string{membersRequest(sre)},
			wantM: []gatekeeper.Membership{m(sre, "alice", true), m(sre, "bob", false), m(sre, "Codertocat", false)},
		},
		{
			// gus's change request on the older head still blocks, so
			// his role is answered for like a head reviewer's; hal
			// approved since his request and ivy's request was
			// dismissed, so neither matters.
			name:  "changes requested on an older commit",
			teams: func() []string { return []string{sre} },
			change: func(ev *gatekeeper.Evidence) {
				ev.Reviews = append(ev.Reviews, olderHeadReviews()...)
			},
			want:  []string{membersRequest(sre)},
			wantM: []gatekeeper.Membership{m(sre, "alice", true), m(sre, "gus", true), m(sre, "bob", false), m(sre, "Codertocat", false)},
			wantTeams: map[string]any{
				sre: map[string]any{"alice": true, "bob": false, "Codertocat": false, "gus": true},
			},
		},
		{
			// erin's NOGO on the older head stands across the push, so
			// her roles matter; so do those of ivy, who tries to lift
			// it, and of jon, who lifts nobody's on the head.
			name:  "a standing NOGO's author and the lifters are answered for whatever the head",
			teams: func() []string { return []string{sre} },
			change: func(ev *gatekeeper.Evidence) {
				pushed := testEpoch.Add(-time.Hour)
				ev.Comments = append(ev.Comments,
					gatekeeper.Comment{ID: 13, User: "erin", Body: "/nogo flaky", CreatedAt: pushed.Add(-time.Minute)},
					gatekeeper.Comment{ID: 14, User: "ivy", Body: "/lift @erin fixed", CreatedAt: pushed.Add(3 * time.Minute)},
					gatekeeper.Comment{ID: 15, User: "jon", Body: "/lift @kim fixed", CreatedAt: pushed.Add(3 * time.Minute)},
				)
			},
			want:  []string{membersRequest(sre)},
			wantM: []gatekeeper.Membership{m(sre, "alice", true), m(sre, "bob", false), m(sre, "erin", false), m(sre, "ivy", false), m(sre, "jon", false), m(sre, "Codertocat", false)},
		},
		{
			// GitHub answers 404 for a team that does not exist or
			// that the token cannot see: nobody holds its role.
			name:  "a team GitHub does not show is nobody",
			teams: func() []string { return []string{"octo-org/secret"} },
			want:  []string{membersRequest("octo-org/secret")},
			wantM: []gatekeeper.Membership{m("octo-org/secret", "alice", false), m("octo-org/secret", "bob", false), m("octo-org/secret", "Codertocat", false)},
			wantTeams: map[string]any{
				"octo-org/secret": map[string]any{"alice": false, "bob": false, "Codertocat": false},
			},
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
			scriptTeams(gh)
			obs := &observed{}
			s := NewTeamSource(newTestClient(t, gh.URL, newFakeTime(), obs, testRetry()),
				TeamSourceOptions{Teams: tt.teams})
			if tt.maxCalls > 0 {
				// under NewTeamSource's floor, to spend the budget on one-page lists
				s.maxCalls = tt.maxCalls
			}
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
				if !strings.HasPrefix(call, EndpointListTeamMembers+" ") {
					t.Errorf("observed %q, want only %s calls", call, EndpointListTeamMembers)
				}
			}
		})
	}
}

// TestTeamRosterFollowsChanges: a team's list is read once per TTL for
// every pull request, conditionally. Within the TTL the last answer
// stands (shared); after it, GitHub's 304 keeps it at no rate limit, a
// person removed from the team stops counting and one added starts
// counting. A 404 (the team hidden) is nobody, and is asked again after
// three TTLs.
func TestTeamRosterFollowsChanges(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	gh.on(membersRoute(sre),
		jsonReply(http.StatusOK, membersBody("alice", "gus"), "ETag", `"v1"`),
		jsonReply(http.StatusNotModified, "", "ETag", `"v1"`),
		jsonReply(http.StatusOK, membersBody("gus", "Bob"), "ETag", `"v2"`), // alice removed, bob added
		jsonReply(http.StatusNotFound, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`),
		jsonReply(http.StatusOK, membersBody("alice"), "ETag", `"v3"`),
	)
	tm, obs := newFakeTime(), &observed{}
	s := NewTeamSource(newTestClient(t, gh.URL, tm, obs, testRetry()),
		TeamSourceOptions{Teams: func() []string { return []string{sre} }})

	// active gathers pull request number (its own evidence, as the store
	// keeps it) and returns who holds the sre role among alice, bob and
	// Codertocat.
	evs := map[int]*gatekeeper.Evidence{}
	active := func(number int) map[string]bool {
		t.Helper()
		ev := evs[number]
		if ev == nil {
			ev = peopleEvidence()
			pr := *ev.PR
			pr.Key.Number = number
			ev.PR, ev.Key = &pr, pr.Key
			evs[number] = ev
		}
		events, err := s.Gather(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			ev.Apply(e)
		}
		out := map[string]bool{}
		for _, m := range ev.Memberships {
			if m.Active {
				out[m.User] = true
			}
		}
		return out
	}
	step := func(name string, number int, want map[string]bool, wantCalls []string) {
		t.Helper()
		before := len(obs.list())
		got := active(number)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: role holders (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(wantCalls, obs.list()[before:], cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: calls (-want +got):\n%s", name, diff)
		}
	}
	alice := map[string]bool{"alice": true}
	step("first read", 1, alice, []string{"list_team_members 200"})
	for n := 2; n <= 20; n++ {
		step("another pull request within the TTL", n, alice, nil)
	}
	tm.Sleep(context.Background(), DefaultMembershipTTL)
	step("after the TTL, unchanged", 1, alice, []string{"list_team_members 304"})
	if h := gh.served()[1].Header.Get("If-None-Match"); h != `"v1"` {
		t.Errorf("the re-read sent If-None-Match %q, want the list's ETag", h)
	}
	tm.Sleep(context.Background(), DefaultMembershipTTL-time.Second)
	step("alice removed, within the TTL: the last answer stands", 2, alice, nil)
	tm.Sleep(context.Background(), time.Second)
	step("alice removed and bob added, after the TTL", 2, map[string]bool{"bob": true}, []string{"list_team_members 200"})
	step("the same answer for another pull request", 3, map[string]bool{"bob": true}, nil)
	tm.Sleep(context.Background(), DefaultMembershipTTL)
	step("the team hidden from the token: nobody", 3, map[string]bool{}, []string{"list_team_members 404"})
	tm.Sleep(context.Background(), 2*DefaultMembershipTTL)
	step("a 404 stands three TTLs", 4, map[string]bool{}, nil)
	tm.Sleep(context.Background(), DefaultMembershipTTL)
	step("after three TTLs it is asked again", 4, alice, []string{"list_team_members 200"})
}

// TestTeamRosterPages: a list of several pages is read to its end; logins
// compare as GitHub's do, whatever their case; a list longer than
// maxRosterPages pages is an error, never a partial answer.
func TestTeamRosterPages(t *testing.T) {
	t.Parallel()
	page := func(gh *fakeGitHub, n int, body string, last bool) {
		r := jsonReply(http.StatusOK, body)
		if !last {
			r = withLink(r, gh.URL+fmt.Sprintf("orgs/octo-org/teams/sre/members?per_page=100&role=all&page=%d", n+1))
		}
		route := membersRoute(sre)
		if n > 1 {
			route += fmt.Sprintf("?page=%d", n)
		}
		gh.on(route, r)
	}
	t.Run("two pages", func(t *testing.T) {
		t.Parallel()
		gh := newFakeGitHub(t, "")
		page(gh, 1, membersBody("gus"), false)
		page(gh, 2, membersBody("ALICE"), true)
		s := NewTeamSource(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()),
			TeamSourceOptions{Teams: func() []string { return []string{sre} }})
		got, err := s.Gather(context.Background(), peopleEvidence())
		if err != nil {
			t.Fatal(err)
		}
		if n := len(gh.served()); n != 2 {
			t.Errorf("%d requests, want 2 pages", n)
		}
		for _, e := range got {
			if want := e.Membership.User == "alice"; e.Membership.Active != want {
				t.Errorf("%s: active %v, want %v", e.Membership.User, e.Membership.Active, want)
			}
		}
	})
	t.Run("a budget under a full list still reads one", func(t *testing.T) {
		t.Parallel()
		gh := newFakeGitHub(t, "")
		for n := 1; n <= maxRosterPages; n++ {
			page(gh, n, membersBody(fmt.Sprintf("user%d", n), "ALICE"), n == maxRosterPages)
		}
		s := NewTeamSource(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()),
			TeamSourceOptions{Teams: func() []string { return []string{sre} }, MaxCalls: 2})
		got, err := s.Gather(context.Background(), peopleEvidence())
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		if n := len(gh.served()); n != maxRosterPages {
			t.Errorf("%d requests, want %d pages", n, maxRosterPages)
		}
		if len(got) == 0 {
			t.Error("no memberships from a list of maxRosterPages pages")
		}
	})
	t.Run("too many pages", func(t *testing.T) {
		t.Parallel()
		gh := newFakeGitHub(t, "")
		for n := 1; n <= maxRosterPages+1; n++ {
			page(gh, n, membersBody(fmt.Sprintf("user%d", n)), false)
		}
		s := NewTeamSource(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()),
			TeamSourceOptions{Teams: func() []string { return []string{sre} }})
		got, err := s.Gather(context.Background(), peopleEvidence())
		if err == nil || !strings.Contains(err.Error(), "partial list") {
			t.Errorf("Gather error %v, want a partial list refused", err)
		}
		if len(got) != 0 {
			t.Errorf("%d memberships from a partial list", len(got))
		}
		if n := len(gh.served()); n != maxRosterPages {
			t.Errorf("%d requests, want %d pages", n, maxRosterPages)
		}
	})
}

func TestTeamSourceErrors(t *testing.T) {
	t.Parallel()
	teams := func() []string { return []string{qa, sre} }
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
			name: "server error after one team",
			script: func(gh *fakeGitHub) {
				gh.on(membersRoute(qa), jsonReply(http.StatusOK, membersBody("Codertocat")))
				gh.on(membersRoute(sre), jsonReply(http.StatusBadGateway, serverErrorBody))
			},
			wantInError:  "reading the members of octo-org/sre",
			wantUsers:    []string{"alice", "bob", "Codertocat"},
			wantRequests: 1 + 2, // MaxAttempts is 2 below
		},
		{
			name: "rate limit fails at once",
			script: func(gh *fakeGitHub) {
				gh.on(membersRoute(qa), jsonReply(http.StatusForbidden, primaryLimitBody,
					"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(10*time.Minute)))
			},
			wantErr:      ErrRateLimited,
			wantRequests: 1,
		},
		{
			name: "forbidden is no answer",
			script: func(gh *fakeGitHub) {
				gh.on(membersRoute(qa), jsonReply(http.StatusForbidden,
					`{"message":"Resource protected by organization SAML enforcement."}`))
			},
			wantInError:  "reading the members of octo-org/qa",
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

// TestTeamRosterConcurrentGathers: the Gathers of many pull requests at
// once read each team's list once, and all see it (run with -race).
func TestTeamRosterConcurrentGathers(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	scriptTeams(gh)
	s := NewTeamSource(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()),
		TeamSourceOptions{Teams: func() []string { return []string{sre, qa} }})
	var wg sync.WaitGroup
	for n := 1; n <= 16; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := peopleEvidence()
			pr := *ev.PR
			pr.Key.Number = n
			ev.PR, ev.Key = &pr, pr.Key
			got, err := s.Gather(context.Background(), ev)
			if err != nil {
				t.Error(err)
				return
			}
			for _, e := range got {
				m := e.Membership
				if want := (m.Team == sre && m.User == "alice") || (m.Team == qa && m.User == "Codertocat"); m.Active != want {
					t.Errorf("#%d: %s in %s active %v, want %v", n, m.User, m.Team, m.Active, want)
				}
			}
		}()
	}
	wg.Wait()
	if diff := cmp.Diff([]string{membersRequest(qa), membersRequest(sre)}, gh.paths(),
		cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
