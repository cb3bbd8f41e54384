// Package app wires Backout together: stores, executors, checks, the
// lifecycle, chat adapters, webhooks and the HTTP server. cmd/bot stays thin.
package app

import (
	"context"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/validate"
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

// InertExecutors says which `uses:` names act on nothing (exec.Inert), for
// runbook.LintDrillTargets. An unknown name is not inert: lint reports it.
func InertExecutors(ex *exec.Registry) func(uses string) bool {
	return func(uses string) bool {
		e, err := ex.Get(uses)
		if err != nil {
			return false
		}
		i, ok := e.(exec.Inert)
		return ok && i.ActsOnNothing()
	}
}

// checkRunner adapts internal/validate to incident.CheckRunner.
type checkRunner struct {
	checks *check.Registry
	clock  validate.Clock
}

// RunChecks runs a service's validation checks concurrently.
func (c checkRunner) RunChecks(ctx context.Context, service string, specs []runbook.Check, req check.Request) []rollback.CheckResult {
	jobs := make([]validate.Job, len(specs))
	for i, spec := range specs {
		checker, _ := c.checks.Get(spec.Uses) // lint guarantees it exists; nil becomes an Error result
		r := req
		r.With = spec.With
		jobs[i] = validate.Job{Checker: checker, Spec: spec, Request: r}
	}
	results := validate.RunAll(ctx, c.clock, jobs)
	out := make([]rollback.CheckResult, len(results))
	for i, res := range results {
		out[i] = rollback.CheckResult{Service: service, Name: specs[i].Name, Status: string(res.Outcome), Reason: res.Message,
			Value: res.Value, Bound: res.Bound, At: c.clock.Now()}
	}
	return out
}
