package incident_test

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/exec/noop"
	"github.com/backout/backout/internal/exec/shell"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/store/bolt"
)

// crashChildEnv switches the test binary into the child of TestCrashMidStep;
// crashIdempotentEnv tells it the step is idempotent.
const (
	crashChildEnv      = "BACKOUT_TEST_CRASH_CHILD"
	crashIdempotentEnv = "BACKOUT_TEST_CRASH_IDEMPOTENT"
)

// The step appends one line per run to $MARKER_FILE, then sleeps
// $STEP_SLEEP seconds (30 in the child, 0 on resume). It writes its pid
// first so the test can stop the sleeper the killed child leaves behind.
const (
	crashRunbook = `
name: steps
steps:
  - id: mark
    uses: shell
    with:
      script: mark.sh
      env: [MARKER_FILE, STEP_SLEEP]
    idempotent: %t
  - id: after
    needs: [mark]
    uses: noop
`
	markScript = `#!/bin/sh
echo $$ > "$MARKER_FILE.pid"
echo ran >> "$MARKER_FILE"
exec sleep "$STEP_SLEEP"
`
)

func crashSetup(dir, replica string, env func(string) (string, bool), idempotent bool) setup {
	return setup{runbook: fmt.Sprintf(crashRunbook, idempotent), dir: dir, replica: replica, env: env,
		executors: []exec.Executor{shell.New(), noop.New()}}
}

// TestCrashMidStep kills a real process while its step runs, then checks
// what recovery does with the step in flight: a step that is not
// idempotent is marked interrupted and not run again until Resume (a
// person's say-so); an idempotent one runs again on its own.
func TestCrashMidStep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	for _, idempotent := range []bool{false, true} {
		t.Run(fmt.Sprintf("idempotent=%t", idempotent), func(t *testing.T) { testCrashMidStep(t, idempotent) })
	}
}

func testCrashMidStep(t *testing.T, idempotent bool) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "runbooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "runbooks", "mark.sh"), []byte(markScript), 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "marker")
	childLog := runCrashChild(t, dir, marker, idempotent)

	// The file survives; the lease the child held is long expired by now.
	clk := incidenttest.NewClock(time.Now().Add(time.Hour))
	st, err := bolt.Open(filepath.Join(dir, "state.db"), bolt.Options{Now: clk.Now})
	if err != nil {
		t.Fatalf("reopen after the crash: %v\nchild log:\n%s", err, childLog())
	}
	t.Cleanup(func() { _ = st.Close() })
	env := func(name string) (string, bool) {
		switch name {
		case "MARKER_FILE":
			return marker, true
		case "STEP_SLEEP":
			return "0", true
		}
		return os.LookupEnv(name)
	}
	e := newEnvOn(t, backends[0], st, clk, crashSetup(dir, "replica-after", env, idempotent))
	rs, err := st.ListRollbacks(e.ctx, store.RollbackQuery{})
	if err != nil || len(rs) != 1 || rs[0].State != rollback.StateRunning {
		t.Fatalf("after the crash want one running rollback, got %d (%v)\nchild log:\n%s", len(rs), err, childLog())
	}
	id := rs[0].ID
	want := []string{rollback.StepStarted, rollback.StepInterrupted, rollback.StepStarted, rollback.StepSucceeded}

	e.svc.Tick(e.ctx)
	if idempotent {
		e.wantPosted("Step(s) checkout/mark had started and never finished; they are idempotent, so Backout resumes on its own")
		e.finish(id, rollback.StateSucceeded)
		if n := markerLines(t, marker); n != 2 {
			t.Fatalf("marker has %d line(s) after the automatic resume, want 2", n)
		}
		if got := e.stepKinds(id, "checkout", "mark"); !slices.Equal(got, want) {
			t.Fatalf("mark events %v, want %v", got, want)
		}
		return
	}
	if got := e.get(id).State; got != rollback.StateInterrupted {
		t.Fatalf("after Tick: %s, want interrupted", got)
	}
	if got := e.stepKinds(id, "checkout", "mark"); !slices.Equal(got, []string{rollback.StepStarted, rollback.StepInterrupted}) {
		t.Fatalf("mark events %v, want [started interrupted]", got)
	}
	e.wantPosted("Step(s) checkout/mark had started and never finished; they are not re-run unless you press Resume")
	if n := markerLines(t, marker); n != 1 {
		t.Fatalf("marker has %d line(s) after recovery, want 1: the step ran again", n)
	}

	if failure, err := e.svc.Resume(e.ctx, person("req"), id); err != nil || failure != nil {
		t.Fatalf("resume: %q %v", failure, err)
	}
	e.finish(id, rollback.StateSucceeded)
	if n := markerLines(t, marker); n != 2 {
		t.Fatalf("marker has %d line(s) after Resume, want 2", n)
	}
	if got := e.stepKinds(id, "checkout", "mark"); !slices.Equal(got, want) {
		t.Fatalf("mark events %v, want %v", got, want)
	}
}

// runCrashChild starts the child, waits until its step has started, and
// kills it with SIGKILL. It returns a reader of the child's output.
func runCrashChild(t *testing.T, dir, marker string, idempotent bool) func() string {
	t.Helper()
	logPath := filepath.Join(dir, "child.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	childLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }

	cmd := osexec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprintf("%s=%t", crashIdempotentEnv, idempotent), "MARKER_FILE="+marker, "STEP_SLEEP=30")
	// A file, not a pipe: the orphaned sleeper must not hold up Wait.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	deadline := time.After(waitLimit)
	for markerLines(t, marker) == 0 {
		select {
		case err := <-exited:
			t.Fatalf("child exited before its step ran: %v\n%s", err, childLog())
		case <-deadline:
			t.Fatalf("child's step never ran\n%s", childLog())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	// The step's process group outlives the child; stop it.
	if b, err := os.ReadFile(marker + ".pid"); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	return childLog
}

func markerLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// crashChild proposes and approves a rollback whose step sleeps, on a bolt
// file, and waits to be killed. It runs with the real clock.
func crashChild() int {
	dir := os.Getenv(crashChildEnv)
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		return 2
	}
	st, err := bolt.Open(filepath.Join(dir, "state.db"), bolt.Options{})
	if err != nil {
		return fail("open: %v", err)
	}
	svc, _, err := build(crashSetup(dir, "replica-child", nil, os.Getenv(crashIdempotentEnv) == "true"), st, incident.SystemClock{}, chat.NoopPoster{}, incident.NoopPager{}, incidenttest.NewExecutor("fake"))
	if err != nil {
		return fail("build: %v", err)
	}
	ctx := context.Background()
	now := time.Now()
	for i, v := range []string{"1.0.0", "1.1.0"} {
		in := incident.DeployInput{Service: "checkout", Version: v, Artifact: artifact("checkout", v), DeployedAt: now.Add(time.Duration(i-2) * 90 * time.Minute)}
		if _, failure, err := svc.RecordDeploy(ctx, person("ci"), in); err != nil || failure != nil {
			return fail("deploy %s: %q %v", v, failure, err)
		}
	}
	r, failure, err := svc.Propose(ctx, person("req"), checkout())
	if err != nil || failure != nil {
		return fail("propose: %q %v", failure, err)
	}
	for _, u := range []string{"alice", "bob"} {
		if failure, err := svc.Vote(ctx, person(u), incident.VoteRequest{ID: r.ID, Approve: true}); err != nil || failure != nil {
			return fail("vote %s: %q %v", u, failure, err)
		}
	}
	fmt.Fprintf(os.Stderr, "crash child: %s approved, waiting to be killed\n", r.ID)
	time.Sleep(time.Minute)
	return fail("never killed")
}
