package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/store"
)

// Causes of a run's cancellation; the run records each differently.
var (
	errAborted  = errors.New("aborted by a person")
	errShutdown = errors.New("backout is shutting down")
	// errGraceOver stops the steps still running when the shutdown grace
	// (engine.shutdown_grace) has passed.
	errGraceOver = fmt.Errorf("%w: the shutdown grace passed", errShutdown)
	errLeaseLost = errors.New("lease lost: another replica drives this rollback")
)

// Engine drives approved rollbacks through their steps. Runs belong to the
// engine (not to the request that approved them) and stop with it.
type Engine struct {
	base
	*records
	*closer
	planner   *Planner
	store     engineStore
	runbooks  runbook.Set
	executors *exec.Registry
	checks    CheckRunner

	mu   sync.Mutex
	ctx  context.Context // the engine's own: runs stop with it, not with a request
	runs map[string]*run
	wg   sync.WaitGroup

	// graceOver ends (errGraceOver) when a shutdown's grace has passed: it
	// bounds what an abort during the drain still runs (compensations).
	graceOver context.Context
	endGrace  context.CancelCauseFunc
}

type run struct {
	cancel context.CancelCauseFunc
	wakeCh chan struct{}
	// stale says the record changed here (pause, resume, gate sign-off)
	// since the driver last read it.
	stale atomic.Bool
}

// bind makes ctx the engine's own: runs are started from it (not from the
// request that approved them), and stop when it ends.
func (e *Engine) bind(ctx context.Context) {
	e.mu.Lock()
	e.ctx = ctx
	e.mu.Unlock()
}

// Wait blocks until every run on this replica has stopped.
func (e *Engine) Wait() { e.waitRuns() }

// waitRuns waits for the runs reserve admitted. It takes e.mu first:
// reserve adds to e.wg under e.mu, so every Add it made happens before this
// Wait (a WaitGroup's Add from zero racing its Wait may be missed), and once
// Run's context has ended reserve admits no more.
func (e *Engine) waitRuns() {
	e.mu.Lock()
	//lint:ignore SA2001 the empty section orders reserve's Adds before the Wait
	e.mu.Unlock()
	e.wg.Wait()
}

// ErrShuttingDown: this replica is shutting down and starts no rollback
// and no step; the caller should try again, elsewhere or after a restart.
var ErrShuttingDown = errShutdown

func (e *Engine) stopAll(cause error) {
	e.mu.Lock()
	for _, r := range e.runs {
		r.cancel(cause)
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// Active reports how many rollbacks this replica is driving.
func (e *Engine) Active() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.runs)
}

// cancel aborts a run on this replica; false when it is not running here.
func (e *Engine) cancel(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.runs[id]
	if ok {
		r.cancel(errAborted)
	}
	return ok
}

// wake tells a run to re-read its record (a gate was signed, pause lifted).
func (e *Engine) wake(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.runs[id]; ok {
		r.stale.Store(true)
		select {
		case r.wakeCh <- struct{}{}:
		default:
		}
	}
}

// start checks readiness again and launches an approved rollback.
func (e *Engine) start(ctx context.Context, r *rollback.Record) error {
	res, err := e.planner.readiness(ctx, r)
	if err != nil {
		return err
	}
	r, err = e.update(ctx, r.ID, func(r *rollback.Record) error { r.Readiness = res; return nil })
	if err != nil {
		return err
	}
	if b := blockers(r); len(b) > 0 {
		e.tell(ctx, rollback.Blocked{About: rollback.About{Rollback: r}, Checks: b})
		e.refresh(ctx, r.ID)
		return nil
	}
	return e.launch(ctx, r, rollback.StateApproved, "")
}

// reserve registers a run for id before its lease is taken, so that a
// second launch on this replica (a double click on Resume or Override) sees
// it and backs off: the lease alone cannot tell them apart, since the same
// holder re-acquires its own lease, and the loser would then release the
// winner's lease. Abort and shutdown reach a reserved run like any other.
// A nil run with a nil error means the id is busy here.
func (e *Engine) reserve(id string) (*run, context.Context, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		// A run started now would be cancelled at once and end as failed.
		return nil, nil, fmt.Errorf("not starting %s: %w", id, errShutdown)
	}
	if _, busy := e.runs[id]; busy {
		return nil, nil, nil
	}
	// Runs end only through their own cancel, which names the cause: were
	// they children of Run's context, its end would reach them first, as a
	// plain cancellation, and they would end as failed instead of
	// interrupted (errShutdown).
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(e.ctx))
	rn := &run{cancel: cancel, wakeCh: make(chan struct{}, 1)}
	e.runs[id] = rn
	e.wg.Add(1)
	return rn, runCtx, nil
}

// unreserve ends a run, reserved or driven.
func (e *Engine) unreserve(id string, rn *run) {
	e.release(id, rn)
	e.wg.Done()
}

// release forgets a run: from now on an Abort does not reach it, and ends
// the rollback itself (abortIdle). The drain still waits for it (wg).
func (e *Engine) release(id string, rn *run) {
	e.mu.Lock()
	if e.runs[id] == rn {
		delete(e.runs, id)
	}
	e.mu.Unlock()
	rn.cancel(nil)
}

// active reports whether this replica drives (or is starting) id.
func (e *Engine) active(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.runs[id]
	return ok
}

// launch takes the lease and starts driving r from state `from`. Another
// replica (or run here) already holding it is not an error: it drives r.
func (e *Engine) launch(ctx context.Context, r *rollback.Record, from rollback.State, resumedBy string) error {
	if err := e.launchWith(ctx, r.ID, launchSpec{from: from, resumedBy: resumedBy}); !errors.Is(err, errBusy) {
		return err
	}
	return nil
}

// errBusy: another replica, or a run on this one, holds the rollback.
var errBusy = errors.New("another run holds it")

// launchSpec says how a run starts.
type launchSpec struct {
	from      rollback.State
	resumedBy string
	// claim, when set, is applied in the write that starts the run, after
	// the lease is taken; an error from it leaves the record as it was and
	// is returned.
	claim func(*rollback.Record) error
	// announce, when set, tells the thread once the run is claimed and its
	// lease is being renewed, before its first step.
	announce func(ctx context.Context, r *rollback.Record)
}

// launchWith starts a run of rollback id, or says why not: errBusy, a
// refusal from spec.claim, rollback.ErrBadTransition, or a store fault.
func (e *Engine) launchWith(ctx context.Context, id string, spec launchSpec) error {
	s := e
	rn, runCtx, err := e.reserve(id)
	if err != nil {
		return err
	}
	if rn == nil {
		return errBusy
	}
	started := false
	defer func() {
		if !started {
			e.unreserve(id, rn)
		}
	}()
	askedAt := time.Now() // monotonic; the grant is at or after it
	lease, err := s.takeLease(ctx, id)
	if errors.Is(err, store.ErrLeaseHeld) {
		return lingeringOr(lease, err, e.cfg.Engine.KillGrace.D())
	}
	if err != nil {
		return fmt.Errorf("lease %s: %w", id, err)
	}
	r, err := s.transitionChecked(ctx, id, rollback.StateRunning, []rollback.State{spec.from}, func(r *rollback.Record) error {
		if spec.claim != nil {
			if err := spec.claim(r); err != nil {
				return err
			}
		}
		r.Paused, r.ResumeDue, r.Lingering = false, false, nil
		return nil
	})
	if err != nil {
		// Let go even when ctx has ended (a shutdown): a lease left held
		// blocks every replica until it expires.
		_ = s.store.ReleaseLease(context.WithoutCancel(ctx), lease)
		return err
	}
	s.audit(ctx, Actor{User: "backout", From: "engine:" + s.replica}, "rollback.started", id, map[string]string{"token": fmt.Sprint(lease.Token), "resumed_by": spec.resumedBy})
	if spec.resumedBy == "" {
		s.tell(ctx, rollback.Started{About: rollback.About{Rollback: r}, At: s.clock.Now()})
		s.notePagerDuty(ctx, r, fmt.Sprintf("Rollback %s started: %s.", id, summaryLine(r)))
	}
	started = true
	go func() {
		defer e.wg.Done()
		d := &driver{e: e, id: id, run: rn, resumedBy: spec.resumedBy, announce: spec.announce}
		d.holdLease(runCtx, lease, askedAt)
		d.steps = newStepWriter(d.writeSteps)
		d.drive(runCtx)
		e.release(id, rn)
		d.abortIfAskedDuringHandOn(context.WithoutCancel(runCtx))
	}()
	return nil
}

// resume restarts an interrupted rollback on a person's say-so.
func (e *Engine) resume(ctx context.Context, r *rollback.Record, who Actor) (rollback.Words, error) {
	steps, err := e.store.ListSteps(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	again := rerun(steps)
	var pending *rollback.Record
	err = e.launchWith(ctx, r.ID, launchSpec{from: rollback.StateInterrupted, resumedBy: who.User,
		claim: func(r *rollback.Record) error {
			// Under the lease: an abort asked for since the caller read r
			// wins, or the run would start its first step regardless.
			if r.AbortBy != "" {
				pending = r
				return errAbortPending
			}
			return nil
		},
		announce: func(ctx context.Context, r *rollback.Record) {
			e.tell(ctx, rollback.Resumed{About: rollback.About{Rollback: r}, By: who.User, Interrupted: true, Rerun: again})
		}})
	var lingering lingeringError
	switch {
	case errors.As(err, &lingering):
		return rollback.Say(lingering.Describe(r.ID)), nil
	case errors.Is(err, errAbortPending):
		return abortPending(pending), nil
	case errors.Is(err, errBusy):
		return rollback.Sayf("%s is held by another Backout replica right now (its lease has not expired); try Resume again in a few seconds.", r.ID), nil
	case errors.Is(err, rollback.ErrBadTransition):
		return rollback.Sayf("%s is no longer interrupted; nothing to resume.", r.ID), nil
	case err != nil:
		return nil, err
	}
	return nil, nil
}

// errAbortPending: a person asked to abort the rollback, so it does not
// resume; a Tick (or the abort itself) ends it.
var errAbortPending = errors.New("an abort is pending")

// abortPending answers a Resume of a rollback someone asked to abort.
func abortPending(r *rollback.Record) rollback.Words {
	return rollback.Sayf("%s does not resume: %s asked to abort it (%s), and it ends aborted as soon as no replica holds it.", r.ID, r.AbortBy, r.AbortReason)
}

// rerunNote says which steps a resume runs again: those in flight (with
// inflight, a format for their list), those that had failed, and those a
// compensation had undone.
func rerun(steps []rollback.StepEvent) rollback.Rerun {
	return rollback.Rerun{InFlight: unfinished(steps), Failed: endedAs(steps, rollback.StepFailed), Undone: compensatedSteps(steps)}
}

// abortIdle ends a rollback that is not being driven anywhere (approved but
// blocked, or interrupted): nothing runs, so it can end at once, after
// compensating completed steps where the runbook asks for it.
func (e *Engine) abortIdle(ctx context.Context, id string) error {
	s := e
	// The store decides whether the lease is live (redis by its own
	// clock): a live lease means another replica drives the rollback, and
	// it sees AbortBy on its next renewal (or, interrupted, a later Tick
	// ends it).
	askedAt := time.Now()
	lease, err := s.takeLease(ctx, id)
	if errors.Is(err, store.ErrLeaseHeld) {
		return nil // held, or its last holder may still be stopping steps: a later Tick ends it
	}
	if err != nil {
		return err
	}
	defer func() { _ = s.store.ReleaseLease(context.WithoutCancel(ctx), lease) }()
	// Read under the lease: another replica may have ended it meanwhile.
	r, err := s.store.GetRollback(ctx, id)
	if err != nil {
		return err
	}
	if r.State.Terminal() {
		return nil
	}
	d := &driver{e: e, id: id, run: &run{cancel: func(error) {}, wakeCh: make(chan struct{}, 1)}}
	d.holdLease(ctx, lease, askedAt)
	d.steps = newStepWriter(d.writeSteps)
	defer d.keepLease(ctx)() // compensations run under a kept lease
	defer d.flushRefresh()
	var notUndone []string
	if r.State == rollback.StateInterrupted {
		if err := d.load(ctx); err != nil {
			return err
		}
		notUndone = d.compensateForAbort()
		if d.held.Err() != nil {
			return context.Cause(d.held) // given up: the next holder finishes the abort
		}
	}
	d.end(ctx, rollback.StateAborted, d.abortOutcome(ctx, r, notUndone))
	return nil
}

// inFlight lists steps that started and never recorded an end.
func inFlight(events []rollback.StepEvent) []string {
	open := map[string]bool{}
	var order []string
	for _, ev := range events {
		key := ev.Service + "/" + ev.StepID
		switch ev.Kind {
		case rollback.StepStarted:
			if !open[key] {
				order = append(order, key)
			}
			open[key] = true
		case rollback.StepSucceeded, rollback.StepFailed, rollback.StepSkipped, rollback.StepInterrupted, rollback.StepRetrying:
			open[key] = false
		}
	}
	var out []string
	for _, k := range order {
		if open[k] {
			out = append(out, k)
		}
	}
	return out
}

// unfinished lists steps whose last event leaves them unfinished: in
// flight, marked interrupted, or waiting to retry. A resume runs them again.
func unfinished(events []rollback.StepEvent) []string {
	return endedAs(events, rollback.StepStarted, rollback.StepInterrupted, rollback.StepRetrying)
}

// endedAs lists, in order of first appearance, the steps whose last event
// (of those that start or end a step) is one of kinds.
func endedAs(events []rollback.StepEvent, kinds ...string) []string {
	last := map[string]string{}
	var order []string
	for _, ev := range events {
		switch ev.Kind {
		case rollback.StepStarted, rollback.StepSucceeded, rollback.StepFailed, rollback.StepSkipped, rollback.StepInterrupted, rollback.StepRetrying:
		default:
			continue
		}
		key := ev.Service + "/" + ev.StepID
		if _, seen := last[key]; !seen {
			order = append(order, key)
		}
		last[key] = ev.Kind
	}
	var out []string
	for _, k := range order {
		if slices.Contains(kinds, last[k]) {
			out = append(out, k)
		}
	}
	return out
}

// recoverOrphans marks rollbacks (running or validating) whose driver died
// as interrupted, and returns their ids.
func (e *Engine) recoverOrphans(ctx context.Context, rs []*rollback.Record) []string {
	var out []string
	for _, r := range rs {
		if e.active(r.ID) {
			continue // driven here
		}
		// interrupt takes the lease first, so a rollback another replica
		// still drives is left alone. Whether a lease has expired is the
		// store's call (redis uses its server clock), not this replica'e.
		if e.interrupt(ctx, r.ID, "its driver stopped (process died or lost the store)") {
			out = append(out, r.ID)
		}
	}
	return out
}

// interrupt fences out the old driver and marks the rollback interrupted;
// it reports whether it did. A driver whose lease ran out less than
// kill_grace ago may still be stopping its steps: the rollback is marked
// interrupted without the lease, saying so (see takeover.go).
func (e *Engine) interrupt(ctx context.Context, id, why string) bool {
	lease, err := e.takeLease(ctx, id)
	if errors.Is(err, store.ErrLeaseDraining) {
		return e.interruptLingering(ctx, id, why, lease)
	}
	if err != nil {
		return false // another replica is on it
	}
	r, steps, ok := e.markInterrupted(ctx, id, why, lease)
	if ok {
		e.tell(ctx, rollback.Interrupted{About: rollback.About{Rollback: r}, Why: why, InFlight: outcomeUnknown(steps), Undoing: undoInFlight(steps), MaxAuto: maxAutoResumes})
		e.refresh(ctx, id)
	}
	return ok
}

// markInterrupted, under lease (which it lets go), marks the steps in
// flight interrupted and the rollback interrupted, deciding whether it
// resumes on its own. It returns the record and the step log as read before
// the marks (see markInFlight), or false when it did not.
func (e *Engine) markInterrupted(ctx context.Context, id, why string, lease store.Lease) (*rollback.Record, []rollback.StepEvent, bool) {
	defer func() { _ = e.store.ReleaseLease(context.WithoutCancel(ctx), lease) }()
	steps, ok := e.markInFlight(ctx, id, lease, why)
	if !ok {
		return nil, nil, false
	}
	r, err := e.transition(ctx, id, rollback.StateInterrupted, []rollback.State{rollback.StateRunning, rollback.StateValidating}, func(r *rollback.Record) {
		r.ResumeDue = e.resumesOnItsOwn(r, steps, outcomeUnknown(steps))
	})
	if err != nil {
		return nil, nil, false
	}
	e.audit(ctx, Actor{User: "backout", From: "engine:" + e.replica}, "rollback.interrupted", id,
		map[string]string{"why": why, "resumes_on_its_own": fmt.Sprint(r.ResumeDue)})
	return r, steps, true
}
