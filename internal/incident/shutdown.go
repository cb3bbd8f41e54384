package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
)

// Graceful shutdown. When Run's context ends (SIGTERM), this replica starts
// nothing new (reserve, autoResume and Propose refuse; each run's work
// context ends, so its scheduler starts no step), stops idempotent steps at
// once, lets non-idempotent steps finish within engine.shutdown_grace, then
// stops the rest. Each run then hands its rollback on: interrupted, its
// lease let go, for another replica (or this one, restarted) to resume
// under the automatic-resume rules, or for a person.
//
// Abort keeps working during the drain (app.Serve keeps serving Slack and
// the API until Run returns): it ends the run's own context, which stops
// the steps left running at once, and the run ends aborted instead of
// handed on (driver.why).

// drain waits for this replica's runs to end, stopping what still runs
// once grace has passed. Run's context has ended already.
func (e *Engine) drain(grace time.Duration) {
	done := make(chan struct{})
	go func() { e.waitRuns(); close(done) }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-timer.C:
	}
	e.log.Warn("shutdown: the grace has passed; stopping the steps still running", "grace", grace)
	e.endGrace(errGraceOver)
	e.stopAll(errGraceOver)
	<-done
}

// untilGraceOver is ctx, also ended (errGraceOver) once a shutdown's grace
// has passed, and the function that lets it go. An abort's compensations
// run under it: during a drain they may not outlast the grace.
func (e *Engine) untilGraceOver(ctx context.Context) (context.Context, func()) {
	c, cancel := context.WithCancelCause(ctx)
	unhook := context.AfterFunc(e.graceOver, func() { cancel(context.Cause(e.graceOver)) })
	return c, func() { unhook(); cancel(nil) }
}

// why is the cause the run stopped for. A shutdown ends the work context
// first, but an abort (or a give-up) during the drain ends the run's own
// context, and wins: a person asked to end the rollback, and a replica that
// gave it up writes nothing more.
func (d *driver) why(ctx context.Context) error {
	cause := context.Cause(ctx)
	if !errors.Is(cause, errShutdown) || d.shut.finishCtx == nil {
		return cause
	}
	own := context.Cause(d.shut.finishCtx)
	if errors.Is(own, errAborted) || errors.Is(own, errRenewDeadline) || errors.Is(own, errLeaseLost) {
		return own
	}
	return cause
}

// abortIfAskedDuringHandOn ends the rollback aborted when a person pressed
// Abort while this run was handing it on: that Abort found the run here
// and only cancelled it, too late to change its course. It runs once the
// run is released (Engine.release), so any later Abort ends the rollback
// itself; the lease and the record's state pick one if both try.
func (d *driver) abortIfAskedDuringHandOn(ctx context.Context) {
	if !d.handedOn {
		return
	}
	r, err := d.e.store.GetRollback(ctx, d.id)
	if err != nil || r.State != rollback.StateInterrupted || r.AbortBy == "" {
		return
	}
	if err := d.e.abortIdle(ctx, d.id); err != nil {
		d.e.log.WarnContext(ctx, "shutdown: abort asked during the hand-on; another replica will end it", "rollback", d.id, "err", err)
	}
}

// engineCtx is the context Run was given.
func (e *Engine) engineCtx() context.Context {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ctx
}

// shutdownSignal names what stopped this replica, as the signal handler
// set it as the cause of Run's context ("SIGTERM"); empty when unknown.
func (e *Engine) shutdownSignal() string {
	cause := context.Cause(e.engineCtx())
	if cause == nil || errors.Is(cause, context.Canceled) {
		return ""
	}
	return cause.Error()
}

// shutdownWatch is what a driver knows about this replica's shutdown.
type shutdownWatch struct {
	// finishCtx is the run's context without the shutdown: the context
	// non-idempotent steps run under, ended by an abort, a lost lease or
	// the end of the grace.
	finishCtx context.Context

	mu      sync.Mutex
	began   bool
	running map[string]bool // service/step keys whose executor runs
	atStart []string        // keys running when the shutdown began, or since
}

// untilShutdown returns ctx, also ended (errShutdown) when this replica
// begins to shut down, and the function that lets it go.
func (d *driver) untilShutdown(ctx context.Context) (context.Context, func()) {
	d.shut.finishCtx = ctx
	work, stop := context.WithCancelCause(ctx)
	unhook := context.AfterFunc(d.e.engineCtx(), func() {
		d.shut.begin()
		stop(errShutdown)
	})
	return work, func() { unhook(); stop(nil) }
}

// stepContext is the context st runs under: ctx, which a shutdown ends at
// once, for an idempotent step; for a non-idempotent one the run's context
// without the shutdown, so that it may finish.
func (d *driver) stepContext(ctx context.Context, st runbook.Step) context.Context {
	if st.Idempotent || d.shut.finishCtx == nil {
		return ctx
	}
	return d.shut.finishCtx
}

func (w *shutdownWatch) begin() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.began = true
	for key := range w.running {
		w.atStart = append(w.atStart, key)
	}
	slices.Sort(w.atStart)
}

// running notes that key's executor runs, until the returned func is called.
func (d *driver) running(key string) func() {
	w := &d.shut
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running == nil {
		w.running = map[string]bool{}
	}
	w.running[key] = true
	if w.began && !slices.Contains(w.atStart, key) {
		w.atStart = append(w.atStart, key)
	}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.running, key)
	}
}

func (w *shutdownWatch) steps() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.atStart)
}

// handOn ends this replica's part in the rollback: interrupted (the steps
// it leaves in flight marked so), the lease let go, and the thread told
// which replica stopped, what became of the steps that ran, and what
// happens next.
func (d *driver) handOn(ctx context.Context) {
	s := d.e
	signal := s.shutdownSignal()
	why := "replica " + s.replica + " shut down"
	if signal != "" {
		why += " (" + signal + ")"
	}
	lease, err := s.takeLease(ctx, d.id) // its own, renewed
	if err != nil {
		s.log.WarnContext(ctx, "shutdown: lease gone; another replica will find the rollback orphaned", "rollback", d.id, "err", err)
		return
	}
	r, steps, ok := s.markInterrupted(ctx, d.id, why, lease)
	inflight := inFlight(steps) // what this run left running (steps marked by an earlier takeover did not run here)
	if !ok {
		s.log.WarnContext(ctx, "shutdown: could not hand the rollback on; another replica will find it orphaned", "rollback", d.id)
		return
	}
	d.handedOn = true
	n := rollback.HandedOn{About: rollback.About{Rollback: r}, Replica: s.replica, Signal: signal,
		Grace: s.cfg.Engine.ShutdownGrace.D(), MaxAuto: maxAutoResumes}
	keys := d.shut.steps()
	for _, key := range inflight {
		if !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	}
	for _, key := range keys {
		switch {
		case slices.Contains(inflight, key) && plannedIdempotent(r, key):
			n.Rerun = append(n.Rerun, key)
		case slices.Contains(inflight, key):
			n.Unknown = append(n.Unknown, key)
		case d.failedStep(key):
			n.Failed = append(n.Failed, key)
		case d.isDone(splitKey(key)):
			n.Finished = append(n.Finished, key)
		}
	}
	s.tell(ctx, n)
	s.refresh(ctx, d.id)
}

func (d *driver) failedStep(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.failed, key)
}

func splitKey(key string) (service, step string) {
	service, step, _ = strings.Cut(key, "/")
	return service, step
}

// refuseWhenStopping is what an entry point that would start a rollback
// (approve, resume) or a new proposal asks first. Abort never asks it.
func (e *Engine) refuseWhenStopping(id string) error {
	if e.stopping() {
		return fmt.Errorf("not starting %s: %w", id, ErrShuttingDown)
	}
	return nil
}
