package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// records reads and changes rollback records by compare-and-set, along the
// lifecycle's transition table.
type records struct {
	rollbacks store.Rollbacks
	clk       Clock
}

// load reads a rollback; a missing one is a failure for the person who asked.
func (s *records) load(ctx context.Context, id string) (*rollback.Record, rollback.Words, error) {
	r, err := s.rollbacks.GetRollback(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, rollback.Sayf("There is no rollback %s.", id), nil
	}
	if err != nil {
		return nil, nil, err
	}
	return r, nil, nil
}

// update applies mutate to the stored rollback with compare-and-set,
// re-reading and re-applying on a conflict. mutate returns an error to
// refuse (nothing is written).
func (s *records) update(ctx context.Context, id string, mutate func(*rollback.Record) error) (*rollback.Record, error) {
	for attempt := 0; ; attempt++ {
		r, err := s.rollbacks.GetRollback(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := mutate(r); err != nil {
			return r, err
		}
		err = s.rollbacks.UpdateRollback(ctx, r)
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
func (s *records) transition(ctx context.Context, id string, to rollback.State, from []rollback.State, mutate func(*rollback.Record)) (*rollback.Record, error) {
	return s.transitionChecked(ctx, id, to, from, func(r *rollback.Record) error {
		if mutate != nil {
			mutate(r)
		}
		return nil
	})
}

// transitionChecked is transition whose mutate may refuse: its error leaves
// the record as it was.
func (s *records) transitionChecked(ctx context.Context, id string, to rollback.State, from []rollback.State, mutate func(*rollback.Record) error) (*rollback.Record, error) {
	return s.update(ctx, id, func(r *rollback.Record) error {
		if !slices.Contains(from, r.State) || !rollback.CanTransition(r.State, to) {
			return fmt.Errorf("%w: %s is %s, cannot become %s", rollback.ErrBadTransition, r.ID, r.State, to)
		}
		r.State = to
		now := s.clk.Now()
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
