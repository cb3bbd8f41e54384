package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/backout/backout/internal/authz"
	"github.com/backout/backout/internal/rollback"
)

// Override sets aside a failing blocking readiness check, with an audited reason.
func (s *Control) Override(ctx context.Context, who Actor, id, checkName, reason string) (rollback.Words, error) {
	r, failure, err := s.load(ctx, id)
	if err != nil || failure != nil {
		return failure, err
	}
	if r.State != rollback.StateProposed && r.State != rollback.StateApproved {
		return rollback.Sayf("%s is %s; overrides apply before it runs.", id, r.State), nil
	}
	if strings.TrimSpace(reason) == "" {
		return rollback.Say("An override needs a reason; it is audited."), nil
	}
	if refusal, err := s.authorize(ctx, who, authz.OverrideCheck, on(r)); err != nil || refusal != nil {
		return refusal, err
	}
	var match string
	var failing []string
	for _, c := range blockers(r) {
		failing = append(failing, checkSlug(c.Name))
		if strings.EqualFold(checkName, c.Name) || strings.EqualFold(checkName, checkSlug(c.Name)) {
			match = c.Name
		}
	}
	if match == "" {
		if len(failing) == 0 {
			return rollback.Sayf("%s has no failing blocking check to override.", id), nil
		}
		return rollback.Sayf("%q is not a failing blocking check of %s. Failing: %s.", checkName, id, strings.Join(failing, ", ")), nil
	}
	if refusal := s.auditFirst(ctx, who, "override.readiness", id, map[string]string{"check": match, "reason": reason}); refusal != nil {
		return refusal, nil
	}
	r, err = s.update(ctx, id, func(r *rollback.Record) error {
		r.Overrides = append(r.Overrides, rollback.Override{Check: match, By: who.User, Reason: reason, At: s.clock.Now()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.tell(ctx, rollback.Overridden{About: rollback.About{Rollback: r}, User: who.User, Check: match, Reason: reason})
	s.refresh(ctx, id)
	if r.State == rollback.StateApproved {
		return nil, s.engine.start(ctx, r)
	}
	return nil, nil
}

// Abort stops a rollback: a proposal is withdrawn, a run is cancelled.
func (s *Control) Abort(ctx context.Context, who Actor, id, reason string) (rollback.Words, error) {
	r, failure, err := s.load(ctx, id)
	if err != nil || failure != nil {
		return failure, err
	}
	if r.State == rollback.StateProposed {
		// Ending a proposal is rejecting it: its requester withdraws it,
		// anyone else needs what the Reject button needs (the approval
		// policy), not abort's rule, which lets an owner of any one
		// service of a bundle stop it.
		if who.User == r.Requester {
			return s.withdraw(ctx, who, r, reason)
		}
		return s.votes.Vote(ctx, who, VoteRequest{ID: id, Approve: false, Reason: reason, Abort: true})
	}
	if refusal, err := s.authorize(ctx, who, authz.Abort, on(r)); err != nil || refusal != nil {
		return refusal, err
	}
	switch r.State {
	case rollback.StateApproved, rollback.StateRunning, rollback.StateValidating, rollback.StateInterrupted:
	default:
		return rollback.Sayf("%s is %s; there is nothing to abort.", id, r.State), nil
	}
	if refusal := s.auditFirst(ctx, who, "rollback.abort_requested", id, map[string]string{"reason": reason}); refusal != nil {
		return refusal, nil
	}
	first := false
	r, err = s.update(ctx, id, func(r *rollback.Record) error {
		if r.State.Terminal() {
			return fmt.Errorf("%w: %s already ended", rollback.ErrBadTransition, r.ID)
		}
		if first = r.AbortBy == ""; first {
			r.AbortBy, r.AbortReason = who.User, reason
		}
		return nil
	})
	if errors.Is(err, rollback.ErrBadTransition) {
		return rollback.Sayf("%s already ended.", id), nil
	}
	if err != nil {
		return nil, err
	}
	if first {
		s.tell(ctx, rollback.AbortRequested{About: rollback.About{Rollback: r}, User: who.User, Reason: reason})
	}
	// A run on this replica stops now; a run elsewhere sees the flag on its
	// next lease renewal. With no run at all (approved, interrupted), end it here.
	// Asked again, the same holds: nothing is lost by stopping twice.
	if !s.engine.cancel(id) {
		if err := s.engine.abortIdle(ctx, id); err != nil {
			return nil, err
		}
	}
	if !first {
		// The record keeps the first request's reason; the thread heard it.
		// Announcing this one would show a reason the record does not hold.
		return abortAlreadyRequested(r), nil
	}
	return nil, nil
}

// abortAlreadyRequested answers a person who steers a rollback someone has
// asked to abort: nothing they ask for now changes how it ends.
func abortAlreadyRequested(r *rollback.Record) rollback.Words {
	return rollback.Sayf("%s asked to abort %s already (%s); it is stopping and ends aborted.", r.AbortBy, r.ID, r.AbortReason)
}

// withdraw ends a proposal nobody approved yet.
func (s *Control) withdraw(ctx context.Context, who Actor, r *rollback.Record, reason string) (rollback.Words, error) {
	if refusal := s.auditFirst(ctx, who, "rollback.withdrawn", r.ID, map[string]string{"reason": reason}); refusal != nil {
		return refusal, nil
	}
	r, err := s.transition(ctx, r.ID, rollback.StateRejected, []rollback.State{rollback.StateProposed}, func(r *rollback.Record) {
		r.Outcome = fmt.Sprintf("withdrawn by %s: %s", who.User, reason)
		r.AbortBy, r.AbortReason = who.User, reason
	})
	if errors.Is(err, rollback.ErrBadTransition) {
		return rollback.Sayf("%s was decided meanwhile.", r.ID), nil
	}
	if err != nil {
		return nil, err
	}
	s.tell(ctx, rollback.Withdrawn{About: rollback.About{Rollback: r}, User: who.User, Reason: reason})
	s.finish(ctx, r)
	return nil, nil
}

// Resume continues an interrupted or paused rollback. For an interrupted
// one, this is the person's say-so to re-run the step that was in flight.
func (s *Control) Resume(ctx context.Context, who Actor, id string) (rollback.Words, error) {
	r, failure, err := s.load(ctx, id)
	if err != nil || failure != nil {
		return failure, err
	}
	if refusal, err := s.authorize(ctx, who, authz.Resume, on(r)); err != nil || refusal != nil {
		return refusal, err
	}
	// Refused before anything is audited or changed: a replica draining
	// for a shutdown starts no run, and lifts no pause it could not act on.
	if err := s.engine.refuseWhenStopping(id); err != nil {
		return nil, err
	}
	switch {
	case r.State == rollback.StateInterrupted && r.AbortBy != "":
		return abortPending(r), nil
	case r.State == rollback.StateInterrupted:
		if refusal := s.auditFirst(ctx, who, "rollback.resumed", id, nil); refusal != nil {
			return refusal, nil
		}
		return s.engine.resume(ctx, r, who)
	case r.State == rollback.StateRunning && r.Paused && r.AbortBy != "":
		return abortAlreadyRequested(r), nil
	case r.State == rollback.StateRunning && r.Paused:
		if refusal := s.auditFirst(ctx, who, "rollback.unpaused", id, nil); refusal != nil {
			return refusal, nil
		}
		if _, err := s.update(ctx, id, func(r *rollback.Record) error { r.Paused = false; return nil }); err != nil {
			return nil, err
		}
		s.tell(ctx, rollback.Resumed{About: rollback.About{Rollback: r}, By: who.User})
		s.engine.wake(id)
		return nil, nil
	}
	return rollback.Sayf("%s is %s; only an interrupted or paused rollback can be resumed.", id, r.State), nil
}

// Pause holds a running rollback before its next step.
func (s *Control) Pause(ctx context.Context, who Actor, id string) (rollback.Words, error) {
	r, failure, err := s.load(ctx, id)
	if err != nil || failure != nil {
		return failure, err
	}
	if refusal, err := s.authorize(ctx, who, authz.Pause, on(r)); err != nil || refusal != nil {
		return refusal, err
	}
	switch {
	case r.AbortBy != "" && !r.State.Terminal():
		return abortAlreadyRequested(r), nil
	case r.State == rollback.StateRunning && r.Paused:
		return rollback.Say(fmt.Sprintf("%s is paused already; no new step starts until ", id), rollback.Code("/rollback resume "+id), "."), nil
	case r.State != rollback.StateRunning:
		return rollback.Sayf("%s is %s; only a running rollback can be paused.", id, r.State), nil
	}
	if refusal := s.auditFirst(ctx, who, "rollback.paused", id, nil); refusal != nil {
		return refusal, nil
	}
	if _, err := s.update(ctx, id, func(r *rollback.Record) error { r.Paused = true; return nil }); err != nil {
		return nil, err
	}
	s.engine.wake(id) // a run here holds before its next step, not on its next read
	s.tell(ctx, rollback.Paused{About: rollback.About{Rollback: r}, User: who.User})
	s.refresh(ctx, id)
	return nil, nil
}
