package jenkinsapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// ErrNotPullRequest reports a well-formed notification for a job that does
// not build a pull request (the master branch job, a plain freestyle job):
// nothing for the gatekeeper to record. The webhook answers it 202 and
// ignores it.
var ErrNotPullRequest = errors.New("not a pull request job")

// ErrUnplaced reports a well-formed notification or report for a job the
// gatekeeper cannot place: its URL names no job, or no repository is known
// for the job's folders. Like ErrNotPullRequest, the webhook answers it 202
// and ignores it: Jenkins did nothing wrong. It wraps gatekeeper.ErrInvalid
// for the callers of the Client, to which such a URL is an invalid argument.
var ErrUnplaced = fmt.Errorf("job the gatekeeper cannot place: %w", gatekeeper.ErrInvalid)

// Event names of the events ParseNotification and Source.Gather return.
const (
	// EventQueued … EventFinalized are the Notification plugin's phases.
	EventQueued    = "jenkins.queued"
	EventStarted   = "jenkins.started"
	EventCompleted = "jenkins.completed"
	EventFinalized = "jenkins.finalized"
	// EventReport is a pipeline report posted by the Jenkinsfile.
	EventReport = "jenkins.report"
	// EventBuild is a build completed by Source.Gather from the API.
	EventBuild = "jenkins.build"
	// EventBaseline is the base branch's last successful build.
	EventBaseline = "jenkins.baseline"
)

// ReportKind is the "kind" of a pipeline report.
const ReportKind = "pipeline-report"

// notification is the Notification plugin's JobState (Gson,
// LOWER_CASE_WITH_UNDERSCORES, null fields omitted).
type notification struct {
	Name  string             `json:"name"`
	URL   string             `json:"url"`
	Build *notificationBuild `json:"build"`
}

type notificationBuild struct {
	FullURL   string `json:"full_url"`
	Number    int64  `json:"number"`
	QueueID   int64  `json:"queue_id"`
	Timestamp int64  `json:"timestamp"`
	Duration  int64  `json:"duration"`
	Phase     string `json:"phase"`
	Status    string `json:"status"`
	URL       string `json:"url"`
	SCM       struct {
		URL    string `json:"url"`
		Branch string `json:"branch"`
		Commit string `json:"commit"`
	} `json:"scm"`
	TestSummary *struct {
		Total   int `json:"total"`
		Failed  int `json:"failed"`
		Passed  int `json:"passed"`
		Skipped int `json:"skipped"`
	} `json:"test_summary"`
}

// PipelineReport is the JSON a Jenkinsfile posts to /webhooks/jenkins
// (see the package documentation for an example). Every field but Kind,
// JobURL and BuildNumber is optional; what is sent is validated strictly.
type PipelineReport struct {
	// Kind is always ReportKind.
	Kind string `json:"kind"`
	// JobURL is env.JOB_URL (absolute) or the job's path relative to the
	// Jenkins root; it names the pull request, never the bare job name.
	JobURL      string `json:"job_url"`
	BuildNumber int64  `json:"build_number"`
	// HeadSHA is the pull request head: `git rev-parse HEAD^2` in a
	// PR-merge build, env.GIT_COMMIT in a PR-head build.
	HeadSHA string `json:"head_sha,omitempty"`
	// BaseSHA is the target branch commit merged with: `git rev-parse
	// HEAD^1` in a PR-merge build.
	BaseSHA string `json:"base_sha,omitempty"`
	// MergeSHA is the commit built, env.GIT_COMMIT.
	MergeSHA string `json:"merge_sha,omitempty"`
	// Result is currentBuild.currentResult.
	Result string `json:"result,omitempty"`
	// Stages are the stages with their Stage View status (SUCCESS, FAILED,
	// UNSTABLE, ABORTED, NOT_EXECUTED, IN_PROGRESS, PAUSED_PENDING_INPUT,
	// SKIPPED).
	Stages       []ReportStage `json:"stages,omitempty"`
	ImageDigest  string        `json:"image_digest,omitempty"`
	ChartVersion string        `json:"chart_version,omitempty"`
	// BaseChartVersion is the chart version of the base branch as merged
	// (the version master's chart has), for telling the release's kind.
	BaseChartVersion string       `json:"base_chart_version,omitempty"`
	Tests            *ReportTests `json:"tests,omitempty"`
	Coverage         *ReportCover `json:"coverage,omitempty"`
	Vulnerabilities  *ReportVulns `json:"vulnerabilities,omitempty"`
}

// ReportCover is a pipeline report's unit-test coverage, in percent (0 to
// 100); Branch is optional. It lets a pipeline without the Coverage plugin,
// or a gatekeeper without JENKINS_URL, still bring the coverage figure.
type ReportCover struct {
	Line   float64  `json:"line"`
	Branch *float64 `json:"branch,omitempty"`
}

// ReportStage is one stage of a pipeline report.
type ReportStage struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// ReportTests are a pipeline report's test counts; Total must be the sum
// of the others.
type ReportTests struct {
	Total   int `json:"total"`
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// ReportVulns are a pipeline report's scan counts; Report optionally
// names the full report (a path or URL).
type ReportVulns struct {
	Critical int    `json:"critical"`
	High     int    `json:"high"`
	Medium   int    `json:"medium"`
	Low      int    `json:"low"`
	Unknown  int    `json:"unknown"`
	Report   string `json:"report,omitempty"`
}

var (
	shaPattern    = regexp.MustCompile(`^[0-9a-f]{40}$`)
	digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// phases are the Notification plugin's phases (Phase.java) that carry a
// build; NONE is never sent.
var phases = map[string]bool{"QUEUED": true, "STARTED": true, "COMPLETED": true, "FINALIZED": true}

var results = map[string]bool{
	gatekeeper.ResultSuccess: true, gatekeeper.ResultUnstable: true, gatekeeper.ResultFailure: true,
	gatekeeper.ResultAborted: true, gatekeeper.ResultNotBuilt: true,
}

var stageStatuses = map[string]bool{
	gatekeeper.StageSuccess: true, gatekeeper.StageFailed: true, gatekeeper.StageUnstable: true,
	gatekeeper.StageAborted: true, gatekeeper.StageNotExecuted: true, gatekeeper.StageInProgress: true,
	gatekeeper.StagePausedInput: true, gatekeeper.StageSkipped: true,
}

// ParseOptions configure ParseNotification.
type ParseOptions struct {
	// Repos maps job folders to repositories (GATEKEEPER_JENKINS_JOBS).
	Repos JobRepos
	// Logger receives a warning, once per job folder path, when a pull
	// request job's folders place no repository (see JobRepos.Repo): its
	// builds will never count, however its notification is placed. nil
	// means none.
	Logger *slog.Logger
	// Stages returns the stage map in force, read at each report; nil, or
	// a nil map, means DefaultStageMap(). It keys a report's stages as the
	// Source keys the stages it reads from Jenkins.
	Stages func() StageMap
}

// ParseNotification parses a POST to /webhooks/jenkins: either the
// Notification plugin's JSON (told apart by its "build" object) or a
// pipeline report ("kind": "pipeline-report"). The pull request is
// recognised from the job URL, never from the bare job name; its
// repository comes from opts.Repos' folder mapping, else the notification's
// scm URL, else the organisation-folder convention.
//
// The returned Event has a valid Key, Name EventQueued … EventFinalized or
// EventReport, SHA set to the pull request head when the payload tells it,
// Received now, and a Delivery derived from the payload (Jenkins sends no
// delivery id): "jenkins:<job_path>#<number>:<PHASE>", with "@q<queue_id>"
// appended when the plugin sent one, for a notification, and
// "jenkins:<job_path>#<number>:report:<hash>" (the first 16 hex digits of
// the body's SHA-256) for a report. A retried delivery is thus a
// duplicate, while the next phase, or a job that was deleted and
// recreated with its numbers starting over, is not.
//
// Malformed JSON or a payload of neither form is an error wrapping
// gatekeeper.ErrInvalid; a job that builds no pull request is
// ErrNotPullRequest, and a job URL that names no job, or a job of folders
// no repository is known for, is ErrUnplaced.
func ParseNotification(body []byte, opts ParseOptions, now time.Time) (gatekeeper.Event, error) {
	var probe struct {
		Kind  *string         `json:"kind"`
		Build json.RawMessage `json:"build"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return gatekeeper.Event{}, fmt.Errorf("parsing jenkins notification: %w: %w", gatekeeper.ErrInvalid, err)
	}
	switch {
	case probe.Kind != nil && *probe.Kind == ReportKind:
		return parseReport(body, opts, now)
	case probe.Kind != nil:
		return gatekeeper.Event{}, fmt.Errorf("parsing jenkins notification: kind %q, want %q: %w", *probe.Kind, ReportKind, gatekeeper.ErrInvalid)
	case len(probe.Build) > 0 && !bytes.Equal(probe.Build, []byte("null")):
		return parsePluginNotification(body, opts, now)
	}
	return gatekeeper.Event{}, fmt.Errorf("parsing jenkins notification: neither a build notification nor a pipeline report: %w", gatekeeper.ErrInvalid)
}

func parsePluginNotification(body []byte, opts ParseOptions, now time.Time) (gatekeeper.Event, error) {
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		return gatekeeper.Event{}, fmt.Errorf("parsing jenkins notification: %w: %w", gatekeeper.ErrInvalid, err)
	}
	nb := n.Build
	if nb.Number <= 0 {
		return gatekeeper.Event{}, fmt.Errorf("parsing jenkins notification: build number %d: %w", nb.Number, gatekeeper.ErrInvalid)
	}
	if !phases[nb.Phase] {
		return gatekeeper.Event{}, fmt.Errorf("parsing jenkins notification: phase %q: %w", nb.Phase, gatekeeper.ErrInvalid)
	}
	if nb.Status != "" && !results[nb.Status] {
		return gatekeeper.Event{}, fmt.Errorf("parsing jenkins notification: status %q: %w", nb.Status, gatekeeper.ErrInvalid)
	}
	// The job url is the relative job path; the build's own urls name
	// the same job and serve when it is absent.
	jobURL := n.URL
	for _, u := range []string{nb.URL, nb.FullURL} {
		if jobURL == "" {
			jobURL = u
		}
	}
	r, err := newRef(jobURL, nb.Number)
	if err != nil {
		return gatekeeper.Event{}, fmt.Errorf("parsing jenkins notification: %w", err)
	}
	b, err := pullBuild(r, opts, nb.SCM.URL)
	if err != nil {
		return gatekeeper.Event{}, fmt.Errorf("parsing jenkins notification of %s: %w", r, err)
	}
	b.Phase = nb.Phase
	b.Building = nb.Phase == "QUEUED" || nb.Phase == "STARTED"
	if !b.Building {
		// A claim like any other: anyone holding the webhook token can
		// send a COMPLETED notification. Only the REST API verifies.
		b.Result = nb.Status
	}
	b.URL = nb.FullURL
	// The timestamp means something else in every phase: the start only
	// when STARTED, start + duration when COMPLETED.
	switch {
	case nb.Phase == "STARTED" && nb.Timestamp > 0:
		b.StartedAt = time.UnixMilli(nb.Timestamp).UTC()
	case nb.Phase == "COMPLETED" && nb.Timestamp > 0 && nb.Duration >= 0 && nb.Duration <= nb.Timestamp:
		b.StartedAt = time.UnixMilli(nb.Timestamp - nb.Duration).UTC()
	}
	if !b.Building && nb.Duration > 0 && nb.Duration < int64(time.Duration(1<<62)/time.Millisecond) {
		b.Duration = time.Duration(nb.Duration) * time.Millisecond
	}
	// scm.commit is GIT_COMMIT, the commit built: for a PR-merge (or
	// plain PR-<n>) job a local merge commit, the head only for PR-head.
	if commit := strings.ToLower(nb.SCM.Commit); shaPattern.MatchString(commit) {
		b.MergeSHA = commit
		if b.Strategy == "head" {
			b.HeadSHA = commit
		}
	}
	if ts := nb.TestSummary; ts != nil && !b.Building && countsAddUp(ts.Total, ts.Passed, ts.Failed, ts.Skipped) {
		b.Tests = &gatekeeper.TestSummary{Total: ts.Total, Passed: ts.Passed, Failed: ts.Failed, Skipped: ts.Skipped}
	}
	b.UpdatedAt = now
	delivery := fmt.Sprintf("jenkins:%s#%d:%s", b.JobPath, b.Number, b.Phase)
	if nb.QueueID > 0 {
		delivery += "@q" + strconv.FormatInt(nb.QueueID, 10)
	}
	return gatekeeper.Event{
		Delivery: delivery, Name: "jenkins." + strings.ToLower(b.Phase), Received: now,
		Key: b.Key, SHA: b.HeadSHA, Build: &b,
	}, nil
}

// pullBuild is the Build a job URL tells, for a pull request job only:
// path, name, number, key and strategy. scmURL is the repository's remote
// when the payload has one. A job whose folders place no repository is
// warned about (opts.Logger), whether or not scmURL places the
// notification: Jenkins' read of the build will not.
func pullBuild(r ref, opts ParseOptions, scmURL string) (gatekeeper.Build, error) {
	repos := opts.Repos
	b := gatekeeper.Build{JobPath: r.jobPath(), JobName: r.names[len(r.names)-1], Number: r.number}
	folders, n, strategy, ok := ParseJobPath(b.JobPath)
	if !ok {
		return gatekeeper.Build{}, fmt.Errorf("job %s builds no pull request: %w", b.JobPath, ErrNotPullRequest)
	}
	owner, repo, placed := repos.Repo(folders)
	if !placed {
		unplacedNotified.warn(opts.Logger, folders, b.JobPath)
	}
	// A mapped folder's repository first, then the payload's remote, then
	// the folder convention.
	if _, mapped := repos[strings.Join(folders, "/")]; !mapped {
		if o, rp := remoteOwnerRepo(scmURL); o != "" {
			owner, repo = o, rp
		}
	}
	b.Key = gatekeeper.PullKey{Owner: owner, Repo: repo, Number: n}
	b.Strategy = strategy
	if !b.Key.Valid() {
		return gatekeeper.Build{}, fmt.Errorf("job %s: no repository for folders %q: %w", b.JobPath, strings.Join(folders, "/"), ErrUnplaced)
	}
	return b, nil
}

func parseReport(body []byte, opts ParseOptions, now time.Time) (gatekeeper.Event, error) {
	var p PipelineReport
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := decodeOne(dec, &p); err != nil {
		return gatekeeper.Event{}, fmt.Errorf("parsing pipeline report: %w", err)
	}
	if err := p.validate(); err != nil {
		return gatekeeper.Event{}, fmt.Errorf("parsing pipeline report: %w", err)
	}
	r, err := newRef(p.JobURL, p.BuildNumber)
	if err != nil {
		return gatekeeper.Event{}, fmt.Errorf("parsing pipeline report: %w", err)
	}
	b, err := pullBuild(r, opts, "")
	if err != nil {
		return gatekeeper.Event{}, fmt.Errorf("parsing pipeline report of %s: %w", r, err)
	}
	idx, err := indexStages(opts.Stages)
	if err != nil {
		return gatekeeper.Event{}, fmt.Errorf("parsing pipeline report of %s: mapping stage names: %w", r, err)
	}
	b.HeadSHA, b.BaseSHA, b.MergeSHA = p.HeadSHA, p.BaseSHA, p.MergeSHA
	if b.Strategy == "head" {
		// A head build merges nothing: the commit built is the head.
		if b.HeadSHA == "" {
			b.HeadSHA = b.MergeSHA
		} else if b.MergeSHA != "" && b.MergeSHA != b.HeadSHA {
			return gatekeeper.Event{}, fmt.Errorf("parsing pipeline report of %s: a PR-head build's merge_sha must be its head_sha: %w", r, gatekeeper.ErrInvalid)
		}
	}
	// A report is posted from post { always }, when the result is known
	// to the pipeline; the API prevails (a report carries no phase). It
	// is never Verified: it is the pipeline's word about itself, possibly
	// before post-build steps make the build UNSTABLE, and anyone holding
	// the webhook token can send one.
	b.Result, b.Building = p.Result, p.Result == ""
	if u, err := url.Parse(p.JobURL); err == nil && u.IsAbs() {
		b.URL = strings.TrimRight(p.JobURL, "/") + "/" + strconv.FormatInt(b.Number, 10) + "/"
	}
	if len(p.Stages) > 0 {
		b.Stages = make([]gatekeeper.Stage, len(p.Stages))
		for i, s := range p.Stages {
			b.Stages[i] = gatekeeper.Stage{Name: s.Name, Key: idx[normStage(s.Name)], Status: s.Status}
		}
	}
	if t := p.Tests; t != nil {
		b.Tests = &gatekeeper.TestSummary{Total: t.Total, Passed: t.Passed, Failed: t.Failed, Skipped: t.Skipped}
	}
	if c := p.Coverage; c != nil {
		b.Coverage = &gatekeeper.Coverage{Line: c.Line, Branch: c.Branch, Source: "pipeline-report"}
	}
	if v := p.Vulnerabilities; v != nil {
		b.Vulnerabilities = &gatekeeper.VulnCounts{Critical: v.Critical, High: v.High, Medium: v.Medium, Low: v.Low, Unknown: v.Unknown, Report: v.Report}
	}
	b.ImageDigest, b.ChartVersion, b.BaseChartVersion = p.ImageDigest, p.ChartVersion, p.BaseChartVersion
	b.UpdatedAt = now
	sum := sha256.Sum256(body)
	return gatekeeper.Event{
		Delivery: fmt.Sprintf("jenkins:%s#%d:report:%s", b.JobPath, b.Number, hex.EncodeToString(sum[:8])),
		Name:     EventReport, Received: now, Key: b.Key, SHA: b.HeadSHA, Build: &b,
	}, nil
}

// validate checks every field a report sets.
func (p *PipelineReport) validate() error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf(format+": %w", append(args, gatekeeper.ErrInvalid)...)
	}
	if p.JobURL == "" {
		return invalid("no job_url")
	}
	if p.BuildNumber <= 0 {
		return invalid("build_number %d", p.BuildNumber)
	}
	for name, sha := range map[string]string{"head_sha": p.HeadSHA, "base_sha": p.BaseSHA, "merge_sha": p.MergeSHA} {
		if sha != "" && !shaPattern.MatchString(sha) {
			return invalid("%s %q is not 40 lower-case hex digits", name, sha)
		}
	}
	if p.Result != "" && !results[p.Result] {
		return invalid("result %q", p.Result)
	}
	for i, s := range p.Stages {
		if strings.TrimSpace(s.Name) == "" || !printable(s.Name, 200) {
			return invalid("stage %d: name %q", i, s.Name)
		}
		if !stageStatuses[s.Status] {
			return invalid("stage %q: status %q", s.Name, s.Status)
		}
	}
	if p.ImageDigest != "" && !digestPattern.MatchString(p.ImageDigest) {
		return invalid("image_digest %q is not sha256: and 64 hex digits", p.ImageDigest)
	}
	if !printable(p.ChartVersion, 200) {
		return invalid("chart_version %q", p.ChartVersion)
	}
	if !printable(p.BaseChartVersion, 200) {
		return invalid("base_chart_version %q", p.BaseChartVersion)
	}
	if t := p.Tests; t != nil {
		if !countsAddUp(t.Total, t.Passed, t.Failed, t.Skipped) {
			return invalid("tests %+v: counts must be non-negative and add up to total", *t)
		}
	}
	if c := p.Coverage; c != nil {
		if !percent(c.Line) || (c.Branch != nil && !percent(*c.Branch)) {
			return invalid("coverage %v: percentages are 0 to 100", *c)
		}
	}
	if v := p.Vulnerabilities; v != nil {
		if !countsAddUp(v.Critical+v.High+v.Medium+v.Low+v.Unknown, v.Critical, v.High, v.Medium, v.Low, v.Unknown) {
			return invalid("vulnerabilities %+v: counts out of range", *v)
		}
		if !printable(v.Report, 2000) {
			return invalid("vulnerabilities report %q", v.Report)
		}
	}
	return nil
}

// maxCount bounds every count a payload carries, so that sums cannot
// overflow.
const maxCount = 1 << 30

// countsAddUp reports whether every part is in 0–maxCount and they add up
// to total.
func countsAddUp(total int, parts ...int) bool {
	sum := 0
	for _, p := range parts {
		if p < 0 || p > maxCount {
			return false
		}
		sum += p
	}
	return sum == total
}

// printable reports whether s is at most max bytes of printable text.
func printable(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}

// percent reports whether f is a percentage: a number from 0 to 100 (NaN is
// not).
func percent(f float64) bool { return f >= 0 && f <= 100 }
