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
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/githubapi"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
	"github.com/releasegate/gatekeeper/webhooks"
)

// serve builds the dependencies from cfg, runs the server and the workers
// until ctx ends, then shuts down cleanly: stop accepting requests, drain
// the workers, close the store.
func serve(ctx context.Context, cfg *Config, logOut io.Writer) error {
	log := newLogger(cfg.LogLevel, logOut)

	_, storePath, _ := parseStore(cfg.Store) // validated already
	store, err := boltstore.Open(storePath)
	if err != nil {
		return err
	}
	defer store.Close()

	// A policy that does not compile at start does not stop the server:
	// webhooks are still recorded, /readyz says why it is not ready, and
	// every status says error until the folder is fixed.
	engine, err := opa.Load(ctx, cfg.Policies, opa.WithLogger(log))
	if err != nil {
		log.Error("loading policy; statuses will say error until it is fixed", "dir", cfg.Policies, "err", err)
	}

	metrics := webhooks.NewMetrics()
	gh, err := githubapi.New(githubapi.Options{
		BaseURL: cfg.GitHubAPIURL, Token: cfg.GitHubToken, Logger: log, Observe: metrics.GitHubCall,
	})
	if err != nil {
		return err
	}
	var publisher gatekeeper.Publisher
	var sources []gatekeeper.Source
	if cfg.GitHubToken == "" {
		log.Warn("no GITHUB_TOKEN: dry run, statuses are logged and shown on the details page, not posted")
		publisher = githubapi.NewDryRun(log)
	} else {
		publisher = githubapi.NewPublisher(gh)
		sources = append(sources, githubapi.NewSource(gh, githubapi.SourceOptions{}))
	}

	svc, err := gatekeeper.New(gatekeeper.Options{
		Store: store, Evaluator: engine, Publisher: publisher, Sources: sources,
		Logger: log, Observer: metrics, Gated: cfg.gated, StatusContext: cfg.StatusContext,
		PublicURL: cfg.PublicURL, Workers: cfg.Workers, Reconcile: cfg.Reconcile,
	})
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	handler, err := webhooks.New(webhooks.Options{
		Service: svc, ParseGitHub: githubevents.ParseDelivery, WebhookSecret: []byte(cfg.WebhookSecret),
		StatusContext: cfg.StatusContext, Logger: log, Metrics: metrics,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "version", version, "commit", commit,
		"policy", engine.Revision(), "store", cfg.Store, "dry_run", publisher.DryRun(), "gated", cfg.gated.String())

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); watchPolicy(workCtx, engine, svc, cfg.PolicyReload, log) }()
	go func() { defer wg.Done(); _ = svc.Run(workCtx) }()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if sErr := srv.Shutdown(shutdownCtx); sErr != nil {
		log.Error("stopping the HTTP server", "err", sErr)
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

// watchPolicy reloads the policy folder every interval. When what the engine
// serves changes (a new revision, or the folder broke or was fixed), every
// open release pull request is evaluated again, so that a release manager's
// edit shows on the gate at once rather than at the next webhook.
func watchPolicy(ctx context.Context, engine *opa.Engine, svc *gatekeeper.Service, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := engine.Reload(ctx)
		if !changed {
			continue
		}
		if err != nil {
			log.Error("policy folder does not load; statuses say error until it is fixed", "err", err, "last_good", engine.Revision())
		} else {
			log.Info("policy reloaded", "revision", engine.Revision())
		}
		if err := svc.Reconcile(ctx); err != nil {
			log.Error("re-evaluating after a policy change", "err", err)
		}
	}
}
