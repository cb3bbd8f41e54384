package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// takeLease asks for rollback id's lease. Another replica's lease is
// granted only once its expiry plus kill_grace has passed (the store
// decides, by its clock): until then its steps may still be stopping.
// Every takeover goes through here: a run's launch (Resume, automatic
// resume), interrupting an orphan, ending an idle abort.
func (e *Engine) takeLease(ctx context.Context, id string) (store.Lease, error) {
	return e.store.AcquireLease(ctx, store.LeaseName(id), e.replica, e.cfg.Engine.LeaseTTL.D(), e.cfg.Engine.KillGrace.D())
}

// lingeringError: the rollback's last driver let its lease run out less
// than kill_grace ago and may still be stopping its steps. It is an
// errBusy.
type lingeringError struct{ rollback.Lingering }

func (e lingeringError) Error() string {
	return fmt.Sprintf("replica %s may still be stopping its steps until %s", e.Replica, e.Until.UTC().Format(time.RFC3339))
}

func (lingeringError) Unwrap() error { return errBusy }

// lingeringOr turns a refused lease into the error launchWith returns:
// lingeringError (naming who and until when) when the old holder may
// still be stopping, else errBusy.
func lingeringOr(held store.Lease, err error, killGrace time.Duration) error {
	if errors.Is(err, store.ErrLeaseDraining) {
		return lingeringError{lingeringFrom(held, killGrace)}
	}
	return errBusy
}

// lingeringFrom says who may still be stopping steps and until when: the
// store lets nobody in before the expiry plus the larger of our kill_grace
// and the one the holder recorded with its grant (what its steps obey).
func lingeringFrom(held store.Lease, killGrace time.Duration) rollback.Lingering {
	return rollback.Lingering{Replica: held.Holder, Until: held.Expires.Add(max(killGrace, held.Grace))}
}

// interruptLingering marks a rollback interrupted whose driver's lease ran
// out (held) less than kill_grace ago, without taking the lease (nobody may
// yet): it says whose steps may still be running and until when, and offers
// no Resume. A Tick settles it once that time has passed (settleLingering).
func (e *Engine) interruptLingering(ctx context.Context, id, why string, held store.Lease) bool {
	lingering := lingeringFrom(held, e.cfg.Engine.KillGrace.D())
	steps, err := e.store.ListSteps(ctx, id)
	if err != nil {
		return false
	}
	r, err := e.transition(ctx, id, rollback.StateInterrupted, []rollback.State{rollback.StateRunning, rollback.StateValidating}, func(r *rollback.Record) {
		r.Lingering, r.ResumeDue = &lingering, false // decided once it has settled
	})
	if err != nil {
		return false // another replica marked it first, or it ended
	}
	e.audit(ctx, Actor{User: "backout", From: "engine:" + e.replica}, "rollback.interrupted", id,
		map[string]string{"why": why, "steps_may_run_on": lingering.Replica, "until": lingering.Until.UTC().Format(time.RFC3339)})
	e.tell(ctx, rollback.Interrupted{About: rollback.About{Rollback: r}, Why: why, InFlight: outcomeUnknown(steps), Undoing: undoInFlight(steps), MaxAuto: maxAutoResumes})
	e.refresh(ctx, id)
	return true
}

// settleLingering takes the lease of an interrupted rollback whose old
// driver may have been stopping its steps, once the store grants it (its
// lease expiry plus kill_grace passed, or it let go): it fences the old
// driver out, marks the steps it left in flight, decides whether Backout
// resumes on its own, and offers Resume. Before that time it does nothing.
func (e *Engine) settleLingering(ctx context.Context, id string) {
	lease, err := e.takeLease(ctx, id)
	if err != nil {
		return // not yet (or the store failed): the next Tick tries again
	}
	defer func() { _ = e.store.ReleaseLease(context.WithoutCancel(ctx), lease) }()
	var gone string
	steps, ok := e.markInFlight(ctx, id, lease, "its driver stopped (process died or lost the store)")
	if !ok {
		return
	}
	inflight := outcomeUnknown(steps)
	r, err := e.update(ctx, id, func(r *rollback.Record) error {
		if r.State != rollback.StateInterrupted || r.Lingering == nil {
			return errNotDue // resumed or ended meanwhile
		}
		gone = r.Lingering.Replica
		r.Lingering = nil
		r.ResumeDue = e.resumesOnItsOwn(r, steps, inflight)
		return nil
	})
	if err != nil {
		return
	}
	e.audit(ctx, Actor{User: "backout", From: "engine:" + e.replica}, "rollback.driver_gone", id,
		map[string]string{"replica": gone, "resumes_on_its_own": fmt.Sprint(r.ResumeDue)})
	e.tell(ctx, rollback.DriverGone{About: rollback.About{Rollback: r}, Replica: gone, InFlight: inflight, Undoing: undoInFlight(steps), MaxAuto: maxAutoResumes})
	e.refresh(ctx, id)
}

// markInFlight records, under lease, that the steps the old driver left
// started and never finished have an unknown outcome, and so do the
// compensations it left running; it returns the step log as read (before
// the marks), from which callers tell them apart: inFlight, undoInFlight,
// and outcomeUnknown for what decides a resume.
func (e *Engine) markInFlight(ctx context.Context, id string, lease store.Lease, why string) ([]rollback.StepEvent, bool) {
	steps, err := e.store.ListSteps(ctx, id)
	if err != nil {
		return nil, false
	}
	var marks []rollback.StepEvent
	for _, key := range inFlight(steps) {
		svc, step, _ := strings.Cut(key, "/")
		marks = append(marks, rollback.StepEvent{Service: svc, StepID: step, Kind: rollback.StepInterrupted, At: e.clock.Now(), Error: "outcome unknown: " + why})
	}
	for _, key := range undoInFlight(steps) {
		svc, step, _ := strings.Cut(key, "/")
		marks = append(marks, rollback.StepEvent{Service: svc, StepID: step, Kind: rollback.StepCompensationStopped, At: e.clock.Now(), Error: undoDriverGone})
	}
	if _, err := e.store.AppendSteps(ctx, id, lease.Token, marks...); err != nil {
		e.log.WarnContext(ctx, "interrupt: marking steps in flight", "rollback", id, "err", err)
	}
	return steps, true
}

// outcomeUnknown lists the steps whose last event leaves their outcome
// unknown: started and never ended, or marked interrupted since (and not
// run again). It, not inFlight, decides an automatic resume and is what
// the thread names: a takeover that died, or whose store failed, between
// marking the steps in flight and moving the record leaves them marked and
// the rollback running, and the next takeover finds nothing "in flight".
func outcomeUnknown(events []rollback.StepEvent) []string {
	return endedAs(events, rollback.StepStarted, rollback.StepInterrupted)
}

// undoDriverGone is the outcome of a compensation whose driver stopped
// while it ran.
const undoDriverGone = "outcome unknown: its driver stopped while it ran"

// undoInFlight lists the steps whose compensation started and never
// recorded an end.
func undoInFlight(events []rollback.StepEvent) []string {
	var out []string
	for key, ev := range lastUndo(events) {
		if ev.Kind == rollback.StepCompensating {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out
}

// undoUnknown maps each step whose last compensation's outcome is unknown
// (stopped, or started and never ended) to why. Such a compensation is not
// run again: a compensation has no idempotent flag, so nobody said that a
// second run is safe, and an abort names it as not undone instead.
func undoUnknown(events []rollback.StepEvent) map[string]string {
	out := map[string]string{}
	for key, ev := range lastUndo(events) {
		switch ev.Kind {
		case rollback.StepCompensating:
			out[key] = undoDriverGone
		case rollback.StepCompensationStopped:
			out[key] = ev.Error
		}
	}
	return out
}

// lastUndo maps service/step to its last compensation event. A step that
// succeeds again after one (a resume re-ran it) starts afresh.
func lastUndo(events []rollback.StepEvent) map[string]rollback.StepEvent {
	last := map[string]rollback.StepEvent{}
	for _, ev := range events {
		key := ev.Service + "/" + ev.StepID
		switch ev.Kind {
		case rollback.StepCompensating, rollback.StepCompensated, rollback.StepCompensationFailed, rollback.StepCompensationStopped:
			last[key] = ev
		case rollback.StepSucceeded:
			delete(last, key)
		}
	}
	return last
}
