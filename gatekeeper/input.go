package gatekeeper

import (
	"reflect"
	"strings"
	"sync"
	"time"
)

// InputVersion is the version of the policy input document. It changes only
// when a field changes meaning or disappears; new fields keep the version.
// Input is the document's one definition; policies/README.md explains
// every field.
const InputVersion = 1

// Input is the policy input document (Rego's input), version InputVersion.
// Its JSON is what the policy reads: every field is always present, null
// when unknown, and lists and objects are empty rather than null. The
// decision records keep it, replay and preview evaluate it again, and the
// pages read it. Add a field only with its line in policies/README.md.
type Input struct {
	Version int    `json:"version"`
	Now     string `json:"now"`    // RFC 3339, UTC
	NowNS   int64  `json:"now_ns"` // Now in Unix nanoseconds
	// Sources says, per source (github, jenkins, zenhub), whether its last
	// read succeeded.
	Sources     map[string]InputSource `json:"sources"`
	PullRequest *InputPull             `json:"pull_request"`
	// Reviews are each reviewer's latest review; Current is true when it
	// was given on the head.
	Reviews []InputReview `json:"reviews"`
	// Checks are the statuses and check runs on the head, the
	// gatekeeper's own context left out.
	Checks   []InputCheck   `json:"checks"`
	Build    *InputBuild    `json:"build"`
	BaseTip  *InputBaseTip  `json:"base_tip"`
	Baseline *InputBaseline `json:"baseline"`
	// StaleBuilds counts the builds of older heads: kept, never counted.
	StaleBuilds int         `json:"stale_builds"`
	Votes       []InputVote `json:"votes"`
	Nogos       []InputNogo `json:"nogos"`
	Lifts       []InputLift `json:"lifts"`
	// Teams maps "org/team" to the users checked and whether each is an
	// active member; a user not listed has not been checked.
	Teams     map[string]map[string]bool `json:"teams"`
	Checklist map[string]bool            `json:"checklist"`
	Links     InputLinks                 `json:"links"`
}

// InputSource is input.sources[name].
type InputSource struct {
	OK        bool   `json:"ok"`
	Error     string `json:"error"`
	Attempts  int    `json:"attempts"`
	CheckedAt string `json:"checked_at"`
}

// InputPull is input.pull_request.
type InputPull struct {
	Owner     string            `json:"owner"`
	Repo      string            `json:"repo"`
	Number    int               `json:"number"`
	Title     string            `json:"title"`
	Body      string            `json:"body"`
	Author    string            `json:"author"`
	State     string            `json:"state"`
	Draft     bool              `json:"draft"`
	Merged    bool              `json:"merged"`
	HeadRef   string            `json:"head_ref"`
	HeadSHA   string            `json:"head_sha"`
	BaseRef   string            `json:"base_ref"`
	BaseSHA   string            `json:"base_sha"`
	Labels    []string          `json:"labels"`
	LabeledAt map[string]string `json:"labeled_at"` // label → RFC 3339
	URL       string            `json:"url"`
	Gated     bool              `json:"gated"`
	Fork      bool              `json:"fork"`
}

// InputReview is one of input.reviews.
type InputReview struct {
	User        string `json:"user"`
	State       string `json:"state"`
	CommitID    string `json:"commit_id"`
	Current     bool   `json:"current"`
	SubmittedAt string `json:"submitted_at"`
}

// InputCheck is one of input.checks.
type InputCheck struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// State, Description and URL are the verdict of the check's first
	// creator; another creator's newer report is Takeover.
	State       string `json:"state"`
	Description string `json:"description"`
	URL         string `json:"url"`
	// Creator is who first reported the check on the head.
	Creator string `json:"creator"`
	// OtherCreators are everyone else who reported it.
	OtherCreators []string `json:"other_creators"`
	// Takeover is another creator's newer report, while it is the newest.
	Takeover *InputTakeover `json:"takeover"`
}

// InputTakeover is input.checks[].takeover.
type InputTakeover struct {
	Creator     string `json:"creator"`
	State       string `json:"state"`
	Description string `json:"description"`
	URL         string `json:"url"`
}

// InputBuild is input.build, the head's current build.
type InputBuild struct {
	Job      string `json:"job"`
	Number   int    `json:"number"`
	URL      string `json:"url"`
	Strategy string `json:"strategy"`
	HeadSHA  string `json:"head_sha"`
	BaseSHA  string `json:"base_sha"`
	MergeSHA string `json:"merge_sha"`
	Phase    string `json:"phase"`
	Result   string `json:"result"`
	Building bool   `json:"building"`
	Verified bool   `json:"verified"`
	// Verification is VerificationJenkins, VerificationPending or
	// VerificationNone.
	Verification    string          `json:"verification"`
	Disputes        []string        `json:"disputes"`
	Stages          []InputStage    `json:"stages"`
	Tests           *InputTests     `json:"tests"`
	Coverage        *InputCoverage  `json:"coverage"`
	Vulnerabilities *InputVulns     `json:"vulnerabilities"`
	ImageDigest     string          `json:"image_digest"`
	Chart           *InputChart     `json:"chart"`
	BaseChart       *InputBaseChart `json:"base_chart"`
	Missing         []string        `json:"missing"`
}

// InputStage is one of input.build.stages.
type InputStage struct {
	Name   string `json:"name"`
	Key    string `json:"key"`
	Status string `json:"status"`
}

// InputTests is input.build.tests; Added is null without a baseline.
type InputTests struct {
	Total   int  `json:"total"`
	Passed  int  `json:"passed"`
	Failed  int  `json:"failed"`
	Skipped int  `json:"skipped"`
	Added   *int `json:"added"`
}

// InputCoverage is input.build.coverage and input.baseline.coverage.
type InputCoverage struct {
	Line   float64  `json:"line"`
	Branch *float64 `json:"branch"`
	Source string   `json:"source"`
}

// InputVulns is input.build.vulnerabilities.
type InputVulns struct {
	Critical   int             `json:"critical"`
	High       int             `json:"high"`
	Medium     int             `json:"medium"`
	Low        int             `json:"low"`
	Unknown    int             `json:"unknown"`
	Report     string          `json:"report"`
	Suppressed InputSeverities `json:"suppressed"`
}

// InputSeverities is input.build.vulnerabilities.suppressed.
type InputSeverities struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Unknown  int `json:"unknown"`
}

// InputChart is input.build.chart.
type InputChart struct {
	Version string `json:"version"`
	Module  string `json:"module"`
	Major   string `json:"major"`
	Minor   string `json:"minor"`
	Release string `json:"release"`
	SHA     string `json:"sha"`
	Valid   bool   `json:"valid"`
	// Pinned: the chart's sha is the commit Jenkins built.
	Pinned bool `json:"pinned"`
}

// InputBaseChart is input.build.base_chart.
type InputBaseChart struct {
	Version string `json:"version"`
	Module  string `json:"module"`
	Major   string `json:"major"`
	Minor   string `json:"minor"`
	Release string `json:"release"`
	SHA     string `json:"sha"`
	Valid   bool   `json:"valid"`
}

// InputBaseTip is input.base_tip.
type InputBaseTip struct {
	Ref    string `json:"ref"`
	SHA    string `json:"sha"`
	At     string `json:"at"`
	Source string `json:"source"`
}

// InputBaseline is input.baseline, the base branch's latest build.
type InputBaseline struct {
	Job      string              `json:"job"`
	Number   int                 `json:"number"`
	HeadSHA  string              `json:"head_sha"`
	Coverage *InputCoverage      `json:"coverage"`
	Tests    *InputBaselineTests `json:"tests"`
	// Missing names the reports Jenkins said the build does not have
	// (Build.Missing): "coverage" when it archived none, so the policy
	// fails rather than waits for it.
	Missing []string `json:"missing"`
}

// InputBaselineTests is input.baseline.tests.
type InputBaselineTests struct {
	Total int `json:"total"`
}

// InputVote is one of input.votes.
type InputVote struct {
	User      string `json:"user"`
	Vote      string `json:"vote"`
	Reason    string `json:"reason"`
	Refused   string `json:"refused"`
	CommentID int64  `json:"comment_id"`
	HeadSHA   string `json:"head_sha"`
	Current   bool   `json:"current"`
}

// InputNogo is one of input.nogos.
type InputNogo struct {
	User      string          `json:"user"`
	Reason    string          `json:"reason"`
	CommentID int64           `json:"comment_id"`
	HeadSHA   string          `json:"head_sha"`
	Current   bool            `json:"current"`
	Lifts     []InputNogoLift `json:"lifts"`
}

// InputNogoLift is one of input.nogos[_].lifts.
type InputNogoLift struct {
	User      string `json:"user"`
	Reason    string `json:"reason"`
	CommentID int64  `json:"comment_id"`
}

// InputLift is one of input.lifts.
type InputLift struct {
	User      string `json:"user"`
	Target    string `json:"target"`
	Reason    string `json:"reason"`
	Refused   string `json:"refused"`
	CommentID int64  `json:"comment_id"`
	HeadSHA   string `json:"head_sha"`
	Current   bool   `json:"current"`
}

// InputLinks is input.links.
type InputLinks struct {
	Issues           []InputIssue      `json:"issues"`
	MergedPulls      []InputMergedPull `json:"merged_pulls"`
	MergedPullsKnown bool              `json:"merged_pulls_known"`
}

// InputIssue is one issue link; Zenhub is null until it was looked up.
type InputIssue struct {
	Owner  string       `json:"owner"`
	Repo   string       `json:"repo"`
	Number int          `json:"number"`
	From   string       `json:"from"`
	Ref    string       `json:"ref"`
	Zenhub *InputZenhub `json:"zenhub"`
}

// InputZenhub is an issue link's ZenHub verification.
type InputZenhub struct {
	Found    bool   `json:"found"`
	Pipeline string `json:"pipeline"`
}

// InputMergedPull is one of input.links.merged_pulls.
type InputMergedPull struct {
	Number  int          `json:"number"`
	Title   string       `json:"title"`
	Author  string       `json:"author"`
	HeadRef string       `json:"head_ref"`
	Links   []InputIssue `json:"links"`
}

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

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// BuildInput turns evidence into the policy input document. Only facts
// about the current head commit count: reviews and checks for older heads
// are marked stale or left out, never passed as current.
func BuildInput(ev *Evidence, opt InputOptions) *Input {
	head := ev.HeadSHA()
	in := &Input{
		Version:     InputVersion,
		Now:         rfc3339(opt.Now),
		NowNS:       opt.Now.UnixNano(),
		Sources:     sourcesInput(ev.Sources),
		Reviews:     reviewsInput(ev.LatestReviews(), head),
		Checks:      checksInput(ev.Checks, head, opt.StatusContext),
		Build:       buildInput(ev.CurrentBuild(), ev.Baseline, opt),
		BaseTip:     baseTipInput(ev),
		Baseline:    baselineInput(ev.Baseline),
		StaleBuilds: staleBuilds(ev),
		Votes:       votesInput(ev.Votes(), head),
		Nogos:       nogosInput(ev.Nogos(), head),
		Lifts:       liftsInput(ev.Lifts(), head),
		Teams:       teamsInput(ev.Memberships),
	}
	body, branch := "", ""
	if ev.PR != nil {
		in.PullRequest = pullInput(ev.PR, opt.Gated)
		body, branch = ev.PR.Body, ev.PR.HeadRef
	}
	in.Checklist = ParseChecklist(body)
	if in.Checklist == nil {
		in.Checklist = map[string]bool{}
	}
	in.Links = linksInput(ev, body, branch)
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

func buildInput(b, base *Build, opt InputOptions) *InputBuild {
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
	stages := make([]InputStage, len(b.Stages))
	for i, st := range b.Stages {
		key := st.Key
		if keyOf != nil {
			key = keyOf(st.Name)
		}
		stages[i] = InputStage{Name: st.Name, Key: key, Status: st.Status}
	}
	out := &InputBuild{
		Job:          b.JobPath,
		Number:       int(b.Number),
		URL:          b.URL,
		Strategy:     b.Strategy,
		HeadSHA:      b.HeadSHA,
		BaseSHA:      b.BaseSHA,
		MergeSHA:     b.MergeSHA,
		Phase:        b.Phase,
		Result:       b.Result,
		Building:     b.Building,
		Verified:     b.Verified,
		Verification: verification,
		Disputes:     append([]string{}, b.Disputes()...),
		Stages:       stages,
		Coverage:     coverageInput(b.Coverage),
		ImageDigest:  digest,
		Missing:      append([]string{}, b.Missing...),
	}
	if t := b.Tests; t != nil {
		out.Tests = &InputTests{Total: t.Total, Passed: t.Passed, Failed: t.Failed, Skipped: t.Skipped}
		if base != nil && base.Tests != nil {
			added := t.Total - base.Tests.Total
			out.Tests.Added = &added
		}
	}
	if v := b.Vulnerabilities; v != nil {
		s := v.Suppressed
		out.Vulnerabilities = &InputVulns{
			Critical: v.Critical, High: v.High, Medium: v.Medium, Low: v.Low, Unknown: v.Unknown, Report: v.Report,
			Suppressed: InputSeverities{Critical: s.Critical, High: s.High, Medium: s.Medium, Low: s.Low, Unknown: s.Unknown},
		}
	}
	if chart != "" {
		c, ok := ParseChartVersion(chart)
		out.Chart = &InputChart{
			Version: c.Version, Module: c.Module, Major: c.Major, Minor: c.Minor, Release: c.Release, SHA: c.SHA, Valid: ok,
			// The chart is built from the commit Jenkins built: the local
			// merge commit of a PR-merge build, or the head itself.
			Pinned: ok && c.PinnedTo(b.MergeSHA, b.HeadSHA),
		}
	}
	if baseChart != "" {
		c, ok := ParseChartVersion(baseChart)
		out.BaseChart = &InputBaseChart{Version: c.Version, Module: c.Module, Major: c.Major, Minor: c.Minor, Release: c.Release, SHA: c.SHA, Valid: ok}
	}
	return out
}

// baseTipInput is the tip of the pull request's base branch, null while it
// is unknown (or known only for another branch, before a retarget): a
// PR-merge build counts only when it merged this commit.
func baseTipInput(ev *Evidence) *InputBaseTip {
	t := ev.BaseTip
	if t == nil || ev.PR == nil || t.Ref != ev.PR.BaseRef || t.SHA == "" {
		return nil
	}
	return &InputBaseTip{Ref: t.Ref, SHA: t.SHA, At: rfc3339(t.At), Source: t.Source}
}

func coverageInput(c *Coverage) *InputCoverage {
	if c == nil {
		return nil
	}
	out := &InputCoverage{Line: c.Line, Source: c.Source}
	if c.Branch != nil {
		branch := *c.Branch
		out.Branch = &branch
	}
	return out
}

func baselineInput(b *Build) *InputBaseline {
	if b == nil {
		return nil
	}
	out := &InputBaseline{Job: b.JobPath, Number: int(b.Number), HeadSHA: b.HeadSHA, Coverage: coverageInput(b.Coverage),
		Missing: append([]string{}, b.Missing...)}
	if b.Tests != nil {
		out.Tests = &InputBaselineTests{Total: b.Tests.Total}
	}
	return out
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

func votesInput(votes []Vote, head string) []InputVote {
	out := make([]InputVote, 0, len(votes))
	for _, v := range votes {
		out = append(out, InputVote{User: v.User, Vote: v.Vote, Reason: v.Reason, Refused: v.Refused,
			CommentID: v.CommentID, HeadSHA: v.HeadSHA, Current: head != "" && v.HeadSHA == head})
	}
	return out
}

// nogosInput lists the NOGOs that stand, whichever head they were cast on:
// a NOGO is about the release, not a commit. Each carries the lifts that
// name its author after it; the policy decides which lifters may.
func nogosInput(nogos []Nogo, head string) []InputNogo {
	out := make([]InputNogo, 0, len(nogos))
	for _, n := range nogos {
		lifts := make([]InputNogoLift, 0, len(n.Lifts))
		for _, l := range n.Lifts {
			lifts = append(lifts, InputNogoLift{User: l.User, Reason: l.Reason, CommentID: l.CommentID})
		}
		out = append(out, InputNogo{User: n.User, Reason: n.Reason, CommentID: n.CommentID, HeadSHA: n.HeadSHA,
			Current: head != "" && n.HeadSHA == head, Lifts: lifts})
	}
	return out
}

// liftsInput lists every /lift comment, for the policy's verdicts.
func liftsInput(lifts []Lift, head string) []InputLift {
	out := make([]InputLift, 0, len(lifts))
	for _, l := range lifts {
		out = append(out, InputLift{User: l.User, Target: l.Target, Reason: l.Reason, Refused: l.Refused,
			CommentID: l.CommentID, HeadSHA: l.HeadSHA, Current: head != "" && l.HeadSHA == head})
	}
	return out
}

// teamsInput gives, per team, the users checked and whether they are
// active members; a user not listed has not been checked.
func teamsInput(ms map[string]Membership) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, m := range ms {
		t, ok := out[m.Team]
		if !ok {
			t = map[string]bool{}
			out[m.Team] = t
		}
		t[m.User] = m.Active
	}
	return out
}

func linksInput(ev *Evidence, body, branch string) InputLinks {
	owner, repo := ev.Key.Owner, ev.Key.Repo
	refs := ParseIssueLinks(body, branch, owner, repo)
	issues := make([]InputIssue, 0, len(refs))
	for _, r := range refs {
		issues = append(issues, refInput(ev, r))
	}
	merged := make([]InputMergedPull, 0, len(ev.MergedPulls))
	for _, p := range ev.MergedPulls {
		links := make([]InputIssue, 0, len(p.Links))
		for _, r := range p.Links {
			links = append(links, refInput(ev, r))
		}
		merged = append(merged, InputMergedPull{Number: p.Number, Title: p.Title, Author: p.Author, HeadRef: p.HeadRef, Links: links})
	}
	return InputLinks{Issues: issues, MergedPulls: merged, MergedPullsKnown: !ev.MergedPullsAt.IsZero()}
}

// refInput describes one issue link with its ZenHub verification:
// zenhub is null until the issue was looked up.
func refInput(ev *Evidence, r IssueRef) InputIssue {
	out := InputIssue{Owner: r.Owner, Repo: r.Repo, Number: r.Number, From: r.From, Ref: r.String()}
	if c, ok := ev.IssueChecks[r.String()]; ok {
		out.Zenhub = &InputZenhub{Found: c.Found, Pipeline: c.Pipeline}
	}
	return out
}

func pullInput(pr *PullRequest, gated BranchPairs) *InputPull {
	labeledAt := make(map[string]string, len(pr.LabeledAt))
	for l, at := range pr.LabeledAt {
		labeledAt[l] = rfc3339(at)
	}
	return &InputPull{
		Owner: pr.Key.Owner, Repo: pr.Key.Repo, Number: pr.Key.Number,
		Title: pr.Title, Body: pr.Body, Author: pr.Author, State: pr.State,
		Draft: pr.Draft, Merged: pr.Merged,
		HeadRef: pr.HeadRef, HeadSHA: pr.HeadSHA, BaseRef: pr.BaseRef, BaseSHA: pr.BaseSHA,
		Labels: append([]string{}, pr.Labels...), LabeledAt: labeledAt,
		URL: pr.HTMLURL, Gated: gated.Release(pr), Fork: pr.FromFork(),
	}
}

func reviewsInput(latest []Review, head string) []InputReview {
	out := make([]InputReview, 0, len(latest))
	for _, r := range latest {
		out = append(out, InputReview{User: r.User, State: r.State, CommitID: r.CommitID,
			Current: head != "" && r.CommitID == head, SubmittedAt: rfc3339(r.SubmittedAt)})
	}
	return out
}

func checksInput(checks []Check, head, own string) []InputCheck {
	out := make([]InputCheck, 0, len(checks))
	for _, c := range checks {
		if head == "" || c.SHA != head || c.Name == own {
			continue
		}
		// The verdict that counts is the first creator's: another
		// creator's newer report is named in takeover, never in state.
		ic := InputCheck{Name: c.Name, Kind: c.Kind, State: "pending", Creator: c.FirstCreator, OtherCreators: []string{}}
		if o := c.Owner(); o != nil {
			ic.State, ic.Description, ic.URL = o.State, o.Description, o.URL
		}
		if c.TakenOver() {
			ic.Takeover = &InputTakeover{Creator: c.Creator, State: c.State, Description: c.Description, URL: c.URL}
		}
		if ic.Creator == "" {
			ic.Creator = c.Creator // held before first creators were recorded
		}
		ic.OtherCreators = append(ic.OtherCreators, c.OtherCreators...)
		out = append(out, ic)
	}
	return out
}

func sourcesInput(src map[string]SourceStatus) map[string]InputSource {
	out := make(map[string]InputSource, len(src))
	for n, s := range src {
		out[n] = InputSource{OK: s.OK, Error: s.Error, Attempts: s.Attempts, CheckedAt: rfc3339(s.CheckedAt)}
	}
	return out
}

// Map returns the document as plain Go values (map[string]any, []any,
// string, bool, int, int64, float64, nil), keyed as its JSON is: for
// tests and for code that walks the document generically.
func (in *Input) Map() map[string]any {
	if in == nil {
		return nil
	}
	m, _ := plain(reflect.ValueOf(in).Elem()).(map[string]any)
	return m
}

// JSONField is one field of a struct as encoding/json names it.
type JSONField struct {
	Index     int
	Name      string
	OmitEmpty bool
}

var fieldCache sync.Map // reflect.Type → []JSONField

// JSONFields lists the exported fields of the struct type t under their
// JSON names, as encoding/json would encode them (no embedded structs: the
// Input types have none). Cached per type.
func JSONFields(t reflect.Type) []JSONField {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]JSONField)
	}
	var out []JSONField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, JSONField{Index: i, Name: name, OmitEmpty: strings.Contains(","+opts+",", ",omitempty,")})
	}
	f, _ := fieldCache.LoadOrStore(t, out)
	return f.([]JSONField)
}

// plain converts v to plain Go values, as Map documents.
func plain(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return plain(v.Elem())
	case reflect.Struct:
		fields := JSONFields(v.Type())
		m := make(map[string]any, len(fields))
		for _, f := range fields {
			fv := v.Field(f.Index)
			if f.OmitEmpty && JSONEmpty(fv) {
				continue
			}
			m[f.Name] = plain(fv)
		}
		return m
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		m := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			m[it.Key().String()] = plain(it.Value())
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		s := make([]any, v.Len())
		for i := range s {
			s[i] = plain(v.Index(i))
		}
		return s
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int:
		return int(v.Int())
	case reflect.Int64:
		return v.Int()
	case reflect.Float64:
		return v.Float()
	}
	return v.Interface()
}

// JSONEmpty reports whether encoding/json's omitempty leaves v out.
func JSONEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
