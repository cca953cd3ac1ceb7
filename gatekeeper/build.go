package gatekeeper

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Build is what the gatekeeper knows about one Jenkins build.
//
// Jenkins is the authority for its builds. With the Jenkins REST API
// configured (JENKINS_URL), the facts (result, phase, revisions, stages,
// tests, coverage, scan) are what the API last stated (Verified); a
// notification or a pipeline report, which anyone holding the webhook token
// can send, is a Claim: it only says "look at build N of job J", is kept
// for the record, and brings what no API has (image digest, chart
// version), which counts only for a build Jenkins reports finished and
// successful for the same head. Without the API the facts are the claims'
// and Verified stays false.
//
// A nil report pointer (Tests, Coverage, Vulnerabilities) means "not known";
// Missing says which of them Jenkins answered it does not have, so that a
// report that does not exist is never mistaken for an empty pass.
type Build struct {
	// JobPath is the job's path relative to the Jenkins root, names
	// URL-escaped as Jenkins writes them and without a trailing slash:
	// "job/acme/job/shop/job/PR-12-merge".
	JobPath string `json:"job_path"`
	// JobName is the last name of JobPath, decoded: "PR-12-merge".
	JobName string `json:"job_name"`
	Number  int64  `json:"number"`
	// Key is the pull request the job builds; the parts not known are
	// zero (Number is 0 for a branch job such as master).
	Key PullKey `json:"key"`
	// Strategy is "merge" or "head" for PR-<n>-merge / PR-<n>-head jobs,
	// "" for PR-<n> and branch jobs.
	Strategy string `json:"strategy,omitempty"`
	// HeadSHA is the pull request head the build was made for (for a
	// branch job, the branch tip it built). It is the sha the evidence is
	// pinned to; "" when unknown, which never matches a head.
	HeadSHA string `json:"head_sha,omitempty"`
	// BaseSHA is the target branch commit a merge build merged with, when
	// Jenkins exposes it.
	BaseSHA string `json:"base_sha,omitempty"`
	// MergeSHA is the commit Jenkins actually built (GIT_COMMIT). For a
	// PR-merge build it is a local merge commit unknown to GitHub.
	MergeSHA string `json:"merge_sha,omitempty"`
	// Phase is the notification phase: QUEUED, STARTED, COMPLETED or
	// FINALIZED (from the API: STARTED while it runs, else COMPLETED).
	Phase string `json:"phase,omitempty"`
	// Result is SUCCESS, UNSTABLE, FAILURE, ABORTED or NOT_BUILT, and ""
	// while the build runs.
	Result   string `json:"result,omitempty"`
	Building bool   `json:"building"`
	// Verified is true when the facts are what Jenkins' REST API stated
	// when it was last read, at VerifiedAt. Only the Jenkins source sets
	// it; a notification or a report never does.
	Verified   bool      `json:"verified,omitempty"`
	VerifiedAt time.Time `json:"verified_at"`
	// Gone is true when Jenkins answered, at VerifiedAt, that it has no
	// such build: its claims are all disputed and it never counts.
	Gone bool `json:"gone,omitempty"`
	// Refused says why a build Jenkins has is no evidence whatever its
	// result, "" when it counts: e.g. "replayed with an edited
	// Jenkinsfile (Replayed #57)". The build is kept, with Jenkins'
	// facts, for the page.
	Refused string `json:"refused,omitempty"`
	// Recheck is true when a claim arrived after the build was read from
	// the API: the Jenkins source reads it again.
	Recheck   bool          `json:"recheck,omitempty"`
	URL       string        `json:"url,omitempty"`
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"duration_ns"`
	// Stages are the Pipeline stages in the order they ran.
	Stages          []Stage      `json:"stages,omitempty"`
	Tests           *TestSummary `json:"tests,omitempty"`
	Coverage        *Coverage    `json:"coverage,omitempty"`
	Vulnerabilities *VulnCounts  `json:"vulnerabilities,omitempty"`
	// ImageDigest is the pushed container image digest (sha256:…), as
	// claimed by the newest claim that names one and counts (see
	// Build.claimed: not disputed, naming the commit Jenkins built);
	// "" when claims that count disagree on any of the three values.
	ImageDigest string `json:"image_digest,omitempty"`
	// ChartVersion is the published Helm chart version,
	// <module>-<major>-<minor>-<release>-<commit_sha>, chosen as
	// ImageDigest is.
	ChartVersion string `json:"chart_version,omitempty"`
	// BaseChartVersion is the Helm chart version of the base branch as
	// merged (what master releases today), in the same form, chosen as
	// ImageDigest is; the policy compares the two to tell a major, minor
	// or release-only release.
	BaseChartVersion string `json:"base_chart_version,omitempty"`
	// Missing names the reports Jenkins said it does not have for this
	// build (ReportStages, ReportTests, ReportCoverage, and the Jenkins
	// source's "vulnerabilities" for a finished build that archived no
	// scan report). The policy fails on each rather than waiting for it.
	Missing []string `json:"missing,omitempty"`
	// Claims are the notifications and reports received about the build,
	// oldest first, at most maxClaims.
	Claims []Claim `json:"claims,omitempty"`
	// Dropped are claims that may still count (they bring an image digest
	// or chart version, and were not shown not to name the commit Jenkins
	// built) pushed out of Claims past maxClaims, oldest first, at most
	// maxClaims. They count as Claims do (Build.claimed), so that no flood
	// can push the pipeline's own report out of the count; once Jenkins
	// stated the merge sha, those that can never count are forgotten.
	Dropped []Claim `json:"dropped_claims,omitempty"`
	// LostNamed is set when a claim naming a commit had to be dropped
	// from Dropped too: it may have named the commit Jenkins built, so no
	// claim counts any more. LostUnnamed is the same for a claim that
	// names no commit, which matters only while Jenkins was not read.
	LostNamed   bool `json:"lost_named_claims,omitempty"`
	LostUnnamed bool `json:"lost_unnamed_claims,omitempty"`
	// Disagreed, once set, says how claims naming the commit Jenkins built
	// disagreed (Build.claimed): then no chart version or image digest
	// counts, whatever claims are dropped later, so that dropping claims
	// never turns a disagreement into agreement.
	Disagreed []string  `json:"claims_disagreed,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Claim is what one notification or pipeline report said about a build.
type Claim struct {
	Delivery string `json:"delivery,omitempty"`
	// Event is the event name: "jenkins.completed", "jenkins.report", ….
	Event            string    `json:"event"`
	Phase            string    `json:"phase,omitempty"`
	Result           string    `json:"result,omitempty"`
	HeadSHA          string    `json:"head_sha,omitempty"`
	BaseSHA          string    `json:"base_sha,omitempty"`
	MergeSHA         string    `json:"merge_sha,omitempty"`
	ImageDigest      string    `json:"image_digest,omitempty"`
	ChartVersion     string    `json:"chart_version,omitempty"`
	BaseChartVersion string    `json:"base_chart_version,omitempty"`
	At               time.Time `json:"at"`
	// Disputes say what Jenkins' REST API contradicts in the claim, as of
	// the build's last read ("result SUCCESS, Jenkins says FAILURE"). A
	// disputed claim is ignored.
	Disputes []string `json:"disputes,omitempty"`
}

// maxClaims bounds Build.Claims; the oldest are dropped first.
const maxClaims = 20

// Contradictions returns what the facts of b, as Jenkins' REST API stated
// them, contradict in claim c: nothing while b is not Verified or Gone. A
// finished result claimed of a build Jenkins says is still running is not
// a contradiction (yet): Jenkins notifies before its API shows the end.
func Contradictions(b Build, c Claim) []string {
	if b.Gone {
		return []string{fmt.Sprintf("Jenkins has no build #%d", b.Number)}
	}
	if !b.Verified {
		return nil
	}
	var out []string
	for _, s := range []struct{ name, claimed, jenkins string }{
		{"head", c.HeadSHA, b.HeadSHA}, {"base", c.BaseSHA, b.BaseSHA}, {"merge", c.MergeSHA, b.MergeSHA},
	} {
		if s.claimed != "" && s.jenkins != "" && s.claimed != s.jenkins {
			out = append(out, fmt.Sprintf("%s %s, Jenkins says %s", s.name, s.claimed, s.jenkins))
		}
	}
	if c.Result != "" && !b.Building && b.Result != "" && c.Result != b.Result {
		out = append(out, fmt.Sprintf("result %s, Jenkins says %s", c.Result, b.Result))
	}
	return out
}

// CountsFor reports whether b can be the PR-merge build of pull request
// key at head: a build of that head and that pull request, of the merge
// result (not a "head" strategy build), that Jenkins has (not Gone) and
// did not refuse as evidence (a Replay). Whether Jenkins has read it yet
// (Verified) is the caller's question.
func (b *Build) CountsFor(key PullKey, head string) bool {
	return head != "" && b.HeadSHA == head && b.Strategy != "head" && !b.Gone && b.Refused == "" && b.Key.SamePull(key)
}

// Disputes lists the build's disputed claims, one line each:
// "jenkins.completed <delivery>: result SUCCESS, Jenkins says FAILURE",
// then why claims that bring an image digest or chart version did not
// count (see Build.claimed): not tied to the commit Jenkins built, or
// disagreeing with each other.
func (b *Build) Disputes() []string {
	var out []string
	for _, c := range b.Claims {
		if len(c.Disputes) > 0 {
			out = append(out, c.name()+": "+strings.Join(c.Disputes, "; "))
		}
	}
	_, notes := b.claimed()
	return append(out, notes...)
}

// name is the claim's event and delivery, as Disputes lists it.
func (c Claim) name() string { return strings.TrimSpace(c.Event + " " + c.Delivery) }

// claimedValues are what only claims bring: no Jenkins API has them.
type claimedValues struct {
	ImageDigest, ChartVersion, BaseChartVersion string
}

func (c Claim) values() claimedValues {
	return claimedValues{ImageDigest: c.ImageDigest, ChartVersion: c.ChartVersion, BaseChartVersion: c.BaseChartVersion}
}

// tiedTo reports whether claim c names the commit Jenkins built for the
// Verified build b: the local merge commit of a merge build (which only
// the build itself knows), else the head. A claim that names neither
// says nothing about this build's chart: anyone holding the webhook token
// can send it.
func (b *Build) tiedTo(c Claim) bool {
	if b.MergeSHA != "" && b.MergeSHA != b.HeadSHA {
		return c.MergeSHA == b.MergeSHA
	}
	return b.HeadSHA != "" && (c.HeadSHA == b.HeadSHA || c.MergeSHA == b.HeadSHA)
}

// untiedNote says why a claim not tied to b brings nothing.
func (b *Build) untiedNote(c Claim) string {
	if b.MergeSHA != "" && b.MergeSHA != b.HeadSHA {
		return fmt.Sprintf("%s: does not name merge sha %s, the commit Jenkins built: its chart version and image digest do not count", c.name(), b.MergeSHA)
	}
	return fmt.Sprintf("%s: does not name head sha %s, the commit Jenkins built: its chart version and image digest do not count", c.name(), b.HeadSHA)
}

// claimed returns the image digest and chart versions the claims of b
// bring, and why claims that bring one do not count. A claim counts when
// it is not disputed and, once Jenkins was read (Verified), is tied to the
// commit Jenkins built (tiedTo); the newest value a counting claim names
// is taken. When counting claims name different values for any of the
// three, none of the three counts: one of them is forged or wrong, and
// nothing tells which (fail closed: the policy sees no chart). Neither
// does any when such a disagreement was seen before (Disagreed), or when
// claims that might have counted were lost (LostNamed, LostUnnamed). A
// Gone build's claims are all disputed: nothing counts. The claims
// pushed out to Dropped count as the others do.
func (b *Build) claimed() (claimedValues, []string) {
	out, notes, disagree := b.count()
	if len(disagree) == 0 && len(b.Disagreed) > 0 {
		disagree = b.Disagreed
	}
	if b.LostNamed || (b.LostUnnamed && !b.Verified) {
		disagree = append(disagree, fmt.Sprintf("more than %d claims brought a chart version or image digest before Jenkins was read: some were dropped, and they may disagree with the others; no chart version or image digest counts", 2*maxClaims))
	}
	if len(disagree) > 0 {
		out = claimedValues{}
	}
	return out, append(notes, disagree...)
}

// count is claimed without what earlier claims left on b: the values the
// claims held bring, why claims that bring one do not count, and how the
// counting claims disagree (then the values are all "").
func (b *Build) count() (claimedValues, []string, []string) {
	var out claimedValues
	var notes []string
	type seen struct {
		value string
		claim string
	}
	var firsts [3][]seen
	for _, c := range slices.Backward(slices.Concat(b.Dropped, b.Claims)) {
		v := c.values()
		if v == (claimedValues{}) || len(c.Disputes) > 0 {
			continue
		}
		if b.Verified && !b.tiedTo(c) {
			notes = append(notes, b.untiedNote(c))
			continue
		}
		for i, f := range [3]struct{ got, dst *string }{
			{&v.ImageDigest, &out.ImageDigest}, {&v.ChartVersion, &out.ChartVersion}, {&v.BaseChartVersion, &out.BaseChartVersion},
		} {
			if *f.got == "" {
				continue
			}
			if *f.dst == "" {
				*f.dst = *f.got
			}
			if !slices.ContainsFunc(firsts[i], func(s seen) bool { return s.value == *f.got }) {
				firsts[i] = append(firsts[i], seen{*f.got, c.name()})
			}
		}
	}
	slices.Reverse(notes) // oldest first, as the claims are
	var disagree []string
	for i, name := range [3]string{"image_digest", "chart_version", "base_chart_version"} {
		if len(firsts[i]) < 2 {
			continue
		}
		var say []string
		for _, s := range slices.Backward(firsts[i]) {
			say = append(say, s.claim+" "+s.value)
		}
		disagree = append(disagree, fmt.Sprintf("claims disagree on %s (%s): no chart version or image digest counts", name, strings.Join(say, ", ")))
	}
	if len(disagree) > 0 {
		out = claimedValues{}
	}
	return out, notes, disagree
}

// tieKnown reports whether Jenkins stated the commit it built for b, so
// that whether a claim is tied to it (tiedTo) can no longer change.
func (b *Build) tieKnown() bool { return b.Verified && !b.Gone && b.MergeSHA != "" }

// neverCounts reports whether claim c can never bring b a value: it brings
// none, Jenkins contradicts it, it names no commit while Jenkins was read,
// or it does not name the commit Jenkins stated it built.
func (b *Build) neverCounts(c Claim) bool {
	switch {
	case c.values() == claimedValues{} || len(c.Disputes) > 0:
		return true
	case b.Verified && c.HeadSHA == "" && c.MergeSHA == "":
		return true
	}
	return b.tieKnown() && !b.tiedTo(c)
}

// sameClaim reports whether claims x and y say the same of everything
// Build.claimed and Contradictions look at, whoever sent them and when.
func sameClaim(x, y Claim) bool {
	type said struct {
		result, head, base, merge string
		values                    claimedValues
	}
	return said{x.Result, x.HeadSHA, x.BaseSHA, x.MergeSHA, x.values()} == said{y.Result, y.HeadSHA, y.BaseSHA, y.MergeSHA, y.values()}
}

// Names of the reports a Build can lack, as listed in Build.Missing.
const (
	ReportStages   = "stages"
	ReportTests    = "tests"
	ReportCoverage = "coverage"
)

// Build results, Jenkins' hudson.model.Result names.
const (
	ResultSuccess  = "SUCCESS"
	ResultUnstable = "UNSTABLE"
	ResultFailure  = "FAILURE"
	ResultAborted  = "ABORTED"
	ResultNotBuilt = "NOT_BUILT"
)

// Stage is one Pipeline stage as the Stage View API (wfapi) describes it.
type Stage struct {
	// Name is the stage name in the Jenkinsfile.
	Name string `json:"name"`
	// Key is the release stage the name maps onto (one of SeedStages), or
	// "" when the stage is not one of them.
	Key string `json:"key,omitempty"`
	// Status is one of the Stage* statuses; note FAILED, not FAILURE.
	Status   string        `json:"status"`
	Duration time.Duration `json:"duration_ns"`
}

// Stage statuses, the Stage View API's StatusExt names.
const (
	StageSuccess     = "SUCCESS"
	StageFailed      = "FAILED"
	StageUnstable    = "UNSTABLE"
	StageAborted     = "ABORTED"
	StageNotExecuted = "NOT_EXECUTED"
	StageInProgress  = "IN_PROGRESS"
	StagePausedInput = "PAUSED_PENDING_INPUT"
	StageSkipped     = "SKIPPED"
)

// stageUnknownLevel is the severity of a status not in stageSeverity.
const stageUnknownLevel = 1

// The seven release stages every PR-merge build must pass, in pipeline order.
const (
	StageClone     = "clone"      // clone the repository
	StageBuild     = "build"      // build and container image
	StageUnitTests = "unit_tests" // unit tests with coverage
	StageScan      = "scan"       // static vulnerability scan of the image
	StagePush      = "push"       // image push
	StageChart     = "chart"      // Helm chart package and publish
	StageDeploy    = "deploy"     // deploy to pre-production and integration tests
)

// SeedStages returns the seven release stage keys in pipeline order.
func SeedStages() []string {
	return []string{StageClone, StageBuild, StageUnitTests, StageScan, StagePush, StageChart, StageDeploy}
}

// stageSeverity orders statuses from worst (0) to best; SUCCESS is the only
// good one. An unknown status ranks just below FAILED, never as a pass.
var stageSeverity = map[string]int{
	StageFailed:      0,
	StageAborted:     2,
	StageUnstable:    3,
	StageNotExecuted: 4,
	StageSkipped:     5,
	StagePausedInput: 6,
	StageInProgress:  7,
	StageSuccess:     8,
}

// StageStatus returns the status of the release stage key: "" when no
// stage of the build maps onto it, otherwise the worst status of the stages
// that do (so that "Deploy" passing cannot hide "Integration tests" failing).
func (b *Build) StageStatus(key string) string {
	worst, level := "", len(stageSeverity)+1
	for _, s := range b.Stages {
		if s.Key != key {
			continue
		}
		l, ok := stageSeverity[s.Status]
		if !ok {
			l = stageUnknownLevel
		}
		if l < level {
			worst, level = s.Status, l
		}
	}
	return worst
}

// TestSummary counts the test cases of a build's JUnit report.
type TestSummary struct {
	Total   int `json:"total"`
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// Coverage is a build's project-wide code coverage in percent (0–100).
type Coverage struct {
	Line float64 `json:"line"`
	// Branch is nil when the report has no branch metric (Go, for one,
	// does not measure branches): absent is not 0%.
	Branch *float64 `json:"branch,omitempty"`
	// Source is the plugin that reported it: "coverage", "cobertura" or
	// "jacoco".
	Source string `json:"source"`
}

// VulnCounts counts the findings of the image vulnerability scan by
// severity.
type VulnCounts struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Unknown  int `json:"unknown"`
	// Suppressed counts, by severity, the findings the report itself marks
	// suppressed (a SARIF result whose suppressions are all accepted). They
	// are not in the counts above; whether they count against the limits is
	// the policy's choice (release.vulnerabilities.count_suppressed).
	Suppressed Severities `json:"suppressed"`
	// Report links to the full scan report.
	Report string `json:"report,omitempty"`
}

// Severities counts findings by severity.
type Severities struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Unknown  int `json:"unknown"`
}

// Add adds o's counts to s.
func (s *Severities) Add(o Severities) {
	s.Critical += o.Critical
	s.High += o.High
	s.Medium += o.Medium
	s.Low += o.Low
	s.Unknown += o.Unknown
}

// clone returns a deep copy of b.
func (b Build) clone() Build {
	b.Stages = append([]Stage(nil), b.Stages...)
	b.Missing = append([]string(nil), b.Missing...)
	cloneClaims := func(list []Claim) []Claim {
		if list == nil {
			return nil
		}
		out := make([]Claim, len(list))
		for i, c := range list {
			c.Disputes = append([]string(nil), c.Disputes...)
			out[i] = c
		}
		return out
	}
	b.Claims, b.Dropped = cloneClaims(b.Claims), cloneClaims(b.Dropped)
	b.Disagreed = slices.Clone(b.Disagreed)
	if b.Tests != nil {
		t := *b.Tests
		b.Tests = &t
	}
	if b.Coverage != nil {
		c := *b.Coverage
		if c.Branch != nil {
			br := *c.Branch
			c.Branch = &br
		}
		b.Coverage = &c
	}
	if b.Vulnerabilities != nil {
		v := *b.Vulnerabilities
		b.Vulnerabilities = &v
	}
	return b
}
