// Package exec defines how runbook steps are carried out: the Executor
// interface, the request and result types, and an explicit registry. Each
// executor lives in its own subpackage and is registered in cmd/bot; there is
// no init() registration.
package exec

import (
	"context"
	"errors"
	"fmt"
	"github.com/backout/backout/internal/suggest"
	"sort"
	"strings"
	"time"

	"github.com/backout/backout/internal/yamlx"
)

// Request is one call of an executor for one step (or compensation).
type Request struct {
	RollbackID string
	StepID     string
	Service    string
	Attempt    int // 1 for the first try
	// With is the step's `with:` tree, already rendered: every template has
	// been replaced by its value. Executors decode it strictly.
	With yamlx.Node
	// DryRun asks the executor to do nothing and describe what it would do.
	DryRun bool
	// Timeout is the step's timeout, the only one: runbook loading resolves
	// it, the engine's context carries it, and executors bound their work
	// by it (WithTimeout) and derive any tool's own timeout flag from it.
	Timeout time.Duration
	// Env supplies environment variables an executor may pass on to a child
	// process (subject to its allow-list) or reference by name (HTTP header
	// secrets). Nil means the process environment.
	Env func(string) (string, bool)
	// Redact lists secret values to scrub from any output.
	Redact []string
	// OutputLimit caps how many bytes of each output stream are kept.
	OutputLimit int
	// KillGrace is how long a process group has after SIGTERM before SIGKILL.
	KillGrace time.Duration
	// FrozenLimit is how long the bot may stay stopped (SIGSTOP) before a
	// step's processes are stopped as if it had died; 0: never.
	FrozenLimit time.Duration
	// StartBy, when set, is the last moment (on this process's monotonic
	// clock) the step's program may start: the driver's renew deadline.
	// A bot frozen (SIGSTOP) after recording a step's start and before
	// starting its program must not start it once another replica may have
	// taken the rollback over. Process executors pass it to proc.Spec.
	StartBy time.Time
	// BaseDir is the runbooks directory: scripts resolve against it.
	BaseDir string
	// Params are the runbook's resolved params (plugins receive them).
	Params map[string]string
	// Progress, when set, takes output lines (redacted) while the step
	// runs, so people see a long step's progress; it may be called from
	// several goroutines at once. Executors without a stream of output
	// ignore it.
	Progress func(line string)
}

// ErrStartBy: a step was not started because its Request.StartBy had
// passed.
var ErrStartBy = errors.New("not started: its start deadline (the lease's renew deadline) had passed")

// Late reports whether r's StartBy has passed: the step must not start.
func (r Request) Late() bool { return !r.StartBy.IsZero() && time.Until(r.StartBy) <= 0 }

// WithTimeout bounds ctx by the step's timeout, so an executor keeps to it
// even when its caller set no deadline; zero leaves ctx unbounded.
func (r Request) WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.Timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, r.Timeout)
}

// Result is what a run produced.
type Result struct {
	// Output is the (redacted, capped) output worth showing a person.
	Output   string
	ExitCode int
	// Detail holds executor-specific facts (HTTP status, revision...).
	Detail map[string]string
}

// Executor runs one kind of step.
type Executor interface {
	// Name is the `uses:` value.
	Name() string
	// Validate decodes `with:` strictly at lint time: unknown keys and
	// missing fields are errors, positioned at the offending key.
	Validate(with yamlx.Node) error
	// Preview describes exactly what Run would do (argv, HTTP request),
	// without side effects.
	Preview(ctx context.Context, req Request) (string, error)
	// Run does the work. Errors wrapped with Retryable may be retried.
	Run(ctx context.Context, req Request) (Result, error)
}

// Inert is implemented by executors that act on nothing outside the bot
// (sleep, noop). Lint lets an environment drill run their steps as they
// are; every other executor targets something, which a drill must point at
// its own environment.
type Inert interface {
	// ActsOnNothing is true when no step of this executor can change or
	// read anything outside the bot.
	ActsOnNothing() bool
}

// Prober is implemented by executors that can tell at readiness time whether
// they are usable (binary on PATH, credentials present, permissions).
type Prober interface {
	// Probe returns a failure reason shown to people, or err for a fault.
	Probe(ctx context.Context, req Request) (failure string, err error)
}

type retryableError struct{ err error }

func (e retryableError) Error() string { return e.err.Error() }
func (e retryableError) Unwrap() error { return e.err }

// Retryable marks err as worth another attempt (a timeout, a 503).
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return retryableError{err}
}

// IsRetryable reports whether err was marked Retryable.
func IsRetryable(err error) bool {
	var r retryableError
	return errors.As(err, &r)
}

// ErrUnknownExecutor is returned for a `uses:` no executor answers to.
var ErrUnknownExecutor = errors.New("unknown executor")

// Registry maps `uses:` names to executors.
type Registry struct {
	byName map[string]Executor
}

// NewRegistry registers the given executors; a duplicate name panics, since
// it is a programming error in main.
func NewRegistry(executors ...Executor) *Registry {
	r := &Registry{byName: map[string]Executor{}}
	for _, e := range executors {
		r.Register(e)
	}
	return r
}

// Register adds an executor.
func (r *Registry) Register(e Executor) {
	if _, dup := r.byName[e.Name()]; dup {
		panic(fmt.Sprintf("exec: executor %q registered twice", e.Name()))
	}
	r.byName[e.Name()] = e
}

// Get finds an executor by name.
func (r *Registry) Get(name string) (Executor, error) {
	if e, ok := r.byName[name]; ok {
		return e, nil
	}
	return nil, fmt.Errorf("%w %q%s", ErrUnknownExecutor, name, suggest.HintOrList(name, r.Names()))
}

// Names lists registered executors.
func (r *Registry) Names() []string {
	var names []string
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Redact replaces each secret value in s by [redacted].
func Redact(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}
