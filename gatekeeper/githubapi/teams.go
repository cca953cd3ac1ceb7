package githubapi

import (
	"context"
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
	// primary limit; four roles times a dozen people fit in one Gather.
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
	// TTL is how long a checked membership stands before it is checked
	// again (default DefaultMembershipTTL).
	TTL time.Duration
	// MaxCalls bounds the GitHub calls of one Gather (default
	// DefaultMaxMembershipCalls); see TeamSource for what happens past it.
	MaxCalls int
}

// TeamSource checks the GitHub team memberships the release policy needs to
// tell who holds a release role
// (GET /orgs/{org}/teams/{team_slug}/memberships/{username}). It is safe for
// concurrent use.
//
// Whom it checks: every team TeamsFunc names, for every person whose role
// matters to the current head: reviewers whose latest review is on the
// head, reviewers whose latest review requests changes on any commit (it
// blocks until they approve again, and only a role holder's request may
// block), people whose vote was cast on the head, and the author. Bots
// ("name[bot]") cannot be team members and are never checked. A
// membership in ev.Memberships checked less than TTL ago (three TTLs for
// "not a member", see negativeTTLFactor) is not checked again, and neither
// is one another pull request's Gather checked that recently: answers are
// shared per team and user, so the same reviewers on many pull requests
// cost one check per TTL, not one per pull request. Only state "active" is membership: a pending invitation is not,
// and GitHub's 404 means "not a member" (Active false), which is an answer,
// not an error. GitHub also answers 404 for a team that does not exist or
// that the token cannot see (it needs read:org), so a misspelt team in the
// policy data reads as "nobody is a member": the role waits, never passes.
//
// It is a Source of its own, not part of Source, because its rhythm is
// different: Source asks GitHub once per MaxAge, while a new reviewer or
// voter must be checked in the very evaluation their webhook causes; and a
// token without read:org then shows as "github-teams unavailable" without
// making the pull request facts look unavailable too.
//
// Budget: one Gather makes at most MaxCalls calls, serially (GitHub asks
// integrations not to make concurrent requests, to stay clear of the
// secondary rate limit). Never-checked pairs go first, then expired ones;
// within each, reviewers before voters before the author. Pairs past the
// budget are left for the next Gather (the next event or the Service's
// reconcile pass): until then a never-checked person holds no role, so the
// policy waits, and an expired membership keeps its last answer.
//
// Rate limits are not waited for (as for Source). When a call fails,
// Gather returns the memberships it did check, which are facts, together
// with the error.
type TeamSource struct {
	c        *Client
	teams    TeamsFunc
	ttl      time.Duration
	maxCalls int
	// known is GitHub's last answer per team and user, shared by every
	// pull request: the same release managers review dozens of them,
	// and each membership is asked once per TTL, not once per pull
	// request and TTL.
	known *memberships
}

// NewTeamSource returns a TeamSource that reads through c.
func NewTeamSource(c *Client, opts TeamSourceOptions) *TeamSource {
	if opts.TTL <= 0 {
		opts.TTL = DefaultMembershipTTL
	}
	if opts.MaxCalls <= 0 {
		opts.MaxCalls = DefaultMaxMembershipCalls
	}
	return &TeamSource{c: c, teams: opts.Teams, ttl: opts.TTL, maxCalls: opts.MaxCalls, known: newMemberships(maxKnownMemberships)}
}

// Name returns TeamSourceName.
func (s *TeamSource) Name() string { return TeamSourceName }

// Person ranks, lower first: the order in which a tight budget is spent.
const (
	rankReviewer = iota
	rankVoter
	rankAuthor
)

// membershipCheck is one (team, user) pair due for a check.
type membershipCheck struct {
	team, org, slug, user string
	rank                  int
	checked               bool // an earlier answer exists, only expired
}

// Gather returns one EventMembership event per membership it checked (see
// TeamSource). The evidence must have a pull request snapshot for anyone
// but voters and reviewers to be known; without one it returns nothing.
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

	var events []gatekeeper.Event
	calls, deferred := 0, 0
	for _, mc := range checks {
		// Another pull request's gather may have asked GitHub already.
		if m, ok := s.known.get(mc.team, mc.user); ok && s.fresh(m, now) {
			events = append(events, gatekeeper.Event{Name: EventMembership, Received: now, Key: key, Membership: &m})
			continue
		}
		if calls >= s.maxCalls {
			deferred++
			continue
		}
		calls++
		active, err := s.member(ctx, mc)
		if err != nil {
			return events, fmt.Errorf("checking membership of %s in %s: %w", mc.user, mc.team, err)
		}
		m := gatekeeper.Membership{Team: mc.team, User: mc.user, Active: active, CheckedAt: now}
		s.known.put(m)
		events = append(events, gatekeeper.Event{Name: EventMembership, Received: now, Key: key, Membership: &m})
	}
	if deferred > 0 {
		s.c.log.LogAttrs(ctx, slog.LevelWarn, "team membership checks deferred to the next gather",
			slog.String("pr", key.String()), slog.Int("due", calls+deferred), slog.Int("max_calls", s.maxCalls))
	}
	return events, nil
}

// negativeTTLFactor is how many TTLs a "not a member" answer stands. A
// stale "no" only makes a role wait (someone just added to a team is
// recognised later), while a stale "yes" would let a person who left the
// team pass the gate; and GitHub's 404 carries no ETag, so each re-check
// of a "no" costs rate limit where an unchanged "yes" is a free 304.
const negativeTTLFactor = 3

// fresh reports whether m may stand at now without asking GitHub again.
func (s *TeamSource) fresh(m gatekeeper.Membership, now time.Time) bool {
	ttl := s.ttl
	if !m.Active {
		ttl *= negativeTTLFactor
	}
	return now.Sub(m.CheckedAt) < ttl
}

// maxKnownMemberships bounds the shared membership answers: a hundred
// people in a few dozen teams fit many times over.
const maxKnownMemberships = 20000

// memberships is a bounded map of membership answers by team and user,
// safe for concurrent use. When full, it forgets the oldest answer (which
// is then asked again: the safe direction).
type memberships struct {
	mu  sync.Mutex
	max int
	m   map[string]gatekeeper.Membership
}

func newMemberships(max int) *memberships {
	return &memberships{max: max, m: map[string]gatekeeper.Membership{}}
}

func (k *memberships) get(team, user string) (gatekeeper.Membership, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, ok := k.m[gatekeeper.Membership{Team: team, User: user}.Key()]
	return m, ok
}

func (k *memberships) put(m gatekeeper.Membership) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.m) >= k.max {
		oldest := ""
		for key, v := range k.m {
			if oldest == "" || v.CheckedAt.Before(k.m[oldest].CheckedAt) {
				oldest = key
			}
		}
		delete(k.m, oldest)
	}
	k.m[m.Key()] = m
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

// member asks GitHub whether mc.user is an active member of mc.team.
func (s *TeamSource) member(ctx context.Context, mc membershipCheck) (bool, error) {
	var m *github.Membership
	err := s.c.do(ctx, EndpointGetTeamMembership, failOnLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		m, resp, err = gh.Teams.GetTeamMembershipBySlug(ctx, mc.org, mc.slug, mc.user)
		return resp, err
	})
	if notFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return m.GetState() == "active", nil
}
