package incident

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/steprequest"
)

const defaultGateTimeout = time.Hour

// runService runs one service's steps in `needs` order, independent steps in
// parallel up to the engine's parallelism. It returns a failure, or "".
func (d *driver) runService(ctx context.Context, c rollback.ServiceChange) string {
	rb, ok := d.s.runbooks[c.Runbook]
	if !ok {
		return fmt.Sprintf("runbook %s is not loaded", c.Runbook)
	}
	svc, _ := d.s.cfg.ServiceByName(c.Service)
	d.mu.Lock()
	r := d.r
	d.mu.Unlock()
	tctx := d.s.templateContext(svc, c, runbook.RollbackInfo{ID: r.ID, Requester: r.Requester, Reason: r.Reason, Trigger: r.Trigger.Kind}, r.Drill, r.DrillMode)

	type result struct {
		id      string
		failure string
		policy  string
	}
	pending := map[string]runbook.Step{}
	// finished is the scheduler's own view, changed only by the results it
	// takes: a step that ends while a scheduling pass is under way must not
	// let the pass start what needs it, past the pause check and ahead of
	// its end's turn in the log.
	finished := map[string]bool{}
	for _, st := range rb.Steps {
		if d.isDone(c.Service, st.ID) {
			finished[st.ID] = true
			continue
		}
		pending[st.ID] = st
	}
	// ready reports whether every step st needs has finished (a failed step
	// under on_failure: continue counts as finished).
	ready := func(st runbook.Step) bool {
		for _, n := range st.Needs {
			if !finished[n] {
				return false
			}
		}
		return true
	}
	running := 0
	results := make(chan result)
	var failure string
	stopScheduling := false
	for len(pending) > 0 || running > 0 {
		if !stopScheduling && ctx.Err() == nil {
			if err := d.waitUnpaused(ctx); err != nil {
				stopScheduling = true
				if failure == "" && ctx.Err() == nil {
					// Steps are left unrun: that must not read as success.
					failure = fmt.Sprintf("%s: could not read the rollback: %v", c.Service, err)
				}
			}
		}
		started := 0
		for _, st := range rb.Steps {
			if stopScheduling || ctx.Err() != nil || running >= d.s.cfg.Engine.Parallelism {
				break
			}
			if _, ok := pending[st.ID]; !ok || !ready(st) {
				continue
			}
			delete(pending, st.ID)
			running++
			started++
			go func(st runbook.Step) {
				f := d.executeStep(ctx, c, rb, st, tctx)
				results <- result{id: st.ID, failure: f, policy: st.Policy()}
			}(st)
		}
		if started == 0 {
			// No start will carry the ends of the steps that just finished:
			// write them now rather than when the running ones end.
			if err := d.flushEnds(ctx); err != nil && failure == "" {
				failure = fmt.Sprintf("%s: %v", c.Service, err)
				stopScheduling = true
			}
		}
		if running == 0 {
			if len(pending) > 0 && !stopScheduling && ctx.Err() == nil {
				var ids []string
				for id := range pending {
					ids = append(ids, id)
				}
				slices.Sort(ids)
				failure = fmt.Sprintf("%s: steps %s cannot run because a step they need failed", c.Service, strings.Join(ids, ", "))
			}
			break
		}
		res := <-results
		running--
		if res.failure == "" {
			finished[res.id] = true
			continue
		}
		if res.policy == runbook.OnFailureContinue && ctx.Err() == nil {
			d.markDone(c.Service, res.id, rollback.StepFailed)
			finished[res.id] = true
			continue
		}
		if failure == "" {
			failure = fmt.Sprintf("%s: step %s %s", c.Service, res.id, res.failure)
		}
		stopScheduling = true
		if res.policy == runbook.OnFailureCompensate {
			defer d.compensate(context.WithoutCancel(ctx), "step "+res.id+" failed")
		}
	}
	if err := d.flushEnds(ctx); err != nil && failure == "" {
		failure = fmt.Sprintf("%s: %v", c.Service, err)
	}
	if failure == "" && ctx.Err() != nil {
		failure = context.Cause(ctx).Error()
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
		r, err := d.s.store.GetRollback(ctx, d.id)
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
			d.s.thread(ctx, r, textMessage(fmt.Sprintf("⏸️ %s is holding: no new step starts until Resume.", d.id)))
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
	ex, err := d.s.executors.Get(st.Uses)
	if err != nil {
		return d.fail(ctx, c.Service, st, 0, err)
	}
	for attempt := 1; ; attempt++ {
		// The request is built before the start is recorded: a `with:` that
		// cannot render fails the step without an attempt. Watching output
		// first is safe, as nothing is written before a line comes.
		live := d.watchOutput(ctx, c.Service, st.ID, attempt)
		req, err := steprequest.New(d.s.cfg, d.s.env).Build(steprequest.Input{Purpose: steprequest.Run, StepID: st.ID,
			Action: st.Action(), Context: tctx, DryRun: steprequest.DryRun(rb, tctx.Drill), Attempt: attempt, Progress: live.add})
		if err != nil {
			return d.fail(ctx, c.Service, st, 0, err)
		}
		if err := d.record(ctx, rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepStarted, Attempt: attempt}); err != nil {
			return err.Error()
		}
		started := d.s.clock.Now()
		res, err := d.invoke(ctx, ex, req)
		live.stop()
		dur := d.s.clock.Now().Sub(started)
		if err == nil {
			d.s.metrics.StepResult(st.Uses, "succeeded")
			d.recordEnd(rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepSucceeded, Attempt: attempt,
				Output: res.Output, ExitCode: res.ExitCode, Duration: dur})
			d.markDone(c.Service, st.ID, rollback.StepSucceeded)
			return ""
		}
		if ctx.Err() == nil && exec.IsRetryable(err) && attempt <= st.Retries.Max {
			wait := backoff(st.Retries, attempt)
			d.s.metrics.StepResult(st.Uses, "retried")
			if rerr := d.record(ctx, rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepRetrying, Attempt: attempt,
				Output: res.Output, ExitCode: res.ExitCode, Error: d.redact(err.Error()), Duration: dur}); rerr != nil {
				return rerr.Error()
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
				continue
			}
		}
		d.s.metrics.StepResult(st.Uses, "failed")
		return d.failWith(ctx, c.Service, st, attempt, err, res, dur)
	}
}

func (d *driver) invoke(ctx context.Context, ex exec.Executor, req exec.Request) (exec.Result, error) {
	sctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	return ex.Run(sctx, req)
}

func (d *driver) redact(s string) string { return exec.Redact(s, d.s.secrets()) }

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
	d.mu.Lock()
	d.failed = append(d.failed, service+"/"+st.ID)
	d.mu.Unlock()
	return "failed: " + msg
}

// backoff is exponential with full jitter, capped.
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
	s := d.s
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
	msg := st.Gate.Message
	if msg == "" {
		msg = fmt.Sprintf("Step %s of %s waits for sign-off from %s.", st.ID, service, st.Gate.Group)
	}
	s.threadMessage(ctx, r, chat.Message{Text: "🔒 " + msg, Sections: []chat.Section{{Text: "🔒 " + msg}},
		Buttons:  []chat.Button{{ActionID: "gate", Text: "Sign off (" + st.Gate.Group + ")", Value: d.id + "|" + key, Style: chat.StylePrimary}},
		Mentions: []string{st.Gate.Group}})
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
func (d *driver) compensate(ctx context.Context, why string) {
	d.compMu.Lock()
	defer d.compMu.Unlock()
	// The order of completion is read back from the log: it must be whole.
	d.flushEndsOrLog(ctx, "compensating")
	d.mu.Lock()
	completed := slices.Clone(d.completed)
	r := d.r
	d.mu.Unlock()
	if r == nil {
		return
	}
	if events, err := d.s.store.ListSteps(ctx, d.id); err == nil {
		completed = completedInOrder(events)
	}
	slices.Reverse(completed)
	for _, key := range completed {
		service, stepID, _ := strings.Cut(key, "/")
		if d.isDone(service, stepID+"#compensated") {
			continue
		}
		change, rb, st, ok := d.lookupStep(r, service, stepID)
		if !ok || st.Compensate == nil {
			continue
		}
		d.compensateStep(ctx, r, change, rb, st, why)
	}
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
		rb := d.s.runbooks[c.Runbook]
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

func (d *driver) compensateStep(ctx context.Context, r *rollback.Record, c rollback.ServiceChange, rb *runbook.Runbook, st runbook.Step, why string) {
	svc, _ := d.s.cfg.ServiceByName(c.Service)
	tctx := d.s.templateContext(svc, c, runbook.RollbackInfo{ID: r.ID, Requester: r.Requester, Reason: r.Reason, Trigger: r.Trigger.Kind}, r.Drill, r.DrillMode)
	_ = d.record(ctx, rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepCompensating, Output: why})
	ex, err := d.s.executors.Get(st.Compensate.Uses)
	var res exec.Result
	if err == nil {
		var req exec.Request
		req, err = steprequest.New(d.s.cfg, d.s.env).Build(steprequest.Input{Purpose: steprequest.Run, StepID: st.ID + ".compensate",
			Action: *st.Compensate, Context: tctx, DryRun: steprequest.DryRun(rb, tctx.Drill), Attempt: 1})
		if err == nil {
			res, err = d.invoke(ctx, ex, req)
		}
	}
	if err != nil {
		_ = d.record(ctx, rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepCompensationFailed, Output: res.Output, Error: d.redact(err.Error())})
		return
	}
	_ = d.record(ctx, rollback.StepEvent{Service: c.Service, StepID: st.ID, Kind: rollback.StepCompensated, Output: res.Output})
	d.markDone(c.Service, st.ID+"#compensated", rollback.StepCompensated)
}

// validate runs the validation checks of each service and stores results.
func (d *driver) validate(ctx context.Context, changes []rollback.ServiceChange) string {
	s := d.s
	var failures []string
	for _, c := range changes {
		rb := s.runbooks[c.Runbook]
		if rb == nil || rb.Validation == nil || len(rb.Validation.Checks) == 0 || s.checks == nil {
			continue
		}
		d.mu.Lock()
		r := d.r
		d.mu.Unlock()
		var checks []runbook.Check
		for _, chk := range rb.Validation.Checks {
			req, err := s.checkRequest(r, c, chk.With)
			if err != nil {
				failures = append(failures, fmt.Sprintf("%s: %s: %v", c.Service, chk.Name, err))
				continue
			}
			chk.With = req.With
			checks = append(checks, chk)
		}
		req := checkRequestBase(s, r, c)
		// The window bounds the whole validation; a minute of slack lets the
		// last measurement finish.
		vctx, cancel := context.WithTimeout(ctx, rb.Validation.Window.D()+time.Minute)
		results := s.checks.RunChecks(vctx, c.Service, checks, req)
		cancel()
		for _, res := range results {
			s.metrics.ValidationOutcome(res.Name, res.Status)
			if res.Status != "Successful" {
				failures = append(failures, fmt.Sprintf("%s: %s %s (%s)", c.Service, res.Name, res.Status, res.Reason))
			}
		}
		r, err := s.update(context.WithoutCancel(ctx), d.id, func(r *rollback.Record) error {
			r.Validation = append(r.Validation, results...)
			return nil
		})
		if err == nil {
			d.setRecord(r)
			s.threadMessage(ctx, r, ValidationMessage(r, c.Service, results))
			s.notePagerDuty(ctx, r, fmt.Sprintf("Validation of %s for %s: %s", c.Service, r.ID, validationSummary(results)))
		}
	}
	if len(failures) > 0 {
		return "validation failed: " + strings.Join(failures, "; ")
	}
	return ""
}
