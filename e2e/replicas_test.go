package e2e_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pdhook "github.com/backout/backout/internal/alerts/pagerduty"
)

// slowRunbook drains, holds in a step until released (or 30 s pass), then
// undrains. The hold step writes its parent's pid (the driving bot) so the
// test knows which replica to kill; it has no other effect, so that it is
// harmless to re-run on Resume.
const slowRunbook = `name: slow-demo
description: A rollback with one slow step, for crash tests.
steps:
  - id: mark
    name: Drain traffic
    uses: shell
    with: {script: scripts/demo.sh, args: [drain, "{{ .Service.Name }}"], env: [BACKOUT_DEMO_DIR]}
  - id: hold
    name: Hold (slow)
    needs: [mark]
    uses: shell
    with: {script: scripts/hold.sh, env: [BACKOUT_DEMO_DIR]}
    timeout: 1m
  - id: finish
    name: Send traffic back
    needs: [hold]
    uses: shell
    with: {script: scripts/demo.sh, args: [undrain, "{{ .Service.Name }}"], env: [BACKOUT_DEMO_DIR]}
`

const holdScript = `#!/bin/sh
# Waits until $BACKOUT_DEMO_DIR/release exists, at most 30 s.
set -eu
: "${BACKOUT_DEMO_DIR:?}"
# Record the bot running this step: on Linux the step's parent is the bot's
# step supervisor (docs/reliability.md), whose parent is the bot.
bot=$PPID
if tr '\0' ' ' <"/proc/$PPID/cmdline" 2>/dev/null | grep -q '^backout-step-supervisor '; then
  bot=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$PPID/status")
fi
echo "$bot" >>"$BACKOUT_DEMO_DIR/hold.pids"
echo "holding until released"
i=0
while [ ! -e "$BACKOUT_DEMO_DIR/release" ]; do
  i=$((i + 1))
  [ "$i" -gt 300 ] && { echo "held 30s"; exit 0; }
  sleep 0.1
done
echo released
`

// writeRunbooks makes a runbooks directory with local-demo (and its
// script) copied from the repository, and slow-demo.
func writeRunbooks(t *testing.T, dir string) string {
	t.Helper()
	rb := filepath.Join(dir, "runbooks")
	if err := os.MkdirAll(filepath.Join(rb, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile := func(rel string, mode os.FileMode) {
		data, err := os.ReadFile(filepath.Join(repoRoot, "runbooks", rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rb, rel), data, mode); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("local-demo.yaml", 0o644)
	copyFile("scripts/demo.sh", 0o755)
	if err := os.WriteFile(filepath.Join(rb, "slow-demo.yaml"), []byte(slowRunbook), 0o644); err != nil {
		t.Fatal(err)
	}
	// slow-idem is slow-demo with the hold step declared idempotent.
	idem := strings.Replace(strings.Replace(slowRunbook, "name: slow-demo", "name: slow-idem", 1),
		"    timeout: 1m\n", "    timeout: 1m\n    idempotent: true\n", 1)
	if err := os.WriteFile(filepath.Join(rb, "slow-idem.yaml"), []byte(idem), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rb, "scripts", "hold.sh"), []byte(holdScript), 0o755); err != nil {
		t.Fatal(err)
	}
	return rb
}

// startReplicas starts n processes on one store section, concurrently;
// slow-api uses the runbook slow (slow-demo when "").
func (w *world) startReplicas(n int, store, runbooks, leaseTTL string, slow ...string) []*bot {
	w.t.Helper()
	slowRunbook := "slow-demo"
	if len(slow) > 0 {
		slowRunbook = slow[0]
	}
	bots := make([]*bot, n)
	for i := range bots {
		addr := freeAddr(w.t)
		name := fmt.Sprintf("replica-%d", i)
		path := w.writeConfig(name, cfg{Listen: addr, Store: store, Runbooks: runbooks, LeaseTTL: leaseTTL, SlowRunbook: slowRunbook})
		bots[i] = w.launch(name, path, addr)
	}
	for _, b := range bots {
		b.waitReady(20 * time.Second)
	}
	return bots
}

// sendAll sends the same request to every replica at once and returns
// their status codes.
func sendAll(t *testing.T, bots []*bot, path, contentType string, body []byte, header http.Header) []int {
	t.Helper()
	codes := make([]int, len(bots))
	errs := make([]error, len(bots))
	var wg sync.WaitGroup
	for i, b := range bots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(http.MethodPost, b.url(path), bytes.NewReader(body))
			if err != nil {
				errs[i] = err
				return
			}
			req.Header = header.Clone()
			req.Header.Set("Content-Type", contentType)
			resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", bots[i], err)
		}
	}
	return codes
}

func accessLog(t *testing.T, w *world, service string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(w.demoDir, service, "access.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// TestReplicasOnRedis runs three processes on one Redis (issue 8.1): every
// event and click is delivered to all three and acts once; a replica killed
// mid-step leaves its rollback to a survivor, which marks it interrupted
// and resumes it on a person's click.
func TestReplicasOnRedis(t *testing.T) {
	t.Parallel()
	redisAddr := sharedRedis(t)
	prefix := "backout-e2e-" + randHex(6) + ":"
	t.Cleanup(func() { deleteRedisPrefix(t, redisAddr, prefix) })
	w := newWorld(t)
	bots := w.startReplicas(3, redisStore(redisAddr, prefix), writeRunbooks(t, w.dir), "2s")
	w.deploy(bots[0], "demo-api", "1.4.0", 3*time.Hour)
	w.deploy(bots[1], "demo-api", "1.5.0", 10*time.Minute)
	w.deploy(bots[2], "slow-api", "1.0.0", 3*time.Hour)
	w.deploy(bots[0], "slow-api", "1.1.0", 0)

	t.Run("one event, one click, one run", func(t *testing.T) {
		ev := pdEvent(t, "incident.triggered", "01E2E"+strings.ToUpper(randHex(8)), "Q"+strings.ToUpper(randHex(6)), "PDEMOAPI", time.Now())
		h := http.Header{}
		h.Set(pdhook.SignatureHeader, pdhook.Sign(ev, w.secrets.PDSecret))
		for i, code := range sendAll(t, bots, "/webhooks/pagerduty", "application/json", ev, h) {
			if code != http.StatusAccepted {
				t.Errorf("%s answered the PagerDuty event %d, want 202", bots[i], code)
			}
		}
		p := w.waitProposals(bots[0], "C0DEMO", 1)[0]
		click := w.click("UBOB", p, "approve", p.Value)
		codes := sendAll(t, bots, click.path, click.contentType, click.body, click.header)
		t.Logf("the same signed click sent to three replicas answered %v", codes)
		for i, code := range codes {
			// 200 acts or ignores a duplicate; 401 refuses a replay.
			if code != http.StatusOK && code != http.StatusUnauthorized {
				t.Errorf("%s answered the click %d", bots[i], code)
			}
		}
		r := w.waitState(bots[2], p.ID, "succeeded", 30*time.Second)
		if len(r.Approvers) != 1 {
			t.Errorf("approvers %v, want exactly [UBOB]", r.Approvers)
		}
		thread := w.threadTexts("C0DEMO", p.TS)
		for _, want := range []string{"<@UBOB> approved " + p.ID, p.ID + " started"} {
			if n := countContaining(thread, want); n != 1 {
				t.Errorf("%d thread messages contain %q, want 1: %q", n, want, thread)
			}
		}
		if ps := w.proposals(bots[1], "C0DEMO"); len(ps) != 1 {
			t.Errorf("%d proposals posted, want 1", len(ps))
		}
		// drain, snapshot, install, undrain: one line each, for one run.
		lines := accessLog(t, w, "demo-api")
		if len(lines) != 4 || countContaining(lines, "installed demo-api 1.4.0") != 1 {
			t.Errorf("access.log has %d lines, want 4 from exactly one run:\n%s", len(lines), strings.Join(lines, "\n"))
		}
	})
	t.Run("a survivor takes over a killed replica's rollback", func(t *testing.T) {
		survivorResumes(t, w, bots)
	})
}

func survivorResumes(t *testing.T, w *world, bots []*bot) {
	p, driver, survivors := killDriverMidStep(t, w, bots)
	pids := filepath.Join(w.demoDir, "hold.pids")
	w.waitState(survivors[0], p.ID, "interrupted", 20*time.Second)
	eventually(t, 10*time.Second, "the message to offer Resume", func() (bool, string) {
		m, _ := w.slack.Message("C0SLOW", p.TS)
		return strings.Contains(string(m.Blocks), `"action_id":"resume"`), m.Text
	})
	if n := countContaining(w.threadTexts("C0SLOW", p.TS), "was interrupted"); n != 1 {
		t.Errorf("%d interruption notes in the thread, want 1", n)
	}
	if err := os.WriteFile(filepath.Join(w.demoDir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := survivors[1].send(w.click("UBOB", p, "resume", p.ID)); code != http.StatusOK {
		t.Fatalf("resume %s: %d %s", p.ID, code, body)
	}
	w.waitState(survivors[0], p.ID, "succeeded", 20*time.Second)
	lines := accessLog(t, w, "slow-api")
	if countContaining(lines, "drained traffic") != 1 || countContaining(lines, "traffic back") != 1 {
		t.Errorf("slow-api access.log, want one drain and one undrain:\n%s", strings.Join(lines, "\n"))
	}
	data, _ := os.ReadFile(pids)
	if got := strings.Fields(string(data)); len(got) != 2 || got[1] == strconv.Itoa(driver.cmd.Process.Pid) {
		t.Errorf("hold step ran under pids %v; want the killed driver's, then a survivor's", got)
	}
}

// killDriverMidStep proposes and approves a rollback of slow-api, waits for
// its hold step to start, and kills the replica driving it with SIGKILL.
func killDriverMidStep(t *testing.T, w *world, bots []*bot) (p proposal, driver *bot, survivors []*bot) {
	t.Helper()
	p = proposeAndApproveSlow(t, w, bots[0])
	pids := filepath.Join(w.demoDir, "hold.pids")
	eventually(t, 15*time.Second, "the slow step to start", func() (bool, string) {
		data, _ := os.ReadFile(pids)
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			return false, fmt.Sprintf("hold.pids %q", data)
		}
		for _, b := range bots {
			if b.cmd.Process.Pid == pid {
				driver = b
			}
		}
		return driver != nil, fmt.Sprintf("pid %d is none of the replicas", pid)
	})
	// What the step prints reaches the rollback's message while it runs.
	eventually(t, 10*time.Second, "the hold step's output in the message", func() (bool, string) {
		m, _ := w.slack.Message("C0SLOW", p.TS)
		return strings.Contains(string(m.Blocks), "```\\nholding until released\\n```"), string(m.Blocks)
	})
	driver.kill9()
	for _, b := range bots {
		if b != driver {
			survivors = append(survivors, b)
		}
	}
	return p, driver, survivors
}

// proposeAndApproveSlow proposes a rollback of slow-api through a slash
// command sent to b, and approves it with a click.
func proposeAndApproveSlow(t *testing.T, w *world, b *bot) proposal {
	t.Helper()
	if code, body := b.send(w.command("UALICE", "C0SLOW", "propose slow-api stuck", "slow")); code != http.StatusOK {
		t.Fatalf("propose slow-api: %d %s", code, body)
	}
	p := w.waitProposals(b, "C0SLOW", 1)[0]
	if code, body := b.send(w.click("UBOB", p, "approve", p.Value)); code != http.StatusOK {
		t.Fatalf("approve %s: %d %s", p.ID, code, body)
	}
	return p
}

// TestIdempotentStepResumesOnItsOwn kills the replica driving a step the
// runbook declares idempotent: a survivor marks the rollback interrupted,
// says so, and resumes it without anyone clicking, running the step again,
// once, though two survivors race for it.
func TestIdempotentStepResumesOnItsOwn(t *testing.T) {
	t.Parallel()
	redisAddr := sharedRedis(t)
	prefix := "backout-e2e-" + randHex(6) + ":"
	t.Cleanup(func() { deleteRedisPrefix(t, redisAddr, prefix) })
	w := newWorld(t)
	bots := w.startReplicas(3, redisStore(redisAddr, prefix), writeRunbooks(t, w.dir), "2s", "slow-idem")
	w.deploy(bots[0], "slow-api", "1.0.0", 3*time.Hour)
	w.deploy(bots[1], "slow-api", "1.1.0", 0)

	p, driver, survivors := killDriverMidStep(t, w, bots)
	eventually(t, 20*time.Second, "the survivor to resume on its own", func() (bool, string) {
		thread := w.threadTexts("C0SLOW", p.TS)
		return countContaining(thread, "Backout resumed "+p.ID+" on its own") == 1, strings.Join(thread, "\n")
	})
	thread := w.threadTexts("C0SLOW", p.TS)
	if n := countContaining(thread, "they are idempotent, so Backout resumes on its own"); n != 1 {
		t.Errorf("%d interruption notes saying it resumes on its own, want 1: %q", n, thread)
	}
	if err := os.WriteFile(filepath.Join(w.demoDir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w.waitState(survivors[0], p.ID, "succeeded", 20*time.Second)
	data, _ := os.ReadFile(filepath.Join(w.demoDir, "hold.pids"))
	if got := strings.Fields(string(data)); len(got) != 2 || got[1] == strconv.Itoa(driver.cmd.Process.Pid) {
		t.Errorf("hold step ran under pids %v; want the killed driver's, then one survivor's", got)
	}
	thread = w.threadTexts("C0SLOW", p.TS)
	for _, note := range []string{"was interrupted", "Backout resumed " + p.ID + " on its own"} {
		if n := countContaining(thread, note); n != 1 {
			t.Errorf("%d thread notes contain %q, want 1", n, note)
		}
	}
	lines := accessLog(t, w, "slow-api")
	if countContaining(lines, "drained traffic") != 1 || countContaining(lines, "traffic back") != 1 {
		t.Errorf("slow-api access.log, want one drain and one undrain:\n%s", strings.Join(lines, "\n"))
	}
}
