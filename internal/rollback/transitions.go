package rollback

import (
	"errors"
	"slices"
)

// ErrBadTransition is returned when a rollback is not in a state the
// transition starts from.
var ErrBadTransition = errors.New("invalid state transition")

// transitions is the lifecycle graph, the only one: anything not listed is
// refused.
var transitions = map[State][]State{
	StateProposed:    {StateApproved, StateRejected, StateExpired, StateStale},
	StateApproved:    {StateRunning, StateAborted, StateStale},
	StateRunning:     {StateValidating, StateFailed, StateAborted, StateInterrupted, StateSucceeded},
	StateValidating:  {StateSucceeded, StateFailed, StateAborted, StateInterrupted},
	StateInterrupted: {StateRunning, StateAborted},
}

// CanTransition reports whether from -> to is in the lifecycle.
func CanTransition(from, to State) bool { return slices.Contains(transitions[from], to) }
