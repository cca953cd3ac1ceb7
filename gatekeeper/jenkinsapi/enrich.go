package jenkinsapi

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/bndr/gojenkins"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Enrich reads a build known from a notification (at least JobPath and
// Number set) from the REST API: result, timing and revisions, stages,
// test counts and coverage. The build returned is Jenkins' account alone,
// Verified: nothing the notification claimed is kept but the job's pull
// request when the API cannot tell it, and the claims (Build.Claims),
// which the domain checks against it and takes the image digest and chart
// version from.
//
// Reports Jenkins does not have are listed in Missing with a nil field.
// While the build runs only the stages are fetched: its reports do not
// exist yet and are not missing. Any other failure is returned, joined,
// together with everything that could be fetched, so that the details page
// can still show it; the caller must not treat such a build as complete.
func (c *Client) Enrich(ctx context.Context, in gatekeeper.Build) (gatekeeper.Build, error) {
	out, _, err := c.enrich(ctx, in)
	return out, err
}

// enrich is Enrich, also returning the build's archived artifacts and,
// when the build itself could be fetched, fetched true.
func (c *Client) enrich(ctx context.Context, in gatekeeper.Build) (gatekeeper.Build, enriched, error) {
	r, err := newRef(in.JobPath, in.Number)
	if err != nil {
		return in, enriched{}, fmt.Errorf("enriching build: %w", err)
	}
	if r.number <= 0 {
		return in, enriched{}, fmt.Errorf("enriching build of %s: no build number: %w", r, gatekeeper.ErrInvalid)
	}
	got, artifacts, err := c.fetchBuild(ctx, r)
	if err != nil {
		return in, enriched{}, fmt.Errorf("enriching build: %w", err)
	}
	info := enriched{ref: r, fetched: true, artifacts: artifacts}
	out := merge(in, got)

	var (
		wg       sync.WaitGroup
		stages   []gatekeeper.Stage
		tests    *gatekeeper.TestSummary
		coverage *gatekeeper.Coverage
		errs     [3]error
	)
	wg.Go(func() { stages, errs[0] = c.stagesOf(ctx, r) })
	if !out.Building {
		wg.Go(func() { tests, errs[1] = c.testsOf(ctx, r) })
		wg.Go(func() { coverage, errs[2] = c.coverageOf(ctx, r) })
	}
	wg.Wait()

	out.Stages, out.Tests, out.Coverage, out.Missing = stages, tests, coverage, nil
	var failed []error
	for i, report := range []string{gatekeeper.ReportStages, gatekeeper.ReportTests, gatekeeper.ReportCoverage} {
		switch {
		case errs[i] == nil:
		case isMissing(errs[i]):
			out.Missing = append(out.Missing, report)
		default:
			failed = append(failed, errs[i])
		}
	}
	out.UpdatedAt = c.clock.Now()
	if len(failed) > 0 {
		return out, info, fmt.Errorf("enriching build %s: %w", r, errors.Join(failed...))
	}
	return out, info, nil
}

// enriched is what enrich learnt besides the Build.
type enriched struct {
	ref ref
	// fetched is true when the build's own JSON was read, so that the
	// returned Build holds Jenkins' current view of it.
	fetched   bool
	artifacts []wireArtifact
}

// merge returns the API's view of a build: only the claims (and the URL,
// when the API has none) come from the build as known before. The pull
// request is the one the job path names (folders, GATEKEEPER_JENKINS_JOBS),
// never the one a notification's scm url claims: a job the API cannot place
// counts for no pull request.
func merge(in, api gatekeeper.Build) gatekeeper.Build {
	out := api
	if out.URL == "" {
		out.URL = in.URL
	}
	out.Claims = in.Claims
	return out
}

// LastSuccessful returns the newest successful build of a job (typically
// the master branch job, as the coverage baseline) with its coverage. A
// job that never succeeded is ErrMissing; a build without a coverage
// report is returned with "coverage" in Missing.
func (c *Client) LastSuccessful(ctx context.Context, jobURL string) (gatekeeper.Build, error) {
	r, err := newRef(jobURL, 0)
	if err != nil {
		return gatekeeper.Build{}, fmt.Errorf("fetching last successful build: %w", err)
	}
	r.number = 0
	escaped := make([]string, len(r.names))
	for i, n := range r.names {
		escaped[i] = url.PathEscape(n)
	}
	job, err := c.withContext(ctx).GetJob(ctx, escaped[len(escaped)-1], escaped[:len(escaped)-1]...)
	if err != nil {
		return gatekeeper.Build{}, fmt.Errorf("fetching job %s: %w", r, err)
	}
	if job.Raw.Name == "" {
		return gatekeeper.Build{}, fmt.Errorf("decoding job %s: no name", r)
	}
	r.number = job.Raw.LastSuccessfulBuild.Number
	if r.number <= 0 {
		return gatekeeper.Build{}, fmt.Errorf("fetching last successful build of %s: %w", r, ErrMissing)
	}
	b, err := c.build(ctx, r)
	if err != nil {
		return gatekeeper.Build{}, fmt.Errorf("fetching last successful build: %w", err)
	}
	// A refused build (a Replay: its Jenkinsfile edited in Jenkins) may
	// report any coverage: the baseline is the newest successful build
	// before it that counts, looking at most maxBaselineSkips further.
	if b.Refused != "" {
		b, err = c.countedSuccessBefore(ctx, r, job.Raw.Builds)
		if err != nil {
			return gatekeeper.Build{}, err
		}
		r.number = b.Number
	}
	b.Coverage, err = c.coverageOf(ctx, r)
	if isMissing(err) {
		b.Missing = append(b.Missing, gatekeeper.ReportCoverage)
	} else if err != nil {
		return b, err
	}
	return b, nil
}

// maxBaselineSkips bounds the builds read past a refused last successful
// build of the base branch job.
const maxBaselineSkips = 5

// countedSuccessBefore returns the newest successful, not refused build
// of r's job numbered below r.number, of builds (the job's list, newest
// first), reading at most maxBaselineSkips of them; none is ErrMissing.
func (c *Client) countedSuccessBefore(ctx context.Context, r ref, builds []gojenkins.JobBuild) (gatekeeper.Build, error) {
	below, read := r.number, 0
	for _, jb := range builds {
		if jb.Number >= below {
			continue
		}
		if read == maxBaselineSkips {
			break
		}
		read++
		r.number = jb.Number
		b, err := c.build(ctx, r)
		if isMissing(err) {
			continue
		}
		if err != nil {
			return gatekeeper.Build{}, fmt.Errorf("fetching a baseline before a refused build: %w", err)
		}
		if b.Result == "SUCCESS" && b.Refused == "" {
			return b, nil
		}
	}
	return gatekeeper.Build{}, fmt.Errorf("fetching last successful build of %s: none counts among the newest: %w", r, ErrMissing)
}

// BuildForHead finds the newest build made for the head sha of pull
// request key, for when its notification never arrived: it looks at the
// pull request's PR-<n>-merge job (the gated build), else its PR-<n> job,
// in the folders Options.Repos gives, and at most at the newest limit
// builds, skipping builds that cannot count (Refused, or "head" strategy).
// The build is returned as Build returns it; Enrich completes it.
// No such job or build is ErrMissing.
func (c *Client) BuildForHead(ctx context.Context, key gatekeeper.PullKey, sha string, limit int) (gatekeeper.Build, error) {
	if !key.Valid() || sha == "" || limit <= 0 {
		return gatekeeper.Build{}, fmt.Errorf("finding build of %s at %q: %w", key, sha, gatekeeper.ErrInvalid)
	}
	folders := c.repos.Folders(key.Owner, key.Repo)
	parents := make([]string, len(folders))
	for i, f := range folders {
		parents[i] = url.PathEscape(f)
	}
	for _, name := range []string{fmt.Sprintf("PR-%d-merge", key.Number), fmt.Sprintf("PR-%d", key.Number)} {
		job, err := c.withContext(ctx).GetJob(ctx, name, parents...)
		if isMissing(err) {
			continue
		}
		if err != nil {
			return gatekeeper.Build{}, fmt.Errorf("finding build of %s: fetching job %s: %w", key, name, err)
		}
		r := ref{names: append(append([]string(nil), folders...), name)}
		for i, jb := range job.Raw.Builds {
			if i == limit {
				break
			}
			r.number = jb.Number
			b, err := c.build(ctx, r)
			if isMissing(err) {
				continue // discarded between the two requests
			}
			if err != nil {
				return gatekeeper.Build{}, fmt.Errorf("finding build of %s: %w", key, err)
			}
			// A Replay of the build, or a head-only one, never counts:
			// the build that can is older.
			if b.HeadSHA == sha && b.Refused == "" && b.Strategy != "head" {
				return b, nil
			}
		}
		// The gated job exists: a plain PR-<n> job is not a substitute.
		break
	}
	return gatekeeper.Build{}, fmt.Errorf("finding build of %s at %s: %w", key, sha, ErrMissing)
}
