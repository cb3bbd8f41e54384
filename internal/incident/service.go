// Package incident is the rollback lifecycle. It is split by responsibility,
// each part holding only the narrow store interfaces it needs:
//
//   - Planner: plans (what goes back, each step rendered), readiness and the
//     approval policy a plan needs;
//   - Proposals: turning a request or an alert into a stored, announced proposal;
//   - Approvals: votes, rejection, expiry, automatic execution and gates;
//   - Engine: driving approved rollbacks through their steps (the DAG
//     scheduler is the pure unit in scheduler.go), validation and recovery;
//   - Deploys and Guard: deploy history and known-good releases; the thrash
//     guard and the pipeline gate;
//   - Control: abort, pause, resume, override and freeze;
//   - Replanner: proposals whose plan changed under them.
//
// Service is the lifecycle's front door: each of its methods hands over to
// one part. Parts depend on each other one way only (see New). They talk to
// the outside through small interfaces (store's, exec executors, check
// checkers, Notifier, Pager, Directory, Clock) so that the whole lifecycle
// runs in tests with fakes, and in `bot console` with a terminal as the chat.
// It holds no chat wording or markup: it emits notices (Notifier).
package incident

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/backout/backout/internal/authz"
	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/steprequest"
	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/suggest"
)

// Clock tells the time; tests use a fake one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// CheckRunner runs validation checks with their measurement settings
// (internal/validate implements it).
type CheckRunner interface {
	RunChecks(ctx context.Context, run ValidationRun) []rollback.CheckResult
}

// ValidationRun is one service's validation: wait InitialDelay for the
// service to settle, then run the checks (count measurements interval apart
// each); Request.SampleStart is the end of the delay.
type ValidationRun struct {
	Service      string
	Checks       []runbook.Check
	Request      check.Request
	InitialDelay time.Duration
	// ChartFrom is where charts of the checks' queries begin (before the bad
	// deploy); Marks are what happened, drawn on them.
	ChartFrom time.Time
	Marks     []rollback.ChartMark
	// Measured, when not nil, hears each measurement as it lands (from the
	// checks' goroutines, so it must be safe for concurrent use); n counts
	// the check's measurements so far.
	Measured func(checkIndex, n int, m check.Measurement)
}

// Deps are what a Service needs. Nil optional fields get no-op stand-ins.
type Deps struct {
	Config    *config.Config
	Runbooks  runbook.Set
	Store     store.Store
	Executors *exec.Registry
	Checkers  *check.Registry
	Checks    CheckRunner
	// Notifier tells people (internal/present over chat in production).
	Notifier  Notifier
	Pager     Pager
	Directory Directory
	Clock     Clock
	Logger    *slog.Logger
	Metrics   Metrics
	// ReplicaID names this process in leases and the audit trail.
	ReplicaID string
	// Env looks up environment variables for executors and checks.
	Env func(string) (string, bool)
}

// Service is the lifecycle's front door that commands, alerts, drills and
// the HTTP API call. It holds the parts and owns none of their logic.
type Service struct {
	base
	planner   *Planner
	proposals *Proposals
	approvals *Approvals
	engine    *Engine
	deploys   *Deploys
	guard     *Guard
	control   *Control
	alerts    *Alerts
	closer    *closer
	records   *records
	reads     queryStore
}

// queryStore is what the lifecycle's read-only questions and its ticks read.
type queryStore interface {
	store.Rollbacks
	store.Votes
	store.Steps
}

// New builds the lifecycle's parts and wires them, lowest first, so that
// every dependency points one way.
func New(d Deps) *Service {
	d = withDefaults(d)
	b := newBase(d)
	st := d.Store
	recs := &records{rollbacks: st, clk: b.clock}
	groups := &groups{base: b, directory: d.Directory, cache: map[string]groupEntry{}}
	history := &deployLog{base: b, store: st}
	perms := &permits{base: b, model: authz.New(d.Config.Permissions), groups: groups, runbooks: d.Runbooks}
	notify := &notifier{base: b, records: recs, port: d.Notifier, pager: d.Pager, directory: d.Directory, views: st}
	cl := &closer{notifier: notify, deploys: history}
	planner := &Planner{base: b, history: history, groups: groups, runbooks: d.Runbooks,
		executors: d.Executors, checkers: d.Checkers, drills: st}
	guard := &Guard{base: b, rollbacks: st, freezes: st}
	engine := &Engine{base: b, records: recs, closer: cl, planner: planner, store: st, runbooks: d.Runbooks,
		executors: d.Executors, checks: d.Checks, runs: map[string]*run{}, ctx: context.Background()}
	engine.graceOver, engine.endGrace = context.WithCancelCause(context.Background())
	approvals := &Approvals{base: b, records: recs, closer: cl, votes: st, groups: groups, planner: planner, engine: engine}
	replanner := &Replanner{base: b, records: recs, closer: cl, planner: planner}
	proposals := &Proposals{base: b, records: recs, closer: cl, permits: perms, store: st, planner: planner, guard: guard,
		history: history, approvals: approvals}
	return &Service{
		base:      b,
		planner:   planner,
		proposals: proposals,
		approvals: approvals,
		engine:    engine,
		deploys:   &Deploys{base: b, log: history, store: st, replanner: replanner, advisor: planner},
		guard:     guard,
		control:   &Control{base: b, records: recs, closer: cl, permits: perms, groups: groups, engine: engine, freezes: st, votes: approvals},
		alerts:    &Alerts{base: b, records: recs, closer: cl, store: st, guard: guard, proposals: proposals},
		closer:    cl,
		records:   recs,
		reads:     st,
	}
}

// base is what every part shares: configuration, time, logs, metrics, this
// replica's name, the environment and the audit trail.
type base struct {
	cfg      *config.Config
	clock    Clock
	log      *slog.Logger
	metrics  Metrics
	replica  string
	env      func(string) (string, bool)
	auditLog store.Audit
	// requests builds every exec.Request: run, preview and probe alike.
	requests steprequest.Builder
}

// withDefaults fills nil optional dependencies with stand-ins, so that no
// part checks for nil.
func withDefaults(d Deps) Deps {
	if d.Pager == nil {
		d.Pager = NoopPager{}
	}
	if d.Notifier == nil {
		d.Notifier = NoopNotifier{}
	}
	if d.Clock == nil {
		d.Clock = SystemClock{}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = NoopMetrics{}
	}
	if d.ReplicaID == "" {
		// Unique per process start: a container restarted in the same pod
		// has the same host name and pid 1, and the same holder name would
		// take its predecessor's lease at once, without waiting out
		// kill_grace for the steps it left behind.
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		d.ReplicaID = fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
	}
	if d.Env == nil {
		d.Env = os.LookupEnv
	}
	return d
}

func newBase(d Deps) base {
	return base{cfg: d.Config, clock: d.Clock, log: d.Logger, metrics: d.Metrics, replica: d.ReplicaID,
		env: d.Env, auditLog: d.Store, requests: steprequest.New(d.Config, d.Env)}
}

// service looks up a catalog entry; the failure is for the person who asked.
func (s *base) service(name string) (*config.Service, rollback.Words) {
	svc, ok := s.cfg.ServiceByName(name)
	if !ok {
		known := make([]string, 0, len(s.cfg.Services))
		for _, c := range s.cfg.Services {
			known = append(known, c.Name)
		}
		slices.Sort(known)
		if near := suggest.Closest(name, known); near != "" {
			return nil, rollback.Sayf("Unknown service %q. Did you mean %q?", name, near)
		}
		return nil, rollback.Sayf("Unknown service %q. Known services: %s.", name, strings.Join(known, ", "))
	}
	return svc, nil
}

// secrets lists values to redact from anything shown.
func (s *base) secrets() []string { return s.cfg.Secrets.Values() }

// Actor identifies who did something, for the audit trail.
type Actor struct {
	User string
	From string // slack | console | api | pagerduty | alertmanager | watcher | engine | cron, plus address
}

// audit records what already happened (a run ended, a step was
// interrupted): the fact stands, so a failed append is logged loudly.
// What a person asks for goes through auditFirst instead.
func (s *base) audit(ctx context.Context, who Actor, action, target string, detail map[string]string) {
	if err := s.appendAudit(ctx, who, action, target, detail); err != nil {
		s.log.ErrorContext(ctx, "audit append failed", "action", action, "target", target, "err", err)
	}
}

// AuditUnavailable is the refusal of an action whose audit record could not
// be written: the trail fails closed, as Vault's does.
const AuditUnavailable = "⚠️ The audit trail is unavailable, so nothing was done: every action needs its audit record first. Try again in a minute."

// auditFirst writes an action's audit record before the action: nil when it
// is written, the refusal when not. No record, no action.
func (s *base) auditFirst(ctx context.Context, who Actor, action, target string, detail map[string]string) rollback.Words {
	if err := s.appendAudit(ctx, who, action, target, detail); err != nil {
		s.log.ErrorContext(ctx, "audit append failed; refusing the action", "action", action, "target", target, "err", err)
		return rollback.Say(AuditUnavailable)
	}
	return nil
}

func (s *base) appendAudit(ctx context.Context, who Actor, action, target string, detail map[string]string) error {
	_, err := s.auditLog.AppendAudit(ctx, store.AuditEvent{
		At: s.clock.Now(), Actor: who.User, Action: action, Target: target, From: who.From, Detail: detail,
	})
	return err
}

// Now reads the lifecycle's clock.
func (s *Service) Now() time.Time { return s.clock.Now() }
