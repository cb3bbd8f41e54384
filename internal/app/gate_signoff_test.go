package app

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat/slack/slackfake"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// gateRunbook opens a gate signed off by sre-lax (U0APL) after its first
// step, and holds its last step until the test ends.
const gateRunbook = `name: matrix
steps:
  - {id: first, uses: latch}
  - {id: signoff, needs: [first], uses: latch, gate: {group: sre-lax, timeout: 5m, message: "sign off"}}
  - {id: hold, needs: [signoff], uses: latch, timeout: 5m}
readiness:
  - {name: flag, uses: flag, blocking: true}
`

// pressGate presses the sign-off button of rollback id's gate key as user,
// as Slack sends it from the gate's message.
func (r *rig) pressGate(user, id, key string) {
	r.t.Helper()
	rec := r.rollback(id)
	payload := slackfake.BlockActionsJSON(slackfake.BlockActions{UserID: user, ChannelID: rec.Channel, MessageTS: rec.MessageTS,
		TriggerID: fmt.Sprintf("trigger-%d", r.clicks.Add(1)),
		Actions:   []slackfake.Action{{ActionID: "gate", Value: id + "|" + key, ActionTS: fmt.Sprintf("1700000200.%06d", r.clicks.Add(1))}}})
	r.sendSlack("/slack/interactions", slackfake.InteractionForm(payload))
}

// TestGateSignOffRefusals, through the real Slack endpoints: a gate's
// sign-off pressed by someone outside the gate's group is refused
// privately, naming the group, and audited (authz.refused, as every other
// refusal); pressed after the rollback ended (its gate message still shows
// the button), it is refused privately, and nothing is signed, audited as
// signed or announced in the channel.
func TestGateSignOffRefusals(t *testing.T) {
	r := newRigWith(t, "bolt", rigTuning{runbook: gateRunbook})
	id := r.propose("strict")
	if rep := r.command(userApprover, "approve "+id); strings.Contains(rep.Text, "may not") {
		t.Fatalf("setup: approve %s: %q", id, rep.Text)
	}
	const key = "strict/signoff"
	eventually(t, 15*time.Second, "the gate open", func() (bool, string) {
		rec := r.rollback(id)
		g, ok := rec.Gates[key]
		return ok && !g.Passed, fmt.Sprintf("%s, gates %+v", rec.State, rec.Gates)
	})

	r.pressGate(userNobody, id, key)
	eventually(t, 15*time.Second, "a private refusal", func() (bool, string) {
		got := strings.Join(r.ephemerals(userNobody), "\n")
		return strings.Contains(got, "needs sign-off from sre-lax"), got
	})
	refused := slices.ContainsFunc(r.refusedAudits(userNobody), func(e store.AuditEvent) bool {
		return e.Target == id && e.Detail["action"] == "sign_gate" && e.Detail["gate"] == key
	})
	if !refused {
		t.Errorf("no authz.refused audit of %s's sign-off of %s: %+v", userNobody, key, r.refusedAudits(userNobody))
	}

	if rep := r.command(userRequester, "abort "+id+" matrix: stop"); strings.Contains(rep.Text, "may not") {
		t.Fatalf("setup: abort %s: %q", id, rep.Text)
	}
	eventually(t, 15*time.Second, id+" aborted", func() (bool, string) {
		s := r.rollback(id).State
		return s == rollback.StateAborted, string(s)
	})
	r.pressGate(userOtherApprover, id, key)
	eventually(t, 15*time.Second, "a private refusal after the end", func() (bool, string) {
		got := strings.Join(r.ephemerals(userOtherApprover), "\n")
		return strings.Contains(got, id+" is aborted; its gate no longer takes sign-off."), got
	})
	if g := r.rollback(id).Gates[key]; g.Passed || len(g.Signed) > 0 {
		t.Errorf("gate after a press on an aborted rollback: %+v; want unsigned", g)
	}
	if pub := strings.Join(r.public(), "\n"); strings.Contains(pub, "signed off the gate") {
		t.Errorf("the channel was told of a sign-off on an aborted rollback:\n%s", pub)
	}
	evs, err := r.st.ListAudit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Action == "gate.signed" {
			t.Errorf("audited %+v on an aborted rollback", e)
		}
	}
}
