package incident

import (
	"context"
	"errors"
	"fmt"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/store"
)

// replanOpen re-plans the open proposals covering a service (a new deploy
// changed what "current" is). A changed plan voids earlier votes: votes
// carry the plan hash they were cast on, and only votes on the current hash
// count.
func (s *Replanner) replanOpen(ctx context.Context, service string) {
	rs, err := s.rollbacks.ListRollbacks(ctx, store.RollbackQuery{Service: service, States: []rollback.State{rollback.StateProposed}})
	if err != nil {
		s.log.WarnContext(ctx, "replan: list proposals", "service", service, "err", err)
		return
	}
	for _, r := range rs {
		if err := s.Replan(ctx, r.ID); err != nil {
			s.log.WarnContext(ctx, "replan", "rollback", r.ID, "err", err)
		}
	}
}

// Replan recomputes a proposal's plan; when it changed, the proposal takes
// the new plan and every earlier vote stops counting.
func (s *Replanner) Replan(ctx context.Context, id string) error {
	r, err := s.rollbacks.GetRollback(ctx, id)
	if err != nil {
		return err
	}
	if r.State != rollback.StateProposed {
		return nil
	}
	var version string
	if len(r.Services) == 1 && r.Scope == "service" {
		version = r.Services[0].Target.Version
	}
	info := runbook.RollbackInfo{ID: r.ID, Requester: r.Requester, Reason: r.Reason, Trigger: r.Trigger.Kind}
	changes, _, failure, err := s.planner.Plan(ctx, PlanRequest{Services: r.ServiceNames(), Release: r.Release, Version: version,
		Drill: r.Drill, DrillMode: r.DrillMode, Rollback: info})
	if err != nil {
		return err
	}
	if failure != nil {
		// The proposal cannot stand as it is (e.g. the target is now current).
		r, err = s.transition(ctx, id, rollback.StateStale, []rollback.State{rollback.StateProposed}, func(r *rollback.Record) {
			r.Outcome = "stale: " + failure.String()
		})
		if errors.Is(err, rollback.ErrBadTransition) {
			return nil
		}
		if err != nil {
			return err
		}
		s.tell(ctx, rollback.NoLongerApplies{About: rollback.About{Rollback: r}, Failure: failure})
		s.finish(ctx, r)
		return nil
	}
	hash := PlanHash(changes)
	if hash == r.PlanHash {
		return nil
	}
	old := r.PlanHash
	r, err = s.update(ctx, id, func(r *rollback.Record) error {
		if r.State != rollback.StateProposed || r.PlanHash != old {
			return fmt.Errorf("%w: %s changed meanwhile", rollback.ErrBadTransition, id)
		}
		r.Services, r.PlanHash = changes, hash
		r.Replans++
		r.Constraints, r.DataReverts, r.DataKeeps = nil, nil, nil
		s.planner.describe(r)
		return nil
	})
	if errors.Is(err, rollback.ErrBadTransition) {
		return nil
	}
	if err != nil {
		return err
	}
	res, err := s.planner.readiness(ctx, r)
	if err == nil {
		r, _ = s.update(ctx, id, func(r *rollback.Record) error { r.Readiness = res; return nil })
	}
	s.audit(ctx, Actor{User: "backout", From: "engine"}, "rollback.replanned", id, map[string]string{"old_plan": old, "new_plan": hash})
	s.tell(ctx, rollback.Replanned{About: rollback.About{Rollback: r}, OldHash: old, NewHash: hash})
	s.refresh(ctx, id)
	return nil
}
