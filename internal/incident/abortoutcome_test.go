package incident_test

import (
	"testing"

	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/rollback"
)

const keptStepRunbook = `
name: steps
steps:
  - {id: drain, uses: fake, compensate: {uses: fake}}
  - {id: install, uses: fake, needs: [drain]}
  - {id: smoke, uses: fake, needs: [install]}
`

// TestAbortSaysWhatStaysDone: an aborted rollback's outcome, the thread's
// last word, names the steps that succeeded and stay done because their
// runbook has no undo for them: after an abort the service may well be on
// the version the rollback installed, and the thread must not read as if
// nothing had happened.
func TestAbortSaysWhatStaysDone(t *testing.T) {
	tests := []struct {
		name    string
		abortAt string // the step running when the abort comes
		want    string
	}{
		{"after a step without undo", "smoke",
			"aborted by req: wrong version; still done (the runbook has no undo for them): checkout/install"},
		{"before it", "install", "aborted by req: wrong version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b, setup{runbook: keptStepRunbook, leaseTTL: "1h"})
				running := incidenttest.NewLatch()
				t.Cleanup(running.ReleaseAll)
				e.ex.On(tt.abortAt, running.Block)
				cancel, stopped := e.serve()
				r := e.run()
				if err := e.ex.WaitStarted(within(t), tt.abortAt); err != nil {
					t.Fatal(err)
				}
				if failure, err := e.svc.Abort(e.ctx, person("req"), r.ID, "wrong version"); err != nil || failure != nil {
					t.Fatalf("abort: %q %v", failure, err)
				}
				if err := e.poster.WaitFor(within(t), "🛑 "+r.ID+" aborted by req"); err != nil {
					t.Fatal(err)
				}
				if got := e.get(r.ID); got.State != rollback.StateAborted || got.Outcome != tt.want {
					t.Errorf("ended %s with %q, want aborted with %q", got.State, got.Outcome, tt.want)
				}
				e.wantPosted(tt.want)
				cancel()
				waitRunReturned(t, stopped)
			})
		})
	}
}
