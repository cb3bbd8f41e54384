//go:build linux

package proc

import (
	"fmt"
	"os"
	osexec "os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
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
//     another replica may take the step over once that lease is gone.
//
// Not covered: a process that leaves the group (setsid, setpgid, a daemon
// that double-forks into a new session) is out of reach, as it is of the
// timeout kill.
const (
	envSupervise       = "BACKOUT_PROC_SUPERVISE" // kill grace in milliseconds
	envSuperviseParent = "BACKOUT_PROC_SUPERVISE_PARENT"
	envSuperviseFrozen = "BACKOUT_PROC_SUPERVISE_FROZEN" // frozen-parent limit in milliseconds; 0: none
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
		syscall.Exit(supervise(grace, os.Getenv(envSuperviseParent), os.Getenv(envSuperviseFrozen), os.Args[1:]))
	}
}

// prepare turns cmd (Path already resolved) into the supervised form.
func prepare(cmd *osexec.Cmd, grace, frozen time.Duration) {
	if _, err := os.Stat(selfExe); err != nil {
		// No procfs: the leader alone is covered.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		return
	}
	cmd.Args = append([]string{supervisorName, cmd.Path}, cmd.Args...)
	cmd.Path = selfExe
	cmd.Env = append(cmd.Env,
		envSupervise+"="+strconv.FormatInt(grace.Milliseconds(), 10),
		envSuperviseParent+"="+strconv.Itoa(os.Getpid()),
		envSuperviseFrozen+"="+strconv.FormatInt(frozen.Milliseconds(), 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: supervisorDeathSig}
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
		if !strings.HasPrefix(kv, envSupervise+"=") && !strings.HasPrefix(kv, envSuperviseParent+"=") && !strings.HasPrefix(kv, envSuperviseFrozen+"=") {
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
