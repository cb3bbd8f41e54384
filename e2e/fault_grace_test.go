package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/testutil/steplog"
)

// TestFaultKill9MixedKillGrace: two replicas on a private Redis whose
// engine.kill_grace differ, as during a rolling change of the setting. The
// one with the long grace drives an idempotent step that ignores SIGTERM
// and is killed with SIGKILL; its step supervisor lets the step run for
// that grace before SIGKILL, as the holder's config says. The survivor,
// whose own grace is short, must still wait the holder's before it takes
// the rollback over and runs the step again: the two copies never overlap.
// (Found by an attack through bot serve: the survivor resumed 7 s after
// the kill while the killed replica's copy ran on.)
func TestFaultKill9MixedKillGrace(t *testing.T) {
	t.Parallel()
	faultRounds(t, func(t *testing.T, f *figures) {
		const (
			stepFor     = 15 * time.Second
			holderGrace = 15 * time.Second
		)
		rds := newPrivateRedis(t)
		rig := newFaultRig(t, faultRunbook{Seconds: stepFor.Seconds(), Idempotent: true})
		stubborn := strings.Replace(recordScript, "set -eu\n", "set -eu\ntrap '' TERM # the sleep inherits it: SIGKILL alone stops this step\n", 1)
		if err := os.WriteFile(filepath.Join(rig.runbooks, "scripts", "record.sh"), []byte(stubborn), 0o755); err != nil {
			t.Fatal(err)
		}
		store := redisStore(rds.addr, "fault:")
		holderAddr, takerAddr := freeAddr(t), freeAddr(t)
		holder := rig.start("holder", rig.config("holder", holderAddr, store,
			"{lease_ttl: 6s, renew_deadline: 4s, kill_grace: 15s, output_every: 200ms}"), holderAddr, "engine.renew_deadline (#15 item 1)")
		p := rig.rollBack(holder) // the only replica yet: it drives
		first := rig.waitRunning("migrate", 1, 15*time.Second)
		taker := rig.start("taker", rig.config("taker", takerAddr, store, faultEngineRenew), takerAddr, "engine.renew_deadline (#15 item 1)")
		time.Sleep(randomDelay(2 * time.Second))

		killed := time.Now()
		holder.kill9()
		second := rig.waitRunning("migrate", 2, faultLeaseTTL+holderGrace+20*time.Second)
		f.add("kill-to-takeover", second.Start.Sub(killed))
		if second.Bot != taker.cmd.Process.Pid {
			t.Errorf("migrate ran again under pid %d, not the survivor's (%d)", second.Bot, taker.cmd.Process.Pid)
		}
		rig.w.waitState(taker, p.ID, "succeeded", stepFor+20*time.Second)
		if runs := steplog.Of(rig.executions(), "migrate"); len(runs) != 2 {
			t.Errorf("migrate ran %d times, want twice (cut by the kill, then the takeover): %v", len(runs), runs)
		}
		rig.checkNoOverlap(f)
		t.Logf("killed the holder %v into migrate; the survivor started it again %v later",
			killed.Sub(first.Start).Round(time.Millisecond), second.Start.Sub(killed).Round(time.Millisecond))
	})
}
