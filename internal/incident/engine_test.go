package incident_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/rollback"
)

// run proposes checkout and approves it: the engine starts.
func (e *env) run() *rollback.Record {
	e.t.Helper()
	e.deploy("checkout", "1.0.0", "1.1.0")
	r := e.propose(checkout())
	e.approve(r.ID, "alice", "bob")
	return r
}

func TestStepsRunInNeedsOrderAndOverlap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: `
name: steps
steps:
  - {id: c, uses: fake, needs: [a, b]}
  - {id: a, uses: fake}
  - {id: b, uses: fake}
`})
		// a and b each wait until the other has started: a serial engine
		// would have them wait forever, so the wait is bounded and fails.
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit/3)
		defer cancel()
		barrier := func(other string) incidenttest.Behaviour {
			return func(context.Context, exec.Request) (exec.Result, error) {
				return exec.Result{}, e.ex.WaitStarted(ctx, other)
			}
		}
		e.ex.On("a", barrier("b")).On("b", barrier("a"))
		r := e.run()
		e.finish(r.ID, rollback.StateSucceeded)
		log := e.ex.Log()
		for _, dep := range []string{"a", "b"} {
			if index(log, "end checkout/"+dep) > index(log, "start checkout/c") {
				t.Fatalf("c started before %s ended: %v", dep, log)
			}
		}
	})
}

func TestParallelismIsBounded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) { testParallelismIsBounded(t, b) })
}

func testParallelismIsBounded(t *testing.T, b backend) {
	e := newEnv(t, b, setup{parallelism: 2, runbook: `
name: steps
steps:
  - {id: s1, uses: fake}
  - {id: s2, uses: fake}
  - {id: s3, uses: fake}
  - {id: s4, uses: fake}
`})
	latch := incidenttest.NewLatch()
	t.Cleanup(latch.ReleaseAll)
	for _, id := range []string{"s1", "s2", "s3", "s4"} {
		e.ex.On(id, latch.Block)
	}
	r := e.run()
	ctx := within(t)
	// Let one step go at a time, each time once the engine has had room
	// to fill its slots: an unbounded engine would start all four.
	for remaining := 4; remaining > 0; remaining-- {
		if err := e.ex.WaitInFlight(ctx, min(2, remaining)); err != nil {
			t.Fatal(err)
		}
		if err := latch.ReleaseOne(ctx); err != nil {
			t.Fatal(err)
		}
	}
	e.finish(r.ID, rollback.StateSucceeded)
	if got := e.ex.MaxInFlight(); got != 2 {
		t.Fatalf("at most %d steps ran at once, want exactly 2", got)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		retries  int
		do       incidenttest.Behaviour
		state    rollback.State
		attempts int
	}{
		{"retryable then success", 2, incidenttest.FailRetryable(2), rollback.StateSucceeded, 3},
		{"retryable beyond the count", 2, incidenttest.FailRetryable(3), rollback.StateFailed, 3},
		{"not retryable", 2, incidenttest.Fail("exit status 1"), rollback.StateFailed, 1},
		{"no retries", 0, incidenttest.FailRetryable(1), rollback.StateFailed, 1},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, b, setup{runbook: fmt.Sprintf(`
name: steps
steps:
  - {id: flaky, uses: fake, retries: {max: %d, backoff: 1ms, max_backoff: 2ms}}
`, tc.retries)})
				e.ex.On("flaky", tc.do)
				r := e.run()
				e.finish(r.ID, tc.state)
				calls := e.ex.CallsOf("flaky")
				if len(calls) != tc.attempts {
					t.Fatalf("%d attempt(s), want %d", len(calls), tc.attempts)
				}
				for i, c := range calls {
					if c.Attempt != i+1 {
						t.Fatalf("call %d has attempt %d", i, c.Attempt)
					}
				}
				kinds := e.stepKinds(r.ID, "checkout", "flaky")
				if n := count(kinds, rollback.StepRetrying); n != tc.attempts-1 {
					t.Fatalf("events %v: %d retrying, want %d", kinds, n, tc.attempts-1)
				}
			})
		}
	})
}

func count(xs []string, x string) (n int) {
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func TestIfFalseSkips(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: `
name: steps
steps:
  - {id: payments-only, uses: fake, if: '{{ eq .Service.Name "payments" }}'}
  - {id: after, uses: fake, needs: [payments-only]}
`})
		r := e.run()
		if !r.Services[0].Steps[0].Skipped {
			t.Error("the plan does not show the step as skipped")
		}
		e.finish(r.ID, rollback.StateSucceeded)
		if got := e.stepKinds(r.ID, "checkout", "payments-only"); !slices.Equal(got, []string{rollback.StepSkipped}) {
			t.Fatalf("skipped step events %v", got)
		}
		if got := startedOrder(e.ex.Log()); !slices.Equal(got, []string{"checkout/after"}) {
			t.Fatalf("executor ran %v, want only after", got)
		}
	})
}

func TestOnFailure(t *testing.T) {
	tests := []struct {
		policy       string
		state        rollback.State
		dRuns        bool
		compensation bool
	}{
		{"continue", rollback.StateSucceeded, true, false},
		{"abort", rollback.StateFailed, false, false},
		{"compensate", rollback.StateFailed, false, true},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range tests {
			t.Run(tc.policy, func(t *testing.T) {
				e := newEnv(t, b, setup{runbook: fmt.Sprintf(`
name: steps
steps:
  - {id: a, uses: fake, compensate: {uses: fake}}
  - {id: b, uses: fake, compensate: {uses: fake}}
  - {id: c, uses: fake, needs: [a, b], on_failure: %s, compensate: {uses: fake}}
  - {id: d, uses: fake, needs: [c]}
`, tc.policy)})
				e.ex.On("c", incidenttest.Fail("boom"))
				r := e.run()
				e.finish(r.ID, tc.state)
				started := startedOrder(e.ex.Log())
				if slices.Contains(started, "checkout/d") != tc.dRuns {
					t.Fatalf("d ran: %v, want %v (log %v)", !tc.dRuns, tc.dRuns, started)
				}
				var comps []string
				for _, s := range started {
					if step, ok := strings.CutSuffix(s, ".compensate"); ok {
						comps = append(comps, step)
					}
				}
				if !tc.compensation {
					if len(comps) > 0 {
						t.Fatalf("compensations ran: %v", comps)
					}
					return
				}
				// Reverse order of recorded completion; c never completed.
				want := e.succeededOrder(r.ID)
				slices.Reverse(want)
				if !slices.Equal(comps, want) {
					t.Fatalf("compensations %v, want %v", comps, want)
				}
				if got := e.stepKinds(r.ID, "checkout", "a"); !slices.Equal(got, []string{rollback.StepStarted, rollback.StepSucceeded, rollback.StepCompensating, rollback.StepCompensated}) {
					t.Fatalf("a's events %v", got)
				}
			})
		}
	})
}

// succeededOrder lists service/step in the order their success was recorded.
func (e *env) succeededOrder(id string) []string {
	e.t.Helper()
	events, err := e.st.ListSteps(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range events {
		if ev.Kind == rollback.StepSucceeded {
			out = append(out, ev.Service+"/"+ev.StepID)
		}
	}
	return out
}

func TestAbortWhileStepBlocked(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		// A long lease: the run must stop because Abort cancels it here,
		// not because a lease renewal much later reads the abort flag.
		e := newEnv(t, b, setup{leaseTTL: "1h", runbook: `
name: steps
steps:
  - {id: a, uses: fake, compensate: {uses: fake}}
  - {id: b, uses: fake, needs: [a]}
  - {id: c, uses: fake, needs: [b]}
`})
		latch := incidenttest.NewLatch()
		t.Cleanup(latch.ReleaseAll)
		e.ex.On("b", latch.Block)
		r := e.run()
		if err := e.ex.WaitStarted(within(t), "b"); err != nil {
			t.Fatal(err)
		}
		if got, err := e.svc.Abort(e.ctx, person("zed"), r.ID, "no"); err != nil || got.String() != "You may not abort "+r.ID+" (checkout). Who may: its requester (@req); the owners (@owen); the approvers of checkout (`permissions.abort`)." {
			t.Fatalf("abort by a stranger: %q %v", got, err)
		}
		if failure, err := e.svc.Abort(e.ctx, person("req"), r.ID, "wrong service"); err != nil || failure != nil {
			t.Fatalf("abort: %q %v", failure, err)
		}
		done := e.finish(r.ID, rollback.StateAborted)
		if done.Outcome != "aborted by req: wrong service" {
			t.Errorf("outcome %q", done.Outcome)
		}
		if calls := e.ex.CallsOf("b"); len(calls) != 1 || !calls[0].Cancelled {
			t.Fatalf("b's context was not cancelled: %+v", calls)
		}
		if got := startedOrder(e.ex.Log()); !slices.Equal(got, []string{"checkout/a", "checkout/b", "checkout/a.compensate"}) {
			t.Fatalf("executor ran %v, want a, b, then a's compensation", got)
		}
		if len(e.audited("rollback.abort_requested")) != 1 {
			t.Error("the abort is not audited")
		}
	})
}

func TestPauseAndResume(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: `
name: steps
steps:
  - {id: a, uses: fake}
  - {id: b, uses: fake, needs: [a]}
`})
		latch := incidenttest.NewLatch()
		t.Cleanup(latch.ReleaseAll)
		e.ex.On("a", latch.Block)
		r := e.run()
		ctx := within(t)
		if err := e.ex.WaitStarted(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if failure, err := e.svc.Pause(e.ctx, person("req"), r.ID); err != nil || failure != nil {
			t.Fatalf("pause: %q %v", failure, err)
		}
		latch.ReleaseAll()
		if err := e.poster.WaitFor(ctx, r.ID+" is holding: no new step starts until Resume."); err != nil {
			t.Fatal(err)
		}
		if got := startedOrder(e.ex.Log()); !slices.Equal(got, []string{"checkout/a"}) {
			t.Fatalf("while paused the executor ran %v", got)
		}
		// No start follows to carry a's end: holding must not leave it unwritten.
		if got := e.stepKinds(r.ID, "checkout", "a"); !slices.Equal(got, []string{rollback.StepStarted, rollback.StepSucceeded}) {
			t.Fatalf("while holding, a's log is %v", got)
		}
		if got := e.get(r.ID); got.State != rollback.StateRunning || !got.Paused {
			t.Fatalf("paused rollback: %s paused=%v", got.State, got.Paused)
		}
		if failure, err := e.svc.Resume(e.ctx, person("req"), r.ID); err != nil || failure != nil {
			t.Fatalf("resume: %q %v", failure, err)
		}
		e.finish(r.ID, rollback.StateSucceeded)
		if got := startedOrder(e.ex.Log()); !slices.Equal(got, []string{"checkout/a", "checkout/b"}) {
			t.Fatalf("executor ran %v", got)
		}
		if len(e.audited("rollback.paused")) != 1 || len(e.audited("rollback.unpaused")) != 1 {
			t.Error("pause and resume are not both audited")
		}
	})
}

func TestGate(t *testing.T) {
	const runbook = `
name: steps
steps:
  - {id: migrate, uses: fake, gate: {group: dba, timeout: %s}}
`
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Run("signed off", func(t *testing.T) {
			e := newEnv(t, b, setup{runbook: fmt.Sprintf(runbook, "1m")})
			r := e.run()
			if err := e.poster.WaitFor(within(t), "Step migrate of checkout waits for sign-off from dba."); err != nil {
				t.Fatal(err)
			}
			refusals := []struct{ user, want string }{
				{"bob", "The gate at checkout/migrate needs sign-off from dba; you are not a member."},
				{"req", "You proposed " + r.ID + ", so your sign-off does not count at its gate. Who may: another member of dba."},
			}
			for _, tc := range refusals {
				if got, err := e.svc.SignGate(e.ctx, person(tc.user), r.ID, "checkout/migrate"); err != nil || got.String() != tc.want {
					t.Fatalf("sign-off by %s: %q %v, want %q", tc.user, got, err, tc.want)
				}
			}
			if len(e.ex.Calls()) != 0 {
				t.Fatal("the gated step ran before sign-off")
			}
			wrong := r.ID + " has no gate at checkout/migrat; waiting for sign-off: checkout/migrate."
			if got, err := e.svc.SignGate(e.ctx, person("dan"), r.ID, "checkout/migrat"); err != nil || got.String() != wrong {
				t.Fatalf("sign-off of a gate that is not there: %q %v, want %q", got, err, wrong)
			}
			if got, err := e.svc.SignGate(e.ctx, person("dan"), r.ID, "checkout/migrate"); err != nil || got != nil {
				t.Fatalf("sign-off by dan: %q %v", got, err)
			}
			passed := "The gate at checkout/migrate of " + r.ID + " has passed already."
			if got, err := e.svc.SignGate(e.ctx, person("dan"), r.ID, "checkout/migrate"); err != nil || got.String() != passed {
				t.Fatalf("sign-off of a passed gate: %q %v, want %q", got, err, passed)
			}
			e.finish(r.ID, rollback.StateSucceeded)
			want := []string{rollback.StepGateWaiting, rollback.StepGatePassed, rollback.StepStarted, rollback.StepSucceeded}
			if got := e.stepKinds(r.ID, "checkout", "migrate"); !slices.Equal(got, want) {
				t.Fatalf("migrate events %v, want %v", got, want)
			}
			if a := e.audited("gate.signed"); len(a) != 1 || a[0].Actor != "dan" {
				t.Fatalf("gate.signed audit: %+v", a)
			}
		})
		t.Run("times out", func(t *testing.T) {
			e := newEnv(t, b, setup{runbook: fmt.Sprintf(runbook, "200ms")})
			r := e.run()
			done := e.finish(r.ID, rollback.StateFailed)
			if !strings.Contains(done.Outcome, "gate: no sign-off from dba within 200ms") {
				t.Fatalf("outcome %q", done.Outcome)
			}
			// Its gate never passed, but no gate of an ended rollback waits.
			closed := r.ID + " is failed; its gate no longer takes sign-off."
			for _, key := range []string{"checkout/migrate", "checkout/other"} {
				if got, err := e.svc.SignGate(e.ctx, person("dan"), r.ID, key); err != nil || got.String() != closed {
					t.Errorf("sign-off at %s after the end: %q %v, want %q", key, got, err, closed)
				}
			}
			if len(e.ex.Calls()) != 0 {
				t.Fatal("the gated step ran without sign-off")
			}
		})
	})
}

// A chain costs one durable write per step: each step's end goes with the
// next step's start. What makes that safe is checked here: when a step
// runs, the ends of the steps it needs are already in the log.
func TestStepEndsRideWithTheNextStart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: `
name: steps
steps:
  - {id: s1, uses: fake}
  - {id: s2, uses: fake, needs: [s1]}
  - {id: s3, uses: fake, needs: [s2]}
  - {id: s4, uses: fake, needs: [s3], if: "false"}
  - {id: s5, uses: fake, needs: [s4]}
`})
		needsEnded := func(need string) incidenttest.Behaviour {
			return func(ctx context.Context, req exec.Request) (exec.Result, error) {
				events, err := e.st.ListSteps(ctx, req.RollbackID)
				if err != nil {
					return exec.Result{}, err
				}
				for _, ev := range events {
					if ev.StepID == need && (ev.Kind == rollback.StepSucceeded || ev.Kind == rollback.StepSkipped) {
						return exec.Result{}, nil
					}
				}
				return exec.Result{}, fmt.Errorf("%s runs but the log has no end of %s: %v", req.StepID, need, events)
			}
		}
		e.ex.On("s2", needsEnded("s1")).On("s3", needsEnded("s2")).On("s5", needsEnded("s4"))
		before := e.st.writes.Load()
		r := e.run()
		e.finish(r.ID, rollback.StateSucceeded)
		// Four starts, each carrying the previous end (s4 is skipped: its
		// end rides with s5's start), and s5's end alone.
		if got := e.st.writes.Load() - before; got != 5 {
			t.Errorf("a five-step chain took %d step-log writes, want 5", got)
		}
		for _, step := range []string{"s1", "s2", "s3", "s5"} {
			if got := e.stepKinds(r.ID, "checkout", step); !slices.Equal(got, []string{rollback.StepStarted, rollback.StepSucceeded}) {
				t.Errorf("%s logged %v", step, got)
			}
		}
		if got := e.stepKinds(r.ID, "checkout", "s4"); !slices.Equal(got, []string{rollback.StepSkipped}) {
			t.Errorf("s4 logged %v", got)
		}
		// The log reads as it happened: each end before the next start.
		events, err := e.st.ListSteps(e.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, ev := range events {
			order = append(order, ev.Kind+" "+ev.StepID)
		}
		want := []string{"started s1", "succeeded s1", "started s2", "succeeded s2", "started s3", "succeeded s3",
			"skipped s4", "started s5", "succeeded s5"}
		if !slices.Equal(order, want) {
			t.Errorf("step log:\n got %v\nwant %v", order, want)
		}
	})
}

// A running step's output reaches the log and the message while it runs,
// paced by engine.output_every, and never after the step's end.
func TestLiveOutput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{outputEvery: "20ms", runbook: `
name: steps
steps:
  - {id: migrate, uses: fake}
`})
		e.ex.On("migrate", func(ctx context.Context, req exec.Request) (exec.Result, error) {
			req.Progress("applying 0042_drop_index")
			req.Progress("42 of 57 rows batches done")
			// Every line so far, not only the newest, must be shown before
			// the step ends.
			if err := e.poster.WaitForUpdate(ctx, "\napplying 0042_drop_index\n42 of 57 rows batches done"); err != nil {
				return exec.Result{}, err
			}
			req.Progress("last words")
			return exec.Result{Output: "done"}, nil
		})
		r := e.run()
		e.finish(r.ID, rollback.StateSucceeded)
		kinds := e.stepKinds(r.ID, "checkout", "migrate")
		if len(kinds) < 3 || kinds[0] != rollback.StepStarted || kinds[1] != rollback.StepOutput || kinds[len(kinds)-1] != rollback.StepSucceeded {
			t.Fatalf("migrate logged %v: want started, output..., succeeded", kinds)
		}
		events, err := e.st.ListSteps(e.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var live []string
		for _, ev := range events {
			if ev.Kind == rollback.StepOutput {
				live = append(live, ev.Output)
			}
		}
		if got := strings.Join(live, "\n"); !strings.HasPrefix(got, "applying 0042_drop_index\n42 of 57 rows batches done") {
			t.Errorf("output records %q", live)
		}
	})
}

// TestSteerWhileAborting: once someone asked to abort a paused rollback, and
// its step is still stopping (a process in its kill grace), Resume, Pause
// and a second Abort each say who asked and that it ends aborted; nothing is
// announced again. Before, Resume answered as if it resumed ("resumed
// RB-1"), a second Abort announced a reason the record never kept, and
// Pause called the rollback "running; only a running rollback can be paused".
func TestSteerWhileAborting(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{leaseTTL: "1h", runbook: `
name: steps
steps:
  - {id: a, uses: fake}
  - {id: b, uses: fake, needs: [a]}
`})
		// a ignores the cancel until let go, as a process that traps SIGTERM.
		stop := make(chan struct{})
		t.Cleanup(func() { close(stop) })
		e.ex.On("a", func(ctx context.Context, _ exec.Request) (exec.Result, error) {
			<-stop
			return exec.Result{}, fmt.Errorf("killed: %w", ctx.Err())
		})
		r := e.run()
		if err := e.ex.WaitStarted(within(t), "a"); err != nil {
			t.Fatal(err)
		}
		if failure, err := e.svc.Pause(e.ctx, person("req"), r.ID); err != nil || failure != nil {
			t.Fatalf("pause: %q %v", failure, err)
		}
		if failure, err := e.svc.Abort(e.ctx, person("req"), r.ID, "wrong service"); err != nil || failure != nil {
			t.Fatalf("abort: %q %v", failure, err)
		}
		stopping := "req asked to abort " + r.ID + " already (wrong service); it is stopping and ends aborted."
		steer := []struct {
			name string
			do   func() (rollback.Words, error)
		}{
			{"abort again", func() (rollback.Words, error) { return e.svc.Abort(e.ctx, person("owen"), r.ID, "still wrong") }},
			{"resume", func() (rollback.Words, error) { return e.svc.Resume(e.ctx, person("owen"), r.ID) }},
			{"pause", func() (rollback.Words, error) { return e.svc.Pause(e.ctx, person("owen"), r.ID) }},
		}
		for _, s := range steer {
			if got, err := s.do(); err != nil || got.String() != stopping {
				t.Errorf("%s: %q %v, want %q", s.name, got, err, stopping)
			}
		}
		if got := e.get(r.ID); got.AbortReason != "wrong service" || !got.Paused {
			t.Errorf("record: abort reason %q, paused %v", got.AbortReason, got.Paused)
		}
		stop <- struct{}{}
		if done := e.finish(r.ID, rollback.StateAborted); done.Outcome != "aborted by req: wrong service" {
			t.Errorf("outcome %q", done.Outcome)
		}
		if got := e.poster.Find("asked to abort"); len(got) != 1 {
			t.Errorf("the thread heard %d abort requests, want 1: %q", len(got), got)
		}
		if got := e.poster.Find("resumed"); len(got) != 0 {
			t.Errorf("the thread says it resumed: %q", got)
		}
	})
}
