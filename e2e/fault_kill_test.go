package e2e_test

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/backout/backout/internal/testutil/steplog"
)

// TestFaultKill9MidStep (#15 items 2 and 6): `bot serve` killed with
// SIGKILL at a random point of a long, non-idempotent step. The step's
// processes are gone within a second; the restarted process marks the
// rollback interrupted and runs nothing until a person resumes it; then
// the step runs once more, never alongside the first run.
func TestFaultKill9MidStep(t *testing.T) {
	t.Parallel()
	faultRounds(t, func(t *testing.T, f *figures) {
		const stepFor = 3 * time.Second
		rig := newFaultRig(t, faultRunbook{Seconds: stepFor.Seconds()})
		addr := freeAddr(t)
		path := rig.config("kill9", addr, "  kind: bolt\n  path: "+filepath.Join(rig.w.dir, "state.db"), faultEngine)
		b := rig.start("kill9", path, addr, "engine.lease_ttl and kill_grace")
		p := rig.rollBack(b)
		first := rig.waitRunning("migrate", 1, 15*time.Second)
		time.Sleep(randomDelay(stepFor * 2 / 3))

		killed := time.Now()
		b.kill9()
		gone := waitGone(t, first, killed, 5*time.Second)
		f.add("kill-to-gone", gone)
		if gone > time.Second {
			t.Errorf("the step's processes %v outlived the bot by %v, want under 1s (#15 item 2)", first.PIDs(), gone.Round(time.Millisecond))
		}

		b2 := rig.start("kill9-restarted", path, addr, "engine.lease_ttl and kill_grace")
		rig.w.waitState(b2, p.ID, "interrupted", faultLeaseTTL+faultKillGrace+10*time.Second)
		// Three engine ticks (TTL/3 each) at least: automatic resume had its chance.
		time.Sleep(faultLeaseTTL + faultKillGrace)
		if runs := steplog.Of(rig.executions(), "migrate"); len(runs) != 1 {
			t.Fatalf("migrate (not idempotent) ran again without Resume: %v", runs)
		}

		rig.waitResumeOffered(p, 10*time.Second)
		if code, body := b2.send(rig.w.click("UBOB", p, "resume", p.ID)); code != http.StatusOK {
			t.Fatalf("resume %s: %d %s", p.ID, code, body)
		}
		rig.w.waitState(b2, p.ID, "succeeded", stepFor+15*time.Second)
		runs := steplog.Of(rig.executions(), "migrate")
		if len(runs) != 2 || !runs[0].End.IsZero() || runs[1].End.IsZero() {
			t.Errorf("migrate runs %v, want the one cut by the kill, then one to its end", runs)
		}
		if after := steplog.Of(rig.executions(), "after"); len(after) != 1 {
			t.Errorf("after ran %d times, want once: %v", len(after), after)
		}
		rig.checkNoOverlap(f)
		t.Logf("killed %v after migrate started; its processes were gone %v after the kill", killed.Sub(first.Start).Round(time.Millisecond), gone.Round(time.Millisecond))
	})
}

// waitGone waits until none of an execution's processes is alive, and
// returns how long after since that took.
func waitGone(t *testing.T, e steplog.Execution, since time.Time, bound time.Duration) time.Duration {
	t.Helper()
	for {
		var alive []int
		for _, pid := range e.PIDs() {
			if steplog.Alive(pid) {
				alive = append(alive, pid)
			}
		}
		took := time.Since(since)
		if len(alive) == 0 {
			return took
		}
		if took > bound {
			t.Fatalf("processes %v of %v still alive %v after the kill", alive, e, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
