package incident_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

const chainRunbook = `
name: steps
steps:
  - {id: a, uses: fake}
  - {id: b, uses: fake, needs: [a]}
  - {id: c, uses: fake, needs: [b]}
`

func TestReleaseGoesBackInDependencyOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook})
		e.deploy("backend", "1.4.0", "1.5.0", "1.6.0")
		e.deploy("frontend", "2.0.0", "2.1.0")
		r := e.propose(incident.ProposeRequest{Release: "shop"})
		if got := r.ServiceNames(); !slices.Equal(got, []string{"backend", "frontend"}) {
			t.Fatalf("plan order %v, want backend first", got)
		}
		e.approve(r.ID, "alice", "bob")
		e.finish(r.ID, rollback.StateSucceeded)
		log := e.ex.Log()
		if last, first := index(log, "end backend/c"), index(log, "start frontend/a"); last < 0 || first < 0 || last > first {
			t.Fatalf("frontend started before backend finished: %v", log)
		}
	})
}

func TestCompatibilityViolationRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("backend", "1.4.0", "1.5.0", "1.6.0")
		e.deploy("frontend", "2.0.0", "2.1.0")
		r, failure, err := e.svc.Propose(e.ctx, person("req"), incident.ProposeRequest{Services: []string{"backend"}, Version: "1.4.0"})
		if err != nil || r != nil {
			t.Fatalf("propose: %v %v, want a refusal", r, err)
		}
		for _, want := range []string{
			"Refused: this order would break a compatibility constraint",
			"frontend needs backend >=1.5.0, but the plan takes backend to 1.4.0 while frontend stays on its current version",
		} {
			if !strings.Contains(failure.String(), want) {
				t.Fatalf("refusal %q lacks %q", failure, want)
			}
		}
	})
}

func TestStaleFencingTokenStopsTheOldDriver(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook})
		latch := incidenttest.NewLatch()
		t.Cleanup(latch.ReleaseAll)
		e.ex.On("a", latch.Block)
		r := e.run()
		if err := e.ex.WaitStarted(within(t), "a"); err != nil {
			t.Fatal(err)
		}
		ours, err := e.st.GetLease(e.ctx, store.LeaseName(r.ID))
		if err != nil {
			t.Fatal(err)
		}
		thief := e.steal(store.LeaseName(r.ID), 15*time.Second)
		if thief.Token <= ours.Token {
			t.Fatalf("thief's token %d is not above %d", thief.Token, ours.Token)
		}
		latch.ReleaseAll() // a finishes; recording it must be refused
		waitEngine(t, e.svc)
		if e.st.stale.Load() == 0 {
			t.Fatal("the old driver never hit a stale token")
		}
		e.requireStoppedAfterA(r.ID)
	})
}

// requireStoppedAfterA checks that the driver of id (a chainRunbook run)
// stopped at step a: a's only event is its start, nothing after it
// started, and the rollback is still running.
func (e *env) requireStoppedAfterA(id string) {
	e.t.Helper()
	if got := e.stepKinds(id, "checkout", "a"); !slices.Equal(got, []string{rollback.StepStarted}) {
		e.t.Fatalf("a's events %v: the old driver wrote after losing its lease", got)
	}
	if got := startedOrder(e.ex.Log()); !slices.Equal(got, []string{"checkout/a"}) {
		e.t.Fatalf("the old driver went on to %v", got)
	}
	if got := e.get(id).State; got != rollback.StateRunning {
		e.t.Fatalf("state %s: the old driver ended a rollback it no longer owns", got)
	}
}

// steal takes a lease for another holder once it is free, retrying when
// the current holder renews it in between.
func (e *env) steal(name string, ttl time.Duration) store.Lease {
	e.t.Helper()
	for range 20 {
		e.b.freeLease(e.t, e.st, e.clock, name, ttl)
		l, err := e.st.AcquireLease(e.ctx, name, "thief", time.Hour, 0)
		if err == nil {
			return l
		}
		if !errors.Is(err, store.ErrLeaseHeld) {
			e.t.Fatal(err)
		}
	}
	e.t.Fatalf("could not steal %s", name)
	return store.Lease{}
}

// crashed leaves a proposal of checkout as a dead driver would: running,
// its lease held by "dead", a done and b started. edit, when given, changes
// the record first.
func (e *env) crashed(edit ...func(*rollback.Record)) *rollback.Record {
	e.t.Helper()
	e.deploy("checkout", "1.0.0", "1.1.0")
	r := e.propose(checkout())
	lease, err := e.st.AcquireLease(e.ctx, store.LeaseName(r.ID), "dead", 15*time.Second, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	r.State, r.StartedAt = rollback.StateRunning, e.clock.Now()
	for _, f := range edit {
		f(r)
	}
	if err := e.st.UpdateRollback(e.ctx, r); err != nil {
		e.t.Fatal(err)
	}
	for _, ev := range []rollback.StepEvent{{StepID: "a", Kind: rollback.StepStarted}, {StepID: "a", Kind: rollback.StepSucceeded}, {StepID: "b", Kind: rollback.StepStarted}} {
		ev.Service, ev.At = "checkout", e.clock.Now()
		if _, err := e.st.AppendSteps(e.ctx, r.ID, lease.Token, ev); err != nil {
			e.t.Fatal(err)
		}
	}
	return r
}

// diedAfter adds evs (of checkout) to the log of a crashed() rollback as its
// dead driver would have, then lets its lease expire and ticks: the
// rollback is found orphaned.
func (e *env) diedAfter(id string, evs ...rollback.StepEvent) {
	e.t.Helper()
	lease, err := e.st.GetLease(e.ctx, store.LeaseName(id))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range evs {
		evs[i].Service, evs[i].At = "checkout", e.clock.Now()
	}
	if _, err := e.st.AppendSteps(e.ctx, id, lease.Token, evs...); err != nil {
		e.t.Fatal(err)
	}
	e.b.freeLease(e.t, e.st, e.clock, store.LeaseName(id), 15*time.Second)
	e.svc.Tick(e.ctx)
}

func TestRecoveryInterruptsAndResumeReruns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook})
		r := e.crashed()
		e.svc.Tick(e.ctx)
		if got := e.get(r.ID).State; got != rollback.StateRunning {
			t.Fatalf("with a live lease Tick made it %s", got)
		}

		e.b.freeLease(t, e.st, e.clock, store.LeaseName(r.ID), 15*time.Second)
		e.svc.Tick(e.ctx)
		if got := e.get(r.ID).State; got != rollback.StateInterrupted {
			t.Fatalf("after the lease expired Tick left it %s", got)
		}
		if got := e.stepKinds(r.ID, "checkout", "b"); !slices.Equal(got, []string{rollback.StepStarted, rollback.StepInterrupted}) {
			t.Fatalf("b's events %v, want [started interrupted]", got)
		}
		e.wantPosted("Step(s) checkout/b had started and never finished; they are not re-run unless you press Resume.")
		e.svc.Tick(e.ctx)
		waitEngine(t, e.svc)
		if n := len(e.ex.Calls()); n != 0 {
			t.Fatalf("%d step(s) ran without anyone resuming", n)
		}

		if failure, err := e.svc.Resume(e.ctx, person("req"), r.ID); err != nil || failure != nil {
			t.Fatalf("resume: %q %v", failure, err)
		}
		e.finish(r.ID, rollback.StateSucceeded)
		if got := startedOrder(e.ex.Log()); !slices.Equal(got, []string{"checkout/b", "checkout/c"}) {
			t.Fatalf("after Resume the executor ran %v, want b again then c", got)
		}
		e.wantPosted("On their say-so, step(s) checkout/b, in flight when Backout stopped, run again.")
	})
}

func TestDoubleResumeRunsOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook})
		latch := incidenttest.NewLatch()
		t.Cleanup(latch.ReleaseAll)
		e.ex.On("b", latch.Block)
		r := e.crashed()
		e.b.freeLease(t, e.st, e.clock, store.LeaseName(r.ID), 15*time.Second)
		e.svc.Tick(e.ctx)

		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if failure, err := e.svc.Resume(e.ctx, person("req"), r.ID); err != nil {
					t.Errorf("resume: %q %v", failure, err)
				}
			})
		}
		wg.Wait()
		if err := e.ex.WaitStarted(within(t), "b"); err != nil {
			t.Fatal(err)
		}
		// The run must still hold its lease: the losing click must not
		// have released it.
		if _, err := e.st.AcquireLease(e.ctx, store.LeaseName(r.ID), "other", time.Minute, 0); !errors.Is(err, store.ErrLeaseHeld) {
			t.Fatalf("another holder got the lease of a running rollback: %v", err)
		}
		latch.ReleaseAll()
		e.finish(r.ID, rollback.StateSucceeded)
		if got := startedOrder(e.ex.Log()); !slices.Equal(got, []string{"checkout/b", "checkout/c"}) {
			t.Fatalf("executor ran %v, want b and c once each", got)
		}
	})
}

// With no shutdown grace, a shutdown stops even a non-idempotent step at
// once; its outcome is unknown, so the rollback waits for a person.
func TestShutdownInterruptsAndAnotherProcessResumes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook, shutdownGrace: "0s"})
		latch := incidenttest.NewLatch()
		t.Cleanup(latch.ReleaseAll)
		e.ex.On("b", latch.Block)
		cancel, stopped := e.serve()
		r := e.run()
		if err := e.ex.WaitStarted(within(t), "b"); err != nil {
			t.Fatal(err)
		}
		cancel()
		waitRunReturned(t, stopped)
		if got := e.get(r.ID).State; got != rollback.StateInterrupted {
			t.Fatalf("after shutdown: %s, want interrupted", got)
		}
		if got := e.stepKinds(r.ID, "checkout", "b"); !slices.Equal(got, []string{rollback.StepStarted, rollback.StepInterrupted}) {
			t.Fatalf("b's events %v, want [started interrupted]", got)
		}
		e.wantPosted("Step(s) checkout/b were still running when the shutdown grace (0s) ran out and were stopped: what they did is unknown")
		e.wantPosted("It needs a person: check what those steps did, then Resume or Abort.")
		if _, err := e.svc.Resume(e.ctx, person("req"), r.ID); err == nil || e.get(r.ID).State != rollback.StateInterrupted {
			t.Fatalf("a stopped engine took a Resume: %v, state %s", err, e.get(r.ID).State)
		}

		// The next process, on the same store.
		next := newEnvOn(t, b, e.st.Store, e.clock, setup{runbook: chainRunbook, replica: "replica-next"})
		if failure, err := next.svc.Resume(next.ctx, person("req"), r.ID); err != nil || failure != nil {
			t.Fatalf("resume: %q %v", failure, err)
		}
		next.finish(r.ID, rollback.StateSucceeded)
		if got := startedOrder(next.ex.Log()); !slices.Equal(got, []string{"checkout/b", "checkout/c"}) {
			t.Fatalf("after Resume the executor ran %v", got)
		}
	})
}

// idempotentChain is chainRunbook with b, the step in flight after
// crashed(), declared safe to run twice.
const idempotentChain = `
name: steps
steps:
  - {id: a, uses: fake}
  - {id: b, uses: fake, needs: [a], idempotent: true}
  - {id: c, uses: fake, needs: [b]}
`

// A step that started and never finished runs again without a person only
// when it is idempotent, engine.auto_resume allows it, nobody paused the
// rollback, and Backout has not already resumed it maxAutoResumes times.
func TestAutoResume(t *testing.T) {
	tests := []struct {
		name       string
		runbook    string
		autoResume string
		edit       func(*rollback.Record)
		resumes    bool
		wantPosted string
	}{
		{name: "idempotent step in flight", runbook: idempotentChain, resumes: true,
			wantPosted: "Step(s) checkout/b had started and never finished; they are idempotent, so Backout resumes on its own (automatic resume 1 of 2)."},
		{name: "last automatic resume", runbook: idempotentChain, edit: func(r *rollback.Record) { r.AutoResumes = 1 }, resumes: true,
			wantPosted: "(automatic resume 2 of 2)"},
		{name: "step not idempotent", runbook: chainRunbook,
			wantPosted: "Step(s) checkout/b had started and never finished; they are not re-run unless you press Resume."},
		{name: "auto_resume never", runbook: idempotentChain, autoResume: "never",
			wantPosted: "they are not re-run unless you press Resume."},
		{name: "paused by a person", runbook: idempotentChain, edit: func(r *rollback.Record) { r.Paused = true },
			wantPosted: "they are not re-run unless you press Resume."},
		{name: "resumed twice already", runbook: idempotentChain, edit: func(r *rollback.Record) { r.AutoResumes = 2 },
			wantPosted: "(Backout already resumed it 2 times on its own.)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b, setup{runbook: tt.runbook, autoResume: tt.autoResume})
				var edits []func(*rollback.Record)
				if tt.edit != nil {
					edits = append(edits, tt.edit)
				}
				r := e.crashed(edits...)
				e.b.freeLease(t, e.st, e.clock, store.LeaseName(r.ID), 15*time.Second)
				e.svc.Tick(e.ctx)
				e.wantPosted(tt.wantPosted)
				if !tt.resumes {
					e.svc.Tick(e.ctx)
					waitEngine(t, e.svc)
					if got := e.get(r.ID); got.State != rollback.StateInterrupted || got.ResumeDue {
						t.Fatalf("%s, resume due %v: want interrupted, waiting for a person", got.State, got.ResumeDue)
					}
					if n := len(e.ex.Calls()); n != 0 {
						t.Fatalf("%d step(s) ran without anyone resuming", n)
					}
					return
				}
				got := e.finish(r.ID, rollback.StateSucceeded)
				if ran := startedOrder(e.ex.Log()); !slices.Equal(ran, []string{"checkout/b", "checkout/c"}) {
					t.Fatalf("after the automatic resume the executor ran %v, want b again then c", ran)
				}
				if got.ResumeDue {
					t.Error("the record still says a resume is due")
				}
				e.wantPosted("Backout resumed " + r.ID + " on its own")
				resumed := e.audited("rollback.resumed")
				if len(resumed) != 1 || resumed[0].Actor != "backout" {
					t.Fatalf("audit of the resume: %+v", resumed)
				}
				if kinds := e.stepKinds(r.ID, "checkout", "b"); !slices.Equal(kinds, []string{rollback.StepStarted, rollback.StepInterrupted, rollback.StepStarted, rollback.StepSucceeded}) {
					t.Fatalf("b's events %v", kinds)
				}
			})
		})
	}
}

// A step had failed and its run was compensating when the process died:
// nothing is in flight, but a resume would run the failed step again and
// abandon the compensation, so it waits for a person.
func TestNoAutoResumeAfterAFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: idempotentChain})
		r := e.crashed()
		e.diedAfter(r.ID, rollback.StepEvent{StepID: "b", Kind: rollback.StepFailed, Error: "boom"},
			rollback.StepEvent{StepID: "a", Kind: rollback.StepCompensating})
		e.svc.Tick(e.ctx)
		waitEngine(t, e.svc)
		if got := e.get(r.ID); got.State != rollback.StateInterrupted || got.ResumeDue {
			t.Fatalf("%s, resume due %v: want interrupted, waiting for a person", got.State, got.ResumeDue)
		}
		if n := len(e.ex.Calls()); n != 0 {
			t.Fatalf("%d step(s) ran automatically after a recorded failure", n)
		}
		if failure, err := e.svc.Resume(e.ctx, person("req"), r.ID); err != nil || failure != nil {
			t.Fatalf("resume: %q %v", failure, err)
		}
		e.finish(r.ID, rollback.StateSucceeded)
		e.wantPosted("Step(s) checkout/b, which had failed, run again too.")
	})
}

// The lease of a rollback due to resume is still held (its old driver is
// still letting go, or died holding it): the resume stays due, nothing is
// announced, and it happens once the lease is free.
func TestAutoResumeWaitsForTheLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: idempotentChain})
		r := e.crashed(func(r *rollback.Record) { r.State, r.ResumeDue = rollback.StateInterrupted, true })
		e.svc.Tick(e.ctx) // "dead" still holds the lease
		waitEngine(t, e.svc)
		if got := e.get(r.ID); got.State != rollback.StateInterrupted || !got.ResumeDue || got.AutoResumes != 0 {
			t.Fatalf("with the lease held: %s, resume due %v, %d automatic resumes", got.State, got.ResumeDue, got.AutoResumes)
		}
		if found := e.poster.Find("on its own"); len(found) != 0 {
			t.Fatalf("announced a resume that did not happen: %q", found)
		}
		e.b.freeLease(t, e.st, e.clock, store.LeaseName(r.ID), 15*time.Second)
		e.svc.Tick(e.ctx)
		got := e.finish(r.ID, rollback.StateSucceeded)
		if got.AutoResumes != 1 || got.ResumeDue {
			t.Fatalf("after the lease was free: %d automatic resumes, resume due %v", got.AutoResumes, got.ResumeDue)
		}
		e.wantPosted("Backout resumed " + r.ID + " on its own (automatic resume 1 of 2).")
	})
}

// The store fails between taking the lease and claiming the resume: no
// crash, the lease is let go, and the resume is still due next time.
func TestAutoResumeSurvivesAStoreFault(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: idempotentChain})
		r := e.crashed(func(r *rollback.Record) { r.State, r.ResumeDue = rollback.StateInterrupted, true })
		e.b.freeLease(t, e.st, e.clock, store.LeaseName(r.ID), 15*time.Second)
		e.st.failUpdates.Store(true)
		e.svc.Tick(e.ctx)
		waitEngine(t, e.svc)
		e.st.failUpdates.Store(false)
		if got := e.get(r.ID); got.State != rollback.StateInterrupted || !got.ResumeDue || got.AutoResumes != 0 {
			t.Fatalf("after a store fault: %s, resume due %v, %d automatic resumes", got.State, got.ResumeDue, got.AutoResumes)
		}
		if _, err := e.st.AcquireLease(e.ctx, store.LeaseName(r.ID), "other", time.Minute, 0); err != nil {
			t.Fatalf("the lease was not let go: %v", err)
		}
		e.b.freeLease(t, e.st, e.clock, store.LeaseName(r.ID), time.Minute)
		e.svc.Tick(e.ctx)
		e.finish(r.ID, rollback.StateSucceeded)
	})
}

// An Abort that arrives while another holder still has the lease of an
// interrupted rollback is not lost: once the lease is free, a Tick ends it.
func TestAbortOfAnInterruptedRollbackWhileItsLeaseIsHeld(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: idempotentChain})
		r := e.crashed(func(r *rollback.Record) { r.State, r.ResumeDue = rollback.StateInterrupted, true })
		if failure, err := e.svc.Abort(e.ctx, person("req"), r.ID, "wrong release"); err != nil || failure != nil {
			t.Fatalf("abort: %q %v", failure, err)
		}
		if got := e.get(r.ID).State; got != rollback.StateInterrupted {
			t.Fatalf("with the lease held elsewhere the abort ended it at once (%s)", got)
		}
		e.b.freeLease(t, e.st, e.clock, store.LeaseName(r.ID), 15*time.Second)
		e.svc.Tick(e.ctx)
		e.finish(r.ID, rollback.StateAborted)
		if n := len(e.ex.Calls()); n != 0 {
			t.Fatalf("%d step(s) ran on a rollback someone aborted", n)
		}
	})
}

// After a failure whose compensation undid an earlier step, a person's
// Resume runs the undone step again, not only the failed one: otherwise
// the rollback would end "succeeded" with part of it undone.
func TestResumeAfterCompensationRerunsUndoneSteps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook})
		r := e.crashed()
		e.diedAfter(r.ID, rollback.StepEvent{StepID: "b", Kind: rollback.StepFailed, Error: "boom"},
			rollback.StepEvent{StepID: "a", Kind: rollback.StepCompensating}, rollback.StepEvent{StepID: "a", Kind: rollback.StepCompensated})
		if failure, err := e.svc.Resume(e.ctx, person("req"), r.ID); err != nil || failure != nil {
			t.Fatalf("resume: %q %v", failure, err)
		}
		e.finish(r.ID, rollback.StateSucceeded)
		if got := startedOrder(e.ex.Log()); !slices.Equal(got, []string{"checkout/a", "checkout/b", "checkout/c"}) {
			t.Fatalf("after Resume the executor ran %v, want a (undone), b (failed), then c", got)
		}
		e.wantPosted("Step(s) checkout/a, which compensation had undone, run again too.")
	})
}

// A person's Resume while another holder still has the lease is answered,
// not dropped.
func TestResumeWhileTheLeaseIsHeld(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook})
		r := e.crashed(func(r *rollback.Record) { r.State = rollback.StateInterrupted })
		failure, err := e.svc.Resume(e.ctx, person("req"), r.ID)
		if err != nil || !strings.Contains(failure.String(), "held by another Backout replica") {
			t.Fatalf("resume with the lease held: %q %v", failure, err)
		}
		if found := e.poster.Find("resumed " + r.ID); len(found) != 0 {
			t.Fatalf("announced a resume that did not happen: %q", found)
		}
	})
}

// undoChain is chainRunbook with an undo for a.
const undoChain = `
name: steps
steps:
  - {id: a, uses: fake, compensate: {uses: fake}}
  - {id: b, uses: fake, needs: [a]}
  - {id: c, uses: fake, needs: [b]}
`

// TestUndoInFlightIsNotRunAgain: the driver died while an abort's
// compensation of a ran (found by killing a bot serve replica with kill -9
// mid-undo: the replica that took over ran the undo again on its next
// Tick, and the thread never said it had been in flight). A compensation
// has no idempotent flag, so nobody said a second run is safe: the taker
// records its outcome as unknown, does not run it again, and the abort's
// outcome names it as not undone.
func TestUndoInFlightIsNotRunAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: undoChain})
		r := e.crashed(func(r *rollback.Record) { r.AbortBy, r.AbortReason = "req", "wrong release" })
		e.diedAfter(r.ID, rollback.StepEvent{StepID: "b", Kind: rollback.StepFailed, Error: "aborted by a person"},
			rollback.StepEvent{StepID: "a", Kind: rollback.StepCompensating, Output: "aborted"})
		got := e.finish(r.ID, rollback.StateAborted)
		if calls := e.ex.CallsOf("a.compensate"); len(calls) != 0 {
			t.Errorf("the undo of a ran again after its driver died mid-undo (%d call(s))", len(calls))
		}
		wantKinds := []string{rollback.StepStarted, rollback.StepSucceeded, rollback.StepCompensating, rollback.StepCompensationStopped}
		if kinds := e.stepKinds(r.ID, "checkout", "a"); !slices.Equal(kinds, wantKinds) {
			t.Errorf("a's events %v, want %v", kinds, wantKinds)
		}
		want := "aborted by req: wrong release; not undone: checkout/a (undo outcome unknown: its driver stopped while it ran)"
		if got.Outcome != want {
			t.Errorf("outcome %q, want %q", got.Outcome, want)
		}
		e.wantPosted("The undo of checkout/a had started and never finished")
	})
}

// TestResumeRefusedWhileAnAbortIsPending: someone asked to abort a
// rollback whose driver died; until a Tick ends it, it sits interrupted
// with the abort recorded (found through bot serve replicas: the thread
// offered "Resume or Abort?" under the abort, and a Resume pressed then was
// answered "RB-6 resumes.", audited as resumed and started a run that
// raced the abort to the first step). Resume is refused, the thread does
// not offer it, and the rollback ends aborted with nothing run.
func TestResumeRefusedWhileAnAbortIsPending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook})
		r := e.crashed(func(r *rollback.Record) {
			r.State, r.AbortBy, r.AbortReason = rollback.StateInterrupted, "req", "wrong release"
		})
		e.b.freeLease(t, e.st, e.clock, store.LeaseName(r.ID), 15*time.Second)
		failure, err := e.svc.Resume(e.ctx, person("alice"), r.ID)
		if err != nil || !strings.Contains(failure.String(), "asked to abort it") {
			t.Errorf("resume with an abort pending: %q %v, want a refusal", failure, err)
		}
		waitEngine(t, e.svc)
		if found := e.poster.Find("resumed " + r.ID); len(found) != 0 {
			t.Errorf("announced a resume of a rollback being aborted: %q", found)
		}
		e.svc.Tick(e.ctx)
		e.finish(r.ID, rollback.StateAborted)
		if calls := e.ex.Calls(); len(calls) != 0 {
			t.Errorf("%d step(s) ran on a rollback someone aborted: %v", len(calls), calls)
		}
	})
}

// TestInterruptedUnderAnAbortOffersNoResume: the driver of a rollback
// someone asked to abort died; the thread says the abort ends it, not
// "Resume or Abort?".
func TestInterruptedUnderAnAbortOffersNoResume(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook})
		r := e.crashed(func(r *rollback.Record) { r.AbortBy, r.AbortReason = "req", "wrong release" })
		e.diedAfter(r.ID)
		e.finish(r.ID, rollback.StateAborted)
		for _, text := range e.poster.Find(r.ID + " was interrupted") {
			if strings.Contains(text, "Resume") {
				t.Errorf("the interruption note offers Resume though an abort was asked for: %q", text)
			}
		}
		e.wantPosted("The abort asked for ends it")
	})
}

// TestInterruptedTwiceStillNeedsAPerson: a replica that interrupts an
// orphan marks the steps in flight interrupted, then moves the record; if
// it dies (or the store fails) between the two, the rollback is still
// running and the next replica interrupts it again. The step it finds
// marked is no longer "in flight", but its outcome is still unknown: a
// step that is not idempotent must still wait for a person's Resume.
func TestInterruptedTwiceStillNeedsAPerson(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook})
		r := e.crashed()
		e.diedAfter(r.ID, rollback.StepEvent{StepID: "b", Kind: rollback.StepInterrupted, Error: "outcome unknown: its driver stopped"})
		waitEngine(t, e.svc) // the same Tick would resume it on its own
		if calls := e.ex.CallsOf("b"); len(calls) != 0 {
			t.Fatalf("b (not idempotent, outcome unknown) ran again without a person: %v", calls)
		}
		got := e.get(r.ID)
		if got.State != rollback.StateInterrupted || got.ResumeDue {
			t.Fatalf("after the second interruption: %s, resume due %t; want interrupted, waiting for a person", got.State, got.ResumeDue)
		}
		e.svc.Tick(e.ctx)
		waitEngine(t, e.svc)
		if calls := e.ex.CallsOf("b"); len(calls) != 0 {
			t.Fatalf("b (not idempotent, outcome unknown) ran again without a person: %v", calls)
		}
		e.wantPosted("Step(s) checkout/b had started and never finished; they are not re-run unless you press Resume.")
	})
}
