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
	// own is every gatekeeper_ family registered, for tests.
	own []prometheus.Collector
}

var (
	_ gatekeeper.Observer      = (*Metrics)(nil)
	_ gatekeeper.LeaseObserver = (*Metrics)(nil)
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
			Help: "GitHub REST API calls, by endpoint and HTTP status code.",
		}, []string{"endpoint", "code"}),
		leaseLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatekeeper", Name: "lease_lost_total",
			Help: "Evaluations stopped because their lease on the pull request expired or another replica took it over, by the step refused (renew, record, publish): what they would have posted may be older than the new holder's decision.",
		}, []string{"step"}),
	}
	m.own = []prometheus.Collector{m.webhooks, m.queueDepth, m.evalSeconds, m.evaluations, m.posts, m.postFails, m.githubCalls, m.leaseLost}
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
	// The GitHub client's endpoints are not known here (webhooks does not
	// import the adapter): cmd names them with KnownGitHubEndpoints.
}

// KnownGitHubEndpoints shows each endpoint in github_api_calls_total at 0
// with code "error" (calls that got no answer), so that the family and an
// alert on its errors exist before the first call, and in a dry run that
// makes none.
func (m *Metrics) KnownGitHubEndpoints(endpoints ...string) {
	for _, e := range endpoints {
		m.githubCalls.WithLabelValues(e, "error")
	}
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
