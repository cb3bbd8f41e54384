package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/alerts/alertmanager"
	pdhook "github.com/backout/backout/internal/alerts/pagerduty"
	"github.com/backout/backout/internal/alerts/watch"
	"github.com/backout/backout/internal/chat"
	slackchat "github.com/backout/backout/internal/chat/slack"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/metrics"
	"github.com/backout/backout/internal/pagerduty"
	"github.com/backout/backout/internal/server"
)

// shutdownGrace bounds how long in-flight requests and acknowledgements get
// after SIGTERM.
const shutdownGrace = 15 * time.Second

// Serve runs Backout until ctx ends: HTTP (Slack, webhooks, API), Socket
// Mode when configured, the engine, the alert worker, watchers and drills.
func Serve(ctx context.Context, l *Loaded, log *slog.Logger) error {
	started := time.Now()
	cfg := l.Config
	st, err := OpenStore(ctx, cfg, "")
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()

	var (
		poster    chat.Poster
		directory chat.Directory
		api       *slackgo.Client
		slackPost *slackchat.Poster
	)
	m := metrics.New()
	if cfg.Secrets.SlackBotToken.Set() {
		api = slackchat.NewClient(cfg.Secrets.SlackBotToken.Reveal(), cfg.Slack.APIURL, nil)
		slackPost = slackchat.NewPoster(api, slackchat.PosterOptions{Logger: log.With("component", "slack"), Metrics: m})
		poster = slackPost
		directory = slackchat.NewDirectory(api, slackchat.DirectoryOptions{Metrics: m})
	} else {
		log.Warn("SLACK_BOT_TOKEN is not set: Backout will not post to Slack")
	}
	var pager incident.Pager = incident.NoopPager{}
	if cfg.Secrets.PagerDutyToken.Set() {
		opts, err := pagerduty.OptionsFromConfig(cfg.PagerDuty, cfg.Secrets, os.Getenv)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		opts.Logger = log.With("component", "pagerduty")
		c, err := pagerduty.New(opts)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		pager = c
	}
	a := Build(l, st, Options{Logger: log, Poster: poster, Directory: directory, Pager: pager, Metrics: m})
	routes := server.Routes{
		API: &server.API{Svc: a.Svc, Token: cfg.Secrets.APIToken, Log: log.With("component", "api"),
			Postmortem: func(r *http.Request, id string) (string, error) { return a.Postmortems.Get(r.Context(), id) }},
	}
	worker, err := a.mountAlerts(&routes, log)
	if err != nil {
		return err
	}
	var adapter *slackchat.Adapter
	if api != nil {
		// With Redis, replicas share the claims so a click sent to all of
		// them acts once. A bolt file has one process by construction, so the
		// claims stay in memory and a click is acknowledged without waiting
		// for a disk sync (the lifecycle itself is idempotent per vote).
		var dedup slackchat.Dedup = st
		if cfg.Store.Kind == "bolt" {
			dedup = slackchat.NewMemoryDedup()
		}
		adapter, err = slackchat.NewAdapter(slackchat.AdapterConfig{SigningSecret: cfg.Secrets.SlackSigningSecret.Reveal(),
			Handler: a.Dispatcher, Poster: poster, API: api, Dedup: dedup, Metrics: a.Metrics, Logger: log.With("component", "slack"),
			Command: cfg.Slack.Command})
		if err != nil {
			return err
		}
		routes.SlackCommands, routes.SlackInteractions, routes.SlackEvents = adapter.Commands(), adapter.Interactions(), adapter.Events()
	}
	slackOK := func(ctx context.Context) error { return nil }
	if api != nil {
		slackOK = slackAuthCheck(api)
	}
	routes.Ready = func(ctx context.Context) error {
		if err := st.Ping(ctx); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		return slackOK(ctx)
	}
	srv := server.HTTPServer(cfg.Listen, server.New(routes, a.Metrics, log), log)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	log.Info("backout serving", "addr", ln.Addr().String(), "store", cfg.Store.Kind, "services", len(cfg.Services),
		"runbooks", len(l.Runbooks), "slack", api != nil, "pagerduty", cfg.Secrets.PagerDutyToken.Set(), "startup", time.Since(started))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	background := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("background task stopped", "task", name, "err", err)
			}
		}()
	}
	background("engine", a.Svc.Run)
	background("alerts", worker.Run)
	background("drills", a.Drills.Run)
	if w, err := a.watchers(st, log); err != nil {
		return err
	} else if w != nil {
		background("watchers", w.Run)
	}
	if adapter != nil {
		background("slack", adapter.Run)
		if cfg.Secrets.SlackAppToken.Set() {
			background("socket-mode", func(ctx context.Context) error {
				return adapter.RunSocketMode(ctx, cfg.Secrets.SlackAppToken.Reveal())
			})
		}
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		cancel()
		wg.Wait()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: no new requests; finishing acknowledgements and leaving rollbacks resumable")
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer done()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	cancel()
	wg.Wait()
	if slackPost != nil {
		if err := slackPost.Flush(shutdownCtx); err != nil {
			log.Warn("flush slack updates", "err", err)
		}
	}
	log.Info("stopped")
	return nil
}

// mountAlerts builds the webhook handlers and the worker that drains them.
func (a *App) mountAlerts(routes *server.Routes, log *slog.Logger) (*alerts.Worker, error) {
	cfg := a.Config
	pdProc := pdhook.NewProcessor(cfg.Services, a.Metrics, log.With("component", "pagerduty-webhook"))
	amProc, err := alertmanager.NewProcessor(cfg.Services, a.Metrics, log.With("component", "alertmanager-webhook"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	worker, err := alerts.NewWorker(alerts.WorkerConfig{Inbox: a.Store, Claims: a.Store, Sink: a.Svc, Metrics: a.Metrics,
		Logger: log.With("component", "alerts"), Processors: map[string]alerts.Processor{"pagerduty": pdProc, "alertmanager": amProc}})
	if err != nil {
		return nil, err
	}
	if cfg.Secrets.PagerDutyWebhookSecret.Set() {
		routes.PagerDuty = pdhook.NewHandler(pdhook.HandlerConfig{Inbox: a.Store, Secrets: pdhook.SplitSecrets(cfg.Secrets.PagerDutyWebhookSecret.Reveal()),
			Notifier: worker, Metrics: a.Metrics, Logger: log.With("component", "pagerduty-webhook")})
	}
	if cfg.Secrets.AlertmanagerToken.Set() || cfg.Secrets.AlertmanagerBasicAuth.Set() {
		routes.Alertmanager = alertmanager.NewHandler(alertmanager.HandlerConfig{Inbox: a.Store, BearerToken: cfg.Secrets.AlertmanagerToken.Reveal(),
			BasicAuth: cfg.Secrets.AlertmanagerBasicAuth.Reveal(), Notifier: worker, Metrics: a.Metrics, Logger: log.With("component", "alertmanager-webhook")})
	}
	return worker, nil
}

// watchers builds the post-deploy watchers when any service has some.
func (a *App) watchers(st interface {
	watch.Deploys
	watch.Leases
	alerts.Claimer
}, log *slog.Logger) (*watch.Runner, error) {
	any := false
	for _, s := range a.Config.Services {
		any = any || len(s.Watchers) > 0
	}
	if !any || a.Config.Prometheus.URL == "" {
		return nil, nil
	}
	q, err := watch.NewPromQuerier(a.Config.Prometheus.URL, nil)
	if err != nil {
		return nil, err
	}
	return watch.New(watch.Config{Services: a.Config.Services, Querier: q, Deploys: st, Leases: st, Claims: st, Sink: a.Svc,
		Logger: log.With("component", "watchers")})
}

// slackAuthCheck verifies the bot token and caches the answer, so /readyz
// stays cheap.
func slackAuthCheck(api *slackgo.Client) func(context.Context) error {
	var mu sync.Mutex
	var last time.Time
	var lastErr error
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		// A success is trusted for a minute; a failure only for 5 s, so one
		// Slack blip does not keep the replica unready for long.
		ttl := time.Minute
		if lastErr != nil {
			ttl = 5 * time.Second
		}
		if !last.IsZero() && time.Since(last) < ttl {
			return lastErr
		}
		_, err := api.AuthTestContext(ctx)
		last, lastErr = time.Now(), err
		if err != nil {
			return fmt.Errorf("slack auth: %w", err)
		}
		return nil
	}
}
