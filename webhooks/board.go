package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// BoardService is what the GO/NOGO board needs beyond Service;
// *gatekeeper.Service implements it. A Service without it serves no board.
type BoardService interface {
	// OpenPulls returns the view of every open release pull request.
	OpenPulls(ctx context.Context, history int) ([]*gatekeeper.PullView, error)
	// OpenGated says whether the board lists a pull request.
	OpenGated(ev *gatekeeper.Evidence) bool
}

var _ BoardService = (*gatekeeper.Service)(nil)

// zone is the release window's time zone: every time a page shows is in
// it, so that a page reads like the 16:00 IST meeting it serves.
type zone struct {
	Loc   *time.Location
	Label string // "IST"; empty: the zone's own abbreviation
}

// zoneOf is the window's zone of the policy in force, UTC when the policy
// names none or one this system does not know.
func zoneOf(st opa.Settings) zone {
	loc, err := time.LoadLocation(st.Window.Timezone)
	if st.Window.Timezone == "" || err != nil {
		return zone{Loc: time.UTC, Label: "UTC"}
	}
	return zone{Loc: loc, Label: st.Window.ZoneLabel}
}

// label names the zone at t.
func (z zone) label(t time.Time) string {
	if z.Label != "" {
		return z.Label
	}
	return t.In(z.loc()).Format("MST")
}

func (z zone) loc() *time.Location {
	if z.Loc == nil {
		return time.UTC
	}
	return z.Loc
}

// when formats t in the zone, "—" for the zero time.
func when(z zone, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(z.loc()).Format("2006-01-02 15:04:05") + " " + z.label(t)
}

// clock formats t as "16:00 IST".
func (z zone) clock(t time.Time) string {
	return t.In(z.loc()).Format("15:04") + " " + z.label(t)
}

// countdown is one of the window's moments as the board shows it.
type countdown struct {
	Name string    // "Go/NoGo", "Release"
	At   time.Time // zero: the policy names no such time
	// Clock is At as "16:00 IST" (the script counts down from it).
	Clock string
	Text  string // "16:00 IST, in 2h 05m"
	// Past is true once At has passed (today's meeting has begun).
	Past bool
}

// windowView is the release window of the policy in force, as of now.
type windowView struct {
	Enforced bool
	Day      string // "today", "Monday 7 December"
	GoNoGo   countdown
	Release  countdown
	// Open says the release window is open now, until Close.
	Open  bool
	Close string
	Zone  zone
}

// parseClock reads "16:00" on day d in loc.
func parseClock(d time.Time, hhmm string, loc *time.Location) (time.Time, bool) {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		return time.Time{}, false
	}
	return time.Date(d.Year(), d.Month(), d.Day(), t.Hour(), t.Minute(), 0, 0, loc), true
}

// newWindow finds the next window day (today while the window has not
// closed yet) and the Go/NoGo meeting and release times on it.
func newWindow(st opa.Settings, z zone, now time.Time) windowView {
	w := st.Window
	v := windowView{Enforced: w.Enforce, Zone: z}
	loc := z.loc()
	local := now.In(loc)
	days := map[string]bool{}
	for _, d := range w.Weekdays {
		days[strings.ToLower(d)] = true
	}
	for i := 0; i < 8; i++ {
		d := local.AddDate(0, 0, i)
		if len(days) > 0 && !days[strings.ToLower(d.Weekday().String())] {
			continue
		}
		end, ok := parseClock(d, w.Close, loc)
		if !ok {
			end, ok = parseClock(d, w.Release, loc)
		}
		if ok && !now.Before(end) {
			continue // this day's window has closed
		}
		switch i {
		case 0:
			v.Day = "today"
		case 1:
			v.Day = "tomorrow"
		default:
			v.Day = d.Format("Monday 2 January")
		}
		v.GoNoGo = newCountdown("Go/NoGo", d, w.GoNoGo, z, now)
		v.Release = newCountdown("Release", d, w.Release, z, now)
		if c, ok := parseClock(d, w.Close, loc); ok {
			v.Close = z.clock(c)
			v.Open = v.Release.Past && now.Before(c)
		}
		return v
	}
	return v
}

func newCountdown(name string, d time.Time, hhmm string, z zone, now time.Time) countdown {
	at, ok := parseClock(d, hhmm, z.loc())
	if !ok {
		return countdown{Name: name, Text: "not set in the policy"}
	}
	c := countdown{Name: name, At: at, Past: !now.Before(at), Clock: z.clock(at)}
	if c.Past {
		c.Text = z.clock(at) + ", " + span(now.Sub(at)) + " ago"
	} else {
		c.Text = z.clock(at) + ", in " + span(at.Sub(now))
	}
	return c
}

// span says a duration to the minute: "2h 05m", "12m", "3d 4h".
func span(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	switch {
	case m >= 24*60:
		return fmt.Sprintf("%dd %dh", m/(24*60), m%(24*60)/60)
	case m >= 60:
		return fmt.Sprintf("%dh %02dm", m/60, m%60)
	}
	return fmt.Sprintf("%dm", m)
}

// holderCell is what one holder of a role did on the pull request.
type holderCell struct {
	User string
	// Approved: their latest review approves the head; Author: they
	// wrote the pull request, so their approval does not count.
	Approved, Author bool
	// Vote is "go", "nogo" or "" with its Reason; VoteCurrent says it was
	// cast on the head (a NOGO stands across pushes: Standing).
	Vote, Reason          string
	VoteCurrent, Standing bool
	// Veto: a NOGO by a holder of a veto role, not lifted.
	Veto bool
	// LiftedBy names who lifted the NOGO (a lift the policy counted).
	LiftedBy string
}

// roleRow is one release role with its holders known to the gatekeeper.
type roleRow struct {
	ID, Display          string
	Required, Quorum     bool
	Veto                 bool
	Approved, GoOnHead   bool // some holder approved the head / voted GO on it
	Holders              []holderCell
	Team                 string
	TeamMembersUnchecked bool // team members are known only once they review or vote
}

// uncounted is a vote the policy does not count, with why.
type uncounted struct {
	User, Vote, Reason, Why string
}

// matrix is the role × holder matrix of one pull request.
type matrix struct {
	Roles      []roleRow
	NotCounted []uncounted
	// Known is false when the policy in force has no roles (none loaded).
	Known bool
}

// holders returns, per role id, the people known to hold it: its users,
// and the members of its team the gatekeeper checked (it checks the
// people who reviewed or voted).
func holders(st opa.Settings, ev *gatekeeper.Evidence) map[string][]string {
	out := map[string][]string{}
	for _, r := range st.Approvals.Roles {
		seen := map[string]bool{}
		add := func(u string) {
			if u != "" && !seen[strings.ToLower(u)] {
				seen[strings.ToLower(u)] = true
				out[r.ID] = append(out[r.ID], u)
			}
		}
		for _, u := range r.Users {
			add(u)
		}
		if r.Team != "" {
			var members []string
			for _, m := range ev.Memberships {
				if m.Active && strings.EqualFold(m.Team, r.Team) {
					members = append(members, m.User)
				}
			}
			slices.Sort(members)
			for _, u := range members {
				add(u)
			}
		}
	}
	return out
}

// newMatrix arranges the roles of the policy in force against what their
// holders did on ev; latest is the latest decision, whose vote verdicts
// say which votes the policy counted.
func newMatrix(st opa.Settings, ev *gatekeeper.Evidence, latest *gatekeeper.DecisionRecord) matrix {
	m := matrix{Known: len(st.Approvals.Roles) > 0}
	head := ev.HeadSHA()
	author := ""
	if ev.PR != nil {
		author = ev.PR.Author
	}
	approved := map[string]bool{}
	for _, r := range ev.LatestReviews() {
		if head != "" && r.CommitID == head && gatekeeper.NormalizeReviewState(r.State) == "APPROVED" {
			approved[strings.ToLower(r.User)] = true
		}
	}
	verdicts := map[int64]gatekeeper.VoteVerdict{}
	if latest != nil {
		for _, v := range latest.Decision.Votes {
			verdicts[v.CommentID] = v
		}
	}
	// A standing NOGO the policy counted a lift of is lifted: no veto.
	standing, lifted := map[int64]bool{}, map[int64]string{}
	for _, n := range ev.Nogos() {
		standing[n.CommentID] = true
		for _, l := range n.Lifts {
			if verdicts[l.CommentID].Verdict == "counted" {
				lifted[n.CommentID] = l.User
			}
		}
	}
	votes := map[string]gatekeeper.Vote{}
	for _, v := range ev.Votes() {
		votes[strings.ToLower(v.User)] = v
	}
	quorum, veto := map[string]bool{}, map[string]bool{}
	for _, id := range st.Votes.QuorumRoles {
		quorum[id] = true
	}
	for _, id := range st.Votes.VetoRoles {
		veto[id] = true
	}
	hs := holders(st, ev)
	holdsRole := map[string]bool{}
	for _, r := range st.Approvals.Roles {
		row := roleRow{ID: r.ID, Display: r.Display, Required: r.Required == nil || *r.Required,
			Quorum: quorum[r.ID], Veto: veto[r.ID], Team: r.Team, TeamMembersUnchecked: r.Team != ""}
		if row.Display == "" {
			row.Display = r.ID
		}
		for _, u := range hs[r.ID] {
			lu := strings.ToLower(u)
			holdsRole[lu] = true
			c := holderCell{User: u, Author: strings.EqualFold(u, author)}
			c.Approved = approved[lu] && !c.Author
			if v, ok := votes[lu]; ok && v.Refused == "" && verdicts[v.CommentID].Verdict != "refused" {
				c.Vote, c.Reason = v.Vote, v.Reason
				c.VoteCurrent = head != "" && v.HeadSHA == head
				c.Standing = standing[v.CommentID]
				c.LiftedBy = lifted[v.CommentID]
				c.Veto = v.Vote == "nogo" && row.Veto && (c.VoteCurrent || c.Standing) && c.LiftedBy == ""
			}
			row.Approved = row.Approved || c.Approved
			row.GoOnHead = row.GoOnHead || (c.Vote == "go" && c.VoteCurrent)
			row.Holders = append(row.Holders, c)
		}
		m.Roles = append(m.Roles, row)
	}
	for _, v := range ev.Votes() {
		lu := strings.ToLower(v.User)
		verdict := verdicts[v.CommentID]
		switch {
		case v.Refused != "":
			m.NotCounted = append(m.NotCounted, uncounted{User: v.User, Vote: v.Vote, Reason: v.Reason, Why: v.Refused})
		case verdict.Verdict == "refused":
			m.NotCounted = append(m.NotCounted, uncounted{User: v.User, Vote: v.Vote, Reason: v.Reason, Why: verdict.Why})
		case m.Known && !holdsRole[lu] && verdict.Verdict != "counted":
			m.NotCounted = append(m.NotCounted, uncounted{User: v.User, Vote: v.Vote, Reason: v.Reason, Why: "holds no release role the gatekeeper knows of"})
		}
	}
	return m
}

// stageCell is one release stage of the head's build.
type stageCell struct {
	Key, Display string
	// Status is the worst status of the Jenkins stages mapped onto it,
	// "" when the build has none (or there is no build).
	Status string
	// Class is the pill's colour: ok, bad, state-pending or "".
	Class string
}

// stageRank orders stage statuses from best to worst: the worst of the
// Jenkins stages mapped onto one release stage is its status.
func stageRank(s string) int {
	switch s {
	case gatekeeper.StageSuccess:
		return 1
	case gatekeeper.StageInProgress, gatekeeper.StagePausedInput:
		return 2
	case gatekeeper.StageSkipped, gatekeeper.StageNotExecuted:
		return 3
	case gatekeeper.StageUnstable:
		return 4
	case "":
		return 0
	}
	return 5 // FAILED, ABORTED, anything unknown
}

// newStrip shows the release stages of the policy in force, in order,
// with the build's status of each.
func newStrip(st opa.Settings, b *gatekeeper.Build) []stageCell {
	byName := map[string]string{}
	for _, s := range st.Build.Stages {
		for _, n := range s.Jenkins {
			byName[strings.ToLower(n)] = s.Key
		}
	}
	status := map[string]string{}
	if b != nil {
		for _, s := range b.Stages {
			key := byName[strings.ToLower(s.Name)]
			if key == "" {
				key = s.Key
			}
			if key != "" && stageRank(s.Status) > stageRank(status[key]) {
				status[key] = s.Status
			}
		}
	}
	var out []stageCell
	for _, s := range st.Build.Stages {
		c := stageCell{Key: s.Key, Display: s.Display, Status: status[s.Key]}
		if c.Display == "" {
			c.Display = s.Key
		}
		switch stageRank(c.Status) {
		case 1:
			c.Class = "ok"
		case 2:
			c.Class = "state-pending"
		case 0, 3:
			c.Class = ""
		default:
			c.Class = "bad"
		}
		out = append(out, c)
	}
	return out
}

// boardRow is one release pull request on the board.
type boardRow struct {
	Key               gatekeeper.PullKey
	PR                *gatekeeper.PullRequest
	State, StateWords string
	Latest            *gatekeeper.DecisionRecord
	Queued            bool
	Matrix            matrix
	Stages            []stageCell
	Build             *gatekeeper.Build
	Coverage          *float64 // line coverage of the head's build
	BaseCoverage      *float64 // the base branch's latest good build's
	Vulns             *gatekeeper.VulnCounts
	Chart             string
	Channel           string
	Zone              zone
	Window            windowView
}

// CoverageDelta is the head's line coverage minus the base branch's, in
// points; nil when either is unknown.
func (r boardRow) CoverageDelta() *float64 {
	if r.Coverage == nil || r.BaseCoverage == nil {
		return nil
	}
	d := *r.Coverage - *r.BaseCoverage
	return &d
}

// RowID is the row's HTML id, the same on the page and in the events.
func (r boardRow) RowID() string { return rowID(r.Key) }

func rowID(k gatekeeper.PullKey) string {
	return fmt.Sprintf("pr-%s-%s-%d", k.Owner, k.Repo, k.Number)
}

func newBoardRow(v *gatekeeper.PullView, st opa.Settings, z zone, now time.Time) boardRow {
	ev := v.Evidence
	if ev == nil {
		ev = &gatekeeper.Evidence{Key: v.Key}
	}
	r := boardRow{Key: v.Key, PR: ev.PR, Latest: v.Latest, Queued: v.Queued, State: "none", StateWords: stateWords(""), Zone: z, Window: newWindow(st, z, now)}
	if v.Latest != nil {
		r.State = string(v.Latest.Decision.State)
		r.StateWords = stateWords(v.Latest.Decision.State)
		r.Channel = v.Latest.Decision.Channel
	}
	r.Matrix = newMatrix(st, ev, v.Latest)
	b := ev.CurrentBuild()
	r.Build = b
	r.Stages = newStrip(st, b)
	if b != nil {
		if b.Coverage != nil {
			l := b.Coverage.Line
			r.Coverage = &l
		}
		r.Vulns = b.Vulnerabilities
		r.Chart = b.ChartVersion
	}
	if ev.Baseline != nil && ev.Baseline.Coverage != nil {
		l := ev.Baseline.Coverage.Line
		r.BaseCoverage = &l
	}
	return r
}

// boardPage is the GO/NOGO board's data.
type boardPage struct {
	Rows   []boardRow
	Window windowView
	Zone   zone
	Drawn  time.Time
	Viewer viewer
	// Hidden counts the repositories whose access GitHub could not confirm
	// just now: their rows are left out, and the page says so.
	Hidden int
	// Policy is the short revision of the policy in force.
	Policy string
}

// settings returns the policy settings in force, the zero value without a
// provider.
func (s *server) settings() opa.Settings {
	if s.policySettings == nil {
		return opa.Settings{}
	}
	return s.policySettings()
}

// readable says whether the viewer may read owner/repo without answering
// the request (the board filters a list); see mayRead for the answers.
// cache keeps the verdicts of one request or stream.
func (s *server) readable(ctx context.Context, v viewer, owner, repo string, cache map[string]bool) (bool, error) {
	if s.auth.mode != AuthGitHub {
		return true, nil
	}
	if v.token == "" {
		return false, gatekeeper.ErrUnauthorized
	}
	k := strings.ToLower(owner + "/" + repo)
	if ok, seen := cache[k]; seen {
		return ok, nil
	}
	ok, err := s.auth.gh.CanRead(ctx, v.token, owner, repo)
	if err != nil {
		return false, err
	}
	cache[k] = ok
	return ok, nil
}

// board answers GET /, the GO/NOGO board: every open release pull request
// the viewer may read.
func (s *server) board(c *gin.Context) {
	ctx := c.Request.Context()
	bs, ok := s.svc.(BoardService)
	if !ok {
		s.render(c, http.StatusNotFound, "error.html", errorPage{Code: http.StatusNotFound, Title: "No board", Message: "This gatekeeper serves no board."})
		return
	}
	views, err := bs.OpenPulls(ctx, 1)
	if err != nil {
		s.log.ErrorContext(ctx, "loading the board", "err", err.Error())
		s.render(c, http.StatusServiceUnavailable, "error.html", errorPage{Code: http.StatusServiceUnavailable, Title: "Unavailable",
			Message: "The release gatekeeper cannot read its store right now; try again shortly."})
		return
	}
	st := s.settings()
	z := zoneOf(st)
	now := s.auth.now()
	p := boardPage{Zone: z, Drawn: now, Viewer: viewerOf(c), Window: newWindow(st, z, now), Policy: st.Revision}
	cache := map[string]bool{}
	hidden := map[string]bool{}
	for _, v := range views {
		ok, err := s.readable(ctx, p.Viewer, v.Key.Owner, v.Key.Repo, cache)
		if errors.Is(err, gatekeeper.ErrUnauthorized) {
			if p.Viewer.fromCookie {
				s.auth.setCookie(c, sessionCookie, "", -1)
			}
			s.signInFirst(c, false)
			return
		}
		if err != nil {
			s.log.ErrorContext(ctx, "checking repository access", "repo", v.Key.Owner+"/"+v.Key.Repo, "err", err.Error())
			hidden[strings.ToLower(v.Key.Owner+"/"+v.Key.Repo)] = true
			continue
		}
		if ok {
			p.Rows = append(p.Rows, newBoardRow(v, st, z, now))
		}
	}
	p.Hidden = len(hidden)
	s.renderCSP(c, http.StatusOK, "board.html", p, boardCSP)
}

// boardCSP lets the board run its one script (board.js, from this
// server) and open its event stream; nothing else.
const boardCSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"

// rowEvent is one server-sent event of the board: the row of Key drawn
// anew, or HTML "" when the board no longer lists it.
type rowEvent struct {
	ID   string `json:"id"`
	Key  string `json:"key"`
	HTML string `json:"html"`
}

// heartbeat keeps an idle stream open through proxies that close quiet
// connections.
var heartbeat = 20 * time.Second

// resyncEvery is how often a stream compares every row with the store,
// for the decisions its Hub does not carry (those of other replicas).
var resyncEvery = 10 * time.Second

// signature says what a row was drawn from: the evidence version, the
// latest decision and whether it is queued.
func signature(pv *gatekeeper.PullView) string {
	sig := fmt.Sprintf("q%v", pv.Queued)
	if pv.Evidence != nil {
		sig += fmt.Sprintf(" v%d", pv.Evidence.Version)
	}
	if pv.Latest != nil {
		sig += fmt.Sprintf(" %d %s", pv.Latest.EvaluatedAt.UnixNano(), pv.Latest.Decision.State)
	}
	return sig
}

// boardEvents answers GET /board/events: a server-sent event stream with
// every row of the board drawn anew when connected, then each row again
// within moments of a new decision about it, only for repositories the
// viewer may read.
func (s *server) boardEvents(c *gin.Context) {
	ctx := c.Request.Context()
	bs, ok := s.svc.(BoardService)
	if !ok || s.hub == nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "This gatekeeper serves no live board."})
		return
	}
	v := viewerOf(c)
	// The stream outlives the server's write timeout; nothing else does.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
	sub, cancel := s.hub.subscribe()
	defer cancel()
	c.Header("Content-Type", "text/event-stream")
	c.Header("Cache-Control", "private, no-store")
	c.Header("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	cache := map[string]bool{}
	checked := time.Now()
	// sent is what each row on the viewer's board was drawn from.
	sent := map[gatekeeper.PullKey]string{}
	send := func(name string, data any) bool {
		b, err := json.Marshal(data)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(c.Writer, "event: %s\ndata: %s\n\n", name, b); err != nil {
			return false
		}
		c.Writer.Flush()
		return true
	}
	row := func(key gatekeeper.PullKey) bool {
		if time.Since(checked) > 5*time.Minute {
			// Access changes: ask GitHub again now and then.
			clear(cache)
			checked = time.Now()
		}
		ok, err := s.readable(ctx, v, key.Owner, key.Repo, cache)
		if err != nil {
			return !errors.Is(err, gatekeeper.ErrUnauthorized) // a refused token ends the stream
		}
		if !ok {
			return true
		}
		pv, err := s.svc.Pull(ctx, key, 1)
		if err != nil {
			if errors.Is(err, gatekeeper.ErrNotFound) {
				delete(sent, key)
				return send("row", rowEvent{ID: rowID(key), Key: key.String()})
			}
			s.log.ErrorContext(ctx, "board event", "pr", key.String(), "err", err.Error())
			return true
		}
		sent[key] = signature(pv)
		ev := rowEvent{ID: rowID(key), Key: key.String()}
		if pv.Evidence == nil || !bs.OpenGated(pv.Evidence) {
			delete(sent, key)
		} else {
			st := s.settings()
			var buf bytes.Buffer
			if err := s.pages.ExecuteTemplate(&buf, "boardrow", newBoardRow(pv, st, zoneOf(st), s.auth.now())); err != nil {
				s.log.ErrorContext(ctx, "rendering a board row", "err", err.Error())
				return true
			}
			ev.HTML = buf.String()
		}
		return send("row", ev)
	}
	// resync redraws every row whose evidence or decision changed since
	// it was sent, and removes the rows that left the board: what the Hub
	// did not carry (a decision another replica made, a notice dropped)
	// still arrives.
	resync := func() bool {
		views, err := bs.OpenPulls(ctx, 1)
		if err != nil {
			s.log.ErrorContext(ctx, "board resync", "err", err.Error())
			return true
		}
		listed := map[gatekeeper.PullKey]bool{}
		for _, pv := range views {
			listed[pv.Key] = true
			if sig, ok := sent[pv.Key]; ok && sig == signature(pv) {
				continue
			}
			if !row(pv.Key) {
				return false
			}
		}
		for key := range sent {
			if !listed[key] && !row(key) {
				return false
			}
		}
		return true
	}
	// What was decided between the page and this stream is not lost: the
	// stream starts with every row.
	if !resync() || !send("ready", gin.H{"rows": len(sent)}) {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	poll := time.NewTicker(resyncEvery)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.hub.done():
			return
		case <-sub.lost:
			send("reload", gin.H{})
			return
		case key := <-sub.keys:
			if !row(key) {
				return
			}
		case <-poll.C:
			if !resync() {
				return
			}
		case <-tick.C:
			if _, err := fmt.Fprint(c.Writer, ": keep-alive\n\n"); err != nil {
				return
			}
			c.Writer.Flush()
		}
	}
}

// boardJS serves the board's script.
func (s *server) boardJS(c *gin.Context) {
	b, err := templateFS.ReadFile("templates/board.js")
	if err != nil {
		c.Status(http.StatusNotFound)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "text/javascript; charset=utf-8", b)
}
