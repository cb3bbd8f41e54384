// Package watch runs post-deploy watchers: for a while after each deploy of
// a service (watch_for), each of its watchers' PromQL queries is evaluated
// every interval, and a run of consecutive breaches raises an alert. One
// replica runs them, under the store lease "watchers".
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// LeaseName is the lease whose holder runs the watchers.
const LeaseName = "watchers"

// Deploys lists a service's deploys, newest first.
type Deploys interface {
	ListDeploys(ctx context.Context, service string, limit int) ([]*rollback.Deploy, error)
}

// Leases is the part of store.Leases the runner uses.
type Leases interface {
	AcquireLease(ctx context.Context, name, holder string, ttl, grace time.Duration) (store.Lease, error)
	RenewLease(ctx context.Context, l store.Lease, ttl time.Duration) (store.Lease, error)
	ReleaseLease(ctx context.Context, l store.Lease) error
}

// Config configures a Runner. Querier, Deploys, Leases, Claims and Sink
// are required.
type Config struct {
	Services []config.Service
	Querier  Querier
	Deploys  Deploys
	Leases   Leases
	// Claims make each watcher fire once per deploy across replicas and
	// restarts.
	Claims alerts.Claimer
	Sink   alerts.Sink
	// Holder names this replica in the lease (default host-pid).
	Holder   string
	Clock    Clock         // default RealClock
	Tick     time.Duration // how often due evaluations are looked for (default 1s)
	LeaseTTL time.Duration // default 15s; renewed every third of it
	// DeployLimit is how many recent deploys per service are considered
	// (default 10).
	DeployLimit int
	Metrics     alerts.Metrics // default NopMetrics
	Logger      *slog.Logger   // default slog.Default()
}

// Runner evaluates watchers. Run drives it; Tick is one pass, for tests.
type Runner struct {
	cfg       Config
	lease     *store.Lease
	renewedAt time.Time
	state     map[string]*evalState // by deploy ID + "/" + watcher name
}

// New checks cfg and fills in defaults.
func New(cfg Config) (*Runner, error) {
	if cfg.Querier == nil || cfg.Deploys == nil || cfg.Leases == nil || cfg.Claims == nil || cfg.Sink == nil {
		return nil, errors.New("watch: a querier, deploys, leases, claims and a sink are required")
	}
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		cfg.Holder = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.DeployLimit <= 0 {
		cfg.DeployLimit = 10
	}
	if cfg.Metrics == nil {
		cfg.Metrics = alerts.NopMetrics{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Runner{cfg: cfg, state: map[string]*evalState{}}, nil
}

// Run ticks until ctx ends, then gives the lease up so another replica can
// take over at once.
func (r *Runner) Run(ctx context.Context) error {
	t := r.cfg.Clock.NewTicker(r.cfg.Tick)
	defer t.Stop()
	defer r.release()
	for {
		r.Tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

func (r *Runner) release() {
	if r.lease == nil {
		return
	}
	// The run's context is over; releasing is still worth a short try.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.cfg.Leases.ReleaseLease(ctx, *r.lease); err != nil {
		r.cfg.Logger.Warn("watchers: cannot release the lease; another replica takes over when it expires", "err", err)
	}
	r.lease = nil
}

// Leader reports whether this replica held the lease at its last tick.
func (r *Runner) Leader() bool { return r.lease != nil }

// Tick evaluates every watcher that is due, if this replica holds the lease.
func (r *Runner) Tick(ctx context.Context) {
	now := r.cfg.Clock.Now()
	if !r.ensureLease(ctx, now) {
		return
	}
	live := map[string]bool{}
	for i := range r.cfg.Services {
		svc := &r.cfg.Services[i]
		if len(svc.Watchers) == 0 {
			continue
		}
		deploys, err := r.cfg.Deploys.ListDeploys(ctx, svc.Name, r.cfg.DeployLimit)
		if err != nil {
			r.cfg.Metrics.Failed(alerts.SourceWatcher, alerts.StageStore)
			r.cfg.Logger.Warn("watchers: cannot list deploys", "service", svc.Name, "err", err)
			continue
		}
		for _, d := range watched(svc, deploys, now) {
			for j := range svc.Watchers {
				w := &svc.Watchers[j]
				key := d.ID + "/" + w.Name
				live[key] = true
				st := r.state[key]
				if st == nil {
					st = &evalState{next: now}
					r.state[key] = st
				}
				if st.fired || now.Before(st.next) {
					continue
				}
				st.next = now.Add(w.Interval.D())
				r.evaluate(ctx, svc, d, w, st, now)
			}
		}
	}
	for key := range r.state {
		if !live[key] {
			delete(r.state, key) // the deploy left its watch window
		}
	}
}

// watched picks the deploys still inside the service's watch window.
// A deploy to another environment than the service's is not watched: its
// watchers' queries are about the service's own environment.
func watched(svc *config.Service, deploys []*rollback.Deploy, now time.Time) []*rollback.Deploy {
	var out []*rollback.Deploy
	for _, d := range deploys {
		if now.Sub(d.At) >= svc.WatchFor.D() {
			continue
		}
		if svc.Environment != "" && d.Environment != "" && d.Environment != svc.Environment {
			continue
		}
		out = append(out, d)
	}
	return out
}

// ensureLease takes or renews the lease and reports whether to evaluate.
func (r *Runner) ensureLease(ctx context.Context, now time.Time) bool {
	ttl := r.cfg.LeaseTTL
	if r.lease == nil {
		// No grace: a watcher starts no process that could outlive its
		// holder's lease.
		l, err := r.cfg.Leases.AcquireLease(ctx, LeaseName, r.cfg.Holder, ttl, 0)
		if errors.Is(err, store.ErrLeaseHeld) {
			return false // another replica runs them
		}
		if err != nil {
			r.cfg.Metrics.Failed(alerts.SourceWatcher, alerts.StageLease)
			r.cfg.Logger.Warn("watchers: cannot take the lease", "err", err)
			return false
		}
		r.cfg.Logger.Info("watchers: this replica now runs the post-deploy watchers", "holder", r.cfg.Holder)
		r.lease, r.renewedAt = &l, now
		return true
	}
	if now.Sub(r.renewedAt) < ttl/3 {
		return true
	}
	l, err := r.cfg.Leases.RenewLease(ctx, *r.lease, ttl)
	switch {
	case err == nil:
		r.lease, r.renewedAt = &l, now
		return true
	case errors.Is(err, store.ErrLeaseLost) || now.Sub(r.renewedAt) >= ttl:
		// Lost, or unrenewable for so long that another replica may hold
		// it by now: stop, and start afresh if it comes back to us.
		r.cfg.Logger.Warn("watchers: lease lost; this replica stops evaluating", "err", err)
		r.lease, r.state = nil, map[string]*evalState{}
		return false
	default:
		// Still ours until it expires, but unconfirmed: skip this tick.
		r.cfg.Metrics.Failed(alerts.SourceWatcher, alerts.StageLease)
		r.cfg.Logger.Warn("watchers: cannot renew the lease", "err", err)
		return false
	}
}
