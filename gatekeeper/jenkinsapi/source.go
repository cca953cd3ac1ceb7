package jenkinsapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Source = (*Source)(nil)

// SourceName is the Source's Name, the key of its entry in
// Evidence.Sources and in the policy input.
const SourceName = "jenkins"

// ReportVulnerabilities names the image scan report in Build.Missing, next
// to gatekeeper.ReportStages, ReportTests and ReportCoverage.
const ReportVulnerabilities = "vulnerabilities"

// Defaults of SourceOptions.
const (
	DefaultBaselineMaxAge = 30 * time.Minute
	DefaultRetryEvery     = 5 * time.Minute
	DefaultRecheckEvery   = 30 * time.Second
	DefaultLookupLimit    = 5
	// maxEnrich bounds the builds one Gather enriches (in the order
	// readOrder gives), so that a pull request with many unfinished
	// builds cannot keep a worker busy; the rest wait for the next
	// Gather.
	maxEnrich = 4
	// maxUnknown bounds the builds of an unknown head (or of another
	// job, or an older head's) among them: a made-up build number
	// claimed by anyone holding the webhook token is one. Two, for a
	// new push's build notified while the previous one finishes.
	maxUnknown = 2
	// maxGoneBackoff bounds the wait before a build Jenkins answered 404
	// for is asked again (a job deleted and recreated may have it again).
	maxGoneBackoff = time.Hour
	// maxScanReports bounds the scan reports read per build.
	maxScanReports = 4
)

// SourceOptions configure a Source.
type SourceOptions struct {
	// BaselineMaxAge is how long a fetched baseline stands before the base
	// branch's last successful build is asked again (default
	// DefaultBaselineMaxAge).
	BaselineMaxAge time.Duration
	// RetryEvery is how often a finished build whose head sha Jenkins
	// does not expose is asked again (default DefaultRetryEvery).
	RetryEvery time.Duration
	// LookupLimit is how many of the newest builds of the PR-merge job
	// are looked at for a build of the head whose notification was lost
	// (default DefaultLookupLimit).
	LookupLimit int
	// RecheckEvery is how old a read of a build of the current head may
	// be before Jenkins is asked again (default DefaultRecheckEvery; cmd
	// sets half the reconcile period, so that every reconcile re-reads).
	// A verified build is not verified for ever: a job deleted and
	// recreated, or a result changed, shows at the next read.
	RecheckEvery time.Duration
	// Logger receives the suspicious events: claims Jenkins contradicts;
	// and a warning, once per job folder path, when Jenkins' read of a
	// pull request job places it in no repository (JobRepos.Repo). nil
	// means none.
	Logger *slog.Logger
}

// Source completes a pull request's Jenkins evidence from the REST API. It
// is safe for concurrent use. Gather:
//
//   - enriches every build of the pull request that is on the current head
//     or whose head is not known yet, while it is incomplete: still
//     running, its result not confirmed by Jenkins (only a pipeline report
//     gave it, however complete), a report (stages, tests, coverage,
//     vulnerabilities) neither fetched nor known to be missing, or its head
//     sha unknown (then at most every RetryEvery once the rest is
//     complete). At most maxEnrich builds per Gather, in readOrder's
//     order: the current head's builds Jenkins showed, then its claimed
//     ones, then at most maxUnknown builds of an unknown head, newest
//     first. A build Jenkins answered 404 for (Gone) is asked again only
//     after a back-off that doubles (goneBackoff), however often it is
//     claimed again. Builds of older heads are left as they are.
//   - looks the build up (Client.BuildForHead) until Jenkins showed a
//     PR-merge build of the current head: its notification was lost, or
//     claims about made-up builds crowd it out. None found is not an
//     error: the policy waits.
//   - reads the image scan from the build's archived artifacts: every
//     *trivy*.json (Trivy JSON), else every *.sarif or *.sarif.json
//     (SARIF), counted together. An archived report replaces one the
//     pipeline posted; a posted one stands when nothing is archived; with
//     neither, a finished build lists ReportVulnerabilities in Missing.
//   - fetches the base branch's last successful build with its tests and
//     coverage as the baseline, at most every BaselineMaxAge, the last
//     fetch being the newest EventBaseline in ev.Log (so the rule holds
//     across replicas), or at once after a failed Gather or when the base
//     branch changed.
//
// Every failure other than ErrMissing is returned, joined, together with
// the events gathered before and after it.
type Source struct {
	c    *Client
	opts SourceOptions
}

// NewSource returns a Source that reads through c.
func NewSource(c *Client, opts SourceOptions) *Source {
	if opts.BaselineMaxAge <= 0 {
		opts.BaselineMaxAge = DefaultBaselineMaxAge
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = DefaultRetryEvery
	}
	if opts.LookupLimit <= 0 {
		opts.LookupLimit = DefaultLookupLimit
	}
	if opts.RecheckEvery <= 0 {
		opts.RecheckEvery = DefaultRecheckEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Source{c: c, opts: opts}
}

// Name returns SourceName.
func (s *Source) Name() string { return SourceName }

// Gather returns EventBuild events, each carrying a whole build as Jenkins
// now describes it (the domain merges it into the build it has), and at
// most one EventBaseline event. See Source for what it fetches and when.
func (s *Source) Gather(ctx context.Context, ev *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	if ev == nil {
		return nil, fmt.Errorf("gathering jenkins evidence: nil evidence: %w", gatekeeper.ErrInvalid)
	}
	key := ev.Key
	if !key.Valid() && ev.PR != nil {
		key = ev.PR.Key
	}
	if !key.Valid() {
		return nil, fmt.Errorf("gathering jenkins evidence: pull request key %+v: %w", key, gatekeeper.ErrInvalid)
	}
	now := s.c.clock.Now()
	head := ev.HeadSHA()
	var (
		events  []gatekeeper.Event
		errs    []error
		current bool // Jenkins showed a PR-merge build of the current head
	)
	// Only a build Jenkins showed counts as the head's: a claim, however
	// many, does not stop the lookup of the real one, nor does a build
	// refused as evidence (a Replay), whose original may be the one whose
	// notification was lost.
	isCurrent := func(b gatekeeper.Build) bool {
		return b.Verified && b.CountsFor(key, head)
	}
	emit := func(b gatekeeper.Build) {
		current = current || isCurrent(b)
		s.c.repos.warnUnplacedRead(s.opts.Logger, b)
		events = append(events, gatekeeper.Event{Name: EventBuild, Received: now, Key: key, SHA: b.HeadSHA, Build: &b})
	}

	// The stage names in force now, so that a policy reload re-keys the
	// stages already recorded.
	idx, idxErr := s.c.stageIndex()
	if idxErr != nil {
		errs = append(errs, fmt.Errorf("mapping stage names: %w", idxErr))
	}
	newest := newestRead(ev.Builds, head, key)
	var todo, considered []gatekeeper.Build
	for _, b := range ev.Builds {
		if !samePull(b.Key, key) {
			continue
		}
		current = current || isCurrent(b)
		if b.Verified && !b.Key.Valid() && !b.Recheck {
			// Jenkins' read placed its job in no repository (a copy of
			// the project in another folder): it never counts, and is
			// read again only when claimed again.
			continue
		}
		if b.HeadSHA != "" && b.HeadSHA != head && !b.Recheck {
			// An older head's: kept for the record only, unless a
			// claim about it came since it was read (a build re-pinned
			// to another head is then disputed).
			continue
		}
		considered = append(considered, b)
		// Of the builds of the current head Jenkins showed, only the
		// newest of its job can still be the one that decides: an older,
		// complete one is not read again every RecheckEvery (finding R4).
		periodic := b.HeadSHA != head || !b.Verified || b.Number >= newest[jobOf(b)]
		if s.incomplete(b, now, periodic) {
			todo = append(todo, b)
		} else if st := idx.rekey(b.Stages); idxErr == nil && !slices.Equal(st, b.Stages) {
			// Stages keyed with another stage map than the one in
			// force (a pipeline report's, or before a policy reload).
			b.Stages = st
			emit(b)
		}
	}
	todo, screened, err := s.screen(ctx, ev.Builds, considered, todo, key, newest, now)
	if err != nil {
		errs = append(errs, err)
	}
	for _, b := range screened {
		emit(b)
	}
	todo = s.readOrder(todo, head, key, newest)
	for _, b := range todo {
		out, ok, err := s.complete(ctx, b)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			emit(out)
		}
	}

	if head != "" && !current {
		found, err := s.c.BuildForHead(ctx, key, head, s.opts.LookupLimit)
		switch {
		case isMissing(err):
			// Not built yet, or its job is gone: the policy waits.
		case err != nil:
			errs = append(errs, fmt.Errorf("looking up the build of %s at %s: %w", key, head, err))
		default:
			out, ok, err := s.complete(ctx, found)
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				emit(out)
			} else {
				emit(found)
			}
		}
	}

	if base, ok := s.baselineDue(ev, key, now); ok {
		b, err := s.baseline(ctx, base)
		if err != nil && !isMissing(err) {
			errs = append(errs, err)
		}
		if b != nil {
			events = append(events, gatekeeper.Event{Name: EventBaseline, Received: now, Key: key, SHA: b.HeadSHA, Baseline: b})
		}
	}

	if len(errs) > 0 {
		return events, fmt.Errorf("gathering jenkins evidence for %s: %w", key, errors.Join(errs...))
	}
	return events, nil
}

// readOrder picks, of the builds to read, those one Gather reads and in
// which order (finding F12: anyone holding the webhook token can claim
// builds with made-up numbers above the real one's, and Jenkins cannot
// be asked about all of them; finding R4: a new build of the head must
// not wait behind the re-reads of the builds already read):
//
//  0. the claimed builds of the current head never read and newer than
//     the newest build of their job Jenkins showed for the head (a new
//     build, a retry or a rebuild, which takes over once read), at most
//     maxEnrich-1 while anything below is due;
//  1. the builds Jenkins showed for the current head that are due: still
//     running, claimed since, a report not fetched, or the newest one's
//     periodic re-read (Source.incomplete);
//  2. the other claims of the current head (older than a build read) and
//     those Jenkins answered 404 for, due again;
//  3. at most maxUnknown builds whose head is not known (or of another
//     pull request job, or of an older head a claim came about).
//
// Never read ones first, newest first within each, at most maxEnrich in
// all. A claimed build that starves here is still found: until Jenkins
// showed a build of the head, Gather looks the head up in the gated job
// (Client.BuildForHead), which lists the builds Jenkins has.
func (s *Source) readOrder(todo []gatekeeper.Build, head string, key gatekeeper.PullKey, newest map[string]int64) []gatekeeper.Build {
	tier := func(b gatekeeper.Build) int {
		switch {
		case head == "" || b.HeadSHA != head || b.Strategy == "head" || !b.Key.SamePull(key):
			return 3
		case b.Verified:
			return 1
		case !b.Gone && b.Number > newest[jobOf(b)]:
			return 0
		}
		return 2
	}
	sort.SliceStable(todo, func(i, j int) bool {
		a, b := todo[i], todo[j]
		if ta, tb := tier(a), tier(b); ta != tb {
			return ta < tb
		}
		if ra, rb := a.VerifiedAt.IsZero(), b.VerifiedAt.IsZero(); ra != rb {
			return ra // never read first
		}
		return a.Number > b.Number
	})
	out := todo[:0:0]
	var late []gatekeeper.Build // new builds past maxEnrich-1
	fresh, unknown := 0, 0
	for _, b := range todo {
		if len(out) == maxEnrich {
			break
		}
		switch tier(b) {
		case 0:
			if fresh == maxEnrich-1 {
				late = append(late, b)
				continue
			}
			fresh++
		case 3:
			if unknown == maxUnknown {
				continue
			}
			unknown++
		}
		out = append(out, b)
	}
	// Nothing else due: the budget left goes to the new builds.
	for _, b := range late {
		if len(out) == maxEnrich {
			break
		}
		out = append(out, b)
	}
	return out
}

// screen answers, with one read of the gated job (Client.lastBuild), the
// claims Jenkins has no build for (finding R3): a claim of the pull
// request's PR-<n>-merge or PR-<n> job never read, or claimed again since
// Jenkins answered 404, whose number is above both the newest build of the
// head Jenkins showed in the job and the job's last build. Jenkins numbers
// a build before it notifies about it, so such a claim is made up (or
// about a build of a job deleted since): it comes back Gone, whatever the
// number of them, without a read each, and a token holder's made-up
// numbers can no longer outnumber the reads of one Gather and hold the
// release on "Jenkins to confirm". A number claimed again once the job
// has it (a made-up claim that named a build's number ahead of it) is
// read at once, whatever the 404 back-off: the real build then counts,
// never the older one beneath it. An error screens nothing, nor does a
// 404 for the job (the claims are read one by one, as before), unless
// Jenkins showed a build of the pull request in its other gated job: then
// the job claimed does not exist and none of its claims counts.
//
// all are the evidence's builds; builds those Gather considers (of the
// current head, of a head not known, or claimed since read). It returns
// todo without the claims answered, with the builds to read at once
// added, and the Gone builds to emit.
func (s *Source) screen(ctx context.Context, all, builds, todo []gatekeeper.Build, key gatekeeper.PullKey, newest map[string]int64, now time.Time) ([]gatekeeper.Build, []gatekeeper.Build, error) {
	gated := map[string]string{} // jobOf -> the path to read
	folders := s.c.repos.Folders(key.Owner, key.Repo)
	for _, name := range []string{fmt.Sprintf("PR-%d-merge", key.Number), fmt.Sprintf("PR-%d", key.Number)} {
		p := ref{names: append(slices.Clone(folders), name)}.jobPath()
		gated[strings.ToLower(p)] = p
	}
	inTodo := func(b gatekeeper.Build) bool {
		return slices.ContainsFunc(todo, func(t gatekeeper.Build) bool { return t.JobPath == b.JobPath && t.Number == b.Number })
	}
	// A claim never read, or a gone build claimed again or due again.
	asked := func(b gatekeeper.Build) bool {
		return (!b.Verified && !b.Gone) || (b.Gone && (b.Recheck || inTodo(b)))
	}
	// The gated jobs Jenkins showed a build of (any head).
	shown := map[string]bool{}
	for _, b := range all {
		if _, ok := gated[jobOf(b)]; ok && b.Verified && b.Key.SamePull(key) {
			shown[jobOf(b)] = true
		}
	}
	ask := map[string]bool{}
	for _, b := range builds {
		if !asked(b) || !b.Key.SamePull(key) || b.Strategy == "head" {
			continue
		}
		if _, ok := gated[jobOf(b)]; ok && b.Number > newest[jobOf(b)] {
			ask[jobOf(b)] = true
		}
	}
	var (
		gone []gatekeeper.Build
		errs []error
	)
	for job := range ask {
		last, err := s.c.lastBuild(ctx, gated[job])
		switch {
		case isMissing(err) && !shown[job] && len(shown) > 0:
			// Jenkins builds the pull request in its other gated job
			// and has no such job (a PR-<n>-merge claimed where it
			// builds PR-<n>, or the reverse): none of its builds.
			last = 0
		case isMissing(err):
			// Not for one 404 to say a job gone that Jenkins showed a
			// build of, or that no build was read of yet: the claims
			// are read one by one.
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		for _, b := range builds {
			if jobOf(b) != job || !b.Key.SamePull(key) || b.Strategy == "head" || b.Number <= newest[job] {
				continue
			}
			switch {
			case asked(b) && b.Number > last:
				out := b
				out.Gone, out.Verified, out.Recheck, out.Building = true, false, false, false
				out.VerifiedAt, out.UpdatedAt = now, now
				s.suspicious(b, out)
				gone = append(gone, out)
				todo = slices.DeleteFunc(todo, func(t gatekeeper.Build) bool { return t.JobPath == b.JobPath && t.Number == b.Number })
			case b.Gone && b.Recheck:
				// Jenkins has it now: read at once, before the older
				// builds of the head.
				todo = slices.DeleteFunc(todo, func(t gatekeeper.Build) bool { return t.JobPath == b.JobPath && t.Number == b.Number })
				in := b
				in.Gone = false
				todo = append(todo, in)
			}
		}
	}
	if len(errs) > 0 {
		return todo, gone, fmt.Errorf("reading the gated job of %s: %w", key, errors.Join(errs...))
	}
	return todo, gone, nil
}

// jobOf is the key newestRead gives a build's job: Jenkins' job names are
// case-insensitive, and so is the gated job's choice (CurrentBuild).
func jobOf(b gatekeeper.Build) string { return strings.ToLower(b.JobPath) }

// newestRead returns, per job (jobOf), the number of the newest build of
// the current head Jenkins showed that can count (not gone, not refused,
// not a head-only build of the pull request).
func newestRead(builds []gatekeeper.Build, head string, key gatekeeper.PullKey) map[string]int64 {
	out := map[string]int64{}
	if head == "" {
		return out
	}
	for _, b := range builds {
		if !b.Verified || !b.CountsFor(key, head) {
			continue
		}
		if b.Number > out[jobOf(b)] {
			out[jobOf(b)] = b.Number
		}
	}
	return out
}

// samePull reports whether a build's key is the pull request's; a build
// whose repository was not known is matched by number.
func samePull(b, key gatekeeper.PullKey) bool {
	return b.Number == key.Number &&
		(b.Owner == "" || strings.EqualFold(b.Owner, key.Owner)) &&
		(b.Repo == "" || strings.EqualFold(b.Repo, key.Repo))
}

// incomplete reports whether b is to be read from the API now. Gather asks
// it only of builds of the current head, of a head not known yet, or with
// a claim newer than their last read.
//
// periodic is false for a build of the current head that a newer build
// of its job Jenkins showed outranks: it is read again only when claimed
// again, while it runs, or for a report not fetched yet.
func (s *Source) incomplete(b gatekeeper.Build, now time.Time, periodic bool) bool {
	// Jenkins alone states a build's facts: a build known only from
	// claims, however complete, is read; so is one a claim came about
	// since it was read, and one still running.
	if b.Gone {
		// Asked again now and then, whether claimed again or not: made-up
		// numbers claimed over and over cost no reads.
		return now.Sub(b.VerifiedAt) >= s.goneBackoff(b)
	}
	if b.Recheck || b.Building || !b.Verified {
		return true
	}
	// Not verified once for ever: the current head's build is read again
	// at every reconcile.
	if periodic && now.Sub(b.VerifiedAt) >= s.opts.RecheckEvery {
		return true
	}
	for _, r := range []struct {
		name  string
		known bool
	}{
		{gatekeeper.ReportStages, b.Stages != nil},
		{gatekeeper.ReportTests, b.Tests != nil},
		{gatekeeper.ReportCoverage, b.Coverage != nil},
		{ReportVulnerabilities, b.Vulnerabilities != nil},
	} {
		if !r.known && !slices.Contains(b.Missing, r.name) {
			return true
		}
	}
	// Everything else is known: a head Jenkins does not expose will not
	// appear at the next evaluation, so ask again only now and then.
	return b.HeadSHA == "" && now.Sub(b.UpdatedAt) >= s.opts.RetryEvery
}

// goneBackoff is how long after Jenkins last answered 404 for b it is
// asked again: as long as b had been known then (since its first claim
// kept), at least RecheckEvery and at most maxGoneBackoff, so that the
// back-off doubles at each 404.
func (s *Source) goneBackoff(b gatekeeper.Build) time.Duration {
	first := b.VerifiedAt
	for _, c := range b.Claims {
		if !c.At.IsZero() && c.At.Before(first) {
			first = c.At
		}
	}
	d := b.VerifiedAt.Sub(first)
	return min(max(d, s.opts.RecheckEvery), max(maxGoneBackoff, s.opts.RecheckEvery))
}

// complete reads b from the API with its scan report. ok is false when the
// build could not be read: there is then nothing to emit. A build Jenkins
// says it does not have comes back Gone, every claim about it disputed.
func (s *Source) complete(ctx context.Context, in gatekeeper.Build) (gatekeeper.Build, bool, error) {
	out, info, err := s.c.enrich(ctx, in)
	if !info.fetched {
		if isMissing(err) {
			gone := in
			gone.Gone, gone.Verified, gone.Recheck, gone.Building = true, false, false, false
			gone.VerifiedAt, gone.UpdatedAt = s.c.clock.Now(), s.c.clock.Now()
			s.suspicious(in, gone)
			return gone, true, nil
		}
		return in, false, err
	}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if !out.Building {
		vulns, err := s.c.scan(ctx, info.ref, info.artifacts)
		switch {
		case vulns != nil:
			out.Vulnerabilities = vulns
		case isMissing(err):
			// What a pipeline report counted is its own word: only an
			// archived report counts.
			out.Missing = append(out.Missing, ReportVulnerabilities)
		default:
			errs = append(errs, err)
		}
	}
	// An empty, not nil, list: the domain keeps an old list when the
	// newcomer's is nil, and a report found since must not stay missing.
	if out.Missing == nil {
		out.Missing = []string{}
	}
	s.suspicious(in, out)
	if len(errs) > 0 {
		return out, true, errors.Join(errs...)
	}
	return out, true, nil
}

// suspicious logs the claims about in that the read out contradicts, when
// the read was for them (the build's first read, or one a claim asked
// for): a periodic re-read does not log the same claims again.
func (s *Source) suspicious(in, out gatekeeper.Build) {
	if (in.Verified || in.Gone) && !in.Recheck {
		return
	}
	for _, c := range in.Claims {
		if d := gatekeeper.Contradictions(out, c); len(d) > 0 {
			s.opts.Logger.Warn("suspicious Jenkins event: Jenkins contradicts it; ignored",
				"delivery", c.Delivery, "event", c.Event, "job", in.JobPath, "build", in.Number,
				"pr", in.Key.String(), "disputes", d)
		}
	}
}

// rekey sets each stage's release stage key from the configured map.
func (idx stageIndex) rekey(in []gatekeeper.Stage) []gatekeeper.Stage {
	if in == nil {
		return nil
	}
	out := make([]gatekeeper.Stage, len(in))
	for i, st := range in {
		st.Key = idx[normStage(st.Name)]
		out[i] = st
	}
	return out
}

// scanReports picks the scan reports among a build's artifacts: every
// Trivy JSON report, else every SARIF log.
func scanReports(artifacts []wireArtifact) (paths []string, sarif bool) {
	var trivy, sarifs []string
	for _, a := range artifacts {
		name := strings.ToLower(path.Base(a.RelativePath))
		switch {
		case strings.HasSuffix(name, ".sarif") || strings.HasSuffix(name, ".sarif.json"):
			sarifs = append(sarifs, a.RelativePath)
		case strings.HasSuffix(name, ".json") && strings.Contains(name, "trivy"):
			trivy = append(trivy, a.RelativePath)
		}
	}
	if len(trivy) > 0 {
		return trivy, false
	}
	return sarifs, true
}

// scan reads the build's archived scan reports and counts them together;
// Report is the first one's relative path. No report archived, or one
// listed but gone (404), is ErrMissing.
func (c *Client) scan(ctx context.Context, r ref, artifacts []wireArtifact) (*gatekeeper.VulnCounts, error) {
	paths, sarif := scanReports(artifacts)
	if len(paths) == 0 {
		return nil, fmt.Errorf("reading the scan report of %s: no trivy or sarif report archived: %w", r, ErrMissing)
	}
	if len(paths) > maxScanReports {
		return nil, fmt.Errorf("reading the scan report of %s: %d reports archived, at most %d are read: %w", r, len(paths), maxScanReports, gatekeeper.ErrInvalid)
	}
	total := gatekeeper.VulnCounts{Report: paths[0]}
	found := map[trivyKey]string{}
	for _, p := range paths {
		body, err := c.artifact(ctx, r, p)
		if err != nil {
			return nil, fmt.Errorf("reading the scan report of %s: %w", r, err)
		}
		if sarif {
			v, err := ParseSARIF(bytes.NewReader(body))
			if err != nil {
				return nil, fmt.Errorf("reading %s of %s: %w", p, r, err)
			}
			total.Critical += v.Critical
			total.High += v.High
			total.Medium += v.Medium
			total.Low += v.Low
			total.Unknown += v.Unknown
			total.Suppressed.Add(v.Suppressed)
			continue
		}
		f, err := trivyFindings(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("reading %s of %s: %w", p, r, err)
		}
		for k, sev := range f {
			if old, ok := found[k]; !ok || severityRank[sev] > severityRank[old] {
				found[k] = sev
			}
		}
	}
	if !sarif {
		counts := countTrivy(found)
		counts.Report = total.Report
		total = counts
	}
	return &total, nil
}

// artifact fetches <build>/artifact/<relativePath>. It is not an /api/json
// resource, which gojenkins' Requester would append, so the request goes
// straight through the call's checking http.Client.
func (c *Client) artifact(ctx context.Context, r ref, relativePath string) ([]byte, error) {
	segs := strings.Split(relativePath, "/")
	for i, s := range segs {
		if s == "" || s == "." || s == ".." {
			return nil, fmt.Errorf("artifact path %q: %w", relativePath, gatekeeper.ErrInvalid)
		}
		segs[i] = url.PathEscape(s)
	}
	j := c.withContext(ctx)
	u := strings.TrimRight(j.Requester.Base, "/") + r.endpoint() + "/artifact/" + strings.Join(segs, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching artifact %s: %w", relativePath, err)
	}
	if a := j.Requester.BasicAuth; a != nil {
		req.SetBasicAuth(a.Username, a.Password)
	}
	resp, err := j.Requester.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching artifact %s: %w", relativePath, err)
	}
	defer resp.Body.Close()
	// checkTransport has read and bounded the body already.
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading artifact %s: %w", relativePath, err)
	}
	return body, nil
}

// baselineDue returns the base branch job whose last successful build
// should be fetched now, if any (see Source).
func (s *Source) baselineDue(ev *gatekeeper.Evidence, key gatekeeper.PullKey, now time.Time) (ref, bool) {
	if ev.PR == nil || ev.PR.BaseRef == "" {
		return ref{}, false
	}
	folders := s.c.repos.Folders(key.Owner, key.Repo)
	// The pull request's own job, as Jenkins showed it, spells the
	// folders as Jenkins does. Only a build Jenkins read (not one it
	// said it does not have, not a claim: a notification's scm url
	// places no job) of a job in the folders that place the repository
	// counts, never a copy of the project elsewhere.
	for _, b := range ev.Builds {
		if !b.Verified || b.Gone || !b.Key.SamePull(key) {
			continue
		}
		names, _, ok := SplitJobURL(b.JobPath)
		if !ok || len(names) < 2 {
			continue
		}
		if owner, repo, ok := s.c.repos.Repo(names[:len(names)-1]); ok &&
			strings.EqualFold(owner, key.Owner) && strings.EqualFold(repo, key.Repo) {
			folders = names[:len(names)-1]
			break
		}
	}
	base := ref{names: append(append([]string(nil), folders...), ev.PR.BaseRef)}
	if last, ok := ev.Sources[SourceName]; ok && !last.OK {
		return base, true
	}
	if ev.Baseline == nil || ev.Baseline.JobPath != base.jobPath() {
		return base, true
	}
	for i := len(ev.Log) - 1; i >= 0; i-- {
		if ev.Log[i].Event == EventBaseline {
			return base, now.Sub(ev.Log[i].At) >= s.opts.BaselineMaxAge
		}
	}
	return base, true
}

// baseline fetches the last successful build of job with its coverage and
// test counts. A job that never succeeded is ErrMissing with a nil Build;
// a failed test report fetch returns the build with the error.
func (s *Source) baseline(ctx context.Context, job ref) (*gatekeeper.Build, error) {
	b, err := s.c.LastSuccessful(ctx, job.jobPath())
	if err != nil {
		return nil, fmt.Errorf("fetching the baseline: %w", err)
	}
	r := job
	r.number = b.Number
	tests, err := s.c.testsOf(ctx, r)
	switch {
	case err == nil:
		b.Tests = tests
	case isMissing(err):
		b.Missing = append(b.Missing, gatekeeper.ReportTests)
	default:
		return &b, fmt.Errorf("fetching the baseline: %w", err)
	}
	return &b, nil
}
