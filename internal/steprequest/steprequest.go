// Package steprequest builds the exec.Request of a runbook step. A run, a
// plan's preview and a readiness probe all ask an executor about the same
// step; they get their request here, so it is rendered and filled in the
// same way for each and cannot drift apart. What differs between them is
// an explicit input: the purpose, the attempt, dry-run and progress.
package steprequest

import (
	"errors"
	"fmt"
	"time"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/runbook"
)

// Purpose is why an executor is asked about a step.
type Purpose int

// Purposes.
const (
	// Run carries the step out: an attempt, with its output streamed.
	Run Purpose = iota + 1
	// Preview describes what Run would do (a plan), running nothing.
	Preview
	// Probe asks at readiness time whether the executor could do it.
	Probe
)

func (p Purpose) String() string {
	switch p {
	case Run:
		return "run"
	case Preview:
		return "preview"
	case Probe:
		return "probe"
	}
	return fmt.Sprintf("Purpose(%d)", int(p))
}

// Input is one request's worth of facts. Identity (rollback, service,
// params) comes from Context, the same context the templates see, so what
// a step's `with:` renders and whom the request is for cannot disagree.
type Input struct {
	Purpose Purpose
	// StepID names the request: a step's id, or "<id>.compensate".
	StepID string
	// Action is what runs: a step's (runbook.Step.Action) or its
	// compensation. Its timeout was resolved when the runbook loaded.
	Action runbook.Action
	// Context is the template context of the rollback and service.
	Context runbook.Context
	// DryRun asks the executor to describe rather than act (see DryRun).
	DryRun bool
	// Attempt counts a Run's tries from 1; a preview or probe is no
	// attempt and leaves it 0.
	Attempt int
	// Progress takes a Run's live output lines; nil otherwise.
	Progress func(line string)
}

// Builder fills the parts of a request that come from the bot's settings.
type Builder struct {
	cfg *config.Config
	env func(string) (string, bool)
}

// New returns a builder for cfg; env is how executors read the bot's
// environment (nil: the process environment).
func New(cfg *config.Config, env func(string) (string, bool)) Builder {
	return Builder{cfg: cfg, env: env}
}

// Errors of a request that cannot be built. A render failure is returned
// as runbook.RenderNode gives it: already positioned in the runbook.
var (
	ErrPurpose = errors.New("steprequest: invalid purpose")
	ErrTimeout = errors.New("steprequest: no timeout")
)

// Build renders the action's `with:` against the context and fills the
// request. The timeout is the action's, as loaded: a zero one means the
// runbook did not come through runbook.Parse, and is refused rather than
// defaulted here.
func (b Builder) Build(in Input) (exec.Request, error) {
	if err := check(in); err != nil {
		return exec.Request{}, err
	}
	with, err := runbook.RenderNode(in.Action.With, in.Context)
	if err != nil {
		return exec.Request{}, err
	}
	return exec.Request{
		RollbackID:  in.Context.Rollback.ID,
		StepID:      in.StepID,
		Service:     in.Context.Service.Name,
		Attempt:     in.Attempt,
		With:        with,
		DryRun:      in.DryRun,
		Timeout:     in.Action.Timeout.D(),
		Env:         b.env,
		Redact:      b.cfg.Secrets.Values(),
		OutputLimit: b.cfg.Engine.OutputLimit,
		KillGrace:   b.cfg.Engine.KillGrace.D(),
		FrozenLimit: frozenLimit(b.cfg.Engine),
		BaseDir:     b.cfg.RunbooksDir(),
		Params:      in.Context.Params,
		Progress:    in.Progress,
	}, nil
}

// check refuses inputs that do not fit the purpose: they are mistakes in
// the caller, which must not reach an executor.
func check(in Input) error {
	switch in.Purpose {
	case Run:
		if in.Attempt < 1 {
			return fmt.Errorf("%w: step %s: a run's attempt counts from 1, got %d", ErrPurpose, in.StepID, in.Attempt)
		}
	case Preview, Probe:
		if in.Attempt != 0 || in.Progress != nil {
			return fmt.Errorf("%w: step %s: a %s runs nothing, so it has no attempt or progress", ErrPurpose, in.StepID, in.Purpose)
		}
	default:
		return fmt.Errorf("%w: step %s: %s", ErrPurpose, in.StepID, in.Purpose)
	}
	if in.Action.Timeout <= 0 {
		return fmt.Errorf("%w: step %s (load runbooks with runbook.Parse, which resolves every step's timeout)", ErrTimeout, in.StepID)
	}
	return nil
}

// DryRun reports whether a run of rb in drill mode d only describes its
// steps: a dry-run drill, or a drill of a runbook whose drill settings ask
// for dry runs. Run, preview and probe all decide it here.
func DryRun(rb *runbook.Runbook, d runbook.DrillInfo) bool {
	return d.Enabled && (d.Mode == config.DrillModeDryRun || ForcedDryRun(rb, d) != "")
}

// ForcedDryRun says why a drill whose mode runs its steps only describes
// them: its runbook forces drill.dry_run. It is "" when the mode already is
// dry-run, and for anything that is not a drill.
func ForcedDryRun(rb *runbook.Runbook, d runbook.DrillInfo) string {
	if !d.Enabled || d.Mode == config.DrillModeDryRun || rb == nil || rb.Drill == nil || !rb.Drill.DryRun {
		return ""
	}
	return fmt.Sprintf("runbook %s forces drill.dry_run", rb.Name)
}

// DrillRunMode is the mode a drill of rb in mode d actually runs in:
// dry-run when DryRun says its steps only describe themselves, d.Mode
// otherwise ("" for anything that is not a drill).
func DrillRunMode(rb *runbook.Runbook, d runbook.DrillInfo) string {
	switch {
	case !d.Enabled:
		return ""
	case DryRun(rb, d):
		return config.DrillModeDryRun
	}
	return d.Mode
}

// frozenLimit is how long the bot may stay stopped (SIGSTOP) before its
// steps are stopped as if it had died: nine tenths of the margin between
// lease_ttl and renew_deadline (the tenth left covers the supervisor's
// polling; under a 1s margin, the margin less two polls). However late in
// the renew period the freeze began, the steps then get SIGTERM by the
// lease's expiry, and are dead by the time another replica may take over
// (expiry + kill_grace). See docs/reliability.md.
func frozenLimit(e config.EngineConfig) time.Duration {
	margin := e.LeaseTTL.D() - e.RenewDeadline.D()
	if margin <= 0 {
		return 0 // no lease timing: nothing to watch for
	}
	// The tenth left must cover two polls; under a 1s margin it does not,
	// so the limit leaves the polls' time explicitly (at least 1ms: a limit
	// of 0 would turn the watch off).
	return max(min(margin*9/10, margin-frozenPollSlack), time.Millisecond)
}

// frozenPollSlack is how late a step's supervisor may notice that the bot
// was stopped, and for how long: it polls every 50ms (internal/exec/proc),
// so up to two polls.
const frozenPollSlack = 100 * time.Millisecond
