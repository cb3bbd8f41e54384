package e2e_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
	boltstore "github.com/backout/backout/internal/store/bolt"
)

// gracefulRunbook's migrate step is not idempotent (the default): a
// shutdown must let it finish, and must not start after.
const gracefulRunbook = `name: graceful-demo
description: A slow step that must not be cut in half, then one more, for the SIGTERM test.
steps:
  - id: migrate
    name: Migrate (slow, not idempotent)
    uses: shell
    with: {script: scripts/migrate.sh, env: [BACKOUT_DEMO_DIR]}
    timeout: 1m
  - id: after
    name: After the migration
    needs: [migrate]
    uses: shell
    with: {script: scripts/after.sh, env: [BACKOUT_DEMO_DIR]}
`

const migrateScript = `#!/bin/sh
set -eu
: "${BACKOUT_DEMO_DIR:?}"
echo started >>"$BACKOUT_DEMO_DIR/migrate.started"
sleep 3
echo done >>"$BACKOUT_DEMO_DIR/migrate.done"
`

const afterScript = `#!/bin/sh
set -eu
echo ran >>"$BACKOUT_DEMO_DIR/after.ran"
`

// TestSIGTERMLetsNonIdempotentStepFinish (issue 15.3): SIGTERM while a
// non-idempotent shell step runs lets it finish, starts nothing after it,
// hands the rollback on (interrupted, due to resume on its own), says so in
// the thread, and exits 0 within the grace; the next process resumes it
// without running the finished step again.
func TestSIGTERMLetsNonIdempotentStepFinish(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	addr := freeAddr(t)
	runbooks := writeRunbooks(t, w.dir)
	for name, text := range map[string]string{"graceful-demo.yaml": gracefulRunbook, "scripts/migrate.sh": migrateScript, "scripts/after.sh": afterScript} {
		if err := os.WriteFile(filepath.Join(runbooks, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dbPath := filepath.Join(w.dir, "state.db")
	path := w.writeConfig("graceful", cfg{Listen: addr, Runbooks: runbooks, SlowRunbook: "graceful-demo",
		Store: "  kind: bolt\n  path: " + dbPath})
	b := w.start("graceful", path, addr)
	w.deploy(b, "slow-api", "1.0.0", 3*time.Hour)
	w.deploy(b, "slow-api", "1.1.0", 0)
	if code, body := b.send(w.command("UALICE", "C0SLOW", "propose slow-api stuck", "slow")); code != http.StatusOK {
		t.Fatalf("propose: %d %s", code, body)
	}
	p := w.waitProposals(b, "C0SLOW", 1)[0]
	if code, body := b.send(w.click("UBOB", p, "approve", p.Value)); code != http.StatusOK {
		t.Fatalf("approve: %d %s", code, body)
	}
	demoFile := func(name string) string { return filepath.Join(w.demoDir, name) }
	eventually(t, 15*time.Second, "the migrate step to start", func() (bool, string) {
		_, err := os.Stat(demoFile("migrate.started"))
		return err == nil, "no migrate.started"
	})

	termAt := time.Now()
	// The default grace (10m) bounds the shutdown; the step needs 3 s.
	if code := b.terminate(time.Minute); code != 0 {
		t.Errorf("exit code after SIGTERM: %d, want 0", code)
	}
	t.Logf("exited %v after SIGTERM while a 3 s non-idempotent step ran", time.Since(termAt).Round(time.Millisecond))
	if got := readDemo(t, demoFile("migrate.done")); got != "done\n" {
		t.Errorf("migrate.done = %q: the step did not finish exactly once", got)
	}
	if got := readDemo(t, demoFile("after.ran")); got != "" {
		t.Errorf("after ran during the shutdown: %q", got)
	}
	if !b.logHas("shutting down", "SIGTERM") || !b.logHas(`"msg":"stopped"`) {
		t.Errorf("the log does not record the shutdown and its signal")
	}

	r, steps := readBolt(t, dbPath, p.ID)
	if r.State != rollback.StateInterrupted || !r.ResumeDue {
		t.Fatalf("after SIGTERM %s is %s (resume due %v; %s), want interrupted and due to resume on its own", p.ID, r.State, r.ResumeDue, r.Outcome)
	}
	if got := kindsOf(steps, "migrate"); !slices.Equal(got, []string{rollback.StepStarted, rollback.StepSucceeded}) {
		t.Errorf("migrate's events %v, want [started succeeded]", got)
	}
	thread := w.threadTexts("C0SLOW", p.TS)
	for _, want := range []string{"stopped (SIGTERM) while it ran " + p.ID, "Step(s) slow-api/migrate finished first.", "resumes on its own"} {
		if countContaining(thread, want) != 1 {
			t.Errorf("the thread does not say %q once: %q", want, thread)
		}
	}
	if n := countContaining(thread, "safe to Resume"); n != 0 {
		t.Errorf("the thread says \"safe to Resume\": %q", thread)
	}

	// The next process picks it up on its own and runs only what is left.
	b2 := w.start("graceful-again", path, addr)
	w.waitState(b2, p.ID, "succeeded", 30*time.Second)
	if got := readDemo(t, demoFile("migrate.done")); got != "done\n" {
		t.Errorf("after the resume migrate.done = %q: the finished step ran again", got)
	}
	if got := readDemo(t, demoFile("after.ran")); got != "ran\n" {
		t.Errorf("after the resume after.ran = %q, want one run", got)
	}
}

// readDemo is a demo file's content, "" when it does not exist.
func readDemo(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

// readBolt reads one rollback and its step log from a stopped process's
// bolt file.
func readBolt(t *testing.T, dbPath, id string) (*rollback.Record, []rollback.StepEvent) {
	t.Helper()
	st, err := boltstore.Open(dbPath, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := st.GetRollback(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := st.ListSteps(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r, steps
}

func kindsOf(steps []rollback.StepEvent, stepID string) []string {
	var out []string
	for _, ev := range steps {
		if ev.StepID == stepID && ev.Kind != rollback.StepOutput {
			out = append(out, ev.Kind)
		}
	}
	return out
}
