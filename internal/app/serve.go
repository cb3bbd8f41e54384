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
	"github.com/backout/backout/internal/audit"
	"github.com/backout/backout/internal/chat"
	slackchat "github.com/backout/backout/internal/chat/slack"
	"github.com/backout/backout/internal/claims"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/metrics"
	"github.com/backout/backout/internal/pagerduty"
	"github.com/backout/backout/internal/server"
	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/yamlx"
)

// After the drain (see shutdown), each step of stopping is bounded: the
// requests in flight get httpStopGrace (every request path has a deadline
// of 10 s at most: the API's), the Slack adapter its DrainTimeout (10 s),
// the last chat updates flushGrace. Together they fit the 30 s the
// deployments add to engine.shutdown_grace + kill_grace
// (terminationGraceMarginSeconds; deploy/workload_test.go checks it).
const (
	httpStopGrace = 10 * time.Second
	flushGrace    = 10 * time.Second
)

// Serve runs Backout until ctx ends: HTTP (Slack, webhooks, API), Socket
// Mode when configured, the engine, the alert worker, watchers and drills.
// Each wiring step below is one named function.
func Serve(ctx context.Context, l *Loaded, log *slog.Logger) error {
	started := time.Now()
	cfg := l.Config
	// Settings that only the environment completes are checked before
	// anything is opened: a refused start changes nothing.
	if err := checkPagerDuty(cfg, os.Getenv); err != nil {
		return err
	}
	st, err := OpenStore(ctx, cfg, "", log)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	if err := checkPersistence(ctx, cfg, st, log); err != nil {
		return err
	}
	m := metrics.New()
	peers, err := connectPeers(cfg, m, log)
	if err != nil {
		return err
	}
	// Two lifetimes (docs/reliability.md, "Graceful shutdown"). The engine,
	// the alert worker, drills and watchers act on the store: they run
	// under actCtx, which ends with ctx (SIGTERM: the drain begins) or when
	// the store guard finds the store lost. HTTP, Slack, Socket Mode, the
	// guard and the audit anchors run under serveCtx, which outlives ctx
	// until the engine has drained, so that a person can still Abort.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	actCtx, stopActing := context.WithCancel(ctx)
	defer stopActing()
	guard, err := startGuard(ctx, cfg, st, peers.poster, stopActing, log)
	if err != nil {
		return err
	}
	a := Build(l, guardedIDs{Store: st, guard: guard}, Options{Logger: log, Poster: peers.poster, Directory: peers.directory, Pager: peers.pager, Metrics: m})
	routes, worker, adapter, err := a.routes(st, peers, guard, log)
	if err != nil {
		return err
	}
	routes.Ready = unreadyWhenDraining(ctx, routes.Ready)
	srv := server.HTTPServer(cfg.Listen, guardHTTP(server.New(routes, a.Metrics, log), guard), log)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	log.Info("backout serving", "addr", ln.Addr().String(), "store", cfg.Store.Kind, "services", len(cfg.Services),
		"runbooks", len(l.Runbooks), "slack", peers.api != nil, "pagerduty", cfg.Secrets.PagerDutyToken.Set(), "startup", time.Since(started))

	var t tasks
	stopAll := func() { stopActing(); stopServing(); t.wait() }
	if err := a.startBackground(serveCtx, actCtx, &t, st, worker, adapter, log); err != nil {
		stopAll()
		return err
	}
	t.serve(serveCtx, func(ctx context.Context) { _ = guard.Run(ctx, guardEvery) })
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		stopAll()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	err = drain(ctx, &t, serveErr, cfg.Engine.ShutdownGrace.D(), log)
	shutdown(ctx, srv, stopServing, &t, peers.slackPost, log)
	return err
}

// tasks are Serve's background work in its two lifetimes: acting (under
// actCtx) and serving (under serveCtx); see Serve.
type tasks struct{ acting, serving sync.WaitGroup }

// serve runs f under ctx, counted among the serving tasks.
func (t *tasks) serve(ctx context.Context, f func(context.Context)) {
	t.serving.Add(1)
	go func() { defer t.serving.Done(); f(ctx) }()
}

func (t *tasks) wait() { t.acting.Wait(); t.serving.Wait() }

// errDraining is what /readyz says while this replica drains.
var errDraining = errors.New("shutting down: draining running steps (Slack and the API still answer, so Abort works)")

// unreadyWhenDraining makes readiness fail as soon as ctx ends (SIGTERM),
// so that load balancers stop sending new work to a replica that drains.
func unreadyWhenDraining(ctx context.Context, ready func(context.Context) error) func(context.Context) error {
	return func(rctx context.Context) error {
		if ctx.Err() != nil {
			return errDraining
		}
		return ready(rctx)
	}
}

// drain is a shutdown's first phase. The acting work stops: the engine
// starts nothing new and lets running non-idempotent steps finish (within
// engine.shutdown_grace), then hands its rollbacks on. Meanwhile HTTP,
// Slack and Socket Mode keep serving, so Abort still reaches the running
// steps; /readyz answers 503. It returns when every acting task has ended,
// or a server error that happened meanwhile once they have.
func drain(ctx context.Context, t *tasks, serveErr <-chan error, grace time.Duration, log *slog.Logger) error {
	log.Info("shutting down: draining; no new rollback, step or proposal starts; running non-idempotent steps may finish; Slack and the API still answer (Abort works), /readyz answers 503",
		"cause", context.Cause(ctx), "shutdown_grace", grace)
	drained := make(chan struct{})
	go func() { t.acting.Wait(); close(drained) }()
	var failed error
	for {
		select {
		case <-drained:
			log.Info("drained: every rollback ended or was handed on; closing the listener")
			return failed
		case err := <-serveErr:
			// Abort is unreachable here now; the drain still hands on.
			log.Error("http server stopped during the drain", "err", err)
			failed, serveErr = fmt.Errorf("http server: %w", err), nil
		}
	}
}

// peers are the outside services Backout talks to, each absent when its
// secret is not set.
type peers struct {
	poster    chat.Poster
	directory chat.Directory
	api       *slackgo.Client
	slackPost *slackchat.Poster
	pager     incident.Pager
}

// checkPagerDuty refuses, at the key to fix, PagerDuty settings that the
// environment leaves incomplete: with PAGERDUTY_TOKEN set, a from_email
// (PagerDuty refuses writes without one) and the routing key that
// pagerduty.routing_key_env names. Lint cannot see these: CI has no
// secrets.
func checkPagerDuty(cfg *config.Config, getenv func(string) string) error {
	if !cfg.Secrets.PagerDutyToken.Set() {
		return nil
	}
	at := func(key string) yamlx.Pos { return yamlx.KeyAt(yamlx.Pos{File: cfg.File}, cfg.KeyPos, key) }
	var errs yamlx.Errors
	if cfg.PagerDuty.FromEmail == "" {
		errs.Addf(at("pagerduty"), "pagerduty.from_email: required when PAGERDUTY_TOKEN is set (PagerDuty refuses writes without a From user)")
	}
	if name := cfg.PagerDuty.RoutingKeyEnv; name != "" && getenv(name) == "" {
		errs.Addf(at("pagerduty.routing_key_env"), "pagerduty.routing_key_env: names %s, but it is not set in the environment", name)
	}
	if err := errs.Err(); err != nil {
		return invalid(err)
	}
	return nil
}

// connectPeers builds the Slack and PagerDuty clients from the secrets.
func connectPeers(cfg *config.Config, m *metrics.Metrics, log *slog.Logger) (peers, error) {
	p := peers{pager: incident.NoopPager{}}
	if cfg.Secrets.SlackBotToken.Set() {
		p.api = slackchat.NewClient(cfg.Secrets.SlackBotToken.Reveal(), cfg.Slack.APIURL, nil)
		p.slackPost = slackchat.NewPoster(p.api, slackchat.PosterOptions{Logger: log.With("component", "slack"), Metrics: m})
		p.poster = p.slackPost
		p.directory = slackchat.NewDirectory(p.api, slackchat.DirectoryOptions{Metrics: m})
	} else {
		log.Warn("SLACK_BOT_TOKEN is not set: Backout will not post to Slack")
	}
	if cfg.Secrets.PagerDutyToken.Set() {
		opts, err := pagerduty.OptionsFromConfig(cfg.PagerDuty, cfg.Secrets, os.Getenv)
		if err != nil {
			return p, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		opts.Logger = log.With("component", "pagerduty")
		c, err := pagerduty.New(opts)
		if err != nil {
			return p, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		p.pager = c
	}
	return p, nil
}

// routes mounts the API, the webhooks and, with a Slack token, the Slack
// endpoints; readiness checks the store and Slack's auth.
func (a *App) routes(st store.Store, p peers, guard *StoreGuard, log *slog.Logger) (server.Routes, *alerts.Worker, *slackchat.Adapter, error) {
	cfg := a.Config
	routes := server.Routes{
		API: &server.API{Svc: a.Svc, Token: cfg.Secrets.APIToken, Log: log.With("component", "api"),
			Postmortem: func(r *http.Request, id string) (string, error) { return a.Postmortems.Get(r.Context(), id) },
			Audit:      auditVerifier(st, cfg)},
	}
	worker, err := a.mountAlerts(&routes, log)
	if err != nil {
		return routes, nil, nil, err
	}
	slackOK := func(ctx context.Context) error { return nil }
	var adapter *slackchat.Adapter
	if p.api != nil {
		// Claims live in the store on every kind: with Redis replicas share
		// them so a click sent to all of them acts once, and on bolt too so
		// that a signed request replayed after a restart (within Slack's
		// 5-minute signature window) is refused rather than acted on again.
		// A claim costs one group-committed disk sync on bolt, about 2 ms
		// per click alone (BenchmarkClaim in store/bolt).
		adapter, err = slackchat.NewAdapter(slackchat.AdapterConfig{SigningSecret: cfg.Secrets.SlackSigningSecret.Reveal(),
			Handler: guardedHandler{next: a.Dispatcher, guard: guard}, Poster: p.poster, API: p.api, Dedup: st, Metrics: a.Metrics, Logger: log.With("component", "slack"),
			Command: cfg.Slack.Command})
		if err != nil {
			return routes, nil, nil, err
		}
		routes.SlackCommands, routes.SlackInteractions, routes.SlackEvents = adapter.Commands(), adapter.Interactions(), adapter.Events()
		slackOK = slackAuthCheck(p.api)
	}
	probe := &storeProbe{st: st, log: log.With("component", "readiness")}
	routes.Ready = func(ctx context.Context) error {
		if err := guard.Err(); err != nil {
			return err
		}
		if err := probe.check(ctx); err != nil {
			return err
		}
		return slackOK(ctx)
	}
	return routes, worker, adapter, nil
}

// startBackground starts the engine, the alert worker, drills, watchers and
// the Slack adapter. Work that acts on the store runs under actCtx and is
// counted in t.acting; the Slack adapter, Socket Mode and the audit anchors
// run under ctx (t.serving), so that they still answer during a drain and
// when the store is lost (see Serve).
func (a *App) startBackground(ctx, actCtx context.Context, t *tasks, st store.Store, worker *alerts.Worker, adapter *slackchat.Adapter, log *slog.Logger) error {
	spawn := func(ctx context.Context, wg *sync.WaitGroup, name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("background task stopped", "task", name, "err", err)
			}
		}()
	}
	acting := func(name string, run func(context.Context) error) { spawn(actCtx, &t.acting, name, run) }
	background := func(name string, run func(context.Context) error) { spawn(ctx, &t.serving, name, run) }
	acting("engine", a.Svc.Run)
	acting("alerts", worker.Run)
	acting("drills", a.Drills.Run)
	// Anchors leave the process, so a cut tail of the audit log shows.
	// Before each anchor the chain is checked from the last verified
	// checkpoint: each check reads only what was appended since.
	verifier := auditVerifier(st, a.Config)
	anchorer := &audit.Anchorer{Log: st, Every: time.Duration(a.Config.Audit.AnchorEvery), Poster: a.Poster, Channel: a.Config.Audit.Channel,
		Logger: log.With("component", "audit"), Check: func(ctx context.Context) error {
			_, err := verifier.VerifyNew(ctx, nil)
			return err
		}}
	background("audit-anchor", anchorer.Run)
	if w, err := a.watchers(st, log); err != nil {
		return err
	} else if w != nil {
		acting("watchers", w.Run)
	}
	if adapter != nil {
		background("slack", adapter.Run)
		if a.Config.Secrets.SlackAppToken.Set() {
			background("socket-mode", func(ctx context.Context) error {
				return adapter.RunSocketMode(ctx, a.Config.Secrets.SlackAppToken.Reveal())
			})
		}
	}
	return nil
}

// shutdown is a shutdown's second phase, once the engine has drained:
// the HTTP server stops (requests in flight get httpStopGrace), then Slack,
// Socket Mode, the guard and the audit anchors (stopServing; the adapter
// finishes the work it accepted), and the last chat updates are flushed.
func shutdown(ctx context.Context, srv *http.Server, stopServing context.CancelFunc, t *tasks, slackPost *slackchat.Poster, log *slog.Logger) {
	httpCtx, httpDone := context.WithTimeout(context.WithoutCancel(ctx), httpStopGrace)
	defer httpDone()
	if err := srv.Shutdown(httpCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	stopServing()
	t.wait()
	if slackPost != nil {
		// Its own time: the HTTP shutdown may have used all of its own,
		// and the last notices (hand-on, abort) are among these updates.
		flushCtx, flushDone := context.WithTimeout(context.WithoutCancel(ctx), flushGrace)
		defer flushDone()
		if err := slackPost.Flush(flushCtx); err != nil {
			log.Warn("flush slack updates", "err", err)
		}
	}
	log.Info("stopped")
}

// mountAlerts builds the webhook handlers and the worker that drains them.
func (a *App) mountAlerts(routes *server.Routes, log *slog.Logger) (*alerts.Worker, error) {
	cfg := a.Config
	pdProc := pdhook.NewProcessor(cfg.Services, a.Metrics, log.With("component", "pagerduty-webhook"))
	amProc, err := alertmanager.NewProcessor(cfg.Services, a.Metrics, log.With("component", "alertmanager-webhook"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var eventClaims alerts.Claimer = a.Store
	if cfg.Store.Kind != "redis" {
		// bolt: this process holds the file's lock, so no replica can race
		// for an event; claims in memory spare a commit per batch.
		eventClaims = &claims.Memory{}
	}
	worker, err := alerts.NewWorker(alerts.WorkerConfig{Inbox: a.Store, Claims: eventClaims, Sink: a.Svc, Metrics: a.Metrics,
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
