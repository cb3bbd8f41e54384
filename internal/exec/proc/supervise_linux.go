//go:build linux

package proc

import (
	"fmt"
	"os"
	osexec "os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/backout/backout/internal/exec"
	"golang.org/x/sys/unix"
)

// On Linux a step never outlives the bot, even one killed with SIGKILL. The
// group leader Run starts is not the step's program but a supervisor: this
// same binary, re-executed through /proc/self/exe with envSupervise set, so
// that the init below takes over before main. The supervisor
//
//   - gets PR_SET_PDEATHSIG=supervisorDeathSig, delivered by the kernel when
//     the bot thread that forked it dies (Run keeps that thread locked and
//     alive until the supervisor is reaped);
//   - starts the program in its own process group (it stays the leader, so
//     Run's group signals on timeout and cancel reach everyone as before),
//     with PR_SET_PDEATHSIG=SIGKILL on the program too;
//   - relays the program's exit status (128+n for signal n, as Run reports);
//   - when the bot dies, sends SIGTERM to the group, waits for the program to
//     exit or for the kill grace, then SIGKILLs the group, itself included,
//     which sweeps every grandchild still in it;
//   - does the same when the bot has been stopped (SIGSTOP, a debugger) for
//     the spec's FrozenParentLimit: a frozen bot cannot renew its lease, and
//     another replica may take the step over once that lease is gone;
//   - does not start the program at all once the spec's StartBy has passed
//     on the system's monotonic clock (CLOCK_MONOTONIC, one clock for every
//     process, which runs on while the bot is stopped): a bot frozen between
//     recording a step's start and this point wakes to a step that another
//     replica may own by now.
//
// Not covered: a process that leaves the group (setsid, setpgid, a daemon
// that double-forks into a new session) is out of reach, as it is of the
// timeout kill.
const (
	envSupervise       = "BACKOUT_PROC_SUPERVISE" // kill grace in milliseconds
	envSuperviseParent = "BACKOUT_PROC_SUPERVISE_PARENT"
	envSuperviseFrozen = "BACKOUT_PROC_SUPERVISE_FROZEN"   // frozen-parent limit in milliseconds; 0: none
	envSuperviseStart  = "BACKOUT_PROC_SUPERVISE_START_BY" // CLOCK_MONOTONIC nanoseconds; absent: no limit
	// startSignalFD is the supervisor's end of the pipe on which it tells
	// Run that it did not start the program because StartBy had passed: a
	// channel the program never holds, so no output of its can forge or
	// hide the refusal (an exit status or a line on stderr could).
	startSignalFD = 3
	// notStartedStatus is the supervisor's exit status when it refused.
	notStartedStatus = 125
	// frozenPoll is how often the supervisor looks at its parent's state.
	frozenPoll         = 50 * time.Millisecond
	supervisorName     = "backout-step-supervisor"
	supervisorDeathSig = syscall.SIGUSR1
	selfExe            = "/proc/self/exe"
)

func init() {
	if grace, ok := os.LookupEnv(envSupervise); ok {
		// syscall.Exit, not os.Exit: nothing is buffered, and a race-enabled
		// build would otherwise sleep a second at every clean exit.
		if startBy, ok := os.LookupEnv(envSuperviseStart); ok {
			signal := os.NewFile(startSignalFD, "start-signal")
			if !beforeMono(startBy) {
				_, _ = signal.Write([]byte{1})
				syscall.Exit(notStartedStatus)
			}
			_ = signal.Close() // the program must not inherit it
		}
		syscall.Exit(supervise(grace, os.Getenv(envSuperviseParent), os.Getenv(envSuperviseFrozen), os.Args[1:]))
	}
}

// prepare turns cmd (Path already resolved) into the supervised form. It
// refuses when startBy has passed already; the startSignal it returns (nil
// without startBy) tells, once the supervisor has exited, whether it
// refused to start the program.
func prepare(cmd *osexec.Cmd, grace, frozen time.Duration, startBy time.Time) (*startSignal, error) {
	// The step's own environment never carries the supervisor's variables.
	cmd.Env = slices.DeleteFunc(cmd.Env, supervisorEnv)
	var mono, left time.Duration
	if !startBy.IsZero() {
		// The monotonic clock is read before the time left: a freeze
		// between the two moves the supervisor's deadline earlier, never
		// later.
		var err error
		if mono, err = monoNow(); err != nil {
			return nil, fmt.Errorf("not started: %w", err)
		}
		if left = time.Until(startBy); left <= 0 {
			return nil, exec.ErrStartBy
		}
	}
	if _, err := os.Stat(selfExe); err != nil {
		// No procfs: the leader alone is covered, and startBy is checked
		// only above.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		return nil, nil
	}
	cmd.Args = append([]string{supervisorName, cmd.Path}, cmd.Args...)
	cmd.Path = selfExe
	cmd.Env = append(cmd.Env,
		envSupervise+"="+strconv.FormatInt(grace.Milliseconds(), 10),
		envSuperviseParent+"="+strconv.Itoa(os.Getpid()),
		envSuperviseFrozen+"="+strconv.FormatInt(frozen.Milliseconds(), 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: supervisorDeathSig}
	if startBy.IsZero() {
		return nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("not started: %w", err)
	}
	cmd.ExtraFiles = []*os.File{w} // fd 3: startSignalFD
	cmd.Env = append(cmd.Env, envSuperviseStart+"="+strconv.FormatInt(int64(mono+left), 10))
	return &startSignal{r: r, w: w}, nil
}

// startSignal is Run's end of the supervisor's refusal pipe.
type startSignal struct{ r, w *os.File }

// started closes the parent's copy of the write end once the supervisor
// holds its own (or the start failed).
func (s *startSignal) started() {
	if s != nil {
		_ = s.w.Close()
	}
}

// refused reports, after the supervisor has exited, whether it refused to
// start the program. Nobody else holds the write end by then; the deadline
// only guards against a bug leaving one open.
func (s *startSignal) refused() bool {
	if s == nil {
		return false
	}
	defer s.r.Close()
	_ = s.r.SetReadDeadline(time.Now().Add(time.Second))
	var b [1]byte
	n, _ := s.r.Read(b[:])
	return n == 1
}

// monoNow reads CLOCK_MONOTONIC, which every process on the machine shares
// (Go's own monotonic readings are relative to the process's start).
func monoNow() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("read the monotonic clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// beforeMono reports whether the monotonic clock is still before deadline
// (nanoseconds, as prepare wrote it); a deadline it cannot read has passed.
func beforeMono(deadline string) bool {
	d, err := strconv.ParseInt(deadline, 10, 64)
	if err != nil {
		return false
	}
	now, err := monoNow()
	return err == nil && int64(now) < d
}

// lockThread pins the calling goroutine to its OS thread from before the
// fork until the child is reaped: the parent-death signal fires when the
// forking thread exits, not the process, and the Go runtime may otherwise
// retire that thread while the step still runs. The returned func unlocks.
func lockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

// supervise is the supervisor's whole life; it returns the exit status.
// args are the program's resolved path and then its argv.
func supervise(graceMS, parent, frozenMS string, args []string) int {
	sigs := make(chan os.Signal, 4)
	// SIGTERM is Run stopping the group: the program got it too, so the
	// supervisor stays to relay its status (SIGKILL after the grace ends it).
	signal.Notify(sigs, supervisorDeathSig, syscall.SIGTERM)
	if strconv.Itoa(os.Getppid()) != parent {
		return 128 + int(syscall.SIGKILL) // the bot died before we could see it
	}
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "backout: supervisor without a program")
		return 127
	}
	ms, _ := strconv.Atoi(graceMS)
	grace := max(time.Duration(ms)*time.Millisecond, 100*time.Millisecond)
	ms, _ = strconv.Atoi(frozenMS)
	frozen := time.Duration(ms) * time.Millisecond
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !supervisorEnv(kv) {
			env = append(env, kv)
		}
	}
	runtime.LockOSThread() // for the program's own PDEATHSIG; never unlocked
	p, err := os.StartProcess(args[0], args[1:], &os.ProcAttr{
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "start %s: %v\n", args[1], err)
		return 127
	}
	done := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := p.Wait()
		done <- st
	}()
	var poll <-chan time.Time
	if frozen > 0 {
		t := time.NewTicker(frozenPoll)
		defer t.Stop()
		poll = t.C
	}
	var stoppedSince time.Time // monotonic, from the ticker
	for {
		select {
		case st := <-done:
			return status(st)
		case s := <-sigs:
			if s == supervisorDeathSig {
				return stopGroup(done, grace)
			}
		case now := <-poll:
			switch {
			case !stopped(parent):
				stoppedSince = time.Time{}
			case stoppedSince.IsZero():
				stoppedSince = now
			case now.Sub(stoppedSince) >= frozen:
				return stopGroup(done, grace)
			}
		}
	}
}

// supervisorEnv reports whether kv is one of prepare's variables, which the
// program does not get.
func supervisorEnv(kv string) bool {
	for _, name := range []string{envSupervise, envSuperviseParent, envSuperviseFrozen, envSuperviseStart} {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// stopGroup sends SIGTERM to the group, waits for the program to exit or
// for the grace, then SIGKILLs the group, the supervisor included.
func stopGroup(done <-chan *os.ProcessState, grace time.Duration) int {
	_ = syscall.Kill(0, syscall.SIGTERM)
	t := time.NewTimer(grace)
	select {
	case <-done:
	case <-t.C:
	}
	_ = syscall.Kill(0, syscall.SIGKILL) // the group, ourselves included
	return 128 + int(syscall.SIGKILL)
}

// stopped reports whether process pid is stopped by a signal or a tracer
// (state T or t in /proc/PID/stat). The command name before the state may
// hold spaces and parentheses: the state follows the last ')'.
func stopped(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false // gone: the parent-death signal covers it
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't')
}

func status(st *os.ProcessState) int {
	if st == nil {
		return 127
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}
