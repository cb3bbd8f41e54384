package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/backout/backout/internal/store"
)

// ErrBadTransition is returned when a rollback is not in a state the
// transition starts from.
var ErrBadTransition = errors.New("invalid state transition")

// allowed is the lifecycle graph; anything else is an error.
var allowed = map[store.State][]store.State{
	store.StateProposed:    {store.StateApproved, store.StateRejected, store.StateExpired, store.StateStale},
	store.StateApproved:    {store.StateRunning, store.StateAborted, store.StateStale},
	store.StateRunning:     {store.StateValidating, store.StateFailed, store.StateAborted, store.StateInterrupted, store.StateSucceeded},
	store.StateValidating:  {store.StateSucceeded, store.StateFailed, store.StateAborted, store.StateInterrupted},
	store.StateInterrupted: {store.StateRunning, store.StateAborted},
}

// CanTransition reports whether from -> to is in the lifecycle.
func CanTransition(from, to store.State) bool { return slices.Contains(allowed[from], to) }

// update applies mutate to the stored rollback with compare-and-set,
// re-reading and re-applying on a conflict. mutate returns an error to
// refuse (nothing is written).
func (s *Service) update(ctx context.Context, id string, mutate func(*store.Rollback) error) (*store.Rollback, error) {
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
func (s *Service) transition(ctx context.Context, id string, to store.State, from []store.State, mutate func(*store.Rollback)) (*store.Rollback, error) {
	return s.transitionChecked(ctx, id, to, from, func(r *store.Rollback) error {
		if mutate != nil {
			mutate(r)
		}
		return nil
	})
}

// transitionChecked is transition whose mutate may refuse: its error leaves
// the record as it was.
func (s *Service) transitionChecked(ctx context.Context, id string, to store.State, from []store.State, mutate func(*store.Rollback) error) (*store.Rollback, error) {
	return s.update(ctx, id, func(r *store.Rollback) error {
		if !slices.Contains(from, r.State) || !CanTransition(r.State, to) {
			return fmt.Errorf("%w: %s is %s, cannot become %s", ErrBadTransition, r.ID, r.State, to)
		}
		r.State = to
		now := s.clock.Now()
		switch to {
		case store.StateApproved, store.StateRejected, store.StateExpired:
			r.DecidedAt = now
		case store.StateRunning:
			if r.StartedAt.IsZero() {
				r.StartedAt = now
			}
		case store.StateValidating:
			r.ValidatingAt = now
		}
		if to.Terminal() {
			r.EndedAt = now
		}
		return mutate(r)
	})
}
