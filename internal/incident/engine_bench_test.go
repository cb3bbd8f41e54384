package incident_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/exec/noop"
	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/rollback"
)

// chain is a runbook of n noop steps, each needing the one before.
func chain(n int) string {
	var b strings.Builder
	b.WriteString("name: steps\nsteps:\n  - {id: s0, uses: noop}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  - {id: s%d, uses: noop, needs: [s%d]}\n", i, i-1)
	}
	return b.String()
}

// benchEnv is an env whose runbook is a chain of n noop steps.
func benchEnv(b *testing.B, be backend, n int) *env {
	clk := incidenttest.NewClock(T0)
	e := newEnvOn(b, be, be.open(b, clk.Now), clk, setup{runbook: chain(n), executors: []exec.Executor{noop.New()}})
	e.deploy("checkout", "1.0.0", "1.1.0")
	return e
}

// rollback proposes, approves and waits for one rollback; the clock then
// moves past the cooldown so the next one may be proposed.
func (e *env) rollbackOnce(b *testing.B, timeFromProposal bool) {
	if !timeFromProposal {
		b.StopTimer()
	}
	r := e.propose(checkout())
	e.approve(r.ID, "alice")
	b.StartTimer()
	e.approve(r.ID, "bob")
	waitEngine(b, e.svc)
	b.StopTimer()
	if got := e.get(r.ID); got.State != rollback.StateSucceeded {
		b.Fatalf("%s ended %s: %s", r.ID, got.State, got.Outcome)
	}
	e.clock.Advance(time.Hour)
	// The rollback recorded 1.0.0 as current; ship the bad release again so
	// the next iteration has something to roll back.
	e.deploy("checkout", "1.1.0")
}

// BenchmarkEngineStep measures the engine's cost per no-op step, with
// every step transition persisted: from the approving vote to the end of a
// chain of 200 steps, divided by 200.
func BenchmarkEngineStep(b *testing.B) {
	const n = 200
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			e := benchEnv(b, be, n)
			b.ResetTimer()
			for range b.N {
				e.rollbackOnce(b, false)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/step")
		})
	}
}

// BenchmarkPlan1000 runs a 1,000-step no-op plan end to end: proposal
// (plan, previews, readiness), votes, every step, the end.
func BenchmarkPlan1000(b *testing.B) {
	const n = 1000
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			e := benchEnv(b, be, n)
			b.ResetTimer()
			for range b.N {
				b.StartTimer()
				e.rollbackOnce(b, true)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/plan")
		})
	}
}
