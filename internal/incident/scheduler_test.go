package incident

import (
	"slices"
	"testing"

	"github.com/backout/backout/internal/runbook"
)

func step(id, onFailure string, needs ...string) runbook.Step {
	return runbook.Step{ID: id, Needs: needs, OnFailure: onFailure}
}

func ids(steps []runbook.Step) []string {
	out := []string{}
	for _, st := range steps {
		out = append(out, st.ID)
	}
	return out
}

// end is one step's end handed to the scheduler, then what it should start.
type end struct {
	id        string
	failed    bool
	cancelled bool
	verdict   verdict
	starts    []string
}

func TestScheduler(t *testing.T) {
	diamond := []runbook.Step{step("a", ""), step("b", "", "a"), step("c", "", "a"), step("d", "", "b", "c")}
	tests := []struct {
		name        string
		steps       []runbook.Step
		done        []string // finished by an earlier run
		parallelism int
		first       []string
		ends        []end
		stranded    []string
	}{
		{name: "a chain runs one at a time", parallelism: 4,
			steps: []runbook.Step{step("a", ""), step("b", "", "a"), step("c", "", "b")},
			first: []string{"a"},
			ends:  []end{{id: "a", starts: []string{"b"}}, {id: "b", starts: []string{"c"}}, {id: "c", starts: []string{}}}},
		{name: "a diamond fans out and joins", parallelism: 4, steps: diamond,
			first: []string{"a"},
			ends: []end{{id: "a", starts: []string{"b", "c"}}, {id: "c", starts: []string{}},
				{id: "b", starts: []string{"d"}}, {id: "d", starts: []string{}}}},
		{name: "parallelism caps what runs at once", parallelism: 2,
			steps: []runbook.Step{step("a", ""), step("b", ""), step("c", "")},
			first: []string{"a", "b"},
			ends:  []end{{id: "b", starts: []string{"c"}}, {id: "a", starts: []string{}}, {id: "c", starts: []string{}}}},
		{name: "a resumed run skips what finished", parallelism: 4, steps: diamond, done: []string{"a", "b"},
			first: []string{"c"},
			ends:  []end{{id: "c", starts: []string{"d"}}, {id: "d", starts: []string{}}}},
		{name: "a failure stops scheduling; what needs it is not stranded after a stop", parallelism: 4, steps: diamond,
			first: []string{"a"},
			ends:  []end{{id: "a", starts: []string{"b", "c"}}, {id: "b", failed: true, verdict: stepStops, starts: []string{}}, {id: "c", starts: []string{}}}},
		{name: "on_failure continue counts as finished", parallelism: 4,
			steps: []runbook.Step{step("a", runbook.OnFailureContinue), step("b", "", "a")},
			first: []string{"a"},
			ends:  []end{{id: "a", failed: true, verdict: stepTolerated, starts: []string{"b"}}, {id: "b", starts: []string{}}}},
		{name: "on_failure continue does not hold when the run is cancelled", parallelism: 4,
			steps: []runbook.Step{step("a", runbook.OnFailureContinue), step("b", "", "a")},
			first: []string{"a"},
			ends:  []end{{id: "a", failed: true, cancelled: true, verdict: stepStops, starts: []string{}}}},
		{name: "on_failure compensate stops and asks for compensation", parallelism: 4,
			steps: []runbook.Step{step("a", runbook.OnFailureCompensate), step("b", "", "a")},
			first: []string{"a"},
			ends:  []end{{id: "a", failed: true, verdict: stepCompensate, starts: []string{}}}},
		{name: "a step whose need never finishes is stranded", parallelism: 4,
			steps: []runbook.Step{step("a", ""), step("b", "", "missing")},
			first: []string{"a"},
			ends:  []end{{id: "a", starts: []string{}}}, stranded: []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			byID := map[string]runbook.Step{}
			for _, st := range tt.steps {
				byID[st.ID] = st
			}
			s := newScheduler(tt.steps, func(id string) bool { return slices.Contains(tt.done, id) })
			if got := ids(s.start(tt.parallelism)); !slices.Equal(got, tt.first) {
				t.Fatalf("first start = %v, want %v", got, tt.first)
			}
			for _, e := range tt.ends {
				if got := s.finish(byID[e.id], e.failed, e.cancelled); got != e.verdict {
					t.Fatalf("finish(%s) = %v, want %v", e.id, got, e.verdict)
				}
				if got := ids(s.start(tt.parallelism)); !slices.Equal(got, e.starts) {
					t.Fatalf("after %s ended, start = %v, want %v", e.id, got, e.starts)
				}
			}
			if got := s.stranded(); !slices.Equal(got, tt.stranded) {
				t.Fatalf("stranded = %v, want %v", got, tt.stranded)
			}
			if tt.stranded == nil && s.busy() && !s.stopped {
				t.Fatalf("scheduler still busy: pending %v, running %d", s.pending, s.running)
			}
		})
	}
}
