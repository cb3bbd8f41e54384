package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// TestResumeWaitsForTheOldDriver: a replica dies driving a rollback (its
// lease held, a step started). Once its lease expires the rollback is
// interrupted, but until kill_grace has passed too its steps may still be
// running: the thread and the message say so, no Resume button is shown,
// and `/rollback resume` is refused with that reason. After that, the
// message offers Resume and the same command runs the step — all through
// the real Slack endpoints, with the lifecycle's and bolt's clock faked.
func TestResumeWaitsForTheOldDriver(t *testing.T) {
	clk := incidenttest.NewClock(time.Now().UTC().Truncate(time.Second))
	r := newRigWith(t, "bolt", rigTuning{clock: clk, config: "engine: {lease_ttl: 15s, renew_deadline: 10s, kill_grace: 5s}\n"})
	ctx := context.Background()
	id := r.propose("lax")
	lease := r.diesDriving(id, "replica-dead")

	clk.Advance(15*time.Second + time.Second) // the lease expired, kill_grace has not passed
	r.app.Svc.Tick(ctx)
	rec := r.rollback(id)
	if rec.State != rollback.StateInterrupted || rec.Lingering == nil || rec.Lingering.Replica != "replica-dead" {
		t.Fatalf("after the lease expired: state %s, lingering %+v; want interrupted, lingering on replica-dead", rec.State, rec.Lingering)
	}
	until := lease.Expires.Add(5 * time.Second).UTC().Format("15:04:05Z")
	want := "Steps of " + id + " may still be running on replica replica-dead until " + until + " (lease expiry + kill_grace); Resume is offered after that."
	eventually(t, 15*time.Second, "the thread to say the old driver may still run steps", func() (bool, string) {
		pub := strings.Join(r.public(), "\n")
		return strings.Contains(pub, want), pub
	})
	if rep := r.command(userRequester, "resume "+id); !strings.Contains(rep.Text, want) {
		t.Fatalf("resume while the old driver may run: %q, want %q", rep.Text, want)
	}
	if b := r.buttons(id); b["resume"] {
		t.Fatalf("the message offers Resume while the old driver may run: %v", b)
	}
	if calls := r.ex.Calls(); len(calls) != 0 {
		t.Fatalf("steps ran while the old driver may run: %v", calls)
	}

	clk.Advance(5 * time.Second) // lease expiry + kill_grace: the old driver is known gone
	r.app.Svc.Tick(ctx)
	if rec := r.rollback(id); rec.State != rollback.StateInterrupted || rec.Lingering != nil {
		t.Fatalf("after kill_grace: state %s, lingering %+v; want interrupted, settled", rec.State, rec.Lingering)
	}
	eventually(t, 15*time.Second, "the message to offer Resume", func() (bool, string) {
		b := r.buttons(id)
		return b["resume"], "buttons " + strings.Join(keys(b), ",")
	})
	if pub := strings.Join(r.public(), "\n"); !strings.Contains(pub, "replica replica-dead's lease expired and kill_grace passed") {
		t.Errorf("the thread never said the old driver is gone:\n%s", pub)
	}
	if rep := r.command(userRequester, "resume "+id); strings.Contains(rep.Text, "may still be running") {
		t.Fatalf("resume after kill_grace refused: %q", rep.Text)
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := r.ex.WaitStarted(wctx, "hold"); err != nil {
		t.Fatalf("the resumed rollback never ran its step: %v (state %s)", err, r.rollback(id).State)
	}
}

// diesDriving leaves rollback id as a replica that died driving it would:
// running, its lease held by replica, step hold started.
func (r *rig) diesDriving(id, replica string) store.Lease {
	r.t.Helper()
	ctx := context.Background()
	lease, err := r.st.AcquireLease(ctx, store.LeaseName(id), replica, 15*time.Second, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	rec := r.rollback(id)
	rec.State = rollback.StateRunning
	if err := r.st.UpdateRollback(ctx, rec); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.st.AppendSteps(ctx, id, lease.Token, rollback.StepEvent{Service: "lax", StepID: "hold", Kind: rollback.StepStarted}); err != nil {
		r.t.Fatal(err)
	}
	return lease
}

// buttons lists the action ids (without their suffix) on id's message.
func (r *rig) buttons(id string) map[string]bool {
	rec := r.rollback(id)
	m, _ := r.fake.Message(rec.Channel, rec.MessageTS)
	var blocks []any
	_ = json.Unmarshal(m.Blocks, &blocks)
	out := map[string]bool{}
	for aid := range buttonsIn(blocks) {
		out[strings.SplitN(aid, "#", 2)[0]] = true
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
