package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/rollback"
)

// maxAutoResumes bounds how often Backout resumes one rollback on its own:
// a step that kills its driver every time (memory, a node that dies) must
// reach a person, not loop.
const maxAutoResumes = 2

// autoResumer names Backout as the one who resumed a rollback.
const autoResumer = "backout"

// errNotDue: the rollback was resumed, aborted or taken by another replica.
var errNotDue = errors.New("not due for an automatic resume")

// resumesOnItsOwn reports whether r, about to become interrupted with the
// step log steps and the steps inflight (service/step) started and never
// finished, may resume without a person: engine.auto_resume allows it,
// nobody paused or aborted it, it has resumes left, nothing had failed or
// begun to be undone (a resume would run a failed step again and abandon
// the compensation), and re-running every step in flight is safe because
// the runbook declares it idempotent.
func (e *Engine) resumesOnItsOwn(r *rollback.Record, steps []rollback.StepEvent, inflight []string) bool {
	if e.cfg.Engine.AutoResume != config.AutoResumeIdempotent || r.Paused || r.AbortBy != "" || r.AutoResumes >= maxAutoResumes {
		return false
	}
	for _, ev := range steps {
		switch ev.Kind {
		case rollback.StepFailed, rollback.StepCompensating, rollback.StepCompensated, rollback.StepCompensationFailed, rollback.StepCompensationStopped:
			return false
		}
	}
	for _, key := range inflight {
		if !plannedIdempotent(r, key) {
			return false
		}
	}
	return true
}

// plannedIdempotent looks a service/step key up in r's plan.
func plannedIdempotent(r *rollback.Record, key string) bool {
	service, stepID, _ := strings.Cut(key, "/")
	for _, c := range r.Services {
		if c.Service != service {
			continue
		}
		for _, st := range c.Steps {
			if st.ID == stepID {
				return st.Idempotent
			}
		}
	}
	return false
}

// tickInterrupted finishes what an interrupted rollback is waiting for
// without a person: an Abort whose replica could not end it at once (the
// lease was held), and an automatic resume. Every replica may run it: the
// lease, then a compare-and-set on the record, pick one.
func (e *Engine) tickInterrupted(ctx context.Context, ids []string) {
	for _, id := range ids {
		r, err := e.store.GetRollback(ctx, id)
		if err != nil {
			e.log.WarnContext(ctx, "tick: read interrupted rollback", "rollback", id, "err", err)
			continue
		}
		switch {
		case r.State != rollback.StateInterrupted:
		case r.Lingering != nil:
			// Its old driver may still be stopping steps: nothing runs
			// (nor is aborted) before it is settled.
			e.settleLingering(ctx, r.ID)
		case r.AbortBy != "":
			if err := e.abortIdle(ctx, r.ID); err != nil {
				e.log.WarnContext(ctx, "abort of an interrupted rollback", "rollback", r.ID, "err", err)
			}
		case r.ResumeDue && e.cfg.Engine.AutoResume == config.AutoResumeIdempotent:
			if err := e.autoResume(ctx, r.ID); err != nil && !errors.Is(err, errNotDue) && !errors.Is(err, errBusy) {
				// ResumeDue is still set: the next Tick tries again.
				e.log.WarnContext(ctx, "automatic resume", "rollback", r.ID, "err", err)
			}
		}
	}
}

// autoResume launches id if its automatic resume is still due. The claim
// (ResumeDue cleared, AutoResumes counted) is part of the write that starts
// the run, under the lease: a lease still held elsewhere (a replica in the
// middle of interrupting it, one killed before it let go) leaves the resume
// due for the next Tick instead of lost.
func (e *Engine) autoResume(ctx context.Context, id string) error {
	s := e
	if e.stopping() {
		return errNotDue // a replica that is going away leaves it to the next
	}
	return e.launchWith(ctx, id, launchSpec{
		from:      rollback.StateInterrupted,
		resumedBy: autoResumer,
		claim: func(r *rollback.Record) error {
			if !r.ResumeDue || r.AbortBy != "" || r.Paused {
				return errNotDue
			}
			r.AutoResumes++
			return nil
		},
		announce: func(ctx context.Context, r *rollback.Record) {
			s.audit(ctx, Actor{User: autoResumer, From: "engine:" + s.replica}, "rollback.resumed", r.ID,
				map[string]string{"automatic": fmt.Sprintf("%d of %d", r.AutoResumes, maxAutoResumes)})
			n := rollback.Resumed{About: rollback.About{Rollback: r}, Interrupted: true, AutoResume: r.AutoResumes, MaxAuto: maxAutoResumes}
			if steps, err := s.store.ListSteps(ctx, r.ID); err == nil {
				n.Rerun = rerun(steps)
			}
			s.tell(ctx, n)
		},
	})
}

// stopping reports whether this replica shuts down: it starts no run.
func (e *Engine) stopping() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ctx.Err() != nil
}
