package incident_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// shutdownRunbook runs a non-idempotent step (migrate) and an idempotent
// one (restart) side by side; after needs both, so it only starts if the
// engine starts a step after a shutdown began.
const shutdownRunbook = `
name: steps
steps:
  - {id: migrate, uses: fake}
  - {id: restart, uses: fake, idempotent: true}
  - {id: after, uses: fake, needs: [migrate, restart]}
`

// A shutdown starts nothing new, stops idempotent steps at once, lets a
// running non-idempotent step finish within engine.shutdown_grace, then
// hands the rollback on (interrupted, its lease free) and says so truly.
func TestGracefulShutdown(t *testing.T) {
	tests := []struct {
		name string
		// migrateEnds, when set, is how migrate ends once released;
		// unset, the grace (0s) runs out while it still runs.
		migrateEnds  incidenttest.Behaviour
		grace        string
		wantMigrate  []string
		wantResumes  bool
		wantNotice   []string
		wantRunAfter bool
	}{
		{name: "non-idempotent step finishes", migrateEnds: incidenttest.Succeed("migrated"), grace: "10m",
			wantMigrate: []string{rollback.StepStarted, rollback.StepSucceeded}, wantResumes: true,
			wantNotice: []string{"⏏️ Backout replica replica-test stopped while it ran", "Step(s) checkout/migrate finished first.",
				"Step(s) checkout/restart were interrupted; they are idempotent and run again on resume.",
				"the rollback resumes on its own on another replica"}},
		{name: "non-idempotent step fails within the grace", migrateEnds: incidenttest.Fail("exit status 3"), grace: "10m",
			wantMigrate: []string{rollback.StepStarted, rollback.StepFailed},
			wantNotice:  []string{"Step(s) checkout/migrate failed.", "It needs a person: Resume (the failed step runs again) or Abort."}},
		{name: "grace runs out", grace: "0s",
			wantMigrate: []string{rollback.StepStarted, rollback.StepInterrupted},
			wantNotice: []string{"Step(s) checkout/migrate were still running when the shutdown grace (0s) ran out and were stopped: what they did is unknown",
				"It needs a person: check what those steps did, then Resume or Abort."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b, setup{runbook: shutdownRunbook, shutdownGrace: tt.grace})
				migrate, restart := incidenttest.NewLatch(), incidenttest.NewLatch()
				t.Cleanup(migrate.ReleaseAll)
				t.Cleanup(restart.ReleaseAll)
				e.ex.On("migrate", func(ctx context.Context, req exec.Request) (exec.Result, error) {
					if res, err := migrate.Block(ctx, req); err != nil || tt.migrateEnds == nil {
						return res, err
					}
					return tt.migrateEnds(ctx, req)
				})
				e.ex.On("restart", restart.Block)
				cancel, stopped := e.serve()
				r := e.run()
				e.deploy("vault", "1.0.0", "1.1.0")
				waiting := e.propose(incident.ProposeRequest{Services: []string{"vault"}, Reason: "errors up"})
				for _, step := range []string{"migrate", "restart"} {
					if err := e.ex.WaitStarted(within(t), step); err != nil {
						t.Fatal(err)
					}
				}
				cancel()
				if tt.migrateEnds != nil {
					// The idempotent step is stopped at once, while the
					// non-idempotent one still runs; then it may end.
					waitCancelled(t, e.ex, "restart")
					if calls := e.ex.CallsOf("migrate"); len(calls) != 0 {
						t.Fatalf("migrate ended before it was released: %+v", calls)
					}
					// An approval could start a rollback: refused, to be
					// given again to a replica that stays.
					if failure, err := e.svc.Vote(e.ctx, person("carol"), incident.VoteRequest{ID: waiting.ID, Approve: true}); !errors.Is(err, incident.ErrShuttingDown) {
						t.Errorf("a vote while shutting down: %q %v, want ErrShuttingDown", failure, err)
					}
					migrate.ReleaseAll()
				}
				waitRunReturned(t, stopped)
				got := e.get(r.ID)
				if got.State != rollback.StateInterrupted || got.ResumeDue != tt.wantResumes {
					t.Fatalf("after shutdown: %s, resume due %v; want interrupted, %v", got.State, got.ResumeDue, tt.wantResumes)
				}
				if kinds := e.stepKinds(r.ID, "checkout", "migrate"); !slices.Equal(kinds, tt.wantMigrate) {
					t.Errorf("migrate's events %v, want %v", kinds, tt.wantMigrate)
				}
				if kinds := e.stepKinds(r.ID, "checkout", "restart"); !slices.Equal(kinds, []string{rollback.StepStarted, rollback.StepInterrupted}) {
					t.Errorf("restart's events %v, want [started interrupted]", kinds)
				}
				if calls := e.ex.CallsOf("after"); len(calls) != 0 {
					t.Errorf("a step started after the shutdown began: %+v", calls)
				}
				for _, want := range tt.wantNotice {
					e.wantPosted(want)
				}
				for _, text := range e.poster.Texts() {
					if slices.Contains([]string{"safe to Resume", "safe to resume"}, text) {
						t.Errorf("the thread says %q", text)
					}
				}
				// The lease is free: another replica may take the rollback.
				next := newEnvOn(t, b, e.st.Store, e.clock, setup{runbook: shutdownRunbook, replica: "replica-next"})
				if failure, err := next.svc.Resume(next.ctx, person("req"), r.ID); err != nil || failure != nil {
					t.Fatalf("resume on another replica: %q %v", failure, err)
				}
				next.finish(r.ID, rollback.StateSucceeded)
			})
		})
	}
}

// waitCancelled waits until a call of step has returned with its context
// ended.
func waitCancelled(t *testing.T, ex *incidenttest.Executor, step string) {
	t.Helper()
	ctx := within(t)
	for {
		for _, c := range ex.CallsOf(step) {
			if c.Cancelled {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s was not stopped: %+v", step, ex.CallsOf(step))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// abortDrainRunbook: prep completes (and has a compensation), then a
// non-idempotent migrate runs beside an idempotent restart; after needs
// both.
const abortDrainRunbook = `
name: steps
steps:
  - {id: prep, uses: fake, compensate: {uses: fake}}
  - {id: migrate, uses: fake, needs: [prep]}
  - {id: restart, uses: fake, idempotent: true, needs: [prep]}
  - {id: after, uses: fake, needs: [migrate, restart]}
`

// TestAbortDuringTheDrain: while a replica drains for a shutdown (its
// non-idempotent step still running), Abort still works: the step is
// stopped at once, the completed step is compensated as any abort does,
// and the rollback ends aborted, not handed on; Run returns without
// waiting for the grace. Approve, Resume and Propose are refused meanwhile.
func TestAbortDuringTheDrain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		// A long lease: the run must stop because Abort cancels it here,
		// not because a renewal reads the abort flag.
		e := newEnv(t, b, setup{runbook: abortDrainRunbook, shutdownGrace: "10m", leaseTTL: "1h"})
		migrate, restart := incidenttest.NewLatch(), incidenttest.NewLatch()
		t.Cleanup(migrate.ReleaseAll)
		t.Cleanup(restart.ReleaseAll)
		e.ex.On("migrate", migrate.Block)
		e.ex.On("restart", restart.Block)
		cancel, stopped := e.serve()
		r := e.run()
		e.deploy("vault", "1.0.0", "1.1.0")
		waiting := e.propose(incident.ProposeRequest{Services: []string{"vault"}, Reason: "errors up"})
		for _, step := range []string{"migrate", "restart"} {
			if err := e.ex.WaitStarted(within(t), step); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		waitCancelled(t, e.ex, "restart") // the drain has reached the run
		refusedWhileDraining(t, e, waiting.ID, r.ID)
		if failure, err := e.svc.Abort(e.ctx, person("req"), r.ID, "wrong service"); err != nil || failure != nil {
			t.Fatalf("abort during the drain: %q %v", failure, err)
		}
		waitCancelled(t, e.ex, "migrate")
		waitRunReturned(t, stopped) // well within the 10m grace
		got := e.get(r.ID)
		if got.State != rollback.StateAborted || got.Outcome != "aborted by req: wrong service" {
			t.Fatalf("after an abort during the drain: %s (%s), want aborted by req", got.State, got.Outcome)
		}
		if kinds := e.stepKinds(r.ID, "checkout", "migrate"); !slices.Equal(kinds, []string{rollback.StepStarted, rollback.StepFailed}) {
			t.Errorf("migrate's events %v, want [started failed]", kinds)
		}
		if kinds := e.stepKinds(r.ID, "checkout", "prep"); !slices.Contains(kinds, rollback.StepCompensated) {
			t.Errorf("prep's events %v: not compensated", kinds)
		}
		if calls := e.ex.CallsOf("after"); len(calls) != 0 {
			t.Errorf("a step started during the drain: %+v", calls)
		}
		e.wantPosted("asked to abort " + r.ID)
		if posts := e.poster.Find("⏏️"); len(posts) != 0 {
			t.Errorf("the thread says the rollback was handed on: %q", posts)
		}
	})
}

// refusedWhileDraining: what would start something is refused, with
// ErrShuttingDown, and changes nothing.
func refusedWhileDraining(t *testing.T, e *env, proposed, running string) {
	t.Helper()
	if failure, err := e.svc.Vote(e.ctx, person("carol"), incident.VoteRequest{ID: proposed, Approve: true}); !errors.Is(err, incident.ErrShuttingDown) {
		t.Errorf("a vote during the drain: %q %v, want ErrShuttingDown", failure, err)
	}
	if failure, err := e.svc.Resume(e.ctx, person("req"), running); !errors.Is(err, incident.ErrShuttingDown) {
		t.Errorf("a resume during the drain: %q %v, want ErrShuttingDown", failure, err)
	}
	if r, failure, err := e.svc.Propose(e.ctx, person("req"), incident.ProposeRequest{Services: []string{"backend"}, Reason: "x"}); !errors.Is(err, incident.ErrShuttingDown) || r != nil {
		t.Errorf("a proposal during the drain: %v %q %v, want ErrShuttingDown", r, failure, err)
	}
	if got := e.get(proposed); got.State != rollback.StateProposed || len(got.Approvers) != 0 {
		t.Errorf("%s after a refused vote: %s approved by %v", proposed, got.State, got.Approvers)
	}
}

// TestAbortSaysWhatWasNotUndone: an abort whose compensation does not run
// to success ends aborted, and its outcome (the thread's last word) names
// what was not undone and how: a compensation that failed, or one the
// shutdown's grace stopped, whose outcome is unknown and is not called a
// failure.
func TestAbortSaysWhatWasNotUndone(t *testing.T) {
	tests := []struct {
		name     string
		drain    bool // abort while the replica drains for a shutdown (grace 1s)
		undo     incidenttest.Behaviour
		wantPrep []string
		wantText string
	}{
		{name: "compensation fails", undo: incidenttest.Fail("exit status 4"),
			wantPrep: []string{rollback.StepStarted, rollback.StepSucceeded, rollback.StepCompensating, rollback.StepCompensationFailed},
			wantText: "aborted by req: wrong service; not undone: checkout/prep (undo failed: exit status 4)"},
		{name: "the grace stops the compensation", drain: true,
			wantPrep: []string{rollback.StepStarted, rollback.StepSucceeded, rollback.StepCompensating, rollback.StepCompensationStopped},
			wantText: "aborted by req: wrong service; not undone: checkout/prep (undo outcome unknown: stopped when the shutdown grace (1s) ran out)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b, setup{runbook: abortDrainRunbook, shutdownGrace: "1s", leaseTTL: "1h"})
				migrate, undo := incidenttest.NewLatch(), incidenttest.NewLatch()
				t.Cleanup(migrate.ReleaseAll)
				t.Cleanup(undo.ReleaseAll)
				e.ex.On("migrate", migrate.Block)
				e.ex.On("restart", migrate.Block)
				if tt.undo != nil {
					e.ex.On("prep.compensate", tt.undo)
				} else {
					e.ex.On("prep.compensate", undo.Block) // until the grace stops it
				}
				cancel, stopped := e.serve()
				r := e.run()
				// Both, before a drain: it starts no step, so a restart not
				// yet started would never be stopped.
				for _, step := range []string{"migrate", "restart"} {
					if err := e.ex.WaitStarted(within(t), step); err != nil {
						t.Fatal(err)
					}
				}
				if tt.drain {
					cancel()
					waitCancelled(t, e.ex, "restart") // the drain has reached the run
				}
				if failure, err := e.svc.Abort(e.ctx, person("req"), r.ID, "wrong service"); err != nil || failure != nil {
					t.Fatalf("abort: %q %v", failure, err)
				}
				if err := e.poster.WaitFor(within(t), "🛑 "+r.ID+" aborted by req"); err != nil {
					t.Fatal(err)
				}
				got := e.get(r.ID)
				if got.State != rollback.StateAborted || got.Outcome != tt.wantText {
					t.Errorf("ended %s with %q, want aborted with %q", got.State, got.Outcome, tt.wantText)
				}
				if kinds := e.stepKinds(r.ID, "checkout", "prep"); !slices.Equal(kinds, tt.wantPrep) {
					t.Errorf("prep's events %v, want %v", kinds, tt.wantPrep)
				}
				e.wantPosted(tt.wantText)
				cancel()
				waitRunReturned(t, stopped)
			})
		})
	}
}

// TestAbortDuringTheHandOn: Abort pressed after the shutdown's hand-on has
// marked the rollback interrupted, while its run is still registered here.
// The Abort only cancels that run, too late to change its course; once the
// run is let go, the rollback must still end aborted, not stay interrupted
// until some later tick elsewhere, and the thread must say so.
func TestAbortDuringTheHandOn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: shutdownRunbook, shutdownGrace: "0s", leaseTTL: "1h"})
		migrate, restart := incidenttest.NewLatch(), incidenttest.NewLatch()
		t.Cleanup(migrate.ReleaseAll)
		t.Cleanup(restart.ReleaseAll)
		e.ex.On("migrate", migrate.Block)
		e.ex.On("restart", restart.Block)
		handingOn, letGo := make(chan struct{}), make(chan struct{})
		var once sync.Once
		hold := func(ev store.AuditEvent) {
			if ev.Action == "rollback.interrupted" {
				once.Do(func() { close(handingOn) })
				<-letGo
			}
		}
		e.st.beforeAudit.Store(&hold)
		cancel, stopped := e.serve()
		r := e.run()
		for _, step := range []string{"migrate", "restart"} {
			if err := e.ex.WaitStarted(within(t), step); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		select {
		case <-handingOn:
		case <-within(t).Done():
			t.Fatal("the hand-on never marked the rollback interrupted")
		}
		if got := e.get(r.ID); got.State != rollback.StateInterrupted {
			t.Fatalf("during the hand-on: %s, want interrupted", got.State)
		}
		if failure, err := e.svc.Abort(e.ctx, person("req"), r.ID, "wrong service"); err != nil || failure != nil {
			t.Fatalf("abort during the hand-on: %q %v", failure, err)
		}
		close(letGo)
		waitRunReturned(t, stopped)
		if err := e.poster.WaitFor(within(t), "🛑 "+r.ID+" aborted by req: wrong service"); err != nil {
			t.Fatal(err)
		}
		if got := e.get(r.ID); got.State != rollback.StateAborted || got.Outcome != "aborted by req: wrong service" {
			t.Errorf("after an abort during the hand-on: %s (%q), want aborted by req", got.State, got.Outcome)
		}
	})
}
