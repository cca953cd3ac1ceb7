package webhooks

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// Service is what the HTTP edge needs from the domain; *gatekeeper.Service
// implements it.
type Service interface {
	// Accept stores an event durably and queues its pull request.
	Accept(ctx context.Context, e gatekeeper.Event) (gatekeeper.Outcome, error)
	// Pull returns what the API and the details page show, or an error
	// wrapping gatekeeper.ErrNotFound.
	Pull(ctx context.Context, key gatekeeper.PullKey, history int) (*gatekeeper.PullView, error)
	// Ready reports why the service cannot do its job, or nil.
	Ready(ctx context.Context) error
}

var _ Service = (*gatekeeper.Service)(nil)

// GitHubParser turns one GitHub delivery into a domain event. eventType and
// delivery are the X-GitHub-Event and X-GitHub-Delivery headers; payload is
// the JSON document (already taken out of a form-encoded body).
//
// It returns used == false with a nil error for deliveries the gatekeeper
// does not use, and an error wrapping gatekeeper.ErrInvalid for a malformed
// payload. githubevents.ParseDelivery is the implementation.
type GitHubParser func(eventType, delivery string, payload []byte) (e gatekeeper.Event, used bool, err error)

// MaxBody is the largest webhook body read: GitHub caps payloads at 25 MB
// and does not deliver larger ones, so anything bigger is not from GitHub.
const MaxBody = 25 << 20

// Options configure New. Service, ParseGitHub and WebhookSecret are
// required.
type Options struct {
	Service     Service
	ParseGitHub GitHubParser
	// WebhookSecret is GATEKEEPER_WEBHOOK_SECRET, the key of the
	// X-Hub-Signature-256 HMAC. It must not be empty: an empty key would
	// make every signature trivially forgeable.
	WebhookSecret []byte
	// History is how many decision records the API and the details page
	// show (default 20).
	History int
	Logger  *slog.Logger
	// Metrics receives the edge's measurements and serves /metrics. The
	// same value should be the Service's Observer. Default: a new one.
	Metrics *Metrics
	// JenkinsToken (GATEKEEPER_JENKINS_TOKEN) and ParseJenkins enable
	// POST /webhooks/jenkins; without them it answers 401 to everyone.
	JenkinsToken []byte
	ParseJenkins JenkinsParser
	// Auth says who reads the details page and the API; the zero value
	// serves them only over loopback (see AuthLoopback).
	Auth AuthOptions
	// Policy, when set, says which policy revision is in force and which
	// is refused: /readyz shows it, and Metrics exports it as the
	// gatekeeper_policy_ok gauge.
	Policy func() gatekeeper.PolicyHealth
	// Settings, when set, are the release settings of the policy in force
	// (opa.Engine.Settings): the board and the details page read the
	// roles, stages and window from them.
	Settings func() opa.Settings
	// Hub, when set, carries decisions to the board's live updates; the
	// same Hub's Publish must be the Service's Decided hook.
	Hub *Hub
	// Slack enables POST /webhooks/slack, the GO/NOGO buttons; without
	// its signing secret the endpoint answers 401 to everyone.
	Slack SlackOptions
}

// server holds what the handlers share. It is read-only after New.
type server struct {
	svc          Service
	parse        GitHubParser
	secret       []byte
	parseJenkins JenkinsParser
	jenkinsToken []byte
	history      int
	log          *slog.Logger
	metrics      *Metrics
	pages        *template.Template
	auth         *auth
	policy       func() gatekeeper.PolicyHealth // nil: not shown
	// policySettings are the settings in force (nil: none); hub the live
	// board's decisions (nil: the board does not update live).
	policySettings func() opa.Settings
	hub            *Hub
	slackOpts      SlackOptions
}

// New checks the options and returns the gin engine serving every
// endpoint. It does not change gin's global mode: cmd sets it (release
// mode keeps gin from printing its routes).
func New(o Options) (*gin.Engine, error) {
	var missing []string
	if o.Service == nil {
		missing = append(missing, "service")
	}
	if o.ParseGitHub == nil {
		missing = append(missing, "GitHub parser")
	}
	if len(o.WebhookSecret) == 0 {
		missing = append(missing, "webhook secret")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("creating HTTP server: missing %v: %w", missing, gatekeeper.ErrInvalid)
	}
	if o.History <= 0 {
		o.History = 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	au, err := newAuth(o.Auth)
	if err != nil {
		return nil, err
	}
	s := &server{
		svc:          o.Service,
		parse:        o.ParseGitHub,
		secret:       append([]byte(nil), o.WebhookSecret...),
		parseJenkins: o.ParseJenkins,
		jenkinsToken: append([]byte(nil), o.JenkinsToken...),
		history:      o.History,
		log:          o.Logger,
		metrics:      o.Metrics,
		pages:        pages,
		auth:         au,
		policy:       o.Policy,

		policySettings: o.Settings,
		hub:            o.Hub,
		slackOpts:      o.Slack,
	}
	s.slackOpts.SigningSecret = append([]byte(nil), o.Slack.SigningSecret...)
	if o.Policy != nil {
		o.Metrics.watchPolicy(o.Policy)
	}
	r := gin.New()
	// Requests come straight from GitHub or through a proxy we do not
	// know; never believe X-Forwarded-For.
	if err := r.SetTrustedProxies(nil); err != nil {
		return nil, fmt.Errorf("creating HTTP server: %w", err)
	}
	r.Use(s.recover)
	// A GET on a webhook path is a newcomer trying it in a browser: 405
	// with "Allow: POST" says the path is right and the method is not,
	// where gin's default 404 says the path is wrong.
	r.HandleMethodNotAllowed = true
	r.NoMethod(s.methodNotAllowed)
	s.routes(r)
	return r, nil
}

// routes registers every endpoint, in one place.
func (s *server) routes(r *gin.Engine) {
	r.POST("/webhooks/github", s.github)
	r.POST("/webhooks/jenkins", s.jenkins)
	r.POST("/webhooks/slack", s.slack)

	// Pages and API show private repositories' content: every route in
	// this group needs a signed-in viewer (see signedIn), and a handler
	// showing a repository asks mayRead first.
	view := r.Group("", s.signedIn)
	view.GET("/api/v1/pulls/:owner/:repo/:number", s.apiPull)
	view.GET("/pulls/:owner/:repo/:number", s.pullPage)
	view.GET("/api/v1/decisions", s.apiDecisions)
	view.GET("/api/v1/decisions/:owner/:repo/:number/:stamp", s.apiDecision)
	view.POST("/api/v1/preview", s.apiPreview)
	view.GET("/", s.board)
	view.GET("/board/events", s.boardEvents)
	r.GET("/board.js", s.boardJS)

	r.GET("/auth/login", s.login)
	r.GET("/auth/callback", s.callback)
	r.GET("/auth/logout", s.logout)
	r.POST("/auth/logout", s.logout)

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(s.metrics.Handler()))
}

// methodNotAllowed answers a known path asked with the wrong method; gin
// has set the Allow header already. The answer repeats neither the path
// nor the method: both are the caller's text.
func (s *server) methodNotAllowed(c *gin.Context) {
	c.JSON(http.StatusMethodNotAllowed, gin.H{"error": "This path takes " + c.Writer.Header().Get("Allow") + " only."})
}

// errTooLarge marks a body over MaxBody, whether Content-Length said so or
// reading found out.
var errTooLarge = errors.New("request body too large")

// httpStatus is the one place that maps errors onto HTTP statuses. Errors
// that are none of the request's fault (the store is down, the request was
// cancelled) are 503: the caller may try again, and GitHub shows the
// delivery as failed so that it can be redelivered.
func httpStatus(err error) int {
	var maxBytes *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, errTooLarge), errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, gatekeeper.ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, gatekeeper.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, gatekeeper.ErrNotFound):
		return http.StatusNotFound
	default:
		return http.StatusServiceUnavailable
	}
}

// publicError is the error text a client sees, a whole sentence. Client
// errors are explained; server-side ones are not, since they may name
// internals (paths, hosts).
func publicError(err error) string {
	switch code := httpStatus(err); code {
	case http.StatusBadRequest:
		return sentence(err)
	case http.StatusRequestEntityTooLarge:
		return fmt.Sprintf("The request body is over the %d MiB limit.", MaxBody>>20)
	case http.StatusNotFound:
		// The same words whether the pull request is unknown or the viewer
		// may not read its repository.
		return "The release gatekeeper has seen no such pull request, or you may not read its repository."
	case http.StatusUnauthorized:
		return "The signature is missing or does not match the body."
	default:
		return "The release gatekeeper cannot answer right now; try again shortly."
	}
}

// sentence makes an error's text readable by a person: without the
// sentinel word that wrapping leaves for errors.Is ("…: invalid"; the
// status code says as much), starting with a capital, ending with a full
// stop.
func sentence(err error) string {
	msg := err.Error()
	for _, s := range []error{gatekeeper.ErrInvalid, gatekeeper.ErrNotFound, gatekeeper.ErrUnauthorized, errTooLarge} {
		if !errors.Is(err, s) {
			continue
		}
		w := s.Error()
		msg = strings.ReplaceAll(msg, ": "+w+": ", ": ")
		msg = strings.TrimSuffix(msg, ": "+w)
		msg = strings.TrimPrefix(msg, w+": ")
	}
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return "The request is malformed."
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// recover answers 500 for a panicking handler and logs it once, so that one
// bad request cannot take the server down.
func (s *server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(c.Request.Context(), "handler panicked", "path", c.FullPath(), "panic", fmt.Sprint(v))
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "The release gatekeeper could not handle this request; the error is logged."})
		}
	}()
	c.Next()
}
