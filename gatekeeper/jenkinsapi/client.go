package jenkinsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bndr/gojenkins"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Options configure a Client. Only URL is required.
type Options struct {
	// URL is the Jenkins root, context path included
	// ("https://ci.example.com/jenkins/").
	URL string
	// User and Token are a Jenkins user and API token; both empty means
	// anonymous access.
	User, Token string
	// Transport carries the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds each request when the caller's context does not;
	// 0 means 30 s.
	Timeout time.Duration
	// MaxBody bounds an answer's size; 0 means 64 MiB (test reports list
	// every test case).
	MaxBody int64
	// Stages returns the map of Jenkins stage names onto the release
	// stages in force; it is called at each use, so that a policy reload
	// applies at once. nil, or a nil map, means DefaultStageMap().
	Stages func() StageMap
	// CoverageID is the Coverage plugin's recorder id, the URL segment of
	// its report; "" means "coverage", the plugin's default.
	CoverageID string
	// Repos maps job folders to repositories (GATEKEEPER_JENKINS_JOBS).
	Repos JobRepos
	// Clock stamps Build.UpdatedAt; nil means the system clock.
	Clock gatekeeper.Clock
}

// Client reads build evidence from one Jenkins. It is safe for concurrent
// use.
type Client struct {
	// jenkins is a template: every call works on a copy whose Requester
	// carries that call's context (see withContext).
	jenkins    *gojenkins.Jenkins
	transport  http.RoundTripper
	timeout    time.Duration
	maxBody    int64
	stages     func() StageMap
	coverageID string
	repos      JobRepos
	clock      gatekeeper.Clock
}

// New returns a Client for the Jenkins at opt.URL. It does not contact
// Jenkins; use Ping for that.
func New(opt Options) (*Client, error) {
	u, err := url.Parse(opt.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("creating jenkins client: url %q is not an http(s) URL: %w", opt.URL, gatekeeper.ErrInvalid)
	}
	if (opt.User == "") != (opt.Token == "") {
		return nil, fmt.Errorf("creating jenkins client: user and token go together: %w", gatekeeper.ErrInvalid)
	}
	c := &Client{
		transport: opt.Transport, timeout: opt.Timeout, maxBody: opt.MaxBody,
		stages: opt.Stages, coverageID: opt.CoverageID, repos: opt.Repos, clock: opt.Clock,
	}
	if c.transport == nil {
		c.transport = http.DefaultTransport
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	if c.maxBody <= 0 {
		c.maxBody = 64 << 20
	}
	if c.coverageID == "" {
		c.coverageID = "coverage"
	}
	if strings.ContainsAny(c.coverageID, "/?#") {
		return nil, fmt.Errorf("creating jenkins client: coverage id %q: %w", c.coverageID, gatekeeper.ErrInvalid)
	}
	if c.clock == nil {
		c.clock = gatekeeper.SystemClock{}
	}
	// The map in force at start must be good; a later bad one is an
	// error at its use.
	if _, err := c.stageIndex(); err != nil {
		return nil, fmt.Errorf("creating jenkins client: %w", err)
	}
	var auth []any
	if opt.User != "" {
		auth = []any{opt.User, opt.Token}
	}
	c.jenkins = gojenkins.CreateJenkins(nil, strings.TrimRight(opt.URL, "/"), auth...)
	return c, nil
}

// withContext returns a copy of the gojenkins client whose requests carry
// ctx and go through checkTransport. gojenkins keeps its http.Client in a
// shared Requester, so the copy (not a mutation) keeps the Client safe for
// concurrent calls.
func (c *Client) withContext(ctx context.Context) *gojenkins.Jenkins {
	r := *c.jenkins.Requester
	r.Client = &http.Client{
		Transport: &checkTransport{ctx: ctx, next: c.transport, maxBody: c.maxBody},
		Timeout:   c.timeout,
	}
	j := *c.jenkins
	j.Requester = &r
	return &j
}

// Ping checks that URL answers as a Jenkins and that the credentials are
// accepted, and returns the Jenkins version. It is what gojenkins' Init
// does (GET /api/json, 200, X-Jenkins header), without Init's writes to
// gojenkins' package-level loggers, which would race between callers.
func (c *Client) Ping(ctx context.Context) (string, error) {
	var raw rawJSON
	resp, err := c.withContext(ctx).Requester.GetJSON(ctx, "/", &raw, nil)
	if err != nil {
		return "", fmt.Errorf("pinging jenkins: %w", err)
	}
	v := resp.Header.Get("X-Jenkins")
	if v == "" {
		return "", fmt.Errorf("pinging jenkins: no X-Jenkins header, not a Jenkins root")
	}
	return v, nil
}

// ref names one job or build of the Jenkins, by the decoded job names.
type ref struct {
	names  []string
	number int64
}

// newRef parses a job URL in any form SplitJobURL accepts. A build number
// in the URL must agree with number; number 0 takes the URL's.
func newRef(jobURL string, number int64) (ref, error) {
	names, n, ok := SplitJobURL(jobURL)
	if !ok {
		return ref{}, fmt.Errorf("job url %q names no job: %w", jobURL, ErrUnplaced)
	}
	if n != 0 && number != 0 && n != number {
		return ref{}, fmt.Errorf("job url %q names build %d, not %d: %w", jobURL, n, number, gatekeeper.ErrInvalid)
	}
	if number == 0 {
		number = n
	}
	return ref{names: names, number: number}, nil
}

// jobPath is the job's path relative to the Jenkins root as the domain
// keeps it: "job/acme/job/shop/job/PR-12-merge".
func (r ref) jobPath() string {
	var b strings.Builder
	for i, n := range r.names {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString("job/")
		b.WriteString(url.PathEscape(n))
	}
	return b.String()
}

// endpoint is the path gojenkins appends to the base URL: "/job/…/N".
// Building it here, rather than with Job.GetBuild, avoids gojenkins
// joining the job's absolute url (which repeats the context path and ends
// in "/") to the base, which gives "/jenkins/jenkins/job/x//N".
func (r ref) endpoint() string {
	p := "/" + r.jobPath()
	if r.number > 0 {
		p += "/" + strconv.FormatInt(r.number, 10)
	}
	return p
}

// String names the build in errors: "acme/shop/PR-12-merge #7".
func (r ref) String() string {
	s := strings.Join(r.names, "/")
	if r.number > 0 {
		s += " #" + strconv.FormatInt(r.number, 10)
	}
	return s
}

// job returns a gojenkins Job for r without fetching it: the Stage View
// and test report calls only need its Base.
func (r ref) job(j *gojenkins.Jenkins) *gojenkins.Job {
	base := "/" + r.jobPath()
	return &gojenkins.Job{Jenkins: j, Base: base, Raw: &gojenkins.JobResponse{URL: base}}
}

// skeleton is the Build the job URL alone tells: path, name, pull request
// and strategy.
func (c *Client) skeleton(r ref) gatekeeper.Build {
	b := gatekeeper.Build{JobPath: r.jobPath(), JobName: r.names[len(r.names)-1], Number: r.number}
	if folders, n, strategy, ok := ParseJobPath(b.JobPath); ok {
		// A pull request job, even when its repository is not known:
		// its strategy decides whether the built commit can be the head.
		b.Key.Number, b.Strategy = n, strategy
		if owner, repo, ok := c.repos.Repo(folders); ok {
			b.Key.Owner, b.Key.Repo = owner, repo
		}
	} else if len(r.names) > 1 {
		// A branch job: the repository is its multibranch project.
		if owner, repo, ok := c.repos.Repo(r.names[:len(r.names)-1]); ok {
			b.Key = gatekeeper.PullKey{Owner: owner, Repo: repo}
		}
	}
	return b
}

// stageIndex indexes the stage map in force (Options.Stages).
func (c *Client) stageIndex() (stageIndex, error) {
	return indexStages(c.stages)
}

// indexStages indexes the map provider returns, DefaultStageMap() for a
// nil provider or map.
func indexStages(provider func() StageMap) (stageIndex, error) {
	var m StageMap
	if provider != nil {
		m = provider()
	}
	if m == nil {
		m = DefaultStageMap()
	}
	return m.index()
}

// isMissing reports whether err means Jenkins does not have the thing.
func isMissing(err error) bool { return errors.Is(err, ErrMissing) }
