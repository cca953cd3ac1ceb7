package gatekeeper

import "time"

// InputVersion is the version of the policy input document. It changes only
// when a field changes meaning or disappears; new fields keep the version.
// policies/README.md documents every field.
const InputVersion = 1

// InputOptions are the facts BuildInput needs besides the evidence.
type InputOptions struct {
	Now   time.Time
	Gated BranchPairs
	// StatusContext is the gatekeeper's own status context; checks with it
	// are left out of the input.
	StatusContext string
}

// BuildInput turns evidence into the policy input document. It is built
// from plain maps and slices, so that OPA converts it without a JSON round
// trip. Only facts about the current head commit count: reviews and checks
// for older heads are marked stale or left out, never passed as current.
func BuildInput(ev *Evidence, opt InputOptions) map[string]any {
	head := ev.HeadSHA()
	in := map[string]any{
		"version": InputVersion,
		"now":     opt.Now.UTC().Format(time.RFC3339),
		"now_ns":  opt.Now.UnixNano(),
		"sources": sourcesInput(ev.Sources),
	}
	if ev.PR == nil {
		in["pull_request"] = nil
	} else {
		in["pull_request"] = pullInput(ev.PR, opt.Gated)
	}
	in["reviews"] = reviewsInput(ev.LatestReviews(), head)
	in["checks"] = checksInput(ev.Checks, head, opt.StatusContext)
	return in
}

func pullInput(pr *PullRequest, gated BranchPairs) map[string]any {
	labels := make([]any, len(pr.Labels))
	for i, l := range pr.Labels {
		labels[i] = l
	}
	return map[string]any{
		"owner":    pr.Key.Owner,
		"repo":     pr.Key.Repo,
		"number":   pr.Key.Number,
		"title":    pr.Title,
		"body":     pr.Body,
		"author":   pr.Author,
		"state":    pr.State,
		"draft":    pr.Draft,
		"merged":   pr.Merged,
		"head_ref": pr.HeadRef,
		"head_sha": pr.HeadSHA,
		"base_ref": pr.BaseRef,
		"base_sha": pr.BaseSHA,
		"labels":   labels,
		"url":      pr.HTMLURL,
		"gated":    gated.Gated(pr.HeadRef, pr.BaseRef),
	}
}

func reviewsInput(latest []Review, head string) []any {
	out := make([]any, 0, len(latest))
	for _, r := range latest {
		out = append(out, map[string]any{
			"user":         r.User,
			"state":        r.State,
			"commit_id":    r.CommitID,
			"current":      head != "" && r.CommitID == head,
			"submitted_at": r.SubmittedAt.UTC().Format(time.RFC3339),
		})
	}
	return out
}

func checksInput(checks []Check, head, own string) []any {
	out := make([]any, 0, len(checks))
	for _, c := range checks {
		if head == "" || c.SHA != head || c.Name == own {
			continue
		}
		out = append(out, map[string]any{
			"name":        c.Name,
			"kind":        c.Kind,
			"state":       c.State,
			"description": c.Description,
			"url":         c.URL,
		})
	}
	return out
}

func sourcesInput(src map[string]SourceStatus) map[string]any {
	out := make(map[string]any, len(src))
	for n, s := range src {
		out[n] = map[string]any{
			"ok":         s.OK,
			"error":      s.Error,
			"attempts":   s.Attempts,
			"checked_at": s.CheckedAt.UTC().Format(time.RFC3339),
		}
	}
	return out
}
