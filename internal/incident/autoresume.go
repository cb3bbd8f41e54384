package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/store"
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
// steps inflight (service/step) started and never finished, may resume
// without a person: engine.auto_resume allows it, nobody paused or aborted
// it, it has resumes left, and re-running every one of those steps is safe
// because the runbook declares it idempotent.
func (s *Service) resumesOnItsOwn(r *store.Rollback, inflight []string) bool {
	if s.cfg.Engine.AutoResume != config.AutoResumeIdempotent || r.Paused || r.AbortBy != "" || r.AutoResumes >= maxAutoResumes {
		return false
	}
	for _, key := range inflight {
		if !plannedIdempotent(r, key) {
			return false
		}
	}
	return true
}

// plannedIdempotent looks a service/step key up in r's plan.
func plannedIdempotent(r *store.Rollback, key string) bool {
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

// interruptedNote is what the thread is told when r becomes interrupted.
func interruptedNote(r *store.Rollback, why string, inflight []string) string {
	msg := fmt.Sprintf("⚠️ %s was interrupted: %s.", r.ID, why)
	switch {
	case r.ResumeDue && len(inflight) > 0:
		msg += fmt.Sprintf(" Step(s) %s had started and never finished; they are idempotent, so Backout resumes on its own (automatic resume %d of %d). Abort to stop it.",
			strings.Join(inflight, ", "), r.AutoResumes+1, maxAutoResumes)
	case r.ResumeDue:
		msg += fmt.Sprintf(" No step was in flight, so Backout resumes on its own (automatic resume %d of %d). Abort to stop it.", r.AutoResumes+1, maxAutoResumes)
	case len(inflight) > 0:
		msg += fmt.Sprintf(" Step(s) %s had started and never finished; they are not re-run unless you press Resume.", strings.Join(inflight, ", "))
		if r.AutoResumes >= maxAutoResumes {
			msg += fmt.Sprintf(" (Backout already resumed it %d times on its own.)", r.AutoResumes)
		}
		msg += " Resume or Abort?"
	default:
		msg += " Resume or Abort?"
	}
	return msg
}

// resumeDue resumes the interrupted rollbacks marked for it. Every replica
// may run it: a compare-and-set on the record picks one.
func (s *Service) resumeDue(ctx context.Context) {
	rs, err := s.store.ListRollbacks(ctx, store.RollbackQuery{States: []store.State{store.StateInterrupted}})
	if err != nil {
		return
	}
	for _, r := range rs {
		if !r.ResumeDue {
			continue
		}
		if err := s.engine.autoResume(ctx, r.ID); err != nil && !errors.Is(err, errNotDue) {
			s.log.WarnContext(ctx, "automatic resume", "rollback", r.ID, "err", err)
		}
	}
}

// autoResume claims id's automatic resume and launches it.
func (e *Engine) autoResume(ctx context.Context, id string) error {
	s := e.s
	if e.stopping() {
		return errNotDue // a replica that is going away leaves it to the next
	}
	r, err := s.update(ctx, id, func(r *store.Rollback) error {
		if r.State != store.StateInterrupted || !r.ResumeDue || r.AbortBy != "" || r.Paused {
			return errNotDue
		}
		r.ResumeDue = false
		r.AutoResumes++
		return nil
	})
	if err != nil {
		return err
	}
	steps, err := s.store.ListSteps(ctx, id)
	if err != nil {
		return e.autoResumeFailed(ctx, r, err)
	}
	s.audit(ctx, Actor{User: autoResumer, From: "engine:" + s.replica}, "rollback.resumed", id,
		map[string]string{"automatic": fmt.Sprintf("%d of %d", r.AutoResumes, maxAutoResumes)})
	msg := fmt.Sprintf("▶️ Backout resumed %s on its own (automatic resume %d of %d).", id, r.AutoResumes, maxAutoResumes)
	if again := unfinished(steps); len(again) > 0 {
		msg += fmt.Sprintf(" Step(s) %s, in flight when it stopped, are idempotent and run again.", strings.Join(again, ", "))
	}
	s.thread(ctx, r, textMessage(msg))
	if err := e.launch(ctx, r, store.StateInterrupted, autoResumer); err != nil {
		return e.autoResumeFailed(ctx, r, err)
	}
	return nil
}

// stopping reports whether this replica shuts down: it starts no run.
func (e *Engine) stopping() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.base.Err() != nil
}

func (e *Engine) autoResumeFailed(ctx context.Context, r *store.Rollback, err error) error {
	e.s.thread(ctx, r, textMessage(fmt.Sprintf("⚠️ Backout could not resume %s on its own (%v). Resume or Abort?", r.ID, err)))
	return err
}
