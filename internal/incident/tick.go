package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// Run recovers orphaned rollbacks and performs periodic duties until ctx
// ends; then it shuts down gracefully (drain): nothing new starts, running
// non-idempotent steps may finish within engine.shutdown_grace, and each
// rollback is handed on, interrupted, through its lease.
func (s *Service) Run(ctx context.Context) error {
	s.engine.bind(ctx)
	ttl := s.cfg.Engine.LeaseTTL.D()
	tick := time.NewTicker(max(ttl/3, 100*time.Millisecond))
	defer tick.Stop()
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			s.engine.drain(s.cfg.Engine.ShutdownGrace.D())
			return nil
		case <-tick.C:
		}
	}
}

// Wait blocks until every run on this replica has stopped.
func (s *Service) Wait() { s.engine.Wait() }

// Active reports how many rollbacks this replica is driving.
func (s *Service) Active() int { return s.engine.Active() }

// Tick performs time-driven duties; every replica may run it, since each
// duty is a compare-and-set transition that only one replica wins. The open
// rollbacks are read once per Tick, from the store's open index, so a tick
// costs the same however many rollbacks have ended.
func (s *Service) Tick(ctx context.Context) {
	open, err := s.reads.ListRollbacks(ctx, store.RollbackQuery{States: openStates})
	if err != nil {
		s.log.WarnContext(ctx, "tick: list open rollbacks", "err", err)
		return
	}
	s.reportOpen(open)
	interrupted := s.engine.recoverOrphans(ctx, withState(open, rollback.StateRunning, rollback.StateValidating))
	for _, r := range withState(open, rollback.StateInterrupted) {
		interrupted = append(interrupted, r.ID)
	}
	s.engine.tickInterrupted(ctx, interrupted)
	s.tickProposals(ctx, withState(open, rollback.StateProposed))
}

// withState picks the rollbacks in one of states.
func withState(rs []*rollback.Record, states ...rollback.State) []*rollback.Record {
	var out []*rollback.Record
	for _, r := range rs {
		if slices.Contains(states, r.State) {
			out = append(out, r)
		}
	}
	return out
}

// tickProposals expires proposals past their deadline and executes those
// whose policy says to when nobody answered in time.
func (s *Service) tickProposals(ctx context.Context, rs []*rollback.Record) {
	now := s.clock.Now()
	for _, r := range rs {
		if !r.Policy.ExpiresAt.IsZero() && now.After(r.Policy.ExpiresAt) {
			if _, err := s.approvals.expire(ctx, r.ID); err != nil {
				s.log.WarnContext(ctx, "expire", "rollback", r.ID, "err", err)
			}
			continue
		}
		at := s.approvals.unansweredAt(r)
		if at.IsZero() || now.Before(at) {
			continue
		}
		after := at.Sub(r.CreatedAt)
		votes, err := s.reads.ListVotes(ctx, r.ID)
		if err != nil || len(votes) > 0 {
			continue // somebody answered
		}
		if _, err := s.approvals.approve(ctx, r, fmt.Sprintf("auto_execute: unanswered for %s", human.Duration(after))); err != nil && !errors.Is(err, rollback.ErrBadTransition) {
			s.log.WarnContext(ctx, "auto execute", "rollback", r.ID, "err", err)
		}
	}
}

// reportOpen publishes how many rollbacks sit in each open state, so an
// alert can fire on one stuck running or interrupted.
func (s *Service) reportOpen(open []*rollback.Record) {
	counts := map[string]int{}
	for _, st := range openStates {
		counts[string(st)] = 0
	}
	for _, r := range open {
		counts[string(r.State)]++
	}
	s.metrics.OpenRollbacks(counts)
}
