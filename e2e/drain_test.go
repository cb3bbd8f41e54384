package e2e_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat/slack/slackfake"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/testutil/steplog"
)

// stuckRunbook's migrate step is not idempotent and ignores SIGTERM (so
// does its child, which inherits the ignored signal): a shutdown would wait
// for it for the whole grace, and only SIGKILL, kill_grace after an Abort's
// SIGTERM, stops it.
const stuckRunbook = `name: stuck-demo
description: A migration that hangs and ignores SIGTERM, for the abort-during-the-drain test.
steps:
  - id: migrate
    name: Migrate (hangs, not idempotent)
    uses: shell
    with: {script: scripts/stuck.sh, env: [BACKOUT_DEMO_DIR]}
    timeout: 10m
  - id: after
    name: After the migration
    needs: [migrate]
    uses: shell
    with: {script: scripts/after.sh, env: [BACKOUT_DEMO_DIR]}
`

const stuckScript = `#!/bin/sh
set -eu
: "${BACKOUT_DEMO_DIR:?}"
trap '' TERM
sleep 600 &
echo "$$ $!" >"$BACKOUT_DEMO_DIR/migrate.pids.tmp"
mv "$BACKOUT_DEMO_DIR/migrate.pids.tmp" "$BACKOUT_DEMO_DIR/migrate.pids"
wait
echo done >>"$BACKOUT_DEMO_DIR/migrate.done"
`

// drainKillGrace is the test's engine.kill_grace; shutdown_grace keeps its
// default (10m), which the test must not wait for.
const drainKillGrace = 2 * time.Second

// TestAbortDuringTheDrain: SIGTERM to the only replica while a hung,
// non-idempotent step runs. The replica drains: /readyz answers 503 at
// once, but Slack still reaches it. Approve and a new proposal are refused
// privately; Abort (the button and its reason modal, signed) stops the step
// (SIGTERM, then SIGKILL after kill_grace), the rollback ends aborted and
// the thread says so, and the process exits 0 long before shutdown_grace.
func TestAbortDuringTheDrain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	addr := freeAddr(t)
	runbooks := writeRunbooks(t, w.dir)
	for name, text := range map[string]string{"stuck-demo.yaml": stuckRunbook, "scripts/stuck.sh": stuckScript, "scripts/after.sh": afterScript} {
		if err := os.WriteFile(filepath.Join(runbooks, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dbPath := filepath.Join(w.dir, "state.db")
	path := w.writeConfig("drain", cfg{Listen: addr, Runbooks: runbooks, SlowRunbook: "stuck-demo",
		Engine: "{kill_grace: " + drainKillGrace.String() + "}", Store: "  kind: bolt\n  path: " + dbPath})
	b := w.start("drain", path, addr)
	p, waiting := startStuckRollback(t, w, b)
	pids := stepPIDs(t, w)

	termAt := time.Now()
	b.sigterm()
	eventually(t, 10*time.Second, "/readyz to answer 503 during the drain", func() (bool, string) {
		code, body := b.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "shutting down"), strconv.Itoa(code) + " " + body
	})
	refusedDuringTheDrain(t, w, b, waiting)
	if !b.running() || !anyAlive(pids) {
		t.Fatalf("before the Abort: process running %v, step processes %v alive %v; want both (the drain waits for the step)", b.running(), pids, anyAlive(pids))
	}

	abortWithReason(t, w, b, p, "UALICE", "the migration hangs; stopping it")
	eventually(t, drainKillGrace+20*time.Second, "the step's processes to be gone after the Abort", func() (bool, string) {
		return !anyAlive(pids), "still alive: " + alivePIDs(pids)
	})
	if code := b.waitExit(2 * time.Minute); code != 0 {
		t.Errorf("exit code after SIGTERM and Abort: %d, want 0", code)
	}
	t.Logf("exited %v after SIGTERM (shutdown_grace 10m, kill_grace %v)", time.Since(termAt).Round(time.Millisecond), drainKillGrace)
	checkAbortedInTheDrain(t, w, b, dbPath, p)
}

// startStuckRollback proposes and approves a rollback of slow-api (whose
// migrate hangs) and waits for its step; it also leaves a proposal of
// demo-api waiting for votes.
func startStuckRollback(t *testing.T, w *world, b *bot) (running, waiting proposal) {
	t.Helper()
	w.deploy(b, "slow-api", "1.0.0", 3*time.Hour)
	w.deploy(b, "slow-api", "1.1.0", 0)
	w.deploy(b, "demo-api", "1.4.0", 3*time.Hour)
	w.deploy(b, "demo-api", "1.5.0", 0)
	if code, body := b.send(w.command("UALICE", "C0SLOW", "propose slow-api migration stuck", "slow")); code != http.StatusOK {
		t.Fatalf("propose slow-api: %d %s", code, body)
	}
	running = w.waitProposals(b, "C0SLOW", 1)[0]
	if code, body := b.send(w.click("UBOB", running, "approve", running.Value)); code != http.StatusOK {
		t.Fatalf("approve: %d %s", code, body)
	}
	if code, body := b.send(w.command("UALICE", "C0DEMO", "propose demo-api errors up", "demo")); code != http.StatusOK {
		t.Fatalf("propose demo-api: %d %s", code, body)
	}
	waiting = w.waitProposals(b, "C0DEMO", 1)[0]
	return running, waiting
}

// stepPIDs waits for the stuck step to start and returns its shell's and
// its child's pids.
func stepPIDs(t *testing.T, w *world) []int {
	t.Helper()
	var pids []int
	eventually(t, 20*time.Second, "the migrate step to start", func() (bool, string) {
		data, err := os.ReadFile(filepath.Join(w.demoDir, "migrate.pids"))
		if err != nil {
			return false, err.Error()
		}
		pids = nil
		for _, f := range strings.Fields(string(data)) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("migrate.pids: %q", data)
			}
			pids = append(pids, n)
		}
		return len(pids) == 2, string(data)
	})
	return pids
}

func anyAlive(pids []int) bool { return slices.ContainsFunc(pids, steplog.Alive) }

func alivePIDs(pids []int) string {
	var out []string
	for _, pid := range pids {
		if steplog.Alive(pid) {
			out = append(out, strconv.Itoa(pid))
		}
	}
	return strings.Join(out, " ")
}

// refusedDuringTheDrain: an Approve click and a new proposal reach the
// draining replica and are refused privately, saying what to do; nothing
// changes.
func refusedDuringTheDrain(t *testing.T, w *world, b *bot, waiting proposal) {
	t.Helper()
	before := len(w.rollbackIDs(b))
	if code, body := b.send(w.click("UCAROL", waiting, "approve", waiting.Value)); code != http.StatusOK {
		t.Fatalf("approve during the drain: %d %s", code, body)
	}
	eventually(t, 10*time.Second, "a private refusal of the Approve", func() (bool, string) {
		got := w.ephemerals("UCAROL")
		return countContaining(got, "is shutting down") == 1 && countContaining(got, "Try again in a few minutes") == 1, strings.Join(got, " | ")
	})
	if code, body := b.send(w.command("UALICE", "C0WEB", "propose demo-web errors up", "drain-propose")); code != http.StatusOK {
		t.Fatalf("propose during the drain: %d %s", code, body)
	}
	if rep := w.waitReply("drain-propose"); rep.ResponseType != "ephemeral" || !strings.Contains(rep.Text, "is shutting down") ||
		!strings.Contains(rep.Text, "Abort still works") {
		t.Errorf("a proposal during the drain was answered %s, want a private refusal", rep.Raw)
	}
	if r, _ := w.rollback(b, waiting.ID); r.State != "proposed" || len(r.Approvers) != 0 {
		t.Errorf("after a refused Approve %s is %s approved by %v, want proposed with none", waiting.ID, r.State, r.Approvers)
	}
	if after := len(w.rollbackIDs(b)); after != before {
		t.Errorf("%d rollbacks after a refused proposal, want %d", after, before)
	}
}

// abortWithReason presses Abort on p as user and submits the reason modal,
// both signed as Slack signs them.
func abortWithReason(t *testing.T, w *world, b *bot, p proposal, user, reason string) {
	t.Helper()
	viewsBefore := len(w.slack.Views())
	if code, body := b.send(w.click(user, p, "abort", p.ID)); code != http.StatusOK {
		t.Fatalf("%s presses Abort: %d %s", user, code, body)
	}
	eventually(t, 10*time.Second, "views.open for the abort's reason", func() (bool, string) {
		return len(w.slack.Views()) > viewsBefore, "no view opened"
	})
	sub, err := w.slack.ViewSubmission(w.slack.Views()[viewsBefore], user, map[string]string{"reason": reason})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := b.send(signSlack("/slack/interactions", slackfake.FormContentType, slackfake.InteractionForm(sub), w.secrets.SigningSecret, time.Now())); code != http.StatusOK {
		t.Fatalf("abort reason submitted: %d %s", code, body)
	}
}

// checkAbortedInTheDrain reads the stopped process's store and the thread.
func checkAbortedInTheDrain(t *testing.T, w *world, b *bot, dbPath string, p proposal) {
	t.Helper()
	r, steps := readBolt(t, dbPath, p.ID)
	if r.State != rollback.StateAborted || !strings.Contains(r.Outcome, "the migration hangs") {
		t.Errorf("%s is %s (%s), want aborted with the reason", p.ID, r.State, r.Outcome)
	}
	if got := kindsOf(steps, "migrate"); !slices.Equal(got, []string{rollback.StepStarted, rollback.StepFailed}) {
		t.Errorf("migrate's events %v, want [started failed]", got)
	}
	for _, name := range []string{"migrate.done", "after.ran"} {
		if got := readDemo(t, filepath.Join(w.demoDir, name)); got != "" {
			t.Errorf("%s = %q: want nothing", name, got)
		}
	}
	thread := w.threadTexts("C0SLOW", p.TS)
	if countContaining(thread, "asked to abort "+p.ID) != 1 {
		t.Errorf("the thread does not say once that the abort was asked: %q", thread)
	}
	for _, wrong := range []string{"handed it on", "resumes on its own"} {
		if countContaining(thread, wrong) != 0 {
			t.Errorf("the thread says %q after an abort: %q", wrong, thread)
		}
	}
	if !b.logHas("shutting down", "SIGTERM") || !b.logHas("drained") || !b.logHas(`"msg":"stopped"`) {
		t.Errorf("the log does not record the two phases of the shutdown")
	}
}
