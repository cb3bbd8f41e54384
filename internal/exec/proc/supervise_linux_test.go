//go:build linux

package proc

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backout/backout/internal/exec"
)

const envFakeBot = "BACKOUT_PROC_TEST_FAKE_BOT"

// TestFakeBot is not a test: run with envFakeBot set to a script (and
// envFakeBot_PIDS to its pid file), it is the "bot" that TestStepsDieWithTheBot kills.
func TestFakeBot(t *testing.T) {
	spec := os.Getenv(envFakeBot)
	if spec == "" {
		t.Skip("helper process for TestStepsDieWithTheBot")
	}
	script, pidFile := spec, os.Getenv(envFakeBot+"_PIDS")
	_, _ = Run(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", script, pidFile}, KillGrace: 200 * time.Millisecond,
		FrozenParentLimit: fakeBotFrozenLimit})
	t.Fatal("the step ended while the bot lived")
}

// fakeBotFrozenLimit is how long the fake bot may be stopped before its
// step is.
const fakeBotFrozenLimit = 300 * time.Millisecond

// TestStepsDieWithTheBot: the bot is killed with SIGKILL, or frozen with
// SIGSTOP (it cannot renew its lease, so its steps must stop once it has
// been frozen for FrozenParentLimit); either way the step's supervisor,
// shell and grandchild are gone within a second (after the limit).
func TestStepsDieWithTheBot(t *testing.T) {
	scripts := []struct {
		name   string
		script string
	}{
		// $PPID is the supervisor, $$ the step's shell, $! its grandchild.
		{"grandchild obeys SIGTERM", `sleep 60 & echo $PPID $$ $! > "$0.tmp"; mv "$0.tmp" "$0"; wait`},
		// Ignored signals stay ignored across exec: only SIGKILL ends these.
		{"SIGTERM ignored", `trap '' TERM; sleep 60 & echo $PPID $$ $! > "$0.tmp"; mv "$0.tmp" "$0"; wait`},
	}
	ends := []struct {
		name  string
		sig   syscall.Signal
		grace time.Duration // beyond the signal, before the one second starts
	}{
		{"SIGKILL", syscall.SIGKILL, 0},
		{"SIGSTOP", syscall.SIGSTOP, fakeBotFrozenLimit},
	}
	type testCase struct {
		name, script string
		sig          syscall.Signal
		grace        time.Duration
	}
	var tests []testCase
	for _, sc := range scripts {
		for _, end := range ends {
			tests = append(tests, testCase{end.name + ", " + sc.name, sc.script, end.sig, end.grace})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pids")
			bot := osexec.Command(os.Args[0], "-test.run=^TestFakeBot$", "-test.count=1")
			bot.Env = append(os.Environ(), envFakeBot+"="+tt.script, envFakeBot+"_PIDS="+pidFile)
			if err := bot.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = bot.Process.Kill(); _ = bot.Process.Signal(syscall.SIGCONT); _ = bot.Wait() }()
			var b []byte
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				var err error
				if b, err = os.ReadFile(pidFile); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the step never wrote its pids")
				}
			}
			ps := pids(t, strings.ReplaceAll(string(b), " ", "\n"))
			if len(ps) != 3 {
				t.Fatalf("want 3 pids, got %q", b)
			}
			for _, p := range ps {
				if gone(p) {
					t.Fatalf("process %d gone before the bot died", p)
				}
			}
			if err := bot.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			killed := time.Now()
			if tt.sig == syscall.SIGKILL {
				_ = bot.Wait()
			}
			for _, p := range ps {
				for !gone(p) {
					if time.Since(killed) > tt.grace+time.Second {
						for _, q := range ps {
							_ = syscall.Kill(q, syscall.SIGKILL)
						}
						t.Fatalf("process %d (of supervisor, step, grandchild %v) outlived the bot's %s by %s + 1s", p, ps, tt.sig, tt.grace)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			t.Logf("supervisor, step and grandchild %v gone %s after the bot's %s", ps, time.Since(killed).Round(time.Millisecond), tt.sig)
		})
	}
}

func TestSupervisorRelaysStatusAndHidesItself(t *testing.T) {
	o, err := Run(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", `kill -9 $$`}})
	if o.ExitCode != 137 || err == nil {
		t.Fatalf("killed by 9: outcome %+v err %v", o, err)
	}
	o, err = Run(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", `echo "$0"; cat /proc/$PPID/cmdline | tr '\0' ' '`}})
	if err != nil || !strings.HasPrefix(o.Stdout, "/bin/sh\n"+supervisorName+" /bin/sh /bin/sh -c") {
		t.Fatalf("got %q, %v", o.Stdout, err)
	}
}

// TestLateStepNeverStarts: a step whose StartBy has passed does not start,
// whether it passed before Run forks (the bot was frozen before it) or
// between Run's check and the moment the supervisor would start the
// program (the bot was frozen right at the fork: only the supervisor,
// reading the system's monotonic clock, can still refuse).
func TestLateStepNeverStarts(t *testing.T) {
	cases := []struct {
		name      string
		startBy   time.Duration // from now; 0: none
		frozenFor time.Duration // between Run's check and the fork
		spec      func(*Spec)   // more of the step, when it matters
		started   bool
	}{
		{name: "no deadline", started: true},
		{name: "in time", startBy: 10 * time.Second, started: true},
		{name: "in time despite a short freeze", startBy: 10 * time.Second, frozenFor: 50 * time.Millisecond, started: true},
		{name: "passed before the fork", startBy: -time.Millisecond},
		{name: "passed during a freeze at the fork", startBy: 50 * time.Millisecond, frozenFor: 200 * time.Millisecond},
		// Neither redaction nor a tiny output limit hides the refusal.
		{name: "refusal under redaction and a small output limit", startBy: 50 * time.Millisecond, frozenFor: 200 * time.Millisecond,
			spec: func(s *Spec) { s.Redact, s.OutputLimit = []string{"start", "deadline"}, 10 }},
		// The step's own environment cannot set the supervisor's deadline.
		{name: "a deadline smuggled in through env", started: true,
			spec: func(s *Spec) { s.Env = []string{envSuperviseStart + "=1"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "ran")
			spec := Spec{Argv: []string{"/bin/sh", "-c", `: > "$0"`, marker}}
			if tc.startBy != 0 {
				spec.StartBy = time.Now().Add(tc.startBy)
			}
			if tc.spec != nil {
				tc.spec(&spec)
			}
			beforeStart = func() { time.Sleep(tc.frozenFor) }
			defer func() { beforeStart = func() {} }()
			_, err := Run(context.Background(), spec)
			_, statErr := os.Stat(marker)
			if ran := statErr == nil; ran != tc.started {
				t.Fatalf("program ran: %v, want %v (Run: %v)", ran, tc.started, err)
			}
			if tc.started && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !tc.started && !errors.Is(err, exec.ErrStartBy) {
				t.Fatalf("Run: %v, want exec.ErrStartBy", err)
			}
		})
	}
}

// TestProgramCannotClaimItNeverStarted: a program that ran and exits with
// the supervisor's refusal status, saying what the supervisor would, is a
// program that failed, not a step that never started.
func TestProgramCannotClaimItNeverStarted(t *testing.T) {
	programs := []string{
		"echo 'backout: step program not started: start deadline passed' >&2; exit 125",
		// The supervisor's signal pipe is not the program's to write.
		"echo 1 >&3; exit 125",
	}
	for _, program := range programs {
		for _, startBy := range []time.Duration{0, time.Minute} {
			spec := Spec{Argv: []string{"/bin/sh", "-c", program}}
			if startBy != 0 {
				spec.StartBy = time.Now().Add(startBy)
			}
			_, err := Run(context.Background(), spec)
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != notStartedStatus || errors.Is(err, exec.ErrStartBy) {
				t.Errorf("%q, StartBy in %v: Run: %v, want the program's exit status %d", program, startBy, err, notStartedStatus)
			}
		}
	}
}
