package incident

import (
	"context"
	"errors"
	"fmt"

	"time"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/store"
)

// Tick performs time-driven duties; every replica may run it, since each
// duty is a compare-and-set transition that only one replica wins.
func (s *Service) Tick(ctx context.Context) {
	s.recoverOrphans(ctx)
	s.tickInterrupted(ctx)
	s.reportOpen(ctx)
	rs, err := s.store.ListRollbacks(ctx, store.RollbackQuery{States: []store.State{store.StateProposed}})
	if err != nil {
		return
	}
	now := s.clock.Now()
	for _, r := range rs {
		if !r.Policy.ExpiresAt.IsZero() && now.After(r.Policy.ExpiresAt) {
			if _, err := s.expire(ctx, r.ID); err != nil {
				s.log.WarnContext(ctx, "expire", "rollback", r.ID, "err", err)
			}
			continue
		}
		if r.Drill || r.Trigger.Kind == "person" || s.autoMode(r) != config.AutoWhenUnanswered {
			continue
		}
		after := s.unansweredAfter(r)
		if now.Sub(r.CreatedAt) < after {
			continue
		}
		votes, err := s.store.ListVotes(ctx, r.ID)
		if err != nil || len(votes) > 0 {
			continue // somebody answered
		}
		if err := s.approveAutomatically(ctx, r, fmt.Sprintf("auto_execute: unanswered for %s", after)); err != nil && !errors.Is(err, ErrBadTransition) {
			s.log.WarnContext(ctx, "auto execute", "rollback", r.ID, "err", err)
		}
	}
}

// unansweredAfter is the longest when_unanswered wait of the services in scope.
func (s *Service) unansweredAfter(r *store.Rollback) (d time.Duration) {
	for _, c := range r.Services {
		if svc, ok := s.cfg.ServiceByName(c.Service); ok && svc.AutoExecute.After > d {
			d = svc.AutoExecute.After
		}
	}
	return d
}

// reportOpen publishes how many rollbacks sit in each open state, so an
// alert can fire on one stuck running or interrupted.
func (s *Service) reportOpen(ctx context.Context) {
	rs, err := s.store.ListRollbacks(ctx, store.RollbackQuery{States: openStates})
	if err != nil {
		return
	}
	counts := map[string]int{}
	for _, st := range openStates {
		counts[string(st)] = 0
	}
	for _, r := range rs {
		counts[string(r.State)]++
	}
	s.metrics.OpenRollbacks(counts)
}
