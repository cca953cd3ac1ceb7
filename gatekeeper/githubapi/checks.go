package githubapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
)

// checksPerPage is the REST maximum of both listings.
const checksPerPage = 100

// maxCheckPages bounds the pagination of each listing (2,000 statuses or
// check runs on one commit), for the reason maxReviewPages does.
const maxCheckPages = 20

// checksDue reports whether Gather should fetch the statuses and check runs
// of head: when none were fetched yet, when the last fetch was for another
// head (the pull request moved since), when it is older than MaxAge, or
// when the last Gather failed. The last fetch is the newest EventChecks
// entry in ev.Log, for the reasons Source gives for EventPullRequest.
func (s *Source) checksDue(ev *gatekeeper.Evidence, head string, now time.Time) bool {
	if last, ok := ev.Sources[SourceName]; ok && !last.OK {
		return true
	}
	for i := len(ev.Log) - 1; i >= 0; i-- {
		if ev.Log[i].Event == EventChecks {
			return ev.Log[i].SHA != head || now.Sub(ev.Log[i].At) >= s.maxAge
		}
	}
	return true
}

// checks fetches the combined status and the check runs of sha and returns
// one EventStatus per status, one EventCheckRun per run and, when both calls
// succeeded, the EventChecks that records the fetch. A failure of one call
// does not stop the other: the events gathered are returned with the error,
// which keeps the source failed (and the gate from passing) all the same.
func (s *Source) checks(ctx context.Context, key gatekeeper.PullKey, sha string, now time.Time) ([]gatekeeper.Event, error) {
	event := func(name string, c gatekeeper.Check) gatekeeper.Event {
		return gatekeeper.Event{Name: name, Received: now, Key: key, SHA: sha, Check: &c}
	}
	var events []gatekeeper.Event
	statuses, hist, errStatus := s.statuses(ctx, key, sha)
	for _, st := range statuses {
		c := statusCheck(st, sha)
		if h, ok := hist[c.Name]; ok {
			h.fill(&c, sha)
		}
		events = append(events, event(EventStatus, c))
	}
	runs, errRuns := s.checkRuns(ctx, key, sha)
	// Oldest first: of two apps' runs of one name, the evidence takes the
	// one that started first as the check's first creator.
	slices.SortStableFunc(runs, func(a, b *github.CheckRun) int {
		return a.GetStartedAt().Time.Compare(b.GetStartedAt().Time)
	})
	for _, cr := range runs {
		if s.c.ownCheckRun(cr) {
			continue // the gatekeeper's own checklist: never a check of the policy
		}
		c := githubevents.CheckRun(cr)
		// GitHub lists the runs of the commit asked for; pinning them to
		// that sha files them on the head the policy looks at.
		c.SHA = sha
		events = append(events, event(EventCheckRun, c))
	}
	if err := errors.Join(errStatus, errRuns); err != nil {
		return events, err
	}
	// Last, so that it is the newest of the log entries the fetch adds.
	return append(events, gatekeeper.Event{Name: EventChecks, Received: now, Key: key, SHA: sha}), nil
}

// statuses lists the latest status of every context on sha through the
// combined status, whose "statuses" the Link header pages through, and,
// when there is any, what the list of sha's statuses tells of each context
// (see history).
func (s *Source) statuses(ctx context.Context, key gatekeeper.PullKey, sha string) ([]*github.RepoStatus, map[string]*statusHistory, error) {
	var all []*github.RepoStatus
	opts := &github.ListOptions{PerPage: checksPerPage}
	for pages := 1; ; pages++ {
		var combined *github.CombinedStatus
		var next int
		err := s.c.do(ctx, EndpointGetCombinedStatus, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			combined, resp, err = gh.Repositories.GetCombinedStatus(ctx, key.Owner, key.Repo, sha, opts)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return all, nil, fmt.Errorf("fetching commit statuses of %s for %s (page %d): %w", sha, key, max(opts.Page, 1), err)
		}
		for _, st := range combined.Statuses {
			if st != nil {
				all = append(all, st)
			}
		}
		if next == 0 {
			hist, err := s.history(ctx, key, sha, all)
			return all, hist, err
		}
		if next <= opts.Page || pages >= maxCheckPages {
			return all, nil, fmt.Errorf("fetching commit statuses of %s for %s: pagination did not end after page %d", sha, key, max(opts.Page, 1))
		}
		opts.Page = next
	}
}

// statusHistory is what the list of a commit's statuses tells of one
// context: who posted it first, that creator's newest status, and who
// else posted in it.
type statusHistory struct {
	first  string
	newest map[string]*github.RepoStatus // per creator (lower case)
	others []string
}

// fill names in c (a context's newest status) who posted it first, the
// first creator's newest status when another posted c, and the others.
func (h *statusHistory) fill(c *gatekeeper.Check, sha string) {
	c.FirstCreator = h.first
	if h.first != "" && !strings.EqualFold(c.Creator, h.first) {
		if st := h.newest[strings.ToLower(h.first)]; st != nil {
			o := statusCheck(st, sha)
			c.Original = &gatekeeper.CheckReport{Creator: o.Creator, State: o.State, Description: o.Description, URL: o.URL, UpdatedAt: o.UpdatedAt}
		}
	}
	c.OtherCreators = append([]string(nil), h.others...)
}

// history reads the list of sha's statuses (newest first), which, unlike
// the combined status, names who posted each. Every status among statuses
// is replaced by the newest of its context in the list (newer than the
// combined status, should one have landed in between), and each context's
// history says who posted it first (the oldest status listed): anyone with
// write access may post in any context, and a status set by hand over
// another system's must not replace that system's verdict. The
// gatekeeper's own context is among them: who posted its newest status
// tells its own from anybody else's. No call when the commit has no
// status.
func (s *Source) history(ctx context.Context, key gatekeeper.PullKey, sha string, statuses []*github.RepoStatus) (map[string]*statusHistory, error) {
	if len(statuses) == 0 {
		return nil, nil
	}
	byContext := map[string][]*github.RepoStatus{} // newest first
	opts := &github.ListOptions{PerPage: checksPerPage}
	for pages := 1; ; pages++ {
		var list []*github.RepoStatus
		var next int
		err := s.c.do(ctx, EndpointListStatuses, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			list, resp, err = gh.Repositories.ListStatuses(ctx, key.Owner, key.Repo, sha, opts)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("listing commit statuses of %s for %s (page %d): %w", sha, key, max(opts.Page, 1), err)
		}
		for _, st := range list {
			if st != nil {
				byContext[st.GetContext()] = append(byContext[st.GetContext()], st)
			}
		}
		if next == 0 {
			break
		}
		if next <= opts.Page || pages >= maxCheckPages {
			return nil, fmt.Errorf("listing commit statuses of %s for %s: pagination did not end after page %d", sha, key, max(opts.Page, 1))
		}
		opts.Page = next
	}
	out := make(map[string]*statusHistory, len(byContext))
	for ctxName, list := range byContext {
		h := &statusHistory{first: list[len(list)-1].GetCreator().GetLogin(), newest: map[string]*github.RepoStatus{}}
		for i := len(list) - 1; i >= 0; i-- { // oldest first
			login := list[i].GetCreator().GetLogin()
			h.newest[strings.ToLower(login)] = list[i]
			if login != "" && !strings.EqualFold(login, h.first) && !slices.ContainsFunc(h.others, func(o string) bool { return strings.EqualFold(o, login) }) {
				h.others = append(h.others, login)
			}
		}
		out[ctxName] = h
	}
	for _, st := range statuses {
		if list := byContext[st.GetContext()]; len(list) > 0 {
			*st = *list[0] // taken whole: the newest, and who posted it
		}
	}
	return out, nil
}

// checkRuns lists the latest run of every check on sha.
func (s *Source) checkRuns(ctx context.Context, key gatekeeper.PullKey, sha string) ([]*github.CheckRun, error) {
	var all []*github.CheckRun
	// "latest" (GitHub's default, named to make it explicit): a re-run
	// replaces the run it repeats, as it does in the pull request's UI.
	opts := &github.ListCheckRunsOptions{Filter: github.String("latest"), ListOptions: github.ListOptions{PerPage: checksPerPage}}
	for pages := 1; ; pages++ {
		var list *github.ListCheckRunsResults
		var next int
		err := s.c.do(ctx, EndpointListCheckRuns, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			list, resp, err = gh.Checks.ListCheckRunsForRef(ctx, key.Owner, key.Repo, sha, opts)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return all, fmt.Errorf("listing check runs of %s for %s (page %d): %w", sha, key, max(opts.Page, 1), err)
		}
		for _, cr := range list.CheckRuns {
			if cr != nil {
				all = append(all, cr)
			}
		}
		if next == 0 {
			return all, nil
		}
		if next <= opts.Page || pages >= maxCheckPages {
			return all, fmt.Errorf("listing check runs of %s for %s: pagination did not end after page %d", sha, key, max(opts.Page, 1))
		}
		opts.Page = next
	}
}

// statusCheck converts one entry of a combined status into a domain Check
// on sha, the commit asked for. A state GitHub has not documented becomes
// "error", never a success: a status the gatekeeper cannot read must not
// vanish from the evidence either.
func statusCheck(st *github.RepoStatus, sha string) gatekeeper.Check {
	state := strings.ToLower(st.GetState())
	if !gatekeeper.State(state).Valid() {
		state = string(gatekeeper.Error)
	}
	updated := st.GetUpdatedAt()
	if updated.IsZero() {
		updated = st.GetCreatedAt()
	}
	var at time.Time
	if !updated.IsZero() {
		at = updated.UTC()
	}
	return gatekeeper.Check{
		Name:        st.GetContext(),
		SHA:         sha,
		Kind:        "status",
		State:       state,
		Description: st.GetDescription(),
		URL:         st.GetTargetURL(),
		UpdatedAt:   at,
		Creator:     st.GetCreator().GetLogin(),
	}
}
