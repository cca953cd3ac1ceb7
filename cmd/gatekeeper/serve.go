package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubapi"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
	"github.com/releasegate/gatekeeper/gatekeeper/jenkinsapi"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
	"github.com/releasegate/gatekeeper/gatekeeper/slackapi"
	"github.com/releasegate/gatekeeper/gatekeeper/zenhubapi"
	"github.com/releasegate/gatekeeper/webhooks"
)

// serve builds the dependencies from cfg, runs the server and the workers
// until ctx ends, then shuts down cleanly: stop accepting requests, wait
// for the requests running, drain the workers and every goroutine they
// started, and only then close the store.
func serve(ctx context.Context, cfg *Config, logOut io.Writer) error {
	log := newLogger(cfg.LogLevel, logOut)

	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	// A policy that does not compile at start does not stop the server:
	// webhooks are still recorded, /readyz says why it is not ready, and
	// every status says error until the folder is fixed.
	engine, err := opa.Load(ctx, cfg.Policies, opa.WithLogger(log),
		opa.WithEvalTimeout(cfg.EvalTimeout), opa.WithReloadTimeout(cfg.ReloadTimeout))
	if err != nil {
		log.Error("loading policy; statuses will say error until it is fixed", "dir", cfg.Policies, "err", err)
	}

	metrics := webhooks.NewMetrics()
	metrics.KnownGitHubEndpoints(githubapi.Endpoints()...)
	deps, err := buildSources(cfg, engine, metrics, log)
	if err != nil {
		return err
	}
	if deps.github.IsApp() {
		if err := learnAppLogin(ctx, deps.github, log); err != nil {
			return err
		}
	}
	// The GO/NOGO board's live updates: every decision kept is published.
	hub := webhooks.NewHub()
	svc, err := gatekeeper.New(gatekeeper.Options{
		Store: store, Evaluator: engine, Publisher: deps.publisher, Responder: deps.responder,
		Notifier: deps.notifier, Sources: deps.sources, Discoverer: deps.discoverer, Checklist: deps.checklist,
		Logger: log, Observer: metrics, Gated: cfg.gated, StatusContext: cfg.StatusContext,
		PublicURL: cfg.PublicURL, Workers: cfg.Workers, Reconcile: cfg.Reconcile,
		LeaseTTL: cfg.LeaseTTL, GatherTimeout: cfg.GatherTimeout,
		PublishTimeout: cfg.PublishTimeout, PostsPerRepo: cfg.PostsPerRepo,
		VerifyBuilds: cfg.JenkinsURL != "",
		// With GitHub readable, webhooks' approvals and votes are claims
		// until GitHub shows them; in a dry run they are believed.
		ConfirmClaims: cfg.githubAuth(),
		// Stages are keyed with the policy in force at every evaluation,
		// however and whenever they were recorded.
		StageKeys: func() func(string) string { return stageMap(engine, log).Keys() },
		// The release window of the policy data in force: every open
		// release is evaluated again as it opens and as it closes.
		WindowEdge: func(now time.Time) (time.Time, bool) { return engine.Settings().Window.NextEdge(now) },
		Decided:    hub.Publish,
	})
	if err != nil {
		return err
	}
	// Listen first: whether pages are served without sign-in depends on
	// the address actually bound.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	auth, err := uiAuth(cfg, ln, log)
	if err != nil {
		return err
	}
	slack, err := slackOptions(cfg, engine, log)
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	handler, err := webhooks.New(webhooks.Options{
		Service: svc, ParseGitHub: githubevents.ParseDelivery, WebhookSecret: []byte(cfg.WebhookSecret),
		JenkinsToken: []byte(cfg.JenkinsToken), ParseJenkins: jenkinsParser(jenkinsapi.ParseOptions{
			Repos: cfg.jobRepos, Logger: log, Stages: func() jenkinsapi.StageMap { return stageMap(engine, log) },
		}),
		Logger: log, Metrics: metrics, Auth: auth, Policy: engine.Health, Slack: slack,
		Settings: engine.Settings, Hub: hub,
	})
	if err != nil {
		return err
	}

	requests := newDrainingHandler(handler)
	srv := &http.Server{
		Handler:           requests,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// The board's event streams never end by themselves: end them when
	// shutting down, or Shutdown would wait its whole timeout for them.
	srv.RegisterOnShutdown(hub.Close)
	log.Info("listening", "addr", ln.Addr().String(), "version", version, "commit", commit,
		"policy", engine.Revision(), "store", cfg.Store, "dry_run", deps.publisher.DryRun(),
		"github_auth", githubAuthKind(cfg),
		"gated", cfg.gated.String(), "sources", deps.names())

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); watchPolicy(workCtx, engine, svc, cfg.PolicyReload, log) }()
	go func() { defer wg.Done(); _ = svc.Run(workCtx) }()
	if sw := newSweeper(cfg, deps.github, store, metrics); sw != nil {
		wg.Add(1)
		lease := svc.TimerLease(gatekeeper.SweeperLeaseName, 2*cfg.DeliverySweep)
		go func() { defer wg.Done(); runSweeper(workCtx, sw, lease, cfg.DeliverySweep, log) }()
	}
	if deps.slack != nil {
		wg.Add(1)
		go func() { defer wg.Done(); runSummaries(workCtx, deps.slack, engine, svc, log) }()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	served := false
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		served = true
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if sErr := srv.Shutdown(shutdownCtx); sErr != nil {
		log.Error("stopping the HTTP server", "err", sErr)
		_ = srv.Close()
	}
	// Shutdown gives up on requests still running after its timeout: wait
	// for them too, then for the workers, the timer's reconcile and
	// janitor and the policy watcher (whose reload re-evaluates), so that
	// nothing uses the store when the deferred Close runs.
	requests.Close()
	if !served {
		<-serveErr // Serve returns once Shutdown or Close ran
	}
	stopWork()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated in Config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// watchPolicy reloads the policy folder every interval (the engine logs
// each change, naming the old and the new revision). When what the engine
// serves changes (a new revision, or the folder broke or was fixed), every
// open release pull request is evaluated again, so that a release
// manager's edit shows on the gate at once rather than at the next webhook.
func watchPolicy(ctx context.Context, engine *opa.Engine, svc *gatekeeper.Service, interval time.Duration, log *slog.Logger) {
	engine.Watch(ctx, interval, func(opa.Reloaded) {
		if err := svc.Reconcile(ctx); err != nil && ctx.Err() == nil {
			log.Error("re-evaluating after a policy change", "err", err)
		}
	})
}

// learnAppLogin reads the GitHub App's bot login ("<slug>[bot]", GET /app)
// before the first status is posted, so that the gatekeeper knows its own
// statuses from the start. GitHub refusing the App (a wrong id or key) stops
// the start; GitHub not answering within 5 s does not (webhooks are lost
// while nothing listens): the login is then read again in the background,
// and the first status posted names it meanwhile.
func learnAppLogin(ctx context.Context, gh *githubapi.Client, log *slog.Logger) error {
	first, cancel := context.WithTimeout(ctx, 5*time.Second)
	login, err := gh.AppLogin(first)
	cancel()
	switch {
	case err == nil:
		log.Info("acting as a GitHub App", "login", login)
		return nil
	case errors.Is(err, githubapi.ErrAppRefused):
		return err
	}
	log.Warn("reading the GitHub App's login; trying again in the background", "err", err)
	go func() {
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(30 * time.Second):
			}
			try, cancel := context.WithTimeout(ctx, 20*time.Second)
			login, err := gh.AppLogin(try)
			cancel()
			if err == nil {
				log.Info("acting as a GitHub App", "login", login)
				return
			}
			log.Warn("reading the GitHub App's login", "err", err)
		}
	}()
	return nil
}

// githubAuthKind names how the gatekeeper authenticates to GitHub, for the
// start-up log line.
func githubAuthKind(cfg *Config) string {
	switch {
	case cfg.GitHubAppID != "":
		return "app " + cfg.GitHubAppID
	case cfg.GitHubToken != "":
		return "token"
	}
	return "none"
}

// dependencies are the adapters built from the settings.
type dependencies struct {
	publisher gatekeeper.Publisher
	responder gatekeeper.Responder
	notifier  gatekeeper.Notifier // nil: no Slack notifications
	slack     *slackapi.Notifier  // the same, for the daily summary
	sources   []gatekeeper.Source
	github    *githubapi.Client
	// checklist posts the "release-gate checklist" check run; nil without
	// a GitHub App (a token cannot create check runs).
	checklist gatekeeper.Checklister
	// discoverer finds pull requests whose webhooks were lost; nil in a
	// dry run, which reads nothing from GitHub.
	discoverer gatekeeper.Discoverer
}

func (d dependencies) names() []string {
	out := make([]string, len(d.sources))
	for i, s := range d.sources {
		out[i] = s.Name()
	}
	return out
}

// buildSources wires the evidence sources that are configured, in the order
// they gather: the pull request and its reviews first, then what depends on
// them (merged pull requests, builds, team memberships, ZenHub issues),
// and the Slack notifier when SLACK_WEBHOOK_URL is set.
func buildSources(cfg *Config, engine *opa.Engine, metrics *webhooks.Metrics, log *slog.Logger) (dependencies, error) {
	var d dependencies
	gh, err := githubapi.New(githubapi.Options{
		BaseURL: cfg.GitHubAPIURL, Token: cfg.GitHubToken, App: cfg.githubApp(),
		Logger: log, Observe: metrics.GitHubCall,
		Remaining: metrics.GitHubRemaining,
		Budget:    githubBudget(cfg.GitHubWritesPerMinute),
	})
	if err != nil {
		return d, err
	}
	d.github = gh
	if !cfg.githubAuth() {
		log.Warn("no GITHUB_TOKEN nor GitHub App: dry run, statuses and vote answers are logged and shown on the details page, not posted; GitHub is not read")
		d.publisher = githubapi.NewDryRun(log)
		d.responder = githubapi.NewDryRunResponder(log)
	} else {
		d.publisher = githubapi.NewPublisher(gh)
		d.responder = githubapi.NewResponder(gh)
		d.discoverer = gh
		if cl, err := githubapi.NewChecklist(gh); err == nil {
			d.checklist = cl
		} else {
			log.Info("no GitHub App: the \""+githubapi.ChecklistName+"\" check run is not posted; the commit status is", "why", err)
		}
		d.sources = append(d.sources,
			githubapi.NewSource(gh, githubapi.SourceOptions{StatusContext: cfg.StatusContext, MaxAge: cfg.GitHubMaxAge}),
			githubapi.NewMergedSource(gh, githubapi.MergedSourceOptions{Gated: cfg.gated, MaxAge: cfg.GitHubMaxAge}),
			githubapi.NewBaseTipSource(gh, cfg.GitHubMaxAge),
		)
	}
	if cfg.JenkinsURL != "" {
		jc, err := jenkinsapi.New(jenkinsapi.Options{
			URL: cfg.JenkinsURL, User: cfg.JenkinsUser, Token: cfg.JenkinsAPIToken,
			Stages: func() jenkinsapi.StageMap { return stageMap(engine, log) }, Repos: cfg.jobRepos,
		})
		if err != nil {
			return d, err
		}
		// Half the reconcile period: every reconcile reads the current
		// head's build again.
		d.sources = append(d.sources, jenkinsapi.NewSource(jc, jenkinsapi.SourceOptions{RecheckEvery: cfg.Reconcile / 2, Logger: log}))
	} else if cfg.JenkinsToken == "" {
		log.Warn("Jenkins is not configured (GATEKEEPER_JENKINS_TOKEN, JENKINS_URL): release pull requests will wait for their build")
	}
	if cfg.githubAuth() && cfg.SlackSigningSecret != "" {
		// Votes cast with the Slack buttons become comments, then votes.
		d.sources = append(d.sources, githubapi.NewSlackEcho(gh))
	}
	if cfg.githubAuth() {
		d.sources = append(d.sources, githubapi.NewTeamSource(gh, githubapi.TeamSourceOptions{Teams: policyTeams(engine), TTL: 2 * cfg.GitHubMaxAge}))
	}
	if cfg.ZenHubAPIURL != "" {
		zs, err := zenhubapi.New(zenhubapi.Options{
			BaseURL: cfg.ZenHubAPIURL, Token: cfg.ZenHubAPIToken, RepoID: gh.RepoID, Logger: log,
		})
		if err != nil {
			return d, err
		}
		d.sources = append(d.sources, zs)
	}
	if cfg.SlackWebhookURL != "" {
		sn, err := slackapi.New(slackapi.Options{WebhookURL: cfg.SlackWebhookURL, Logger: log,
			Buttons: cfg.SlackSigningSecret != "" && cfg.githubAuth()})
		if err != nil {
			return d, fmt.Errorf("SLACK_WEBHOOK_URL: %w", err)
		}
		log.Info("gate changes go to Slack", "host", sn.Host()) // the URL is a secret
		d.notifier, d.slack = sn, sn
	}
	return d, nil
}

// githubBudget paces writes at perMinute a minute, with a burst that keeps
// any one minute under GitHub's secondary limit of 80 (at most 15); 0
// means the default, 60.
func githubBudget(perMinute int) githubapi.Budget {
	if perMinute <= 0 {
		perMinute = 60
	}
	return githubapi.Budget{
		WriteInterval: time.Minute / time.Duration(perMinute),
		WriteBurst:    max(1, min(15, 80-perMinute)),
	}
}

// policyTeams returns the GitHub teams the release roles name in the policy
// data in force (release.approvals.roles[].team), read at every call so that
// a release manager's edit applies without a restart.
func policyTeams(engine *opa.Engine) githubapi.TeamsFunc {
	return func() []string { return engine.Settings().Approvals.Teams() }
}

// stageMap returns which Jenkins stage names make up each release stage in
// the policy data in force (release.build.stages[].jenkins), falling back to
// the adapter's defaults for a stage that names none. It reads the revision
// in force at every call (the settings are decoded once per revision, so a
// call costs a few small maps): call it at every use, so that stage names
// follow the policy as it is reloaded.
func stageMap(engine *opa.Engine, log *slog.Logger) jenkinsapi.StageMap {
	m := jenkinsapi.DefaultStageMap()
	settings := engine.Settings()
	for _, st := range settings.Build.Stages {
		var list []string
		for _, n := range st.Jenkins {
			if n != "" {
				list = append(list, n)
			}
		}
		if st.Key == "" || len(list) == 0 {
			continue
		}
		m[st.Key] = list
	}
	log.Debug("Jenkins stage names", "policy", settings.Revision, "map", m.String())
	return m
}

// jenkinsParser adapts jenkinsapi.ParseNotification to the receiver: a build
// of a job that is not a pull request job, or of a job the gatekeeper cannot
// place, is answered 202 and ignored.
func jenkinsParser(opts jenkinsapi.ParseOptions) webhooks.JenkinsParser {
	return func(body []byte) (gatekeeper.Event, bool, error) {
		e, err := jenkinsapi.ParseNotification(body, opts, time.Now())
		if errors.Is(err, jenkinsapi.ErrNotPullRequest) || errors.Is(err, jenkinsapi.ErrUnplaced) {
			return e, false, nil
		}
		return e, err == nil, err
	}
}
