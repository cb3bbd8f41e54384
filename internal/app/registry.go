// Package app wires Backout together: stores, executors, checks, the
// lifecycle, chat adapters, webhooks and the HTTP server. cmd/bot stays thin.
package app

import (
	"context"
	"fmt"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/validate"
	"github.com/backout/backout/internal/yamlx"
)

// Registries builds the executors and checks a config may use. cmd/bot
// lists them, one by one (no init() registration): what a binary can run
// is read in one place.
type Registries struct {
	Executors func(*config.Config) *exec.Registry
	Checkers  func(*config.Config) *check.Registry
}

// LintKinds resolves `uses:` for runbook lint.
func LintKinds(ex *exec.Registry, checks *check.Registry) runbook.Kinds {
	return runbook.Kinds{
		Executor: func(name string) (runbook.WithValidator, error) { return ex.Get(name) },
		Checker:  func(name string) (runbook.WithValidator, error) { return checks.Get(name) },
	}
}

// DrillKinds is what runbook.LintDrillTargets asks of the registries:
// which executors act on nothing (exec.Inert) and what a check observes
// (check.Targeter).
func DrillKinds(ex *exec.Registry, checks *check.Registry) runbook.DrillKinds {
	return runbook.DrillKinds{Inert: inertExecutors(ex), CheckTarget: checkTargets(checks)}
}

// inertExecutors: an unknown name is passed over here: runbook.Lint, which
// every caller of LintDrillTargets runs beside it, refuses it as unknown, and
// calling a typo a step that "would act on production" in the drill is a
// second, false error about it.
func inertExecutors(ex *exec.Registry) func(uses string) bool {
	return func(uses string) bool {
		e, err := ex.Get(uses)
		if err != nil {
			return true
		}
		i, ok := e.(exec.Inert)
		return ok && i.ActsOnNothing()
	}
}

// checkTargets: a checker without check.Targeter (or an unknown one, which
// lint reports) cannot say, and its whole with: is compared. A with: the
// checker cannot read is reported by lint where it is wrong, not here.
func checkTargets(checks *check.Registry) func(uses string, with yamlx.Node) (string, bool) {
	return func(uses string, with yamlx.Node) (string, bool) {
		c, err := checks.Get(uses)
		if err != nil {
			return "", false
		}
		t, ok := c.(check.Targeter)
		if !ok {
			return "", false
		}
		target, err := t.Target(with)
		if err != nil {
			return "", true
		}
		return target, true
	}
}

// checkRunner adapts internal/validate to incident.CheckRunner.
type checkRunner struct {
	checks *check.Registry
	clock  validate.Clock
}

// RunChecks waits out the settling delay, then runs a service's
// validation checks concurrently.
func (c checkRunner) RunChecks(ctx context.Context, run incident.ValidationRun) []rollback.CheckResult {
	if err := validate.Settle(ctx, c.clock, run.InitialDelay); err != nil {
		out := make([]rollback.CheckResult, len(run.Checks))
		for i, spec := range run.Checks {
			out[i] = rollback.CheckResult{Service: run.Service, Name: spec.Name, Status: string(check.Error), Reason: err.Error(), At: c.clock.Now(),
				Measured: tally(spec, nil)}
		}
		return out
	}
	jobs := make([]validate.Job, len(run.Checks))
	for i, spec := range run.Checks {
		checker, _ := c.checks.Get(spec.Uses) // lint guarantees it exists; nil becomes an Error result
		r := run.Request
		r.With = spec.With
		jobs[i] = validate.Job{Checker: checker, Spec: spec, Request: r, Measured: counted(i, run.Measured)}
	}
	results := validate.RunAll(ctx, c.clock, jobs)
	out := make([]rollback.CheckResult, len(results))
	for i, res := range results {
		out[i] = rollback.CheckResult{Service: run.Service, Name: run.Checks[i].Name, Status: string(res.Outcome), Reason: res.Message,
			Value: res.Value, Bound: res.Bound, At: c.clock.Now(), Measured: tally(run.Checks[i], res.Measurements)}
		c.chart(ctx, jobs[i], run, &out[i])
	}
	return out
}

// chart attaches the chart of a check with a query to its result; a chart
// that cannot be drawn is said in the result's reason.
func (c checkRunner) chart(ctx context.Context, job validate.Job, run incident.ValidationRun, res *rollback.CheckResult) {
	charter, ok := job.Checker.(check.Charter)
	if !ok {
		return
	}
	end := c.clock.Now()
	// The validation window may just have run out; the chart gets its own
	// bound, as one measurement does.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), validate.MeasureTimeout)
	defer cancel()
	chart, err := charter.Chart(cctx, job.Request, run.ChartFrom, end)
	if err != nil {
		res.Reason += fmt.Sprintf(" (no chart: %v)", err)
		return
	}
	chart.Marks = run.Marks
	chart.WindowStart, chart.WindowEnd = run.Request.SampleStart, end
	res.Chart = &chart
}

// counted numbers one check's measurements for ValidationRun.Measured; a
// job's measurements arrive one at a time, so the counter needs no lock.
func counted(checkIndex int, measured func(checkIndex, n int, m check.Measurement)) func(check.Measurement) {
	if measured == nil {
		return nil
	}
	n := 0
	return func(m check.Measurement) {
		n++
		measured(checkIndex, n, m)
	}
}

// tally counts a check's measurements by outcome, beside the count it
// asked for: the validation table states them all, not only the last.
func tally(spec runbook.Check, ms []check.Measurement) *rollback.MeasurementTally {
	count, _ := spec.Measurements()
	t := &rollback.MeasurementTally{Count: count}
	for _, m := range ms {
		switch m.Outcome {
		case check.Successful:
			t.Successful++
		case check.Failed:
			t.Failed++
		case check.Inconclusive:
			t.Inconclusive++
		case check.Error:
			t.Errors++
		}
	}
	return t
}
