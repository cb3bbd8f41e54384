package incident

import (
	"slices"

	"github.com/backout/backout/internal/runbook"
)

// scheduler decides which of one service's steps may start, in `needs`
// order, from the results it has been handed. It is pure — no I/O, no
// goroutines, no clock — so the order and the failure rules are tested on
// their own (scheduler_test.go); the driver does the running.
//
// It changes its view only through finish: a step that ends while the
// driver is between calls must not let the driver start what needs it
// ahead of that end's turn in the log, or past the pause check.
type scheduler struct {
	steps    []runbook.Step // runbook order: the order steps start in
	pending  map[string]bool
	finished map[string]bool
	running  int
	stopped  bool
}

// verdict is what a step's end means for the rest of the service.
type verdict int

const (
	stepDone       verdict = iota // succeeded: what needs it may start
	stepTolerated                 // failed under on_failure: continue; counts as finished
	stepStops                     // failed: start nothing more
	stepCompensate                // failed under on_failure: compensate; start nothing more, then undo
)

// newScheduler starts from the steps a previous run already finished.
func newScheduler(steps []runbook.Step, alreadyDone func(stepID string) bool) *scheduler {
	s := &scheduler{steps: steps, pending: map[string]bool{}, finished: map[string]bool{}}
	for _, st := range steps {
		if alreadyDone(st.ID) {
			s.finished[st.ID] = true
		} else {
			s.pending[st.ID] = true
		}
	}
	return s
}

// busy reports whether anything is left to start or to finish.
func (s *scheduler) busy() bool { return len(s.pending) > 0 || s.running > 0 }

// stop starts nothing more; running steps still finish.
func (s *scheduler) stop() { s.stopped = true }

// start takes the steps that may start now, in runbook order, keeping at
// most parallelism running, and counts them as running.
func (s *scheduler) start(parallelism int) []runbook.Step {
	var out []runbook.Step
	for _, st := range s.steps {
		if s.stopped || s.running >= parallelism {
			break
		}
		if !s.pending[st.ID] || !s.ready(st) {
			continue
		}
		delete(s.pending, st.ID)
		s.running++
		out = append(out, st)
	}
	return out
}

// ready reports whether every step st needs has finished.
func (s *scheduler) ready(st runbook.Step) bool {
	for _, n := range st.Needs {
		if !s.finished[n] {
			return false
		}
	}
	return true
}

// finish takes one running step's end. cancelled says the run itself is
// ending (abort, shutdown, lost lease): a failure then never counts as
// tolerated, since the step did not get to finish.
func (s *scheduler) finish(st runbook.Step, failed, cancelled bool) verdict {
	s.running--
	switch {
	case !failed:
		s.finished[st.ID] = true
		return stepDone
	case st.Policy() == runbook.OnFailureContinue && !cancelled:
		s.finished[st.ID] = true
		return stepTolerated
	}
	s.stopped = true
	if st.Policy() == runbook.OnFailureCompensate {
		return stepCompensate
	}
	return stepStops
}

// stranded lists, sorted, the steps that can never start: nothing runs and
// a step they need failed. Empty while anything runs or after a stop.
func (s *scheduler) stranded() []string {
	if s.running > 0 || s.stopped {
		return nil
	}
	var ids []string
	for id := range s.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
