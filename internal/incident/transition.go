package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// update applies mutate to the stored rollback with compare-and-set,
// re-reading and re-applying on a conflict. mutate returns an error to
// refuse (nothing is written).
func (s *Service) update(ctx context.Context, id string, mutate func(*rollback.Record) error) (*rollback.Record, error) {
	for attempt := 0; ; attempt++ {
		r, err := s.store.GetRollback(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := mutate(r); err != nil {
			return r, err
		}
		err = s.store.UpdateRollback(ctx, r)
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", id, err)
		}
		return r, nil
	}
}

// transition moves a rollback to `to` if it is in one of `from` (and the
// lifecycle allows it), applying mutate in the same write.
func (s *Service) transition(ctx context.Context, id string, to rollback.State, from []rollback.State, mutate func(*rollback.Record)) (*rollback.Record, error) {
	return s.transitionChecked(ctx, id, to, from, func(r *rollback.Record) error {
		if mutate != nil {
			mutate(r)
		}
		return nil
	})
}

// transitionChecked is transition whose mutate may refuse: its error leaves
// the record as it was.
func (s *Service) transitionChecked(ctx context.Context, id string, to rollback.State, from []rollback.State, mutate func(*rollback.Record) error) (*rollback.Record, error) {
	return s.update(ctx, id, func(r *rollback.Record) error {
		if !slices.Contains(from, r.State) || !rollback.CanTransition(r.State, to) {
			return fmt.Errorf("%w: %s is %s, cannot become %s", rollback.ErrBadTransition, r.ID, r.State, to)
		}
		r.State = to
		now := s.clock.Now()
		switch to {
		case rollback.StateApproved, rollback.StateRejected, rollback.StateExpired:
			r.DecidedAt = now
		case rollback.StateRunning:
			if r.StartedAt.IsZero() {
				r.StartedAt = now
			}
		case rollback.StateValidating:
			r.ValidatingAt = now
		}
		if to.Terminal() {
			r.EndedAt = now
		}
		return mutate(r)
	})
}
