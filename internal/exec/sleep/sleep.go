// Package sleep is the `uses: sleep` executor: wait a fixed time, for
// drills, tests and letting a change settle. It stops early when the
// context ends.
package sleep

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/yamlx"
)

// Executor is the `uses: sleep` executor.
type Executor struct{}

// New returns the sleep executor.
func New() *Executor { return &Executor{} }

// Name implements exec.Executor.
func (*Executor) Name() string { return "sleep" }

// ActsOnNothing implements exec.Inert: it only waits (or logs), so a drill may run it unchanged.
func (*Executor) ActsOnNothing() bool { return true }

type with struct {
	KeyPos   map[string]yamlx.Pos
	Duration string `yaml:"duration"` // a string: a template may fill it
}

// decode reads `with:`; at lint time (final false) a templated duration is
// accepted unparsed.
func decode(n yamlx.Node, final bool) (time.Duration, error) {
	var w with
	if err := n.Decode(&w); err != nil {
		return 0, err
	}
	if w.Duration == "" {
		return 0, yamlx.Errors{n.Pos().Errorf(`missing required field "duration"`)}
	}
	if !final && strings.Contains(w.Duration, "{{") {
		return 0, nil
	}
	d, err := yamlx.ParseDuration(w.Duration)
	if err == nil && d <= 0 {
		err = errors.New("must be more than 0")
	}
	if err != nil {
		return 0, yamlx.Errors{yamlx.KeyAt(n.Pos(), w.KeyPos, "duration").Errorf("duration: %v", err)}
	}
	return d, nil
}

// Validate implements exec.Executor.
func (*Executor) Validate(with yamlx.Node) error {
	_, err := decode(with, false)
	return err
}

// Preview implements exec.Executor.
func (*Executor) Preview(_ context.Context, req exec.Request) (string, error) {
	d, err := decode(req.With, true)
	if err != nil {
		return "", err
	}
	return "sleep " + human.Duration(d), nil
}

// Run implements exec.Executor.
func (*Executor) Run(ctx context.Context, req exec.Request) (exec.Result, error) {
	d, err := decode(req.With, true)
	if err != nil {
		return exec.Result{}, err
	}
	if req.DryRun {
		return exec.Result{Output: "sleep " + human.Duration(d)}, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return exec.Result{Output: "slept " + human.Duration(d)}, nil
	case <-ctx.Done():
		return exec.Result{}, fmt.Errorf("sleep %s interrupted: %w", human.Duration(d), ctx.Err())
	}
}
