// Package proc runs one child process for an executor: argv only (never a
// shell string), a filtered environment, bounded and redacted output, and a
// process group that is stopped as a whole, so that no grandchild outlives a
// timed-out or aborted step — nor, on Linux, the bot itself, even killed
// with SIGKILL (see supervise_linux.go and docs/reliability.md).
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/backout/backout/internal/exec"
)

// Defaults used when a Spec leaves a limit at zero.
const (
	DefaultOutputLimit = 64 << 10
	DefaultKillGrace   = 5 * time.Second
)

// beforeStart runs between prepare and the fork; a test makes it stand
// for a bot frozen there.
var beforeStart = func() {}

// pipeDrain bounds how long output is read after the group is gone: a
// process that escaped the group (setsid) may hold the pipes open forever.
const pipeDrain = time.Second

// Spec is one process to run.
type Spec struct {
	// Argv is the program and its arguments. An Argv[0] without a slash is
	// looked up in the bot's own PATH, not in Env's.
	Argv []string
	Dir  string
	// Env is the child's whole environment ("K=V"); nil means empty, never
	// the parent's.
	Env   []string
	Stdin []byte
	// OutputLimit is how many bytes of each stream are kept (the tail).
	OutputLimit int
	// KillGrace is the time between SIGTERM and SIGKILL to the group.
	KillGrace time.Duration
	// FrozenParentLimit, when positive, stops the group (as when the bot
	// dies) once the bot has been stopped (SIGSTOP) that long: a frozen bot
	// cannot renew the lease its step runs under. Linux only.
	FrozenParentLimit time.Duration
	// StartBy, when set, is the last moment the program may start (see
	// exec.Request.StartBy). Run checks it before forking and, on Linux,
	// the supervisor checks it again against the system's monotonic clock
	// just before it starts the program, so a bot frozen anywhere between
	// the two cannot start it late. A late start fails with exec.ErrStartBy.
	StartBy time.Time
	// Redact lists secret values scrubbed from the output.
	Redact []string
	// Progress, when set, gets each line of output (redacted) as the child
	// writes it, from the goroutine reading that stream ("stdout" or
	// "stderr"): two may call it at once.
	Progress func(stream, line string)
}

// Outcome is what a run produced.
type Outcome struct {
	Stdout, Stderr string // redacted, capped
	ExitCode       int    // 128+n when killed by signal n
	Duration       time.Duration
	TimedOut       bool
	Cancelled      bool
}

// Text joins stdout and stderr for people.
func (o Outcome) Text() string {
	switch {
	case o.Stderr == "":
		return o.Stdout
	case o.Stdout == "":
		return o.Stderr
	}
	out := o.Stdout
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out + "--- stderr ---\n" + o.Stderr
}

// ExitError is a child that exited non-zero.
type ExitError struct {
	Name string
	Code int
	// Last is the last non-empty line of stderr (redacted), for the summary.
	Last string
}

func (e *ExitError) Error() string {
	if e.Last == "" {
		return fmt.Sprintf("%s exited with status %d", e.Name, e.Code)
	}
	return fmt.Sprintf("%s exited with status %d: %s", e.Name, e.Code, e.Last)
}

// Run starts argv in its own process group and waits for it. A non-zero
// exit returns *ExitError; a timeout returns an error marked exec.Retryable
// wrapping context.DeadlineExceeded; a cancel wraps context.Canceled.
func Run(ctx context.Context, s Spec) (Outcome, error) {
	if len(s.Argv) == 0 {
		return Outcome{}, errors.New("proc: empty argv")
	}
	name := filepath.Base(s.Argv[0])
	if err := ctx.Err(); err != nil {
		return Outcome{}, fmt.Errorf("%s not started: %w", name, err)
	}
	limit, grace := s.OutputLimit, s.KillGrace
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	stdout, stderr := newCapture(limit, s.Redact), newCapture(limit, s.Redact)
	cmd := osexec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = append([]string{}, s.Env...) // non-nil: never inherit ours
	if err := checkExecutable(cmd); err != nil {
		return Outcome{}, fmt.Errorf("start %s: %w", name, err)
	}
	signal, err := prepare(cmd, grace, s.FrozenParentLimit, s.StartBy) // own process group; on Linux, dies with the bot (or when it is frozen)
	if err != nil {
		return Outcome{}, fmt.Errorf("%s %w", name, err)
	}

	defer lockThread()()
	beforeStart()
	p, err := startPiped(cmd, s.Stdin, streamWriters(s, stdout, stderr))
	signal.started()
	if err != nil {
		signal.refused() // closes it
		return Outcome{}, fmt.Errorf("start %s: %w", name, err)
	}
	start := time.Now()
	w := watch(ctx, cmd.Process.Pid, grace)
	waitErr := cmd.Wait()
	close(w.exited)
	<-w.done
	p.drain()
	notStarted := signal.refused()

	o := Outcome{Duration: time.Since(start)}
	o.Stdout, o.Stderr = stdout.String(s.Redact), stderr.String(s.Redact)
	if waitErr != nil {
		var ee *osexec.ExitError
		if !errors.As(waitErr, &ee) {
			return o, fmt.Errorf("wait for %s: %w", name, waitErr)
		}
		o.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.ExitCode = 128 + int(ws.Signal())
		}
	}
	if w.signalled {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			o.TimedOut = true
			return o, exec.Retryable(fmt.Errorf("%s timed out after %s; process group stopped: %w", name, o.Duration.Round(time.Millisecond), context.DeadlineExceeded))
		}
		o.Cancelled = true
		return o, fmt.Errorf("%s cancelled; process group stopped: %w", name, ctx.Err())
	}
	if notStarted {
		return o, fmt.Errorf("%s %w", name, exec.ErrStartBy)
	}
	if o.ExitCode != 0 {
		return o, &ExitError{Name: name, Code: o.ExitCode, Last: lastLine(o.Stderr)}
	}
	return o, nil
}

// checkExecutable reports, before anything starts, what Start would have
// about the program itself: on Linux the process started is a supervisor,
// which can only report a later exec failure as exit status 127.
func checkExecutable(cmd *osexec.Cmd) error {
	if cmd.Err != nil {
		return cmd.Err
	}
	path := cmd.Path
	if !filepath.IsAbs(path) && cmd.Dir != "" {
		path = filepath.Join(cmd.Dir, path)
	}
	_, err := osexec.LookPath(path)
	return err
}

// pipes are the parent's ends of the child's stdio.
type pipes struct {
	readers []*os.File
	stdin   *os.File
	wg      sync.WaitGroup
}

// startPiped wires stdio through os.Pipe rather than letting os/exec copy:
// cmd.Wait then returns when the child exits, not when every grandchild
// holding the pipes has, which is what lets us reap the group first.
func startPiped(cmd *osexec.Cmd, stdin []byte, streams []io.Writer) (*pipes, error) {
	p := &pipes{}
	var childEnds []*os.File
	closeAll := func() {
		for _, f := range append(childEnds, p.readers...) {
			f.Close()
		}
		if p.stdin != nil {
			p.stdin.Close()
		}
	}
	for range 2 {
		r, cw, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, err
		}
		p.readers = append(p.readers, r)
		childEnds = append(childEnds, cw)
	}
	cmd.Stdout, cmd.Stderr = childEnds[0], childEnds[1]
	if stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, err
		}
		childEnds = append(childEnds, r)
		p.stdin = w
		cmd.Stdin = r
	}
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, err
	}
	for _, f := range childEnds {
		f.Close()
	}
	for i, w := range streams {
		r := p.readers[i]
		p.wg.Go(func() {
			_, _ = io.Copy(w, r)
			if lw, ok := w.(*liveWriter); ok {
				lw.flush()
			}
		})
	}
	if p.stdin != nil {
		// A child that never reads its stdin gets EPIPE once the group dies.
		p.wg.Go(func() {
			_, _ = io.Copy(p.stdin, bytes.NewReader(stdin))
			p.stdin.Close()
		})
	}
	return p, nil
}

// drain waits for the readers to see EOF, bounded by pipeDrain.
func (p *pipes) drain() {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	t := time.NewTimer(pipeDrain)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	for _, r := range p.readers {
		r.Close()
	}
	if p.stdin != nil {
		p.stdin.Close()
	}
	<-done
}

// watcher stops the process group: at once with SIGKILL when the leader
// exits by itself (sweeping background grandchildren), or with SIGTERM then
// SIGKILL after the grace when the context ends first.
type watcher struct {
	exited    chan struct{} // closed by Run once Wait returned
	done      chan struct{} // closed when the group has been dealt with
	signalled bool          // read only after done
}

func watch(ctx context.Context, pgid int, grace time.Duration) *watcher {
	w := &watcher{exited: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		select {
		case <-w.exited:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return
		case <-ctx.Done():
		}
		select {
		case <-w.exited: // it finished on its own just as the context ended
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return
		default:
		}
		w.signalled = true
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		deadline := time.NewTimer(grace)
		defer deadline.Stop()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-deadline.C:
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				return
			case <-tick.C:
				// Once the leader is reaped, ESRCH means every member is gone.
				if groupGone(pgid, w.exited) {
					return
				}
			}
		}
	}()
	return w
}

func groupGone(pgid int, exited <-chan struct{}) bool {
	select {
	case <-exited:
	default:
		return false // the leader alone keeps the group alive
	}
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if r := []rune(last); len(r) > 200 {
		last = string(r[:200]) + "..."
	}
	return last
}
