package app

// The authorization matrix (issue #14 item 8): every action a person can
// take, by each kind of person, on one service and on a bundle, through the
// real Slack endpoints (slash commands, buttons, the reason modal) on both
// stores. The table below is the documentation: Y is allowed, N refused,
// "-" does not apply (freeze, unfreeze and drills name one service).
//
// Services: strict (owner U0OWN, approvals from sre-strict = U0APS) and lax
// (owner U0OWL, approvals from sre-lax = U0APL); the bundle is strict,lax.
// A rollback acted on was proposed by U0REQ. "one" is always strict, so
// U0APL is the approver of another service there.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
)

// yn is one cell: Y allowed, N refused, X not applicable.
type yn byte

const (
	Y yn = 'Y'
	N yn = 'N'
	X yn = '-'
)

// The people in the matrix, in column order.
const (
	userRequester     = "U0REQ" // proposed the rollback acted on
	userOwner         = "U0OWN" // owns strict
	userApprover      = "U0APS" // in sre-strict, strict's approval group
	userOtherApprover = "U0APL" // in sre-lax, lax's approval group
	userNobody        = "U0NOB" // in no group
)

var matrixActors = [5]string{userRequester, userOwner, userApprover, userOtherApprover, userNobody}

// matrixRow is one action on one subject, for each actor in column order.
type matrixRow struct {
	action string // the authz action (approve/reject: the approval policy)
	one    [5]yn  // on strict
	bundle [5]yn  // on strict,lax
	// paths it is reached by: "command" (slash command) and "button"
	// (block_actions; reject and abort through the reason modal).
	paths []string
}

var (
	commandOnly = []string{"command"}
	bothPaths   = []string{"command", "button"}
)

// authzMatrix: who may do what. Defaults of internal/authz; approve and
// reject as the approval policy answers (a bundle's policy is the union of
// its services' groups, so an approver of either may vote on it).
var authzMatrix = []matrixRow{
	//                           requester owner approver other-approver nobody
	{action: "propose", one: [5]yn{Y, Y, Y, Y, Y}, bundle: [5]yn{Y, Y, Y, Y, Y}, paths: commandOnly},
	{action: "approve", one: [5]yn{N, N, Y, N, N}, bundle: [5]yn{N, N, Y, Y, N}, paths: bothPaths},
	{action: "reject", one: [5]yn{Y, N, Y, N, N}, bundle: [5]yn{Y, N, Y, Y, N}, paths: bothPaths},
	{action: "abort", one: [5]yn{Y, Y, Y, N, N}, bundle: [5]yn{Y, Y, Y, Y, N}, paths: bothPaths},
	// Abort on a proposal ends it, as a rejection does: reject's rule, not
	// abort's (an owner of one service of a bundle may not end it).
	{action: "abort_proposal", one: [5]yn{Y, N, Y, N, N}, bundle: [5]yn{Y, N, Y, Y, N}, paths: commandOnly}, // a proposal shows no Abort button
	{action: "pause", one: [5]yn{Y, Y, Y, N, N}, bundle: [5]yn{Y, Y, Y, Y, N}, paths: bothPaths},
	{action: "resume", one: [5]yn{Y, Y, Y, N, N}, bundle: [5]yn{Y, N, N, N, N}, paths: bothPaths},
	{action: "override_check", one: [5]yn{N, Y, Y, N, N}, bundle: [5]yn{N, N, N, N, N}, paths: commandOnly},
	{action: "override_guard", one: [5]yn{N, Y, Y, N, N}, bundle: [5]yn{N, N, N, N, N}, paths: commandOnly},
	{action: "freeze", one: [5]yn{N, Y, Y, N, N}, bundle: [5]yn{X, X, X, X, X}, paths: commandOnly},
	{action: "unfreeze", one: [5]yn{N, Y, Y, N, N}, bundle: [5]yn{X, X, X, X, X}, paths: commandOnly},
	{action: "drill_now", one: [5]yn{N, Y, Y, N, N}, bundle: [5]yn{X, X, X, X, X}, paths: commandOnly},
}

// TestAuthzMatrix runs every cell of authzMatrix through every path, on
// bolt and Redis, each in a fresh Backout.
func TestAuthzMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the matrix boots a Backout per cell")
	}
	for _, kind := range []string{"bolt", "redis"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			if kind == "redis" {
				requireRedis(t)
			}
			for _, row := range authzMatrix {
				for _, subject := range []string{"one", "bundle"} {
					cells := row.one
					if subject == "bundle" {
						cells = row.bundle
					}
					for i, actor := range matrixActors {
						if cells[i] == X {
							continue
						}
						for _, path := range row.paths {
							c := matrixCase{store: kind, action: row.action, subject: subject, actor: actor, path: path, allowed: cells[i] == Y}
							t.Run(c.name(), func(t *testing.T) {
								t.Parallel()
								runMatrixCase(t, c)
							})
						}
					}
				}
			}
		})
	}
}

// matrixCase is one cell on one path and store.
type matrixCase struct {
	store, action, subject, actor, path string
	allowed                             bool
}

var roles = map[string]string{userRequester: "requester", userOwner: "owner", userApprover: "approver",
	userOtherApprover: "other-approver", userNobody: "nobody"}

func (c matrixCase) name() string {
	want := "refused"
	if c.allowed {
		want = "allowed"
	}
	return fmt.Sprintf("%s/%s/%s/%s/%s", c.action, c.subject, roles[c.actor], c.path, want)
}

// runMatrixCase sets up the state the action needs in a fresh Backout, has
// the actor take it through the path, and checks the answer: allowed means
// it happened and nobody was told "Who may"; refused means it did not
// happen, the actor alone was told who may, and the store's audit log has
// an authz.refused event for the actor.
func runMatrixCase(t *testing.T, c matrixCase) {
	r := newRig(t, c.store)
	id, text, effect := matrixSetup(t, r, c)
	private := matrixAct(t, r, c, id, text)
	matrixAssert(t, r, c, private, effect)
}

// matrixSetup makes the state c.action needs and returns the rollback it
// acts on (if any), the slash command that takes it, and a probe that
// reports whether the action took effect.
func matrixSetup(t *testing.T, r *rig, c matrixCase) (id, text string, effect func() (bool, string)) {
	services := "strict"
	if c.subject == "bundle" {
		services = "strict,lax"
	}
	voted := func() (bool, string) {
		votes, err := r.st.ListVotes(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		for _, v := range votes {
			if v.User == c.actor && v.Counted {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d votes", len(votes))
	}
	state := func(want rollback.State) func() (bool, string) {
		return func() (bool, string) { s := r.rollback(id).State; return s == want, string(s) }
	}
	switch c.action {
	case "propose":
		text = "propose " + services + " matrix: bad deploy"
		effect = func() (bool, string) { n := len(r.rollbacksBy(c.actor)); return n == 1, fmt.Sprint(n, " rollbacks") }
	case "approve":
		id = r.propose(services)
		text, effect = "approve "+id, voted
	case "reject":
		id = r.propose(services)
		text, effect = "reject "+id+" matrix: not this one", state(rollback.StateRejected)
	case "abort_proposal":
		id = r.propose(services)
		text, effect = "abort "+id+" matrix: not this one", state(rollback.StateRejected)
	case "abort":
		id = r.running(services)
		text = "abort " + id + " matrix: stop"
		effect = func() (bool, string) { rec := r.rollback(id); return rec.AbortBy == c.actor, "abort by " + rec.AbortBy }
	case "pause":
		id = r.running(services)
		text = "pause " + id
		effect = func() (bool, string) { return r.rollback(id).Paused, "not paused" }
	case "resume":
		id = r.running(services)
		if rep := r.command(userOwner, "pause "+id); !r.rollback(id).Paused {
			t.Fatalf("setup: the owner could not pause %s: %q", id, rep.Text)
		}
		text = "resume " + id
		effect = func() (bool, string) { return !r.rollback(id).Paused, "still paused" }
	case "override_check":
		r.failing.Store(true)
		id = r.propose(services)
		text = "override " + id + " flag matrix: the flag is known bad"
		effect = func() (bool, string) {
			for _, o := range r.rollback(id).Overrides {
				if o.Check == "flag" && o.By == c.actor {
					return true, ""
				}
			}
			return false, "no override"
		}
	case "override_guard":
		// The thrash guard holds while the services cool down after a
		// rollback (an open one cannot be overridden: act on it instead).
		first := r.propose(services)
		r.command(userRequester, "abort "+first+" matrix: withdrawn")
		if r.rollback(first).EndedAt.IsZero() {
			t.Fatalf("setup: %s did not end: %s", first, r.rollback(first).State)
		}
		text = "propose " + services + " matrix: still broken, overriding the guard"
		effect = func() (bool, string) {
			for _, x := range r.rollbacksBy(c.actor) {
				for _, o := range x.Overrides {
					if o.Check == "thrash-guard" {
						return true, ""
					}
				}
			}
			return false, "no rollback overriding the guard"
		}
	case "freeze":
		text = "freeze strict matrix: hold"
		effect = func() (bool, string) { return !r.gateOpen("strict"), "gate open" }
	case "unfreeze":
		r.command(userOwner, "freeze strict matrix: hold")
		if r.gateOpen("strict") {
			t.Fatal("setup: the owner could not freeze strict")
		}
		text = "unfreeze strict"
		effect = func() (bool, string) { return r.gateOpen("strict"), "gate closed" }
	case "drill_now":
		text = "drill strict now"
		effect = func() (bool, string) {
			for _, x := range r.rollbacksBy(c.actor) {
				if x.Drill {
					return true, ""
				}
			}
			return false, "no drill"
		}
	default:
		t.Fatalf("no setup for action %q", c.action)
	}
	return id, text, effect
}

// matrixAct has c.actor take the action through c.path and returns the
// answer only the actor saw.
func matrixAct(t *testing.T, r *rig, c matrixCase, id, text string) string {
	var private string // the answer only the actor saw
	switch c.path {
	case "command":
		rep := r.command(c.actor, text)
		if strings.Contains(rep.Text, "Who may:") || strings.Contains(rep.Text, "may not") {
			if rep.ResponseType != "ephemeral" {
				t.Errorf("refusal answered %q, not privately: %q", rep.ResponseType, rep.Text)
			}
			private = rep.Text
		}
		if c.allowed && private != "" {
			t.Fatalf("refused, want allowed: %q", rep.Text)
		}
		if !c.allowed {
			private = rep.Text
			if rep.ResponseType != "ephemeral" {
				t.Errorf("refusal answered %q, not privately: %q", rep.ResponseType, rep.Text)
			}
		}
	case "button":
		r.click(c.actor, id, strings.SplitN(text, " ", 2)[0])
		if !c.allowed {
			eventually(t, 15*time.Second, "a private answer to "+c.actor, func() (bool, string) {
				return len(r.ephemerals(c.actor)) > 0, "no chat.postEphemeral to " + c.actor
			})
			private = strings.Join(r.ephemerals(c.actor), "\n")
		}
	}
	return private
}

// matrixAssert checks the answer: allowed means it happened and nobody was
// told "Who may"; refused means it did not happen, the actor alone was told
// who may, and the refusal is audited.
func matrixAssert(t *testing.T, r *rig, c matrixCase, private string, effect func() (bool, string)) {
	if c.allowed {
		eventually(t, 15*time.Second, c.action+" to take effect", effect)
		for _, e := range r.ephemerals(c.actor) {
			if strings.Contains(e, "Who may:") {
				t.Errorf("allowed, yet %s was told: %q", c.actor, e)
			}
		}
		if evs := r.refusedAudits(c.actor); len(evs) > 0 {
			t.Errorf("allowed, yet audited as refused: %+v", evs)
		}
		return
	}
	if !strings.Contains(private, "Who may:") {
		t.Errorf("the refusal does not say who may: %q", private)
	}
	evs := r.refusedAudits(c.actor)
	if len(evs) == 0 {
		t.Errorf("the refusal is not audited as authz.refused (answer: %q)", private)
	} else if got, want := evs[0].Detail["action"], refusedAs(c.action); got != want {
		t.Errorf("authz.refused records action %q, want %q", got, want)
	}
	if ok, _ := effect(); ok {
		t.Errorf("refused, yet %s took effect", c.action)
	}
	for _, m := range r.public() {
		if strings.Contains(m, "Who may:") || strings.Contains(m, "You may not") {
			t.Errorf("a refusal was posted publicly: %q", m)
		}
	}
}

// refusedAs is the action an authz.refused audit names for a matrix action.
func refusedAs(action string) string {
	if action == "abort_proposal" {
		return "reject" // refused as the rejection it would be
	}
	return action
}
