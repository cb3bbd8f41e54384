package incident

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/steprequest"
)

const defaultGateTimeout = time.Hour

// runService runs one service's steps in `needs` order, independent steps in
// parallel up to the engine's parallelism. It returns a failure, or "".
func (d *driver) runService(ctx context.Context, c rollback.ServiceChange) string {
	rb, ok := d.e.runbooks[c.Runbook]
	if !ok {
		return fmt.Sprintf("runbook %s is not loaded", c.Runbook)
	}
	svc, _ := d.e.cfg.ServiceByName(c.Service)
	d.mu.Lock()
	r := d.r
	d.mu.Unlock()
	tctx := d.e.planner.templateContext(svc, c, runbook.RollbackInfo{ID: r.ID, Requester: r.Requester, Reason: r.Reason, Trigger: r.Trigger.Kind}, r.Drill, r.DrillMode)

	type result struct {
		step    runbook.Step
		failure string
	}
	sched := newScheduler(rb.Steps, func(id string) bool { return d.isDone(c.Service, id) })
	results := make(chan result)
	var failure string
	fail := func(f string) {
		if failure == "" {
			failure = f
		}
	}
	for sched.busy() {
		if !sched.stopped && ctx.Err() == nil {
			if err := d.waitUnpaused(ctx); err != nil {
				sched.stop()
				if ctx.Err() == nil {
					// Steps are left unrun: that must not read as success.
					fail(fmt.Sprintf("%s: could not read the rollback: %v", c.Service, err))
				}
			}
		}
		var starting []runbook.Step
		if ctx.Err() == nil {
			starting = sched.start(d.e.cfg.Engine.Parallelism)
		}
		for _, st := range starting {
			go func() { results <- result{step: st, failure: d.executeStep(ctx, c, rb, st, tctx)} }()
		}
		if len(starting) == 0 {
			// No start will carry the ends of the steps that just finished:
			// write them now rather than when the running ones end.
			if err := d.flushEnds(ctx); err != nil {
				fail(fmt.Sprintf("%s: %v", c.Service, err))
				sched.stop()
			}
		}
		if sched.running == 0 {
			if ids := sched.stranded(); len(ids) > 0 && ctx.Err() == nil {
				fail(fmt.Sprintf("%s: steps %s cannot run because a step they need failed", c.Service, strings.Join(ids, ", ")))
			}
			break
		}
		res := <-results
		switch sched.finish(res.step, res.failure != "", ctx.Err() != nil) {
		case stepDone:
		case stepTolerated:
			d.markDone(c.Service, res.step.ID, rollback.StepFailed)
		case stepCompensate:
			fail(fmt.Sprintf("%s: step %s %s", c.Service, res.step.ID, res.failure))
			if !errors.Is(context.Cause(ctx), errShutdown) {
				// A replica shutting down hands the rollback on as it is;
				// whoever resumes or aborts it decides about undoing.
				defer d.compensate(d.held, "step "+res.step.ID+" failed") // past an abort, not past the lease
			}
		case stepStops:
			fail(fmt.Sprintf("%s: step %s %s", c.Service, res.step.ID, res.failure))
		}
	}
	if err := d.flushEnds(ctx); err != nil {
		fail(fmt.Sprintf("%s: %v", c.Service, err))
	}
	if ctx.Err() != nil {
		fail(context.Cause(ctx).Error())
	}
	return failure
}

func (d *driver) isDone(service, step string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.done[service+"/"+step]
	return ok
}

func (d *driver) markDone(service, step, kind string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := service + "/" + step
	d.done[key] = kind
	if kind == rollback.StepSucceeded {
		d.completed = append(d.completed, key)
		delete(d.done, key+"#compensated") // run again: it may be undone again
	}
}

// recordMaxAge is how long the driver trusts its copy of the record
// between steps. Pause, Resume and sign-offs on this replica wake it at
// once; one on another replica is seen within this time. Reading the
// record (a whole plan) before every step would make long plans quadratic.
const recordMaxAge = 250 * time.Millisecond

// waitUnpaused blocks while the rollback is paused.
func (d *driver) waitUnpaused(ctx context.Context) error {
	for {
		d.mu.Lock()
		fresh := !d.r.Paused && time.Since(d.readAt) < recordMaxAge
		d.mu.Unlock()
		if stale := d.run.stale.Swap(false); fresh && !stale {
			return nil
		}
		r, err := d.e.store.GetRollback(ctx, d.id)
		if err != nil {
			return err
		}
		d.setRecord(r)
		d.mu.Lock()
		d.readAt = time.Now()
		announce := r.Paused && !d.holding
		d.holding = r.Paused
		d.mu.Unlock()
		if !r.Paused {
			return nil
		}
		// Holding may last: the log must not wait for the next start.
		d.flushEndsOrLog(ctx, "holding")
		if announce {
			// Pause answers at once, but the run only holds once it reaches
			// a step boundary: say when that happens.
			d.e.tell(ctx, rollback.Holding{About: rollback.About{Rollback: r}})
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-d.run.wakeCh:
		case <-time.After(time.Second):
		}
	}
}

// executeStep runs one step with its gate, condition, timeout and retries.
func (d *driver) executeStep(ctx context.Context, c rollback.ServiceChange, rb *runbook.Runbook, st runbook.Step, tctx runbook.Context) string {
	if st.If != "" {
		v, err := runbook.Render(st.If, tctx)
		if err != nil {
			return d.fail(ctx, c.Service, st, 0, fmt.Errorf("if: %w", err))
		}
		if !runbook.Truthy(v) {
			d.recordEnd(rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepSkipped, Output: "condition false: " + st.If})
			d.markDone(c.Service, st.ID, rollback.StepSkipped)
			return ""
		}
	}
	if st.Gate != nil {
		if err := d.gate(ctx, c.Service, st); err != nil {
			return d.fail(ctx, c.Service, st, 0, err)
		}
	}
	if st.Uses == "" {
		d.recordEnd(rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepSucceeded, Output: "gate passed"})
		d.markDone(c.Service, st.ID, rollback.StepSucceeded)
		return ""
	}
	ex, err := d.e.executors.Get(st.Uses)
	if err != nil {
		return d.fail(ctx, c.Service, st, 0, err)
	}
	// A non-idempotent step, once started, may finish while this replica
	// shuts down (within engine.shutdown_grace); an idempotent one is
	// stopped at once and runs again on resume.
	stepCtx := d.stepContext(ctx, st)
	for attempt := 1; ; attempt++ {
		if errors.Is(context.Cause(ctx), errShutdown) {
			// The shutdown began after the scheduler picked this step:
			// it does not start (failWith records nothing for it).
			return d.fail(ctx, c.Service, st, 0, errShutdown)
		}
		// The request is built before the start is recorded: a `with:` that
		// cannot render fails the step without an attempt. Watching output
		// first is safe, as nothing is written before a line comes.
		live := d.watchOutput(ctx, c.Service, st.ID, attempt)
		req, err := d.e.requests.Build(steprequest.Input{Purpose: steprequest.Run, StepID: st.ID,
			Action: st.Action(), Context: tctx, DryRun: steprequest.DryRun(rb, tctx.Drill), Attempt: attempt, Progress: live.add})
		if err != nil {
			return d.fail(ctx, c.Service, st, 0, err)
		}
		if err := d.record(ctx, rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepStarted, Attempt: attempt}); err != nil {
			return err.Error()
		}
		started := d.e.clock.Now()
		stopRunning := d.running(c.Service + "/" + st.ID)
		res, err := d.invoke(stepCtx, ex, req)
		stopRunning()
		live.stop()
		dur := d.e.clock.Now().Sub(started)
		if err == nil {
			d.e.metrics.StepResult(st.Uses, "succeeded")
			d.recordEnd(rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepSucceeded, Attempt: attempt,
				Output: res.Output, ExitCode: res.ExitCode, Duration: dur})
			d.markDone(c.Service, st.ID, rollback.StepSucceeded)
			return ""
		}
		if ctx.Err() == nil && exec.IsRetryable(err) && attempt <= st.Retries.Max {
			// ctx, not stepCtx: no new attempt starts once shutting down.
			wait := backoff(st.Retries, attempt)
			d.e.metrics.StepResult(st.Uses, "retried")
			if rerr := d.record(ctx, rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepRetrying, Attempt: attempt,
				Output: res.Output, ExitCode: res.ExitCode, Error: d.redact(err.Error()), Duration: dur}); rerr != nil {
				return rerr.Error()
			}
			d.tellFailure(ctx, rollback.StepAttemptFailed{Service: c.Service, Step: st.ID, Title: st.Title(), Attempt: attempt, ExitCode: res.ExitCode,
				Error: d.redact(err.Error()), Output: res.Output, Took: dur, RetryIn: wait})
			select {
			case <-ctx.Done():
				// Stopped while waiting to retry: the step stays unfinished
				// (retrying) in the log, and a resume runs it again.
				d.e.metrics.StepResult(st.Uses, "failed")
				return d.failWith(ctx, c.Service, st, attempt, err, res, dur)
			case <-time.After(wait):
				continue
			}
		}
		d.e.metrics.StepResult(st.Uses, "failed")
		// stepCtx: a non-idempotent step that ran to a failure while this
		// replica shut down did fail, and is recorded so.
		return d.failWith(stepCtx, c.Service, st, attempt, err, res, dur)
	}
}

func (d *driver) invoke(ctx context.Context, ex exec.Executor, req exec.Request) (exec.Result, error) {
	// The program starts only before the renew deadline: a bot frozen
	// between recording the start and starting the program may find that
	// another replica took the rollback over meanwhile (the run is cancelled
	// too, but only once a goroutine notices; the executor checks again at
	// the last moment, and on Linux the step's supervisor once more).
	for try := 1; ; try++ {
		req.StartBy = time.Now().Add(d.untilOverdue())
		sctx, cancel := context.WithTimeout(ctx, req.Timeout)
		res, err := ex.Run(sctx, req)
		cancel()
		// Refused, yet the lease was renewed after StartBy was taken, so the
		// deadline has moved on: nothing started, so start it now (once).
		if try == 1 && errors.Is(err, exec.ErrStartBy) && !d.overdue() && ctx.Err() == nil {
			continue
		}
		return res, err
	}
}

func (d *driver) redact(s string) string { return exec.Redact(s, d.e.secrets()) }

func (d *driver) fail(ctx context.Context, service string, st runbook.Step, attempt int, err error) string {
	return d.failWith(ctx, service, st, attempt, err, exec.Result{}, 0)
}

func (d *driver) failWith(ctx context.Context, service string, st runbook.Step, attempt int, err error, res exec.Result, dur time.Duration) string {
	msg := d.redact(err.Error())
	cause := context.Cause(ctx)
	if cause != nil {
		msg = fmt.Sprintf("%s (%v)", msg, cause)
	}
	if errors.Is(cause, errShutdown) {
		// Killed by a shutdown, the step's outcome is unknown: it stays in
		// flight in the log, interrupt records it so, and Resume names it
		// as the step that runs again.
		return "failed: " + msg
	}
	_ = d.record(ctx, rollback.StepEvent{Service: service, StepID: st.ID, Kind: rollback.StepFailed, Attempt: attempt,
		Output: res.Output, ExitCode: res.ExitCode, Error: msg, Duration: dur})
	if cause == nil {
		d.tellFailure(ctx, rollback.StepAttemptFailed{Service: service, Step: st.ID, Title: st.Title(), Attempt: attempt, ExitCode: res.ExitCode,
			Error: msg, Output: res.Output, Took: dur})
	}
	d.mu.Lock()
	d.failed = append(d.failed, service+"/"+st.ID)
	d.mu.Unlock()
	return "failed: " + msg
}

// tellFailure tells the thread about a failed attempt, with its output
// tail, so that people see why without opening logs.
func (d *driver) tellFailure(ctx context.Context, n rollback.StepAttemptFailed) {
	d.mu.Lock()
	n.Rollback = d.r
	d.mu.Unlock()
	d.e.tell(ctx, n)
}

// backoff is exponential with equal jitter (between half and all of the
// exponential delay), capped: never a near-zero wait that hammers a peer.
func backoff(r runbook.Retries, attempt int) time.Duration {
	base := r.Backoff
	if base <= 0 {
		base = time.Second
	}
	limit := r.MaxBackoff
	if limit <= 0 {
		limit = 30 * time.Second
	}
	d := base << min(attempt-1, 20)
	if d > limit || d <= 0 {
		d = limit
	}
	return d/2 + rand.N(d/2+1) //nolint:gosec // jitter, not security
}

// gate opens a sign-off and waits for it.
func (d *driver) gate(ctx context.Context, service string, st runbook.Step) error {
	s := d.e
	key := gateKey(service, st.ID)
	r, err := s.update(ctx, d.id, func(r *rollback.Record) error {
		if r.Gates == nil {
			r.Gates = map[string]rollback.GateState{}
		}
		if _, ok := r.Gates[key]; !ok {
			r.Gates[key] = rollback.GateState{Group: st.Gate.Group, Min: max(st.Gate.Min, 1), OpenedAt: s.clock.Now()}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if r.Gates[key].Passed {
		return nil
	}
	if err := d.record(ctx, rollback.StepEvent{Service: service, StepID: st.ID, Kind: rollback.StepGateWaiting, Output: "waiting for " + st.Gate.Group}); err != nil {
		return err
	}
	s.tell(ctx, rollback.GateWaiting{About: rollback.About{Rollback: r}, Service: service, Step: st.ID, Gate: key, Group: st.Gate.Group, Message: st.Gate.Message})
	timeout := st.Gate.Timeout.D()
	if timeout <= 0 {
		timeout = defaultGateTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r, err := s.store.GetRollback(ctx, d.id)
		if err == nil && r.Gates[key].Passed {
			return d.record(ctx, rollback.StepEvent{Service: service, StepID: st.ID, Kind: rollback.StepGatePassed,
				Output: "signed off by " + strings.Join(r.Gates[key].Signed, ", ")})
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-deadline.C:
			return fmt.Errorf("gate: no sign-off from %s within %s", st.Gate.Group, timeout)
		case <-d.run.wakeCh:
		case <-time.After(time.Second):
		}
	}
}

// compensate runs the compensations of completed steps in reverse order of
// completion, as recorded in the step log (steps finishing together may
// mark themselves done here in another order). It uses its own context: it
// must run even after an abort. Services of one level may fail together,
// so compensations run one at a time and each at most once.
func (d *driver) compensate(ctx context.Context, why string) (notUndone []string) {
	d.compMu.Lock()
	defer d.compMu.Unlock()
	// The order of completion is read back from the log: it must be whole.
	d.flushEndsOrLog(ctx, "compensating")
	d.mu.Lock()
	completed := slices.Clone(d.completed)
	r := d.r
	d.mu.Unlock()
	if r == nil {
		return nil
	}
	var unknown map[string]string
	if events, err := d.e.store.ListSteps(ctx, d.id); err == nil {
		completed, unknown = completedInOrder(events), undoUnknown(events)
	}
	slices.Reverse(completed)
	for _, key := range completed {
		service, stepID, _ := strings.Cut(key, "/")
		if d.isDone(service, stepID+"#compensated") {
			continue
		}
		if why, ok := unknown[key]; ok {
			// Its undo ran before (a driver that died, a grace that ran
			// out) and may have done all, some or none of its work.
			notUndone = append(notUndone, key+" (undo "+why+")")
			continue
		}
		change, rb, st, ok := d.lookupStep(r, service, stepID)
		if !ok || st.Compensate == nil {
			continue
		}
		if problem := d.compensateStep(ctx, r, change, rb, st, why); problem != "" {
			notUndone = append(notUndone, problem)
		}
	}
	return notUndone
}

// completedInOrder lists service/step keys in the order their success was
// recorded, leaving out steps compensated since (a step run again after a
// resume counts from its new success).
func completedInOrder(events []rollback.StepEvent) []string {
	var out []string
	for _, ev := range events {
		key := ev.Service + "/" + ev.StepID
		switch ev.Kind {
		case rollback.StepSucceeded:
			out = append(slices.DeleteFunc(out, func(k string) bool { return k == key }), key)
		case rollback.StepCompensated:
			out = slices.DeleteFunc(out, func(k string) bool { return k == key })
		}
	}
	return out
}

// compensatedSteps lists the steps whose last success was undone by a
// compensation.
func compensatedSteps(events []rollback.StepEvent) []string {
	done := completedInOrder(events)
	var out []string
	for _, ev := range events {
		key := ev.Service + "/" + ev.StepID
		if ev.Kind == rollback.StepCompensated && !slices.Contains(done, key) && !slices.Contains(out, key) {
			out = append(out, key)
		}
	}
	return out
}

func (d *driver) lookupStep(r *rollback.Record, service, stepID string) (rollback.ServiceChange, *runbook.Runbook, runbook.Step, bool) {
	for _, c := range r.Services {
		if c.Service != service {
			continue
		}
		rb := d.e.runbooks[c.Runbook]
		if rb == nil {
			break
		}
		for _, st := range rb.Steps {
			if st.ID == stepID {
				return c, rb, st, true
			}
		}
	}
	return rollback.ServiceChange{}, nil, runbook.Step{}, false
}

// compensateStep runs one step's compensation and records how it ended; it
// returns "" when it ran to success, else what became of it, for the
// rollback's outcome.
func (d *driver) compensateStep(ctx context.Context, r *rollback.Record, c rollback.ServiceChange, rb *runbook.Runbook, st runbook.Step, why string) string {
	svc, _ := d.e.cfg.ServiceByName(c.Service)
	tctx := d.e.planner.templateContext(svc, c, runbook.RollbackInfo{ID: r.ID, Requester: r.Requester, Reason: r.Reason, Trigger: r.Trigger.Kind}, r.Drill, r.DrillMode)
	_ = d.record(ctx, rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepCompensating, Output: why})
	ex, err := d.e.executors.Get(st.Compensate.Uses)
	var res exec.Result
	if err == nil {
		var req exec.Request
		req, err = d.e.requests.Build(steprequest.Input{Purpose: steprequest.Run, StepID: st.ID + ".compensate",
			Action: *st.Compensate, Context: tctx, DryRun: steprequest.DryRun(rb, tctx.Drill), Attempt: 1})
		if err == nil {
			res, err = d.invoke(ctx, ex, req)
		}
	}
	key := c.Service + "/" + st.ID
	if err != nil && errors.Is(context.Cause(ctx), errGraceOver) {
		// Stopped, not failed: the command may have done all, some or
		// none of its work when it was killed.
		stopped := fmt.Sprintf("outcome unknown: stopped when the shutdown grace (%s) ran out", d.e.cfg.Engine.ShutdownGrace.D())
		_ = d.record(context.WithoutCancel(ctx), rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepCompensationStopped, Output: res.Output, Error: stopped})
		return key + " (undo " + stopped + ")"
	}
	if err != nil {
		msg := d.redact(err.Error())
		_ = d.record(ctx, rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepCompensationFailed, Output: res.Output, Error: msg})
		return key + " (undo failed: " + msg + ")"
	}
	_ = d.record(ctx, rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepCompensated, Output: res.Output})
	d.markDone(c.Service, st.ID+"#compensated", rollback.StepCompensated)
	return ""
}

// runValidation runs one service's validation phases: it says how long the
// service settles, then the checks measure after that delay, each
// measurement told as it lands.
func (d *driver) runValidation(ctx context.Context, r *rollback.Record, c rollback.ServiceChange, v *runbook.Validation, checks []runbook.Check) []rollback.CheckResult {
	s := d.e
	req := s.checkRequestBase(c)
	delay := v.InitialDelay.D()
	req.SampleStart = req.Now.Add(delay)
	if delay > 0 {
		s.tell(ctx, rollback.Settling{About: rollback.About{Rollback: r}, Service: c.Service, Delay: delay, Window: v.Window.D(), Checks: len(checks)})
	}
	measured := func(i, n int, m check.Measurement) {
		count, _ := checks[i].Measurements()
		s.tell(ctx, rollback.Measured{About: rollback.About{Rollback: r}, Service: c.Service, Check: checks[i].Name, N: n, Count: count,
			Outcome: string(m.Outcome), Value: m.Value, Bound: m.Bound, Message: m.Message, At: m.At})
	}
	// The window bounds the whole validation, settling included; a minute
	// of slack lets the last measurement finish.
	vctx, cancel := context.WithTimeout(ctx, v.Window.D()+time.Minute)
	defer cancel()
	from, marks := chartMarks(r, c, req.Now)
	return s.checks.RunChecks(vctx, ValidationRun{Service: c.Service, Checks: checks, Request: req, InitialDelay: delay,
		ChartFrom: from, Marks: marks, Measured: measured})
}

// chartMarks are the moments a check's chart shows (those the record
// knows) and where the chart begins: before the bad deploy by a quarter of
// the time since, at least a minute, so the service's normal shows.
func chartMarks(r *rollback.Record, c rollback.ServiceChange, validationStart time.Time) (time.Time, []rollback.ChartMark) {
	var marks []rollback.ChartMark
	alert := r.Trigger.At
	if alert.IsZero() {
		alert = r.DetectedAt
	}
	for _, m := range []rollback.ChartMark{{Label: "bad deploy", At: c.Current.DeployedAt}, {Label: "alert", At: alert},
		{Label: "rollback start", At: r.StartedAt}, {Label: "rollback end", At: validationStart}} {
		if !m.At.IsZero() {
			marks = append(marks, m)
		}
	}
	start := c.Current.DeployedAt
	if start.IsZero() || start.After(validationStart) {
		start = validationStart
	}
	return start.Add(-max(validationStart.Sub(start)/4, time.Minute)), marks
}

// validate runs the validation checks of each service and stores results.
func (d *driver) validate(ctx context.Context, changes []rollback.ServiceChange) string {
	s := d.e
	var failures []string
	for _, c := range changes {
		rb := s.runbooks[c.Runbook]
		if rb == nil || rb.Validation == nil || len(rb.Validation.Checks) == 0 || s.checks == nil {
			continue
		}
		d.mu.Lock()
		r := d.r
		d.mu.Unlock()
		if steprequest.DryRun(rb, drillInfo(r)) {
			d.recordValidation(ctx, c.Service, skippedInDryRun(c.Service, rb.Validation.Checks, s.clock.Now()))
			continue
		}
		var checks []runbook.Check
		for _, chk := range rb.Validation.Checks {
			req, err := s.planner.checkRequest(r, c, chk.With)
			if err != nil {
				failures = append(failures, fmt.Sprintf("%s: %s: %v", c.Service, chk.Name, err))
				continue
			}
			chk.With = req.With
			checks = append(checks, chk)
		}
		results := d.runValidation(ctx, r, c, rb.Validation, checks)
		if r.Drill {
			markShared(results, checks)
		}
		for _, res := range results {
			s.metrics.ValidationOutcome(res.Name, res.Status)
			if res.Status != "Successful" {
				failures = append(failures, fmt.Sprintf("%s: %s %s (%s)", c.Service, res.Name, res.Status, res.Reason))
			}
		}
		d.recordValidation(ctx, c.Service, results)
	}
	if len(failures) > 0 {
		return "validation failed: " + strings.Join(failures, "; ")
	}
	return ""
}
