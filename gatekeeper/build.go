package gatekeeper

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Build is what the gatekeeper knows about one Jenkins build: the facts a
// notification carried, completed by the Jenkins source from the REST API.
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
	// FINALIZED.
	Phase string `json:"phase,omitempty"`
	// Result is SUCCESS, UNSTABLE, FAILURE, ABORTED or NOT_BUILT, and ""
	// while the build runs.
	Result   string `json:"result,omitempty"`
	Building bool   `json:"building"`
	// Verified is true once Jenkins itself gave the result: a COMPLETED or
	// FINALIZED notification, or the REST API. A pipeline report is the
	// pipeline speaking of itself, sent before the build has finished.
	Verified  bool          `json:"verified,omitempty"`
	URL       string        `json:"url,omitempty"`
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"duration_ns"`
	// Stages are the Pipeline stages in the order they ran.
	Stages          []Stage      `json:"stages,omitempty"`
	Tests           *TestSummary `json:"tests,omitempty"`
	Coverage        *Coverage    `json:"coverage,omitempty"`
	Vulnerabilities *VulnCounts  `json:"vulnerabilities,omitempty"`
	// ImageDigest is the pushed container image digest (sha256:…).
	ImageDigest string `json:"image_digest,omitempty"`
	// ChartVersion is the published Helm chart version,
	// <module>-<major>-<minor>-<release>-<commit_sha>.
	ChartVersion string `json:"chart_version,omitempty"`
	// BaseChartVersion is the Helm chart version of the base branch as
	// merged (what master releases today), in the same form; the policy
	// compares the two to tell a major, minor or release-only release.
	BaseChartVersion string `json:"base_chart_version,omitempty"`
	// Missing names the reports Jenkins said it does not have for this
	// build (ReportStages, ReportTests, ReportCoverage).
	Missing   []string  `json:"missing,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
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

// SplitJobURL returns the decoded job names of a Jenkins job or build URL,
// outermost folder first, and the build number when the URL names a build
// (0 otherwise). It accepts relative paths as the Notification plugin sends
// them ("job/acme/job/shop/job/PR-12/") and absolute URLs with a context
// path ("https://ci.example.com/jenkins/job/acme/…/PR-12/7/"). Whatever
// precedes the job/<name> pairs is taken for the context path; empty
// segments (the "//" gojenkins produces) are ignored. ok is false when the
// URL does not end in a job, optionally followed by a build number.
func SplitJobURL(jobURL string) (names []string, build int64, ok bool) {
	u, err := url.Parse(strings.TrimSpace(jobURL))
	if err != nil {
		return nil, 0, false
	}
	// Split the escaped path so that an encoded slash (%2F, as in branch
	// jobs for feature/x) stays inside its name.
	var segs []string
	for _, s := range strings.Split(u.EscapedPath(), "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	n := len(segs)
	if n >= 3 && segs[n-2] != "job" && isBuildNumber(segs[n-1]) {
		build, _ = strconv.ParseInt(segs[n-1], 10, 64)
		n--
	}
	// Walk job/<name> pairs from the right: a context path that happens
	// to contain "job" cannot then be taken for a job.
	for i := n - 1; i >= 1 && segs[i-1] == "job"; i -= 2 {
		name, err := url.PathUnescape(segs[i])
		if err != nil || name == "" {
			return nil, 0, false
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, 0, false
	}
	for l, r := 0, len(names)-1; l < r; l, r = l+1, r-1 {
		names[l], names[r] = names[r], names[l]
	}
	return names, build, true
}

// isBuildNumber reports whether s is a positive decimal without a leading
// zero, the only way Jenkins spells a build number.
func isBuildNumber(s string) bool {
	if s == "" || len(s) > 18 || s[0] == '0' {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ParseJobPath recognises a multibranch pull request job from its URL
// (never from the bare job name, which is ambiguous across repositories):
// job/<folder>/…/job/PR-<n>/, PR-<n>-merge or PR-<n>-head, relative or
// absolute, with URL-encoded names and an optional trailing build number.
// folders are the decoded names of the enclosing folders, outermost first
// (at least the multibranch project); strategy is "merge", "head" or "".
func ParseJobPath(jobURL string) (folders []string, prNumber int, strategy string, ok bool) {
	names, _, ok := SplitJobURL(jobURL)
	if !ok || len(names) < 2 {
		return nil, 0, "", false
	}
	prNumber, strategy, ok = parsePRJobName(names[len(names)-1])
	if !ok {
		return nil, 0, "", false
	}
	return names[:len(names)-1], prNumber, strategy, true
}

// parsePRJobName parses the GitHub Branch Source job names PR-<n>,
// PR-<n>-merge and PR-<n>-head.
func parsePRJobName(name string) (int, string, bool) {
	rest, ok := strings.CutPrefix(name, "PR-")
	if !ok {
		return 0, "", false
	}
	num, strategy, _ := strings.Cut(rest, "-")
	switch strategy {
	case "", "merge", "head":
	default:
		return 0, "", false
	}
	if !isBuildNumber(num) || len(num) > 9 {
		return 0, "", false
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, "", false
	}
	return n, strategy, true
}

// JobRepos maps multibranch project folders to GitHub repositories: the
// key is the folder path (decoded folder names joined by "/", e.g.
// "ci/shop-service"), the value "owner/repo". It is the parsed form of
// GATEKEEPER_JENKINS_JOBS.
type JobRepos map[string]string

// ParseJobRepos parses "folder/path=owner/repo,other/path=owner/repo2". An
// empty string gives an empty map: the organisation-folder convention.
func ParseJobRepos(s string) (JobRepos, error) {
	m := JobRepos{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		folder, repo, ok := strings.Cut(part, "=")
		folder, repo = strings.Trim(strings.TrimSpace(folder), "/"), strings.TrimSpace(repo)
		owner, name, ok2 := strings.Cut(repo, "/")
		if !ok || !ok2 || folder == "" || owner == "" || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("parsing jenkins jobs: %q is not folder/path=owner/repo", part)
		}
		if _, dup := m[folder]; dup {
			return nil, fmt.Errorf("parsing jenkins jobs: folder %q mapped twice", folder)
		}
		m[folder] = repo
	}
	return m, nil
}

// Repo returns the repository built by the multibranch project at folders.
// A configured folder path wins; otherwise the organisation-folder
// convention applies: the last two folders are owner and repository.
func (m JobRepos) Repo(folders []string) (owner, repo string, ok bool) {
	if r, found := m[strings.Join(folders, "/")]; found {
		owner, repo, _ = strings.Cut(r, "/")
		return owner, repo, true
	}
	if len(folders) < 2 {
		return "", "", false
	}
	return folders[len(folders)-2], folders[len(folders)-1], true
}

// Folders is the inverse of Repo: the folders of the multibranch project
// that builds owner/repo.
func (m JobRepos) Folders(owner, repo string) []string {
	want := owner + "/" + repo
	for folder, r := range m {
		if strings.EqualFold(r, want) {
			return strings.Split(folder, "/")
		}
	}
	return []string{owner, repo}
}

// PullKey returns the pull request a PR job URL builds and the job's merge
// strategy; ok is false for anything that is not a pull request job.
func (m JobRepos) PullKey(jobURL string) (key PullKey, strategy string, ok bool) {
	folders, n, strategy, ok := ParseJobPath(jobURL)
	if !ok {
		return PullKey{}, "", false
	}
	owner, repo, ok := m.Repo(folders)
	if !ok {
		return PullKey{}, "", false
	}
	return PullKey{Owner: owner, Repo: repo, Number: n}, strategy, true
}

// clone returns a deep copy of b.
func (b Build) clone() Build {
	b.Stages = append([]Stage(nil), b.Stages...)
	b.Missing = append([]string(nil), b.Missing...)
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
