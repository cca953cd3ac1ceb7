package githubapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Source = (*TeamSource)(nil)

// TeamSourceName is the TeamSource's Name.
const TeamSourceName = "github-teams"

// EventMembership is the name of the events TeamSource.Gather returns.
const EventMembership = "github.team_membership"

// Defaults of TeamSourceOptions.
const (
	DefaultMembershipTTL = 10 * time.Minute
	// DefaultMaxMembershipCalls is 1% of an hour of GitHub's 5,000-call
	// primary limit: the lists of five teams of up to 1,000 members
	// (maxRosterPages) fit in one Gather.
	DefaultMaxMembershipCalls = 50
)

// TeamsFunc returns the teams ("org/team-slug") whose memberships the
// release policy asks about. It is called once per Gather, so that a
// policy reload takes effect at once; it must be safe for concurrent use.
type TeamsFunc func() []string

// TeamSourceOptions configure a TeamSource.
type TeamSourceOptions struct {
	// Teams names the teams to check (cmd wires it to the teams of the
	// loaded policy data). Nil or empty: no checks, no events.
	Teams TeamsFunc
	// TTL is how long a team's list stands before it is read again,
	// conditionally (default DefaultMembershipTTL).
	TTL time.Duration
	// MaxCalls bounds the GitHub calls (list pages) of one Gather
	// (default DefaultMaxMembershipCalls, at least maxRosterPages so that
	// the longest list fits); see TeamSource for what happens past it.
	MaxCalls int
}

// TeamSource tells the release policy who holds a release role: for each
// team TeamsFunc names, it reads the team's member list
// (GET /orgs/{org}/teams/{team_slug}/members, 100 a page, role "all") and
// returns one Membership per (team, person) the current head needs. It is
// safe for concurrent use.
//
// Whom it answers for: every team TeamsFunc names, for every person whose
// role matters to the current head: reviewers whose latest review is on
// the head, reviewers whose latest review requests changes on any commit
// (it blocks until they approve again, and only a role holder's request
// may block), people whose vote was cast on the head, the authors and
// lifters of a standing NOGO, and the author. Bots ("name[bot]") cannot
// be team members and are never answered for; the policy never waits for
// them either (people.rego unchecked): a bot holds no role from a team. A membership in
// ev.Memberships checked less than TTL ago is not answered again.
//
// Why a list and not one call per person: GitHub answers "not a member"
// with a 404, which carries no ETag, so each re-check of a "no" cost rate
// limit, and a pull request with five people and five teams cost 25 calls
// a TTL. A team's list is one call for everybody, is shared by every pull
// request (the same release managers review dozens of them), and is read
// conditionally (budgetTransport): re-read after the TTL, an unchanged list
// is a 304, free of rate limit. A list read stands for TTL, "yes" and "no"
// alike: someone removed from a team stops holding its role, and someone
// added starts, within one TTL of the change.
//
// What counts as membership: being on the list. GitHub's list holds active
// members only, members of child teams included, as GET …/memberships/{user}
// counts them; a pending invitation is not on it (GitHub lists those apart,
// GET …/teams/{team_slug}/invitations, and its docs point to the
// memberships endpoint for "both active and pending" ones). Logins compare
// case-insensitively, as GitHub's do. A 404 on the list (a team that does
// not exist, or that the token cannot see: it needs read:org / Members:
// read) reads as "nobody is a member": the role waits, never passes; that
// answer stands three TTLs (negativeTTLFactor), since a 404 carries no ETag
// and each re-read costs rate limit. A team with more members than
// maxRosterPages pages is an error, never a partial list.
//
// It is a Source of its own, not part of Source, because its rhythm is
// different: Source asks GitHub once per MaxAge, while a new reviewer or
// voter must be answered for in the very evaluation their webhook causes;
// and a token without read:org then shows as "github-teams unavailable"
// without making the pull request facts look unavailable too.
//
// Budget: one Gather reads at most MaxCalls pages, serially (GitHub asks
// integrations not to make concurrent requests, to stay clear of the
// secondary rate limit). Teams with never-answered people go first, then
// those with expired answers; within each, the team of the best-ranked
// person (reviewers before voters before the author). Teams past the
// budget are left for the next Gather: until then a never-answered person
// holds no role from them, so the policy waits, and an expired membership
// keeps its last answer.
//
// Rate limits are not waited for (as for Source). When a read fails,
// Gather returns the memberships of the teams it did read, which are facts,
// together with the error.
type TeamSource struct {
	c        *Client
	teams    TeamsFunc
	ttl      time.Duration
	maxCalls int

	mu sync.Mutex
	// rosters is GitHub's last list per team, shared by every pull
	// request; bounded by maxRosters.
	rosters map[string]*roster
}

// roster is a team's member list as GitHub last answered it.
type roster struct {
	// mu is held while the list is read, so that concurrent Gathers of
	// several pull requests read a team once.
	mu   sync.Mutex
	read bool
	last teamList
}

// teamList is one answer of GitHub's to a team's member list. Its map is
// never changed once made, so copies share it.
type teamList struct {
	members map[string]bool // lower-cased logins
	visible bool            // false: GitHub answered 404
	readAt  time.Time
}

// NewTeamSource returns a TeamSource that reads through c.
func NewTeamSource(c *Client, opts TeamSourceOptions) *TeamSource {
	if opts.TTL <= 0 {
		opts.TTL = DefaultMembershipTTL
	}
	if opts.MaxCalls <= 0 {
		opts.MaxCalls = DefaultMaxMembershipCalls
	}
	// A budget under one full list would never read a big team: its
	// people would keep an expired answer while the source reports OK.
	opts.MaxCalls = max(opts.MaxCalls, maxRosterPages)
	return &TeamSource{c: c, teams: opts.Teams, ttl: opts.TTL, maxCalls: opts.MaxCalls, rosters: map[string]*roster{}}
}

// Name returns TeamSourceName.
func (s *TeamSource) Name() string { return TeamSourceName }

// Person ranks, lower first: the order in which a tight budget is spent.
const (
	rankReviewer = iota
	rankVoter
	rankAuthor
)

// membershipCheck is one (team, user) pair due for an answer.
type membershipCheck struct {
	team, org, slug, user string
	rank                  int
	checked               bool // an earlier answer exists, only expired
}

// Gather returns one EventMembership event per membership due (see
// TeamSource), each checked at the time its team's list was read. The
// evidence must have a pull request snapshot for anyone but voters and
// reviewers to be known; without one it returns nothing.
func (s *TeamSource) Gather(ctx context.Context, ev *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	if ev == nil {
		return nil, fmt.Errorf("gathering team memberships: %w: nil evidence", gatekeeper.ErrInvalid)
	}
	key := ev.Key
	if !key.Valid() && ev.PR != nil {
		key = ev.PR.Key
	}
	if !key.Valid() {
		return nil, fmt.Errorf("gathering team memberships: %w pull request key %+v", gatekeeper.ErrInvalid, key)
	}
	now := s.c.clock.Now()
	checks := s.due(ctx, ev, now)

	// Teams in the order of their first due pair (budget order).
	var order []string
	byTeam := map[string][]membershipCheck{}
	for _, mc := range checks {
		if byTeam[mc.team] == nil {
			order = append(order, mc.team)
		}
		byTeam[mc.team] = append(byTeam[mc.team], mc)
	}
	var events []gatekeeper.Event
	calls, deferred := 0, 0
	for _, team := range order {
		pairs := byTeam[team]
		r, n, err := s.roster(ctx, pairs[0], now, s.maxCalls-calls)
		calls += n
		if errors.Is(err, errBudgetSpent) {
			deferred += len(pairs)
			continue
		}
		if err != nil {
			return events, fmt.Errorf("reading the members of %s: %w", team, err)
		}
		for _, mc := range pairs {
			m := gatekeeper.Membership{Team: team, User: mc.user, Active: r.has(mc.user), CheckedAt: r.readAt}
			if old, ok := ev.Memberships[m.Key()]; ok && old.Active == m.Active && old.CheckedAt.Equal(m.CheckedAt) {
				// The very answer the evidence holds (a 404 list
				// standing longer than the TTL): nothing new.
				continue
			}
			events = append(events, gatekeeper.Event{Name: EventMembership, Received: now, Key: key, Membership: &m})
		}
	}
	if deferred > 0 {
		s.c.log.LogAttrs(ctx, slog.LevelWarn, "team membership checks deferred to the next gather",
			slog.String("pr", key.String()), slog.Int("deferred", deferred), slog.Int("max_calls", s.maxCalls))
	}
	return events, nil
}

// has reports whether user is on the list.
func (l teamList) has(user string) bool { return l.members[strings.ToLower(user)] }

// negativeTTLFactor is how many TTLs GitHub's 404 for a team's list (the
// team does not exist, or the token cannot see it: nobody holds its role)
// stands. A 404 carries no ETag, so each re-read costs rate limit, where
// an unchanged list is a free 304; a stale "nobody" only makes a role wait.
const negativeTTLFactor = 3

// fresh reports whether m may stand at now without asking GitHub again.
func (s *TeamSource) fresh(m gatekeeper.Membership, now time.Time) bool {
	return now.Sub(m.CheckedAt) < s.ttl
}

// maxRosters bounds the team lists kept: a policy names a handful.
const maxRosters = 256

// maxRosterPages bounds the pages of one team's list (100 members a page):
// a release role held by more than 1,000 people is no release role. Past
// it the read fails rather than answer from part of the list.
const maxRosterPages = 10

// errBudgetSpent: the Gather's calls are spent; the team waits for the
// next Gather.
var errBudgetSpent = errors.New("membership budget spent")

// roster returns mc.team's list as of a read younger than the TTL (three
// TTLs for a 404), reading it from GitHub when there is none, spending at
// most budget calls; n is the calls made.
func (s *TeamSource) roster(ctx context.Context, mc membershipCheck, now time.Time, budget int) (l teamList, n int, err error) {
	s.mu.Lock()
	r := s.rosters[mc.team]
	if r == nil {
		if len(s.rosters) >= maxRosters {
			for k := range s.rosters { // forget one: it is read again, the safe direction
				delete(s.rosters, k)
				break
			}
		}
		r = &roster{}
		s.rosters[mc.team] = r
	}
	s.mu.Unlock()

	r.mu.Lock()
	defer r.mu.Unlock()
	ttl := s.ttl
	if !r.last.visible {
		ttl *= negativeTTLFactor
	}
	if r.read && now.Sub(r.last.readAt) < ttl && !r.last.readAt.After(now) {
		return r.last, 0, nil
	}
	members, visible, n, err := s.list(ctx, mc.org, mc.slug, budget)
	if err != nil {
		return teamList{}, n, err
	}
	r.read, r.last = true, teamList{members: members, visible: visible, readAt: now}
	return r.last, n, nil
}

// list reads the member list of org/slug, page by page (each page a
// conditional GET: unchanged, a free 304). A 404 is an empty, invisible
// list, not an error.
func (s *TeamSource) list(ctx context.Context, org, slug string, budget int) (members map[string]bool, visible bool, n int, err error) {
	members = map[string]bool{}
	opts := &github.TeamListTeamMembersOptions{Role: "all", ListOptions: github.ListOptions{PerPage: perPage}}
	for pages := 1; ; pages++ {
		if n >= budget {
			return nil, false, n, errBudgetSpent
		}
		var page []*github.User
		var next int
		n++
		err := s.c.do(ctx, EndpointListTeamMembers, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			page, resp, err = gh.Teams.ListTeamMembersBySlug(ctx, org, slug, opts)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if notFound(err) {
			return map[string]bool{}, false, n, nil
		}
		if err != nil {
			return nil, false, n, err
		}
		for _, u := range page {
			if login := u.GetLogin(); login != "" {
				members[strings.ToLower(login)] = true
			}
		}
		if next == 0 {
			return members, true, n, nil
		}
		if next <= opts.Page {
			return nil, false, n, fmt.Errorf("pagination did not end after page %d", max(opts.Page, 1))
		}
		if pages >= maxRosterPages {
			return nil, false, n, fmt.Errorf("more than %d members (%d pages): a partial list is no answer", maxRosterPages*perPage, maxRosterPages)
		}
		opts.Page = next
	}
}

// due lists the (team, user) pairs to check, in budget order.
func (s *TeamSource) due(ctx context.Context, ev *gatekeeper.Evidence, now time.Time) []membershipCheck {
	head := ev.HeadSHA()
	if head == "" || s.teams == nil {
		return nil
	}
	people := map[string]int{} // user → best rank
	add := func(user string, rank int) {
		if user == "" || strings.HasSuffix(user, "[bot]") {
			return
		}
		if r, ok := people[user]; !ok || rank < r {
			people[user] = rank
		}
	}
	for _, r := range ev.LatestReviews() {
		// A change request holds whatever commit it was made on, until
		// its author approves again or it is dismissed, so its author's
		// role matters as much as a head reviewer's.
		if r.CommitID == head || r.State == "CHANGES_REQUESTED" {
			add(r.User, rankReviewer)
		}
	}
	for _, v := range ev.Votes() {
		if v.HeadSHA == head {
			add(v.User, rankVoter)
		}
	}
	// A NOGO stands across pushes, so its author's roles matter on every
	// head, and so do the roles of whoever tries to lift it.
	for _, n := range ev.Nogos() {
		add(n.User, rankVoter)
		for _, l := range n.Lifts {
			add(l.User, rankVoter)
		}
	}
	for _, l := range ev.Lifts() {
		if l.HeadSHA == head {
			add(l.User, rankVoter)
		}
	}
	add(ev.PR.Author, rankAuthor)

	var out []membershipCheck
	for _, team := range s.teamList(ctx) {
		org, slug, _ := strings.Cut(team, "/")
		for user, rank := range people {
			m, ok := ev.Memberships[gatekeeper.Membership{Team: team, User: user}.Key()]
			if ok && s.fresh(m, now) {
				continue
			}
			out = append(out, membershipCheck{team: team, org: org, slug: slug, user: user, rank: rank, checked: ok})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.checked != b.checked {
			return !a.checked
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if a.user != b.user {
			return a.user < b.user
		}
		return a.team < b.team
	})
	return out
}

// teamName is an "org/team-slug" pair as GitHub spells logins and slugs
// (letters, digits, hyphens; underscores on GitHub Enterprise Server). It
// keeps "..", "/" and "?" out of the request path.
var teamName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*/[A-Za-z0-9_-]+$`)

// teamList returns the distinct well-formed team names of TeamsFunc. A
// malformed one is logged and skipped: it could only make a wrong URL, and
// the role it names then waits, which is the safe direction.
func (s *TeamSource) teamList(ctx context.Context) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range s.teams() {
		t = strings.TrimSpace(t)
		if seen[t] {
			continue
		}
		seen[t] = true
		if !teamName.MatchString(t) {
			s.c.log.LogAttrs(ctx, slog.LevelWarn, "ignoring malformed team name; want org/team-slug", slog.String("team", t))
			continue
		}
		out = append(out, t)
	}
	return out
}
