package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backout/backout/internal/exec"
)

func TestRunCapturesBothStreams(t *testing.T) {
	o, err := Run(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", "echo out; echo err >&2"}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Stdout != "out\n" || o.Stderr != "err\n" || o.ExitCode != 0 {
		t.Fatalf("got %+v", o)
	}
	if got, want := o.Text(), "out\n--- stderr ---\nerr\n"; got != want {
		t.Fatalf("Text() = %q, want %q", got, want)
	}
}

func TestRunNonZeroExit(t *testing.T) {
	o, err := Run(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", "echo first >&2; echo 'it broke' >&2; exit 3"}})
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want *ExitError", err)
	}
	if ee.Code != 3 || o.ExitCode != 3 || ee.Last != "it broke" {
		t.Fatalf("got code %d/%d last %q", ee.Code, o.ExitCode, ee.Last)
	}
	if got, want := err.Error(), "sh exited with status 3: it broke"; got != want {
		t.Fatalf("error %q, want %q", got, want)
	}
	if exec.IsRetryable(err) {
		t.Fatal("a non-zero exit must not be retryable by default")
	}
}

func TestRunStartFailure(t *testing.T) {
	_, err := Run(context.Background(), Spec{Argv: []string{"/nonexistent/backout-test-binary"}})
	if err == nil || !strings.Contains(err.Error(), "start backout-test-binary") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Run(context.Background(), Spec{}); err == nil {
		t.Fatal("empty argv accepted")
	}
}

func TestRunDoesNotInheritEnvironment(t *testing.T) {
	t.Setenv("BACKOUT_PROC_LEAK", "visible")
	o, err := Run(context.Background(), Spec{Argv: []string{"/usr/bin/env"}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Stdout != "" {
		t.Fatalf("child saw environment %q", o.Stdout)
	}
	o, err = Run(context.Background(), Spec{Argv: []string{"/usr/bin/env"}, Env: []string{"ONLY=this"}})
	if err != nil || o.Stdout != "ONLY=this\n" {
		t.Fatalf("got %q, %v", o.Stdout, err)
	}
}

func TestRunStdin(t *testing.T) {
	o, err := Run(context.Background(), Spec{Argv: []string{"/bin/cat"}, Stdin: []byte("hello\n")})
	if err != nil || o.Stdout != "hello\n" {
		t.Fatalf("got %q, %v", o.Stdout, err)
	}
	// A child that never reads a large stdin must not wedge the run.
	big := make([]byte, 1<<20)
	if _, err := Run(context.Background(), Spec{Argv: []string{"/bin/true"}, Stdin: big}); err != nil {
		t.Fatal(err)
	}
}

// pids parses one PID per line.
func pids(t *testing.T, out string) []int {
	t.Helper()
	var ps []int
	for _, f := range strings.Fields(out) {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad pid %q in %q", f, out)
		}
		ps = append(ps, p)
	}
	return ps
}

// gone reports whether pid no longer runs. A zombie counts as gone: it has
// exited and only waits for its (re)parent, which in a container without an
// init may never come.
func gone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// requireGone waits (bounded) for every pid to disappear: SIGKILL is
// delivered asynchronously, so the check polls rather than assuming.
func requireGone(t *testing.T, ps []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range ps {
		for !gone(p) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(p, syscall.SIGKILL)
				t.Fatalf("process %d survived", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestTimeoutStopsWholeProcessGroup(t *testing.T) {
	tests := []struct {
		name   string
		script string
	}{
		{"grandchildren obey SIGTERM", `echo $$; sleep 60 & echo $!; sleep 60 & echo $!; wait`},
		// Ignored signals stay ignored across exec, so only SIGKILL ends these.
		{"SIGTERM ignored", `trap '' TERM; echo $$; sleep 60 & echo $!; sleep 60 & echo $!; wait`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Long enough for the shell to start both sleeps and print
			// their pids on a loaded machine (at 500 ms, under a full
			// -race suite on two cores, it sometimes had not).
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			o, err := Run(ctx, Spec{Argv: []string{"/bin/sh", "-c", tt.script}, KillGrace: 200 * time.Millisecond})
			if !o.TimedOut || o.Cancelled {
				t.Fatalf("outcome %+v", o)
			}
			if !exec.IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want retryable deadline", err)
			}
			ps := pids(t, o.Stdout)
			if len(ps) != 3 {
				t.Fatalf("want 3 pids, got %q", o.Stdout)
			}
			requireGone(t, ps)
		})
	}
}

func TestCancelStopsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the grandchild exists, so the test never races its start.
	go func() {
		for ctx.Err() == nil {
			if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	script := `sleep 60 & echo $! > "$0.tmp"; mv "$0.tmp" "$0"; echo $!; wait`
	o, err := Run(ctx, Spec{Argv: []string{"/bin/sh", "-c", script, pidFile}, KillGrace: 100 * time.Millisecond})
	if !o.Cancelled || o.TimedOut || !errors.Is(err, context.Canceled) || exec.IsRetryable(err) {
		t.Fatalf("outcome %+v err %v", o, err)
	}
	// The pid file, not stdout: the cancel may land before the echo.
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	ps := pids(t, string(b))
	if len(ps) != 1 {
		t.Fatalf("want 1 pid, got %q", b)
	}
	requireGone(t, ps)
}

func TestBackgroundChildSweptAfterNormalExit(t *testing.T) {
	o, err := Run(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", "sleep 60 & echo $!"}})
	if err != nil {
		t.Fatal(err)
	}
	requireGone(t, pids(t, o.Stdout))
}

func TestAlreadyCancelledDoesNotStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	_, err := Run(ctx, Spec{Argv: []string{"/usr/bin/touch", dir + "/ran"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if _, statErr := os.Stat(dir + "/ran"); statErr == nil {
		t.Fatal("process ran after cancel")
	}
}

func TestOutputKeepsTailWithMarker(t *testing.T) {
	var want strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	script := `i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done`
	o, err := Run(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", script}, OutputLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	full := want.String()
	marker := fmt.Sprintf("[... %d bytes truncated ...]\n", len(full)-100)
	if o.Stdout != marker+full[len(full)-100:] {
		t.Fatalf("got %q", o.Stdout)
	}
}

func TestOutputRedacted(t *testing.T) {
	secret := "hunter2-very-secret"
	o, err := Run(context.Background(), Spec{
		Argv:   []string{"/bin/sh", "-c", "echo token=$TOKEN; echo bad $TOKEN >&2; exit 1"},
		Env:    []string{"TOKEN=" + secret},
		Redact: []string{secret},
	})
	if strings.Contains(o.Stdout+o.Stderr+err.Error(), secret) {
		t.Fatalf("secret leaked: %+v %v", o, err)
	}
	if o.Stdout != "token=[redacted]\n" || err.Error() != "sh exited with status 1: bad [redacted]" {
		t.Fatalf("got %q / %v", o.Stdout, err)
	}
}
