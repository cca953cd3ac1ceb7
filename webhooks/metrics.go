package webhooks

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Metrics is the gatekeeper's Prometheus instrumentation. It has its own
// registry (no global state), so that tests and several servers in one
// process do not collide. It is the Service's gatekeeper.Observer, counts
// webhook deliveries, and counts GitHub API calls through GitHubCall, which
// cmd hooks into the GitHub client. Safe for concurrent use.
type Metrics struct {
	reg         *prometheus.Registry
	webhooks    *prometheus.CounterVec
	queueDepth  prometheus.Gauge
	evalSeconds prometheus.Histogram
	evaluations *prometheus.CounterVec
	posts       *prometheus.CounterVec
	postFails   *prometheus.CounterVec
	githubCalls *prometheus.CounterVec
	leaseLost   *prometheus.CounterVec
	remaining   *prometheus.GaugeVec
	statusLag   prometheus.Histogram
	redelivered prometheus.Counter
	// own is every gatekeeper_ family registered, for tests.
	own []prometheus.Collector
}

var (
	_ gatekeeper.Observer      = (*Metrics)(nil)
	_ gatekeeper.LeaseObserver = (*Metrics)(nil)
	_ gatekeeper.LagObserver   = (*Metrics)(nil)
)

// NewMetrics returns Metrics on a fresh registry that also carries the Go
// runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatekeeper", Name: "webhooks_total",
			Help: "Webhook deliveries received, by source, event type and result (accepted, duplicate, ignored, ping, unauthorized, too_large, invalid, unavailable).",
		}, []string{"source", "event", "result"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "gatekeeper", Name: "queue_depth",
			Help: "Pull requests waiting for or under evaluation.",
		}),
		evalSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "gatekeeper", Name: "evaluation_duration_seconds",
			Help: "Time to evaluate one pull request, evidence gathering included.",
			// Gathering talks to GitHub, Jenkins and ZenHub: seconds, not
			// microseconds.
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatekeeper", Name: "evaluations_total",
			Help: "Evaluations, by the state decided.",
		}, []string{"state"}),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatekeeper", Name: "status_posts_total",
			Help: "Commit status posts attempted, by state.",
		}, []string{"state"}),
		postFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatekeeper", Name: "status_post_failures_total",
			Help: "Commit status posts that failed, by state.",
		}, []string{"state"}),
		githubCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatekeeper", Name: "github_api_calls_total",
			Help: "GitHub REST API calls, by endpoint and HTTP status code; 304 is a conditional read GitHub found unchanged (served from the cache, free of rate limit).",
		}, []string{"endpoint", "code"}),
		leaseLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatekeeper", Name: "lease_lost_total",
			Help: "Evaluations stopped because their lease on the pull request expired or another replica took it over, by the step refused (renew, record, publish): what they would have posted may be older than the new holder's decision.",
		}, []string{"step"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gatekeeper", Name: "github_rate_limit_remaining",
			Help: "GitHub's X-RateLimit-Remaining in its last answer, by rate-limit resource (core, search, …); -1 until the first answer.",
		}, []string{"resource"}),
		statusLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "gatekeeper", Name: "status_lag_seconds",
			Help:    "Time from the acceptance of the newest webhook delivery an evaluation saw to the posting of the status that reflects it.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900},
		}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gatekeeper", Name: "webhook_redeliveries_total",
			Help: "Redeliveries of failed GitHub webhook deliveries the sweeper asked GitHub for (and GitHub accepted).",
		}),
	}
	m.own = []prometheus.Collector{m.webhooks, m.queueDepth, m.evalSeconds, m.evaluations, m.posts, m.postFails, m.githubCalls, m.leaseLost, m.remaining, m.statusLag, m.redelivered}
	m.reg.MustRegister(m.own...)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.zero()
	return m
}

// zero creates the series whose label values are known in advance, at 0:
// a labelled family has no line in /metrics until one of its series
// exists, so a dry run that received nothing would show none, and alerts
// on a rate would have nothing to start from.
func (m *Metrics) zero() {
	for _, st := range []gatekeeper.State{gatekeeper.Success, gatekeeper.Pending, gatekeeper.Failure, gatekeeper.Error} {
		m.evaluations.WithLabelValues(string(st))
		m.posts.WithLabelValues(string(st))
		m.postFails.WithLabelValues(string(st))
	}
	for _, source := range []string{"github", "jenkins"} {
		m.webhooks.WithLabelValues(source, "unverified", "unauthorized")
	}
	for _, step := range []string{"renew", "record", "publish"} {
		m.leaseLost.WithLabelValues(step)
	}
	// Jenkins deliveries have one event label; GitHub's are named by the
	// delivery and appear as they come.
	for _, result := range []string{"accepted", "duplicate", "ignored", "invalid", "too_large", "unavailable"} {
		m.webhooks.WithLabelValues("jenkins", "build", result)
	}
	m.remaining.WithLabelValues("core").Set(-1)
	// The GitHub client's endpoints are not known here (webhooks does not
	// import the adapter): cmd names them with KnownGitHubEndpoints.
}

// KnownGitHubEndpoints shows each endpoint in github_api_calls_total at 0
// with code "error" (calls that got no answer) and "304" (conditional reads
// found unchanged), so that the family, an alert on its errors and the
// share of 304s exist before the first call, and in a dry run that makes
// none.
func (m *Metrics) KnownGitHubEndpoints(endpoints ...string) {
	for _, e := range endpoints {
		m.githubCalls.WithLabelValues(e, "error")
		m.githubCalls.WithLabelValues(e, "304")
	}
}

// GitHubRemaining records GitHub's remaining rate limit for resource, as
// its last answer said (X-RateLimit-Remaining). cmd hooks it into the
// GitHub client.
func (m *Metrics) GitHubRemaining(resource string, remaining int) {
	switch resource {
	case "core", "search", "graphql", "integration_manifest", "code_search", "code_scanning_upload", "source_import", "actions_runner_registration", "scim", "dependency_snapshots":
	default:
		resource = "other" // GitHub's header: keep the label set bounded
	}
	m.remaining.WithLabelValues(resource).Set(float64(remaining))
}

// StatusLag implements gatekeeper.LagObserver.
func (m *Metrics) StatusLag(d time.Duration) {
	m.statusLag.Observe(d.Seconds())
}

// watchPolicy exports health as the gatekeeper_policy_ok gauge, read at
// every scrape. Registering it again (a second server on the same
// Metrics) keeps the first.
func (m *Metrics) watchPolicy(health func() gatekeeper.PolicyHealth) {
	_ = m.reg.Register(policyCollector{health: health, desc: prometheus.NewDesc(
		"gatekeeper_policy_ok",
		"1 when the policy folder's revision is in force; 0 when it is refused (does not load, fails its tests, is too slow) or none is loaded. revision is the revision in force, broken_revision the refused one.",
		[]string{"revision", "broken_revision"}, nil)})
}

// policyCollector reads the policy's health at each scrape.
type policyCollector struct {
	desc   *prometheus.Desc
	health func() gatekeeper.PolicyHealth
}

func (c policyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c policyCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.health()
	v := 0.0
	if h.OK() {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, h.Revision, h.BrokenRevision)
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Webhook counts one delivery. event must come from an authenticated
// request (or be a fixed word), so that callers cannot mint label values.
func (m *Metrics) Webhook(source, event, result string) {
	m.webhooks.WithLabelValues(source, event, result).Inc()
}

// GitHubCall counts one GitHub API call. endpoint should be a route
// template ("GET /repos/{owner}/{repo}/pulls/{number}"), not a URL, to keep
// the number of series bounded; code is the HTTP status, or "error" when
// no response came back.
func (m *Metrics) GitHubCall(endpoint, code string) {
	m.githubCalls.WithLabelValues(endpoint, code).Inc()
}

// Evaluated implements gatekeeper.Observer.
func (m *Metrics) Evaluated(d time.Duration, state gatekeeper.State) {
	m.evalSeconds.Observe(d.Seconds())
	m.evaluations.WithLabelValues(string(state)).Inc()
}

// Published implements gatekeeper.Observer.
func (m *Metrics) Published(state gatekeeper.State, err error) {
	m.posts.WithLabelValues(string(state)).Inc()
	if err != nil {
		m.postFails.WithLabelValues(string(state)).Inc()
	}
}

// LeaseLost implements gatekeeper.LeaseObserver.
func (m *Metrics) LeaseLost(step string) {
	m.leaseLost.WithLabelValues(step).Inc()
}

// QueueDepth implements gatekeeper.Observer.
func (m *Metrics) QueueDepth(n int) {
	m.queueDepth.Set(float64(n))
}

// Redelivered counts one redelivery of a failed webhook delivery that
// GitHub accepted.
func (m *Metrics) Redelivered() { m.redelivered.Inc() }
