// Package check defines readiness and validation checks: the Checker
// interface, Argo-Rollouts-style outcomes, and an explicit registry. The
// checkers themselves live in internal/validate.
package check

import (
	"context"
	"errors"
	"fmt"
	"github.com/backout/backout/internal/suggest"
	"sort"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/yamlx"
)

// Outcome is how one measurement or one whole check ended.
type Outcome string

// Outcomes, as in Argo Rollouts analysis.
const (
	Successful   Outcome = "Successful"
	Failed       Outcome = "Failed"
	Inconclusive Outcome = "Inconclusive"
	Error        Outcome = "Error"
	// Skipped is a check not run at all: a dry-run drill changed nothing,
	// so measuring production would judge production, not the drill.
	Skipped Outcome = "Skipped"
)

// ErrNoValuesFound is returned when a query answered with no data; the
// measurement is Inconclusive, never a trigger or a pass.
var ErrNoValuesFound = errors.New("no values found")

// Request is one measurement.
type Request struct {
	Service string
	// With is the check's `with:` tree, rendered.
	With yamlx.Node
	// Now is the evaluation time.
	Now time.Time
	// BaselineEnd is when the bad release was deployed: baselines are
	// measured over the period before it.
	BaselineEnd time.Time
	// SampleStart is where data about the rolled-back service begins: the
	// end of validation's settling delay (validation start + initial_delay).
	// Checks that compare a sample with a baseline take the sample from
	// [SampleStart, Now] only. Zero (readiness) means "now" only.
	SampleStart time.Time
	// TargetVersion is the version the service should now report.
	TargetVersion string
	// Env looks up environment variables (DSNs, tokens); nil: process env.
	Env func(string) (string, bool)
}

// Measurement is the result of one evaluation.
type Measurement struct {
	Outcome Outcome
	Value   string // what was measured, e.g. "0.012"
	Bound   string // what it was held against, e.g. "< 0.05"
	Message string // one line for people
	// At is when it was taken (set by the runner).
	At time.Time
}

// Checker is one kind of check (`uses:`).
type Checker interface {
	Name() string
	// Validate decodes `with:` strictly at lint time.
	Validate(with yamlx.Node) error
	// Measure evaluates once. A returned error means the measurement could
	// not be taken (Outcome Error); a measurement that ran returns its
	// outcome with a nil error.
	Measure(ctx context.Context, req Request) (Measurement, error)
}

// Targeter is implemented by checkers that can say what a check observes
// (its queries, URLs, database), apart from how it judges what it sees.
// Lint renders a check of an environment drill as the rollback and as the
// drill: the same target both ways means the drill would be judged on
// production's data. A checker without Targeter is compared on its whole
// `with:`.
type Targeter interface {
	// Target describes what the rendered with observes; two renders with
	// the same target look at the same thing. "" means the check observes
	// nothing an environment owns (the artifact registry, say): a drill
	// may share it with production.
	Target(with yamlx.Node) (string, error)
}

// Charter is a checker with a query, which it can chart from before the
// bad deploy to the end of validation, with the band it holds values to.
type Charter interface {
	Chart(ctx context.Context, req Request, from, to time.Time) (rollback.Chart, error)
}

// Registry maps names to checkers.
type Registry struct{ byName map[string]Checker }

// NewRegistry registers the given checkers.
func NewRegistry(checkers ...Checker) *Registry {
	r := &Registry{byName: map[string]Checker{}}
	for _, c := range checkers {
		if _, dup := r.byName[c.Name()]; dup {
			panic(fmt.Sprintf("check: %q registered twice", c.Name()))
		}
		r.byName[c.Name()] = c
	}
	return r
}

// Get finds a checker.
func (r *Registry) Get(name string) (Checker, error) {
	if c, ok := r.byName[name]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("unknown check %q%s", name, suggest.HintOrList(name, r.Names()))
}

// Names lists the registered checkers in order.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
