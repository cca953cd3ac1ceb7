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
	// VerifyBuilds is true when builds are read from Jenkins' REST API
	// (JENKINS_URL is set): only what it states counts, and
	// build.verification says whether it was read.
	VerifyBuilds bool
	// StageKeys, when set, returns the mapping of Jenkins stage names onto
	// release stage keys in force (the policy data's), so that the input
	// keys every stage with it, whenever and however the stage was
	// recorded; nil keeps the keys recorded with the stages.
	StageKeys func() func(name string) string
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
	in["build"] = buildInput(ev.CurrentBuild(), ev.Baseline, opt)
	in["base_tip"] = baseTipInput(ev)
	in["baseline"] = baselineInput(ev.Baseline)
	in["stale_builds"] = staleBuilds(ev)
	in["votes"] = votesInput(ev.Votes(), head)
	in["nogos"] = nogosInput(ev.Nogos(), head)
	in["lifts"] = liftsInput(ev.Lifts(), head)
	in["teams"] = teamsInput(ev.Memberships)
	body, branch := "", ""
	if ev.PR != nil {
		body, branch = ev.PR.Body, ev.PR.HeadRef
	}
	in["checklist"] = checklistInput(ParseChecklist(body))
	in["links"] = linksInput(ev, body, branch)
	return in
}

// Verification states of a build in the policy input (build.verification).
const (
	// VerificationJenkins: the facts are what Jenkins' REST API stated.
	VerificationJenkins = "jenkins"
	// VerificationPending: JENKINS_URL is set and the build was not read
	// yet; the facts are what notifications and reports claim.
	VerificationPending = "pending"
	// VerificationNone: no JENKINS_URL; nothing can verify the claims.
	VerificationNone = "none"
)

func buildInput(b, base *Build, opt InputOptions) any {
	if b == nil {
		return nil
	}
	verify := opt.VerifyBuilds
	verification := VerificationNone
	switch {
	case b.Verified:
		verification = VerificationJenkins
	case verify:
		verification = VerificationPending
	}
	disputes := []any{}
	for _, d := range b.Disputes() {
		disputes = append(disputes, d)
	}
	digest, chart, baseChart := b.ImageDigest, b.ChartVersion, b.BaseChartVersion
	if verify && !(b.Verified && !b.Building && b.Result == ResultSuccess) {
		// What no API has counts only for a build Jenkins itself
		// reports finished and successful (for the head the claim
		// named: see Build.pickClaimed).
		digest, chart, baseChart = "", "", ""
	}
	var keyOf func(string) string
	if opt.StageKeys != nil {
		keyOf = opt.StageKeys()
	}
	stages := make([]any, len(b.Stages))
	for i, st := range b.Stages {
		key := st.Key
		if keyOf != nil {
			key = keyOf(st.Name)
		}
		stages[i] = map[string]any{"name": st.Name, "key": key, "status": st.Status}
	}
	missing := make([]any, len(b.Missing))
	for i, m := range b.Missing {
		missing[i] = m
	}
	out := map[string]any{
		"job":             b.JobPath,
		"number":          int(b.Number),
		"url":             b.URL,
		"strategy":        b.Strategy,
		"head_sha":        b.HeadSHA,
		"base_sha":        b.BaseSHA,
		"merge_sha":       b.MergeSHA,
		"phase":           b.Phase,
		"result":          b.Result,
		"building":        b.Building,
		"verified":        b.Verified,
		"verification":    verification,
		"disputes":        disputes,
		"stages":          stages,
		"tests":           nil,
		"coverage":        coverageInput(b.Coverage),
		"vulnerabilities": nil,
		"image_digest":    digest,
		"chart":           nil,
		"base_chart":      nil,
		"missing":         missing,
	}
	if t := b.Tests; t != nil {
		tests := map[string]any{"total": t.Total, "passed": t.Passed, "failed": t.Failed, "skipped": t.Skipped, "added": nil}
		if base != nil && base.Tests != nil {
			tests["added"] = t.Total - base.Tests.Total
		}
		out["tests"] = tests
	}
	if v := b.Vulnerabilities; v != nil {
		out["vulnerabilities"] = map[string]any{
			"critical": v.Critical, "high": v.High, "medium": v.Medium, "low": v.Low,
			"unknown": v.Unknown, "report": v.Report,
			"suppressed": map[string]any{
				"critical": v.Suppressed.Critical, "high": v.Suppressed.High, "medium": v.Suppressed.Medium,
				"low": v.Suppressed.Low, "unknown": v.Suppressed.Unknown,
			},
		}
	}
	if chart != "" {
		c, ok := ParseChartVersion(chart)
		out["chart"] = map[string]any{
			"version": c.Version, "module": c.Module, "major": c.Major, "minor": c.Minor,
			"release": c.Release, "sha": c.SHA, "valid": ok,
			// The chart is built from the commit Jenkins built: the local
			// merge commit of a PR-merge build, or the head itself.
			"pinned": ok && c.PinnedTo(b.MergeSHA, b.HeadSHA),
		}
	}
	if baseChart != "" {
		c, ok := ParseChartVersion(baseChart)
		out["base_chart"] = map[string]any{
			"version": c.Version, "module": c.Module, "major": c.Major, "minor": c.Minor,
			"release": c.Release, "sha": c.SHA, "valid": ok,
		}
	}
	return out
}

// baseTipInput is the tip of the pull request's base branch, null while it
// is unknown (or known only for another branch, before a retarget): a
// PR-merge build counts only when it merged this commit.
func baseTipInput(ev *Evidence) any {
	t := ev.BaseTip
	if t == nil || ev.PR == nil || t.Ref != ev.PR.BaseRef || t.SHA == "" {
		return nil
	}
	return map[string]any{
		"ref":    t.Ref,
		"sha":    t.SHA,
		"at":     t.At.UTC().Format(time.RFC3339),
		"source": t.Source,
	}
}

func coverageInput(c *Coverage) any {
	if c == nil {
		return nil
	}
	m := map[string]any{"line": c.Line, "branch": nil, "source": c.Source}
	if c.Branch != nil {
		m["branch"] = *c.Branch
	}
	return m
}

func baselineInput(b *Build) any {
	if b == nil {
		return nil
	}
	m := map[string]any{"job": b.JobPath, "number": int(b.Number), "head_sha": b.HeadSHA, "coverage": coverageInput(b.Coverage), "tests": nil}
	if b.Tests != nil {
		m["tests"] = map[string]any{"total": b.Tests.Total}
	}
	return m
}

// staleBuilds counts this pull request's builds of older heads: kept for
// the record, never counted.
func staleBuilds(ev *Evidence) int {
	n := 0
	head := ev.HeadSHA()
	for _, b := range ev.Builds {
		if b.HeadSHA != head {
			n++
		}
	}
	return n
}

func votesInput(votes []Vote, head string) []any {
	out := make([]any, 0, len(votes))
	for _, v := range votes {
		out = append(out, map[string]any{
			"user":       v.User,
			"vote":       v.Vote,
			"reason":     v.Reason,
			"refused":    v.Refused,
			"comment_id": v.CommentID,
			"head_sha":   v.HeadSHA,
			"current":    head != "" && v.HeadSHA == head,
		})
	}
	return out
}

// nogosInput lists the NOGOs that stand, whichever head they were cast on:
// a NOGO is about the release, not a commit. Each carries the lifts that
// name its author after it; the policy decides which lifters may.
func nogosInput(nogos []Nogo, head string) []any {
	out := make([]any, 0, len(nogos))
	for _, n := range nogos {
		lifts := make([]any, 0, len(n.Lifts))
		for _, l := range n.Lifts {
			lifts = append(lifts, map[string]any{"user": l.User, "reason": l.Reason, "comment_id": l.CommentID})
		}
		out = append(out, map[string]any{
			"user":       n.User,
			"reason":     n.Reason,
			"comment_id": n.CommentID,
			"head_sha":   n.HeadSHA,
			"current":    head != "" && n.HeadSHA == head,
			"lifts":      lifts,
		})
	}
	return out
}

// liftsInput lists every /lift comment, for the policy's verdicts.
func liftsInput(lifts []Lift, head string) []any {
	out := make([]any, 0, len(lifts))
	for _, l := range lifts {
		out = append(out, map[string]any{
			"user":       l.User,
			"target":     l.Target,
			"reason":     l.Reason,
			"refused":    l.Refused,
			"comment_id": l.CommentID,
			"head_sha":   l.HeadSHA,
			"current":    head != "" && l.HeadSHA == head,
		})
	}
	return out
}

// teamsInput gives, per team, the users checked and whether they are
// active members; a user not listed has not been checked.
func teamsInput(ms map[string]Membership) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		t, ok := out[m.Team].(map[string]any)
		if !ok {
			t = map[string]any{}
			out[m.Team] = t
		}
		t[m.User] = m.Active
	}
	return out
}

func checklistInput(items map[string]bool) map[string]any {
	out := make(map[string]any, len(items))
	for k, v := range items {
		out[k] = v
	}
	return out
}

func linksInput(ev *Evidence, body, branch string) map[string]any {
	owner, repo := ev.Key.Owner, ev.Key.Repo
	refs := ParseIssueLinks(body, branch, owner, repo)
	issues := make([]any, 0, len(refs))
	for _, r := range refs {
		issues = append(issues, refInput(ev, r))
	}
	merged := make([]any, 0, len(ev.MergedPulls))
	for _, p := range ev.MergedPulls {
		links := make([]any, 0, len(p.Links))
		for _, r := range p.Links {
			links = append(links, refInput(ev, r))
		}
		merged = append(merged, map[string]any{
			"number": p.Number, "title": p.Title, "author": p.Author, "head_ref": p.HeadRef, "links": links,
		})
	}
	return map[string]any{
		"issues":             issues,
		"merged_pulls":       merged,
		"merged_pulls_known": !ev.MergedPullsAt.IsZero(),
	}
}

// refInput describes one issue link with its ZenHub verification:
// zenhub is null until the issue was looked up.
func refInput(ev *Evidence, r IssueRef) map[string]any {
	m := map[string]any{"owner": r.Owner, "repo": r.Repo, "number": r.Number, "from": r.From, "ref": r.String(), "zenhub": nil}
	if c, ok := ev.IssueChecks[r.String()]; ok {
		m["zenhub"] = map[string]any{"found": c.Found, "pipeline": c.Pipeline}
	}
	return m
}

func pullInput(pr *PullRequest, gated BranchPairs) map[string]any {
	labels := make([]any, len(pr.Labels))
	for i, l := range pr.Labels {
		labels[i] = l
	}
	labeledAt := make(map[string]any, len(pr.LabeledAt))
	for l, at := range pr.LabeledAt {
		labeledAt[l] = at.UTC().Format(time.RFC3339)
	}
	return map[string]any{
		"owner":      pr.Key.Owner,
		"repo":       pr.Key.Repo,
		"number":     pr.Key.Number,
		"title":      pr.Title,
		"body":       pr.Body,
		"author":     pr.Author,
		"state":      pr.State,
		"draft":      pr.Draft,
		"merged":     pr.Merged,
		"head_ref":   pr.HeadRef,
		"head_sha":   pr.HeadSHA,
		"base_ref":   pr.BaseRef,
		"base_sha":   pr.BaseSHA,
		"labels":     labels,
		"labeled_at": labeledAt,
		"url":        pr.HTMLURL,
		"gated":      gated.Release(pr),
		"fork":       pr.FromFork(),
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
		// The verdict that counts is the first creator's: another
		// creator's newer report is named in takeover, never in state.
		state, desc, url := "pending", "", ""
		if o := c.Owner(); o != nil {
			state, desc, url = o.State, o.Description, o.URL
		}
		var takeover any
		if c.TakenOver() {
			takeover = map[string]any{
				"creator":     c.Creator,
				"state":       c.State,
				"description": c.Description,
				"url":         c.URL,
			}
		}
		creator := c.FirstCreator
		if creator == "" {
			creator = c.Creator // held before first creators were recorded
		}
		others := make([]any, 0, len(c.OtherCreators))
		for _, o := range c.OtherCreators {
			others = append(others, o)
		}
		out = append(out, map[string]any{
			"name":           c.Name,
			"kind":           c.Kind,
			"state":          state,
			"description":    desc,
			"url":            url,
			"creator":        creator,
			"other_creators": others,
			"takeover":       takeover,
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
