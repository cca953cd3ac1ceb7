package githubapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Endpoints of the check run beside the status (App mode only).
const (
	EndpointCreateCheckRun = "create_check_run"
	EndpointUpdateCheckRun = "update_check_run"
)

// ChecklistName is the name of the gatekeeper's own check run. It differs
// from the status context, so that it is never taken for a foreign
// "release-gate"; the status stays the required check.
const ChecklistName = gatekeeper.ChecklistName

// ReevaluateAction is the identifier of the check run's "Re-evaluate"
// button (check_run.requested_action.identifier).
const ReevaluateAction = "reevaluate"

// GitHub's limits on a check run's output and actions.
const (
	MaxChecklistSummary = 65535 // output.summary, characters
	MaxChecklistTitle   = 255   // kept short: the title is one line in the UI
)

// maxChecklistRuns bounds the heads whose run is remembered.
const maxChecklistRuns = 4096

var _ gatekeeper.Checklister = (*Checklist)(nil)

// Checklist keeps one check run per repository and head, created on the
// first decision and updated (PATCH) when what it shows changes; an
// unchanged decision costs no call. It works only for a GitHub App: a
// token cannot create check runs. It is safe for concurrent use.
type Checklist struct {
	c   *Client
	log *slog.Logger

	mu   sync.Mutex
	runs map[string]*checklistRun // "owner/repo@sha" (lower-case) → its run
}

type checklistRun struct {
	mu   sync.Mutex
	id   int64
	last string // conclusion + title + summary last sent
}

// NewChecklist returns the check run publisher of an App client, or nil
// (and an error saying why) for a token client.
func NewChecklist(c *Client) (*Checklist, error) {
	if c == nil || !c.IsApp() {
		return nil, errors.New("the checklist check run needs a GitHub App (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY)")
	}
	return &Checklist{c: c, log: c.log, runs: map[string]*checklistRun{}}, nil
}

// Checklist creates or updates the check run on sha for decision dec,
// whose commit status is st.
func (l *Checklist) Checklist(ctx context.Context, key gatekeeper.PullKey, sha string, st gatekeeper.Status, dec gatekeeper.Decision) error {
	if !key.Valid() || sha == "" {
		return fmt.Errorf("checklist on %s at %q: %w", key, sha, gatekeeper.ErrInvalid)
	}
	conclusion, title, summary := ChecklistOutput(st, dec)
	name := strings.ToLower(key.Owner + "/" + key.Repo + "@" + sha)
	l.mu.Lock()
	run := l.runs[name]
	if run == nil {
		if len(l.runs) >= maxChecklistRuns {
			// Forget one: a head seen again finds its run on GitHub.
			for k := range l.runs {
				delete(l.runs, k)
				break
			}
		}
		run = &checklistRun{}
		l.runs[name] = run
	}
	l.mu.Unlock()
	run.mu.Lock()
	defer run.mu.Unlock()
	sig := conclusion + "\x00" + title + "\x00" + summary
	if run.id == 0 {
		// After a restart, or when another replica posted it: the run
		// already on the head is updated, not doubled, and left alone when
		// it already says this.
		if err := l.find(ctx, key, sha, run); err != nil {
			return err
		}
	}
	if run.id != 0 && run.last == sig {
		return nil
	}
	output := &github.CheckRunOutput{Title: github.String(title), Summary: github.String(summary)}
	actions := []*github.CheckRunAction{{Label: "Re-evaluate", Description: "Evaluate the gate again", Identifier: ReevaluateAction}}
	status := "completed"
	var concl *string
	if conclusion == "" {
		status = "in_progress"
	} else {
		concl = github.String(conclusion)
	}
	if run.id == 0 {
		var created *github.CheckRun
		err := l.c.do(ctx, EndpointCreateCheckRun, waitForLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			created, resp, err = gh.Checks.CreateCheckRun(ctx, key.Owner, key.Repo, github.CreateCheckRunOptions{
				Name: ChecklistName, HeadSHA: sha, Status: github.String(status), Conclusion: concl,
				Output: output, Actions: actions,
			})
			return resp, err
		})
		if err != nil {
			return fmt.Errorf("creating check run %q on %s at %s: %w", ChecklistName, key, shortSHA(sha), err)
		}
		run.id = created.GetID()
	} else {
		err := l.c.do(ctx, EndpointUpdateCheckRun, waitForLimits, func(gh *github.Client) (*github.Response, error) {
			_, resp, err := gh.Checks.UpdateCheckRun(ctx, key.Owner, key.Repo, run.id, github.UpdateCheckRunOptions{
				Name: ChecklistName, Status: github.String(status), Conclusion: concl,
				Output: output, Actions: actions,
			})
			return resp, err
		})
		if err != nil {
			return fmt.Errorf("updating check run %d on %s at %s: %w", run.id, key, shortSHA(sha), err)
		}
	}
	run.last = sig
	l.log.InfoContext(ctx, "checklist check run posted", "repo", key.Owner+"/"+key.Repo, "pr", key.Number,
		"sha", sha, "check_run_id", run.id, "conclusion", conclusion)
	return nil
}

// find fills run with the App's newest checklist run on sha, if any
// (GET …/commits/{sha}/check-runs?check_name=…&app_id=…).
func (l *Checklist) find(ctx context.Context, key gatekeeper.PullKey, sha string, run *checklistRun) error {
	opts := &github.ListCheckRunsOptions{
		CheckName: github.String(ChecklistName), AppID: github.Int64(l.c.app.appID), Filter: github.String("latest"),
		ListOptions: github.ListOptions{PerPage: 1},
	}
	var list *github.ListCheckRunsResults
	err := l.c.do(ctx, EndpointListCheckRuns, waitForLimits, func(gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		list, resp, err = gh.Checks.ListCheckRunsForRef(ctx, key.Owner, key.Repo, sha, opts)
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("finding check run %q on %s at %s: %w", ChecklistName, key, shortSHA(sha), err)
	}
	for _, cr := range list.CheckRuns {
		if l.c.ownCheckRun(cr) && cr.GetID() != 0 {
			run.id = cr.GetID()
			concl := ""
			if cr.GetStatus() == "completed" {
				concl = cr.GetConclusion()
			}
			run.last = concl + "\x00" + cr.GetOutput().GetTitle() + "\x00" + cr.GetOutput().GetSummary()
			return nil
		}
	}
	return nil
}

// ChecklistOutput is the check run's conclusion ("" while pending: the run
// stays in progress), title and markdown summary for a decision: what
// fails, what is awaited and what passes, within GitHub's limits. When the
// lists do not all fit, each section shows as many whole items as fit, in
// the policy's order (what fails first, what passes last), and says how
// many it leaves out and where they all are.
func ChecklistOutput(st gatekeeper.Status, dec gatekeeper.Decision) (conclusion, title, summary string) {
	switch st.State {
	case gatekeeper.Success:
		conclusion = "success"
	case gatekeeper.Failure, gatekeeper.Error:
		conclusion = "failure"
	}
	title = truncate(st.Description, MaxChecklistTitle)
	if title == "" {
		title = string(st.State)
	}
	head := fmt.Sprintf("**release-gate: %s**\n\n", md(string(st.State)))
	if dec.Summary != "" {
		// An error's reasons carry details for the signed-in page only.
		head += truncate(md(dec.Summary), maxChecklistItem) + "\n\n"
	}
	var foot string
	if st.State == gatekeeper.Success {
		foot += ":white_check_mark: Every requirement of the policy passes.\n\n"
	}
	if dec.PolicyRevision != "" {
		foot += fmt.Sprintf("Policy revision `%s`. The commit status `%s` is the required check; this run only explains it.\n",
			md(shortSHA(dec.PolicyRevision)), md(st.Context))
	}
	type section struct {
		head, mark string
		items      []string
	}
	var sections []section
	if dec.Summary == "" {
		sections = append(sections, section{"Fails", ":x:", dec.Reasons})
	}
	sections = append(sections, section{"Awaited", ":hourglass:", dec.Waiting}, section{"Passes", ":white_check_mark:", dec.Passes})
	where := "the details page"
	if u := st.TargetURL; (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) && !strings.ContainsAny(u, " ()<>[]`\n") {
		where = "[the details page](" + u + ")"
	}
	// Every section keeps room for its heading and its "not shown" line,
	// so that what is left out is always said.
	reserve := func(from int) int {
		n := 0
		for _, sec := range sections[from:] {
			if len(sec.items) > 0 {
				n += runes(sectionHead(sec.head, len(sec.items))) + runes(notShown(len(sec.items), where)) + 1
			}
		}
		return n
	}
	var b strings.Builder
	b.WriteString(head)
	left := MaxChecklistSummary - runes(head) - runes(foot)
	for i, sec := range sections {
		if len(sec.items) == 0 {
			continue
		}
		h := sectionHead(sec.head, len(sec.items))
		b.WriteString(h)
		left -= runes(h)
		// Room for this section's items: what is left after the later
		// sections' headings and notes and this one's note.
		room := left - reserve(i+1) - runes(notShown(len(sec.items), where)) - 1
		shown := 0
		for _, it := range sec.items {
			line := fmt.Sprintf("- %s %s\n", sec.mark, truncate(md(it), maxChecklistItem))
			n := runes(line)
			if n > room {
				break
			}
			b.WriteString(line)
			room -= n
			left -= n
			shown++
		}
		if shown < len(sec.items) {
			note := notShown(len(sec.items)-shown, where)
			b.WriteString(note)
			left -= runes(note)
		}
		b.WriteString("\n")
		left--
	}
	b.WriteString(foot)
	// The budget above keeps within the limit; the cut is a last guard.
	return conclusion, title, truncate(b.String(), MaxChecklistSummary)
}

// maxChecklistItem bounds one item of the summary (characters): a policy
// message is short, and one long one must not crowd the others out.
const maxChecklistItem = 1000

func sectionHead(head string, n int) string {
	return fmt.Sprintf("### %s (%d)\n\n", head, n)
}

func notShown(n int, where string) string {
	return fmt.Sprintf("- … %d more not shown here: %s lists them all\n", n, where)
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// md keeps one item on one line and out of markdown links and HTML.
func md(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "[", "\\[", "]", "\\]", "`", "'").Replace(s)
}

// truncate cuts s to at most n characters (runes), ending in "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Own reports whether c, a check run as a webhook or a listing names it
// (Creator is the App's slug), is this App's checklist run. A slug names
// one App on a GitHub instance.
func (l *Checklist) Own(c gatekeeper.Check) bool {
	login := l.c.knownAppLogin()
	return c.Kind == "check_run" && c.Name == ChecklistName && c.Creator != "" && login != "" &&
		strings.EqualFold(c.Creator+"[bot]", login)
}

// ownCheckRun reports whether cr is the gatekeeper's own checklist: its
// name, created by this Client's App (by id, or by slug when the listing
// names no id).
func (c *Client) ownCheckRun(cr *github.CheckRun) bool {
	if c == nil || c.app == nil || cr.GetName() != ChecklistName {
		return false
	}
	if id := cr.GetApp().GetID(); id != 0 {
		return id == c.app.appID
	}
	slug := cr.GetApp().GetSlug()
	return slug != "" && strings.EqualFold(slug+"[bot]", c.knownAppLogin())
}
