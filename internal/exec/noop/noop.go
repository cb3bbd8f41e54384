// Package noop is the `uses: noop` executor: it does nothing and says so,
// for drills, runbook skeletons and tests.
package noop

import (
	"context"
	"fmt"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/yamlx"
)

// Executor is the `uses: noop` executor.
type Executor struct{}

// New returns the noop executor.
func New() *Executor { return &Executor{} }

// Name implements exec.Executor.
func (*Executor) Name() string { return "noop" }

// ActsOnNothing implements exec.Inert: it only waits (or logs), so a drill may run it unchanged.
func (*Executor) ActsOnNothing() bool { return true }

type with struct {
	Message string `yaml:"message"`
}

// Validate implements exec.Executor; `with:` may be left out.
func (*Executor) Validate(n yamlx.Node) error {
	var w with
	return n.Decode(&w)
}

func message(req exec.Request) (string, error) {
	var w with
	if err := req.With.Decode(&w); err != nil {
		return "", err
	}
	if w.Message == "" {
		return "noop", nil
	}
	return exec.Redact(w.Message, req.Redact), nil
}

// Preview implements exec.Executor.
func (*Executor) Preview(_ context.Context, req exec.Request) (string, error) {
	return message(req)
}

// Run implements exec.Executor. It still honours a context that is already
// done, so a noop step behaves like any other when a run is aborted.
func (*Executor) Run(ctx context.Context, req exec.Request) (exec.Result, error) {
	msg, err := message(req)
	if err != nil {
		return exec.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return exec.Result{}, fmt.Errorf("noop: %w", err)
	}
	return exec.Result{Output: msg}, nil
}
