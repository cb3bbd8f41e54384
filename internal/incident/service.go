// Package incident is the rollback lifecycle: deploy history, proposals with
// readiness, the approval policy, the thrash guard, the engine that drives
// runbook steps, the registry and the audit trail. It talks to the outside
// only through small interfaces (store.Store, exec executors, check
// checkers, chat.Poster, Pager, Directory, Clock) so that the whole lifecycle
// runs in tests with fakes, and in `bot console` with a terminal as the chat.
package incident

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/store"
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
	RunChecks(ctx context.Context, service string, checks []runbook.Check, req check.Request) []rollback.CheckResult
}

// Deps are what a Service needs. Nil optional fields get no-op stand-ins.
type Deps struct {
	Config    *config.Config
	Runbooks  runbook.Set
	Store     store.Store
	Executors *exec.Registry
	Checkers  *check.Registry
	Checks    CheckRunner
	Poster    chat.Poster
	Pager     Pager
	Directory chat.Directory
	Clock     Clock
	Logger    *slog.Logger
	Metrics   Metrics
	// ReplicaID names this process in leases and the audit trail.
	ReplicaID string
	// Env looks up environment variables for executors and checks.
	Env func(string) (string, bool)
}

// Service is the lifecycle API that commands, alerts, drills and the HTTP
// API call.
type Service struct {
	cfg       *config.Config
	runbooks  runbook.Set
	store     store.Store
	executors *exec.Registry
	checkers  *check.Registry
	checks    CheckRunner
	poster    chat.Poster
	pager     Pager
	directory chat.Directory
	clock     Clock
	log       *slog.Logger
	metrics   Metrics
	replica   string
	env       func(string) (string, bool)
	engine    *Engine
	endHooks  []EndHook

	// groupCache avoids resolving the same user group on every click.
	groupMu    sync.Mutex
	groupCache map[string]groupEntry
}

type groupEntry struct {
	members []string
	at      time.Time
}

// New builds a Service and its engine.
func New(d Deps) *Service {
	if d.Poster == nil {
		d.Poster = chat.NoopPoster{}
	}
	if d.Pager == nil {
		d.Pager = NoopPager{}
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
		host, _ := os.Hostname()
		d.ReplicaID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if d.Env == nil {
		d.Env = os.LookupEnv
	}
	s := &Service{
		cfg: d.Config, runbooks: d.Runbooks, store: d.Store, executors: d.Executors, checkers: d.Checkers,
		checks: d.Checks, poster: d.Poster, pager: d.Pager, directory: d.Directory, clock: d.Clock,
		log: d.Logger, metrics: d.Metrics, replica: d.ReplicaID, env: d.Env, groupCache: map[string]groupEntry{},
	}
	s.engine = newEngine(s)
	return s
}

// Engine returns the step engine.
func (s *Service) Engine() *Engine { return s.engine }

// service looks up a catalog entry; the failure is for the person who asked.
func (s *Service) service(name string) (*config.Service, string) {
	svc, ok := s.cfg.ServiceByName(name)
	if !ok {
		known := make([]string, 0, len(s.cfg.Services))
		for _, c := range s.cfg.Services {
			known = append(known, c.Name)
		}
		return nil, fmt.Sprintf("Unknown service %q. Known services: %v.", name, known)
	}
	return svc, ""
}

// secrets lists values to redact from anything shown.
func (s *Service) secrets() []string { return s.cfg.Secrets.Values() }

// Actor identifies who did something, for the audit trail.
type Actor struct {
	User string
	From string // slack | console | api | pagerduty | alertmanager | watcher | engine | cron, plus address
}

func (s *Service) audit(ctx context.Context, who Actor, action, target string, detail map[string]string) {
	_, err := s.store.AppendAudit(ctx, store.AuditEvent{
		At: s.clock.Now(), Actor: who.User, Action: action, Target: target, From: who.From, Detail: detail,
	})
	if err != nil {
		// The action already happened; losing its audit record is serious
		// enough to log loudly, but not to undo the action.
		s.log.ErrorContext(ctx, "audit append failed", "action", action, "target", target, "err", err)
	}
}

// Now reads the service's clock.
func (s *Service) Now() time.Time { return s.clock.Now() }
