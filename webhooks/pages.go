package webhooks

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

//go:embed templates/*.html templates/*.js
var templateFS embed.FS

// parsePages parses the embedded page templates. html/template escapes
// everything that comes from GitHub (titles, bodies, user names): a pull
// request title is attacker-controlled text.
func parsePages() (*template.Template, error) {
	t, err := template.New("pages").Funcs(template.FuncMap{
		"when":  when,
		"short": short,
		"pct":   pct,
		"signed": func(f *float64) string {
			if f == nil {
				return ""
			}
			return fmt.Sprintf("%+.2f", *f)
		},
		"issue": func(checks map[string]gatekeeper.IssueCheck, r gatekeeper.IssueRef) *gatekeeper.IssueCheck {
			if c, ok := checks[r.String()]; ok {
				return &c
			}
			return nil
		},
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parsing page templates: %w", err)
	}
	return t, nil
}

// pct formats a percentage, a float64 or a *float64 (a coverage metric
// that may be absent): "81.25", "—" for nil. A pointer given to printf
// would print its address.
func pct(v any) string {
	switch f := v.(type) {
	case float64:
		return fmt.Sprintf("%.2f", f)
	case *float64:
		if f != nil {
			return fmt.Sprintf("%.2f", *f)
		}
	}
	return "—"
}

// short abbreviates a commit sha the way GitHub shows it.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// pullPage is the details page's data: the PullView arranged for reading.
type pullPage struct {
	Key gatekeeper.PullKey
	PR  *gatekeeper.PullRequest
	// State is the latest decision's state, "none" before the first one;
	// StateWords says it in words.
	State, StateWords string
	Latest            *gatekeeper.DecisionRecord
	Queued            bool
	HeadSHA           string
	HeadSince         time.Time
	Sources           []sourceRow
	Configured        []string            // sources configured, in gathering order
	Reviews           []gatekeeper.Review // latest per reviewer, on the head
	StaleReviews      []gatekeeper.Review // latest per reviewer, on an older commit
	Checks            []gatekeeper.Check  // on the head
	StaleChecks       []gatekeeper.Check  // on older commits
	Build             *gatekeeper.Build   // the PR-merge build of the head
	VerifyBuilds      bool                // builds are read from Jenkins' REST API
	ConfirmClaims     bool                // approvals and votes count once GitHub shows them
	Baseline          *gatekeeper.Build   // the base branch's latest good build
	Chart             *chartRow           // the build's Helm chart version, checked
	StaleBuilds       int                 // builds of older heads, not counted
	Disputes          []string            // claims Jenkins contradicts, every build's
	Votes             []voteRow           // latest vote per person
	Nogos             []nogoRow           // NOGOs that stand, any head
	Links             []gatekeeper.IssueRef
	IssueChecks       map[string]gatekeeper.IssueCheck
	MergedPulls       []gatekeeper.MergedPull
	Checklist         []checkRow
	Published         *gatekeeper.PublishedStatus
	PublishedStale    bool // published for an older head
	DryRun            bool
	History           []gatekeeper.DecisionRecord
	Log               []gatekeeper.LogEntry // newest first
	// Viewer is who reads the page: signed in, or served without sign-in
	// on loopback (the page says so).
	Viewer viewer
	// BaseTip is the base branch's current tip, nil while unknown; the
	// build counts only when it merged it.
	BaseTip *gatekeeper.BaseTip
	// Zone is the release window's time zone: every time is shown in it.
	Zone zone
	// Matrix and Stages are the board's role matrix and stage strip.
	Matrix matrix
	Stages []stageCell
}

// chartRow is the Helm chart version with what was checked of it.
type chartRow struct {
	gatekeeper.Chart
	Valid, Pinned bool
}

// voteRow is one person's latest vote and whether it is on the head;
// Standing marks a NOGO that stands across pushes.
type voteRow struct {
	User, Vote, Reason, Refused string
	Current, Standing           bool
	// NotCounted says why the policy does not count the vote ("" when it
	// does, or has not said yet).
	NotCounted string
}

// nogoRow is a NOGO that stands across pushes, with the lifts that name
// its author and the policy's verdict on each.
type nogoRow struct {
	gatekeeper.Nogo
	Current bool
	Lifts   []liftRow
}

// liftRow is one lift of a NOGO: Verdict is the policy's ("counted": the
// NOGO is lifted; "refused", with Why), "" while it has none.
type liftRow struct {
	gatekeeper.Lift
	Verdict, Why string
}

// checkRow is one task-list item of the description.
type checkRow struct {
	Item   string
	Ticked bool
}

type sourceRow struct {
	Name string
	gatekeeper.SourceStatus
}

// stateWords says a decision state the way a release manager would.
func stateWords(s gatekeeper.State) string {
	switch s {
	case gatekeeper.Success:
		return "Ready to merge"
	case gatekeeper.Failure:
		return "Blocked"
	case gatekeeper.Pending:
		return "Waiting"
	case gatekeeper.Error:
		return "Error: the gatekeeper could not decide"
	}
	return "Not evaluated yet"
}

// newPullPage arranges a PullView for the page. Only facts about the
// current head count; the rest is shown apart, as stale.
func newPullPage(v *gatekeeper.PullView, st opa.Settings) pullPage {
	ev := v.Evidence
	if ev == nil {
		ev = &gatekeeper.Evidence{Key: v.Key}
	}
	head := ev.HeadSHA()
	p := pullPage{
		Key: v.Key, PR: ev.PR, Latest: v.Latest, Queued: v.Queued, HeadSHA: head,
		State: "none", StateWords: stateWords(""),
		Published: ev.Published, DryRun: v.DryRun, History: v.History, Configured: v.Sources,
		Zone: zoneOf(st), Matrix: newMatrix(st, ev, v.Latest), Stages: newStrip(st, ev.CurrentBuild()),
	}
	notCounted := map[string]string{}
	for _, u := range p.Matrix.NotCounted {
		notCounted[strings.ToLower(u.User)] = u.Why
	}
	if v.Latest != nil {
		p.State = string(v.Latest.Decision.State)
		p.StateWords = stateWords(v.Latest.Decision.State)
	}
	for i := len(ev.Heads) - 1; i >= 0; i-- {
		if ev.Heads[i].SHA == head {
			p.HeadSince = ev.Heads[i].At
			break
		}
	}
	for name, st := range ev.Sources {
		p.Sources = append(p.Sources, sourceRow{Name: name, SourceStatus: st})
	}
	slices.SortFunc(p.Sources, func(a, b sourceRow) int { return strings.Compare(a.Name, b.Name) })
	for _, r := range ev.LatestReviews() {
		if head != "" && r.CommitID == head {
			p.Reviews = append(p.Reviews, r)
		} else {
			p.StaleReviews = append(p.StaleReviews, r)
		}
	}
	for _, c := range ev.Checks {
		if head != "" && c.SHA == head {
			p.Checks = append(p.Checks, c)
		} else {
			p.StaleChecks = append(p.StaleChecks, c)
		}
	}
	p.VerifyBuilds = v.VerifyBuilds
	p.ConfirmClaims = v.ConfirmClaims
	if b := ev.CurrentBuild(); b != nil {
		p.Build = b
		if b.ChartVersion != "" {
			c, ok := gatekeeper.ParseChartVersion(b.ChartVersion)
			p.Chart = &chartRow{Chart: c, Valid: ok, Pinned: ok && c.PinnedTo(b.MergeSHA, b.HeadSHA)}
		}
	}
	p.Baseline = ev.Baseline
	if t := ev.BaseTip; t != nil && ev.PR != nil && t.Ref == ev.PR.BaseRef {
		p.BaseTip = t
	}
	for _, b := range ev.Builds {
		if b.HeadSHA != head {
			p.StaleBuilds++
		}
		for _, d := range b.Disputes() {
			p.Disputes = append(p.Disputes, fmt.Sprintf("%s #%d: %s", b.JobName, b.Number, d))
		}
	}
	nogos := ev.Nogos()
	standing := map[int64]bool{}
	for _, n := range nogos {
		standing[n.CommentID] = true
	}
	for _, v := range ev.Votes() {
		p.Votes = append(p.Votes, voteRow{User: v.User, Vote: v.Vote, Reason: v.Reason, Refused: v.Refused,
			Current: head != "" && v.HeadSHA == head, Standing: standing[v.CommentID], NotCounted: notCounted[strings.ToLower(v.User)]})
	}
	verdicts := map[int64]gatekeeper.VoteVerdict{}
	if p.Latest != nil {
		for _, v := range p.Latest.Decision.Votes {
			verdicts[v.CommentID] = v
		}
	}
	for _, n := range nogos {
		row := nogoRow{Nogo: n, Current: head != "" && n.HeadSHA == head}
		for _, l := range n.Lifts {
			v := verdicts[l.CommentID]
			row.Lifts = append(row.Lifts, liftRow{Lift: l, Verdict: v.Verdict, Why: v.Why})
		}
		p.Nogos = append(p.Nogos, row)
	}
	if ev.PR != nil {
		p.Links = gatekeeper.ParseIssueLinks(ev.PR.Body, ev.PR.HeadRef, ev.Key.Owner, ev.Key.Repo)
		for item, ticked := range gatekeeper.ParseChecklist(ev.PR.Body) {
			p.Checklist = append(p.Checklist, checkRow{Item: item, Ticked: ticked})
		}
		slices.SortFunc(p.Checklist, func(a, b checkRow) int { return strings.Compare(a.Item, b.Item) })
	}
	p.IssueChecks, p.MergedPulls = ev.IssueChecks, ev.MergedPulls
	if ev.Published != nil {
		p.PublishedStale = ev.Published.SHA != head
		p.DryRun = p.DryRun || ev.Published.DryRun
	}
	for i := len(ev.Log) - 1; i >= 0; i-- {
		p.Log = append(p.Log, ev.Log[i])
	}
	return p
}

// pullPage answers GET /pulls/:owner/:repo/:number, the status target_url.
func (s *server) pullPage(c *gin.Context) {
	ctx := c.Request.Context()
	key, err := pullKey(c)
	if err != nil {
		s.renderError(c, err, key)
		return
	}
	if !s.mayRead(c, key) {
		return
	}
	v, err := s.svc.Pull(ctx, key, s.history)
	if err != nil {
		s.renderError(c, err, key)
		return
	}
	p := newPullPage(v, s.settings())
	p.Viewer = viewerOf(c)
	s.render(c, http.StatusOK, "pull.html", p)
}

// errorPage is the data of the page shown instead of the details.
type errorPage struct {
	Code    int
	Title   string
	Message string
	Key     gatekeeper.PullKey
}

func (s *server) renderError(c *gin.Context, err error, key gatekeeper.PullKey) {
	code := httpStatus(err)
	p := errorPage{Code: code, Key: key}
	switch code {
	case http.StatusNotFound:
		p.Title = "Pull request not seen"
		p.Message = fmt.Sprintf("The release gatekeeper has not seen %s: no webhook about it has arrived, so there is no evidence and no decision yet.", key)
	case http.StatusBadRequest:
		p.Title = "Not a pull request"
		p.Message = publicError(err)
	default:
		p.Title = "Unavailable"
		p.Message = "The release gatekeeper cannot read its store right now; try again shortly."
		s.log.ErrorContext(c.Request.Context(), "loading pull request page", "pr", key.String(), "err", err.Error())
	}
	s.render(c, code, "error.html", p)
}

// render executes a template into a buffer first, so that a template error
// gives a clean 500 instead of half a page.
func (s *server) render(c *gin.Context, code int, name string, data any) {
	s.renderCSP(c, code, name, data, pageCSP)
}

// pageCSP lets a page use its own inline styles and nothing else: no
// script, no frame, no request elsewhere.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

// renderCSP is render with its own Content-Security-Policy.
func (s *server) renderCSP(c *gin.Context, code int, name string, data any, csp string) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.ErrorContext(c.Request.Context(), "rendering page", "page", name, "err", err.Error())
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error rendering the page\n"))
		return
	}
	c.Header("Content-Security-Policy", csp)
	c.Data(code, "text/html; charset=utf-8", buf.Bytes())
}
