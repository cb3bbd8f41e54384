package incidenttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/yamlx"
)

// Behaviour is what the fake executor does for one call.
type Behaviour func(ctx context.Context, req exec.Request) (exec.Result, error)

// Succeed returns at once with output.
func Succeed(output string) Behaviour {
	return func(context.Context, exec.Request) (exec.Result, error) { return exec.Result{Output: output}, nil }
}

// Fail fails with msg; the engine must not retry it.
func Fail(msg string) Behaviour {
	return func(context.Context, exec.Request) (exec.Result, error) {
		return exec.Result{Output: msg, ExitCode: 1}, errors.New(msg)
	}
}

// FailRetryable fails with a retryable error on the first n attempts of a
// step, then succeeds.
func FailRetryable(n int) Behaviour {
	return func(_ context.Context, req exec.Request) (exec.Result, error) {
		if req.Attempt <= n {
			return exec.Result{ExitCode: 75}, exec.Retryable(fmt.Errorf("attempt %d: temporarily unavailable", req.Attempt))
		}
		return exec.Result{Output: "ok"}, nil
	}
}

// Latch holds calls until the test lets them go.
type Latch struct {
	one  chan struct{}
	all  chan struct{}
	once sync.Once
}

// NewLatch returns a closed gate.
func NewLatch() *Latch { return &Latch{one: make(chan struct{}), all: make(chan struct{})} }

// Block is a Behaviour that waits for the latch; when the engine cancels
// the call first, it fails with the context's error, as a killed process would.
func (l *Latch) Block(ctx context.Context, _ exec.Request) (exec.Result, error) {
	select {
	case <-l.one:
		return exec.Result{Output: "released"}, nil
	case <-l.all:
		return exec.Result{Output: "released"}, nil
	case <-ctx.Done():
		return exec.Result{}, fmt.Errorf("killed: %w", ctx.Err())
	}
}

// ReleaseOne lets exactly one waiting call go, waiting for one to arrive
// until ctx ends.
func (l *Latch) ReleaseOne(ctx context.Context) error {
	select {
	case l.one <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no call waited at the latch: %w", ctx.Err())
	}
}

// ReleaseAll lets every call, now and later, go.
func (l *Latch) ReleaseAll() { l.once.Do(func() { close(l.all) }) }

// Call is one recorded executor call.
type Call struct {
	Service string
	StepID  string // "<step>.compensate" for a compensation
	Attempt int
	DryRun  bool
	Err     error
	// Cancelled reports whether the call's context had ended when it returned.
	Cancelled bool
}

// Executor is a programmable exec.Executor: each step id gets a Behaviour
// (default: succeed). It logs every start and end, tracks how many calls
// are in flight, and lets tests wait until a step has started.
type Executor struct {
	name string

	mu          sync.Mutex
	behaviours  map[string]Behaviour
	log         []string
	calls       []Call
	inFlight    int
	maxInFlight int
	started     map[string]chan struct{}
}

var _ exec.Executor = (*Executor)(nil)

// NewExecutor returns an executor answering to `uses: name`.
func NewExecutor(name string) *Executor {
	return &Executor{name: name, behaviours: map[string]Behaviour{}, started: map[string]chan struct{}{}}
}

// On sets the behaviour for a step id (of every service).
func (e *Executor) On(stepID string, b Behaviour) *Executor {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.behaviours[stepID] = b
	return e
}

// Name implements exec.Executor.
func (e *Executor) Name() string { return e.name }

// Validate implements exec.Executor; any `with:` is accepted.
func (e *Executor) Validate(yamlx.Node) error { return nil }

// Preview implements exec.Executor.
func (e *Executor) Preview(_ context.Context, req exec.Request) (string, error) {
	return e.name + " " + req.StepID, nil
}

func (e *Executor) startedCh(stepID string) chan struct{} {
	ch, ok := e.started[stepID]
	if !ok {
		ch = make(chan struct{})
		e.started[stepID] = ch
	}
	return ch
}

// Run implements exec.Executor.
func (e *Executor) Run(ctx context.Context, req exec.Request) (exec.Result, error) {
	e.mu.Lock()
	b, ok := e.behaviours[req.StepID]
	if !ok {
		b = Succeed("done")
	}
	e.log = append(e.log, "start "+req.Service+"/"+req.StepID)
	e.inFlight++
	e.maxInFlight = max(e.maxInFlight, e.inFlight)
	ch := e.startedCh(req.StepID)
	select {
	case <-ch:
	default:
		close(ch)
	}
	e.mu.Unlock()

	res, err := b(ctx, req)

	e.mu.Lock()
	defer e.mu.Unlock()
	e.inFlight--
	e.log = append(e.log, "end "+req.Service+"/"+req.StepID)
	e.calls = append(e.calls, Call{Service: req.Service, StepID: req.StepID, Attempt: req.Attempt, DryRun: req.DryRun,
		Err: err, Cancelled: ctx.Err() != nil})
	return res, err
}

// WaitStarted blocks until step stepID has started at least once, or ctx ends.
func (e *Executor) WaitStarted(ctx context.Context, stepID string) error {
	e.mu.Lock()
	ch := e.startedCh(stepID)
	e.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("step %s never started: %w", stepID, context.Cause(ctx))
	}
}

// WaitInFlight blocks until at least n calls are in flight, or ctx ends.
func (e *Executor) WaitInFlight(ctx context.Context, n int) error {
	return poll(ctx, func() bool { return e.InFlight() >= n }, "%d calls in flight", n)
}

// Log returns "start svc/step" and "end svc/step" entries in order.
func (e *Executor) Log() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

// Calls returns finished calls in the order they returned.
func (e *Executor) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// CallsOf returns the finished calls of one step id.
func (e *Executor) CallsOf(stepID string) []Call {
	var out []Call
	for _, c := range e.Calls() {
		if c.StepID == stepID {
			out = append(out, c)
		}
	}
	return out
}

// InFlight is how many calls are running now.
func (e *Executor) InFlight() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inFlight
}

// MaxInFlight is the most calls that ever ran at once.
func (e *Executor) MaxInFlight() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.maxInFlight
}
