package e2e_test

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/backout/backout/internal/testutil/steplog"
)

// TestFaultFrozenLeaseHolder (#15 items 1, 4 and 6): three replicas on a
// private Redis; the one driving a long step is frozen (SIGSTOP) for longer
// than the lease TTL plus the kill grace. Another replica takes the
// rollback over (a person's Resume, or on its own when the step is
// idempotent), the frozen one is woken (SIGCONT), and no two executions of
// the step ever overlap: the frozen holder's copy must be gone before the
// new one starts, though the holder itself could do nothing while frozen.
func TestFaultFrozenLeaseHolder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		idempotent bool
	}{
		{"not idempotent: a person resumes", false},
		{"idempotent: resumes on its own", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			faultRounds(t, func(t *testing.T, f *figures) { frozenHolderRound(t, f, c.idempotent) })
		})
	}
}

func frozenHolderRound(t *testing.T, f *figures, idempotent bool) {
	// migrate outlasts the freeze by far, so that a copy left running by
	// the frozen holder would overlap the takeover's.
	const stepFor = 12 * time.Second
	rds := newPrivateRedis(t)
	rig := newFaultRig(t, faultRunbook{Seconds: stepFor.Seconds(), Idempotent: idempotent})
	bots := rig.replicas(3, redisStore(rds.addr, "fault:"), faultEngineRenew, "engine.renew_deadline (#15 item 1)")
	p := rig.rollBack(bots[0])
	first := rig.waitRunning("migrate", 1, 15*time.Second)
	holder := byPID(bots, first.Bot)
	if holder == nil {
		t.Fatalf("migrate runs under pid %d, none of the replicas", first.Bot)
	}
	time.Sleep(randomDelay(3 * time.Second))

	holder.signal(syscall.SIGSTOP)
	frozeAt := time.Now()
	// A failed test must not leave a stopped process behind.
	t.Cleanup(func() { _ = syscall.Kill(holder.cmd.Process.Pid, syscall.SIGCONT) })
	var survivors []*bot
	for _, b := range bots {
		if b != holder {
			survivors = append(survivors, b)
		}
	}
	takeOver(t, rig, p, survivors, idempotent)
	second := rig.waitRunning("migrate", 2, stepFor+20*time.Second)
	f.add("freeze-to-takeover", second.Start.Sub(frozeAt))
	if second.Bot == first.Bot {
		t.Errorf("the frozen holder ran migrate again: %v", second)
	}
	if wait := time.Until(frozeAt.Add(faultLeaseTTL + faultKillGrace + time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	f.add("freeze", time.Since(frozeAt))
	holder.signal(syscall.SIGCONT)

	rig.w.waitState(survivors[0], p.ID, "succeeded", stepFor+20*time.Second)
	// The woken holder has had a lease renewal's time to do anything it should not.
	time.Sleep(faultLeaseTTL)
	if runs := steplog.Of(rig.executions(), "migrate"); len(runs) != 2 {
		t.Errorf("migrate ran %d times, want twice (cut by the freeze, then the takeover): %v", len(runs), runs)
	}
	if after := steplog.Of(rig.executions(), "after"); len(after) != 1 {
		t.Errorf("after ran %d times, want once: %v", len(after), after)
	}
	rig.checkNoOverlap(f)
	t.Logf("froze the holder %v into migrate; the takeover started it again %v later", frozeAt.Sub(first.Start).Round(time.Millisecond), second.Start.Sub(frozeAt).Round(time.Millisecond))
}

// takeOver waits for a survivor to mark the rollback interrupted and, for a
// step that is not idempotent, resumes it through a survivor's Slack
// endpoint once Resume is offered.
func takeOver(t *testing.T, rig *faultRig, p proposal, survivors []*bot, idempotent bool) {
	t.Helper()
	if idempotent {
		return // the survivors resume it on their own
	}
	rig.w.waitState(survivors[0], p.ID, "interrupted", faultLeaseTTL+faultKillGrace+15*time.Second)
	rig.waitResumeOffered(p, 15*time.Second)
	if code, body := survivors[1].send(rig.w.click("UBOB", p, "resume", p.ID)); code != http.StatusOK {
		t.Fatalf("resume %s: %d %s", p.ID, code, body)
	}
}

// TestFaultSIGTERMMidStep (#15 items 3 and 6): the replica driving a
// non-idempotent step is told to stop (SIGTERM) at a random point of it.
// The step runs to its end, the process exits 0, and the rest of the
// rollback is handed on to the other replica; nothing runs twice.
func TestFaultSIGTERMMidStep(t *testing.T) {
	t.Parallel()
	faultRounds(t, func(t *testing.T, f *figures) {
		const stepFor = 3 * time.Second
		rds := newPrivateRedis(t)
		rig := newFaultRig(t, faultRunbook{Seconds: stepFor.Seconds()})
		bots := rig.replicas(2, redisStore(rds.addr, "fault:"), faultEngineShutdown,
			"engine.shutdown_grace (#15 item 3) and engine.renew_deadline (item 1)")
		p := rig.rollBack(bots[0])
		first := rig.waitRunning("migrate", 1, 15*time.Second)
		holder, other := bots[0], bots[1]
		if holder.cmd.Process.Pid != first.Bot {
			holder, other = other, holder
		}
		time.Sleep(randomDelay(stepFor / 2))

		termAt := time.Now()
		if code := holder.terminate(stepFor + 20*time.Second); code != 0 {
			t.Errorf("exit code %d after SIGTERM, want 0 (#15 item 3)", code)
		}
		f.add("sigterm-to-exit", time.Since(termAt))
		runs := steplog.Of(rig.executions(), "migrate")
		switch {
		case runs[0].End.IsZero():
			t.Errorf("SIGTERM cut migrate (not idempotent) short; want it to finish (#15 item 3): %v", runs[0])
		case runs[0].End.Before(termAt):
			t.Fatalf("migrate ended before the SIGTERM: the fault came too late to test anything")
		}
		handOn(t, rig, f, p, other)
		if runs := steplog.Of(rig.executions(), "migrate"); len(runs) != 1 {
			t.Errorf("migrate ran %d times, want once: %v", len(runs), runs)
		}
		if after := steplog.Of(rig.executions(), "after"); len(after) != 1 || after[0].Bot != other.cmd.Process.Pid {
			t.Errorf("after ran as %v, want once, by the replica left running (pid %d)", after, other.cmd.Process.Pid)
		}
		rig.checkNoOverlap(f)
	})
}

// handOn waits for the replica left running to take the rollback to its
// end. The issue leaves open whether that needs a person: when the
// rollback stays interrupted with Resume offered for longer than an
// automatic resume takes, the test resumes it and counts that.
func handOn(t *testing.T, rig *faultRig, f *figures, p proposal, other *bot) {
	t.Helper()
	resumed := false
	var interruptedAt time.Time
	// An automatic resume waits for a tick and, after a shutdown, for the
	// lease the stopping replica let go; a person is asked only after that.
	patience := faultLeaseTTL + faultKillGrace + 3*time.Second
	eventually(t, 40*time.Second, p.ID+" to succeed on the other replica", func() (bool, string) {
		r, code := rig.w.rollback(other, p.ID)
		if code == http.StatusOK && r.State == "interrupted" && interruptedAt.IsZero() {
			interruptedAt = time.Now()
		}
		if code == http.StatusOK && r.State == "interrupted" && !resumed && time.Since(interruptedAt) > patience {
			if m, _ := rig.w.slack.Message(p.Channel, p.TS); containsResume(m.Blocks) {
				if code, body := other.send(rig.w.click("UBOB", p, "resume", p.ID)); code != http.StatusOK {
					t.Fatalf("resume %s: %d %s", p.ID, code, body)
				}
				resumed = true
			}
		}
		return code == http.StatusOK && r.State == "succeeded", r.State
	})
	if resumed {
		f.count("handed on after a person's Resume", 1)
	} else {
		f.count("handed on by itself", 1)
	}
}
