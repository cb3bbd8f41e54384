package incident_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

func alert(kind, id string) incident.Alert {
	return incident.Alert{Source: "pagerduty", Kind: kind, Service: "checkout", IncidentID: id, Summary: "5xx spike", Urgency: "low"}
}

func (e *env) onAlert(a incident.Alert) {
	e.t.Helper()
	if err := e.svc.OnAlert(e.ctx, a); err != nil {
		e.t.Fatalf("OnAlert %s: %v", a.Kind, err)
	}
}

func (e *env) rollbacks(service string) []*rollback.Record {
	e.t.Helper()
	rs, err := e.st.ListRollbacks(e.ctx, store.RollbackQuery{Service: service})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

func TestThrashGuard(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("checkout", "1.0.0", "1.1.0")
		first := e.propose(checkout())
		e.approve(first.ID, "alice", "bob")
		e.finish(first.ID, rollback.StateSucceeded)
		e.clock.Advance(5 * time.Minute)

		e.onAlert(alert(incident.AlertTriggered, "P1"))
		if n := len(e.rollbacks("checkout")); n != 1 {
			t.Fatalf("an alert inside the cooldown made a proposal (%d rollbacks)", n)
		}

		_, failure, err := e.svc.Propose(e.ctx, person("req"), incident.ProposeRequest{Services: []string{"checkout"}})
		if err != nil {
			t.Fatal(err)
		}
		wantPrefix := "The thrash guard holds checkout: " + first.ID + " ended 5m ago; checkout's cooldown runs until 12:30:00Z."
		wantSuffix := "To propose anyway, give a reason (it is audited): `/rollback propose checkout <reason>`."
		if !strings.HasPrefix(failure.String(), wantPrefix) || !strings.HasSuffix(failure.String(), wantSuffix) {
			t.Fatalf("no reason given:\n got %q\nwant %q ... %q", failure, wantPrefix, wantSuffix)
		}

		// The rollback recorded 1.0.0 as current, so the way back is forward
		// to 1.1.0, named explicitly.
		second := e.propose(incident.ProposeRequest{Services: []string{"checkout"}, Version: "1.1.0", Reason: "the first rollback did not help"})
		got := e.audited("override.thrash_guard")
		if len(got) != 1 || got[0].Target != second.ID || got[0].Detail["reason"] != "the first rollback did not help" || got[0].Actor != "req" {
			t.Fatalf("override.thrash_guard audit: %+v", got)
		}
		ov := e.get(second.ID).Overrides
		if len(ov) != 1 || ov[0].Check != "thrash-guard" || ov[0].By != "req" {
			t.Fatalf("stored overrides %+v, want the thrash guard override", ov)
		}
	})
}

// The cooldown counts from the end of a rollback, however long ago it was
// created.
func TestThrashGuardAfterALongRollback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		latch := incidenttest.NewLatch()
		t.Cleanup(latch.ReleaseAll)
		e.ex.On("apply", latch.Block)
		r := e.run()
		if err := e.ex.WaitStarted(within(t), "apply"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(3 * time.Hour) // a long rollback: six cooldowns
		latch.ReleaseAll()
		e.finish(r.ID, rollback.StateSucceeded)
		e.clock.Advance(5 * time.Minute)

		_, failure, err := e.svc.Propose(e.ctx, person("req"), incident.ProposeRequest{Services: []string{"checkout"}})
		if err != nil {
			t.Fatal(err)
		}
		if want := "The thrash guard holds checkout: " + r.ID + " ended 5m ago"; !strings.HasPrefix(failure.String(), want) {
			t.Fatalf("5m after a 3h rollback ended: %q, want %q...", failure, want)
		}
	})
}

func TestAlertStormMakesOneProposal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("checkout", "1.0.0", "1.1.0")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() { errs <- e.svc.OnAlert(e.ctx, alert(incident.AlertTriggered, "P1")) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("OnAlert: %v", err)
			}
		}
		e.onAlert(alert(incident.AlertTriggered, "P2")) // a late one, after the proposal exists
		rs := e.rollbacks("checkout")
		if len(rs) != 1 {
			t.Fatalf("the storm made %d proposals, want 1", len(rs))
		}
		if rs[0].Trigger.Kind != "alert" || rs[0].State != rollback.StateProposed {
			t.Fatalf("proposal: trigger %s, state %s", rs[0].Trigger.Kind, rs[0].State)
		}
		e.wantPosted("was folded into " + rs[0].ID)
	})
}

func TestBlockingReadinessAndOverride(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		for _, d := range []incident.DeployInput{
			{Service: "checkout", Version: "1.0.0", Artifact: "registry.example/checkout:1.0.0", DeployedAt: T0.Add(-100 * time.Minute)},
			{Service: "checkout", Version: "1.1.0", Artifact: artifact("checkout", "1.1.0"), DeployedAt: T0.Add(-10 * time.Minute)},
		} {
			if _, failure, err := e.svc.RecordDeploy(e.ctx, person("ci"), d); err != nil || failure != nil {
				t.Fatalf("deploy: %q %v", failure, err)
			}
		}
		res, failure, err := e.svc.ServiceReadiness(e.ctx, "checkout")
		if err != nil || failure != nil {
			t.Fatalf("ServiceReadiness: %q %v", failure, err)
		}
		if c := findCheck(res, "artifact pinned"); c == nil || c.Status != incident.Fail || !c.Blocking {
			t.Fatalf("artifact pinned: %+v, want a blocking failure", c)
		}

		r := e.propose(checkout())
		e.approve(r.ID, "alice", "bob")
		waitEngine(t, e.svc)
		if got := e.get(r.ID).State; got != rollback.StateApproved {
			t.Fatalf("blocked rollback is %s, want approved", got)
		}
		e.wantPosted(r.ID + " is approved but blocked by failing readiness checks")
		e.wantPosted("`/rollback override " + r.ID + " artifact-pinned <reason>`")
		if len(e.ex.Calls()) != 0 {
			t.Fatal("a blocked rollback ran")
		}

		refusals := []struct{ user, reason, want string }{
			{"alice", " ", "An override needs a reason; it is audited."},
			{"zed", "trust me", "You may not override a failing check of " + r.ID + " (checkout). Who may: those the approval policy of checkout lets override (its `override:` groups, else its owners and approvers) (`permissions.override_check`)."},
		}
		for _, tc := range refusals {
			if got, err := e.svc.Override(e.ctx, person(tc.user), r.ID, "artifact-pinned", tc.reason); err != nil || got.String() != tc.want {
				t.Fatalf("override by %s: %q %v, want %q", tc.user, got, err, tc.want)
			}
		}
		reason := "the tag is immutable in our registry"
		if got, err := e.svc.Override(e.ctx, person("alice"), r.ID, "artifact-pinned", reason); err != nil || got != nil {
			t.Fatalf("override: %q %v", got, err)
		}
		e.finish(r.ID, rollback.StateSucceeded)
		audits := e.audited("override.readiness")
		if len(audits) != 1 || audits[0].Actor != "alice" || audits[0].Detail["check"] != "artifact pinned" || audits[0].Detail["reason"] != reason {
			t.Fatalf("override.readiness audit: %+v", audits)
		}
		e.wantPosted("@alice overrode the failing check artifact pinned: " + reason)
	})
}

func findCheck(res []rollback.CheckResult, name string) *rollback.CheckResult {
	for i := range res {
		if res[i].Name == name {
			return &res[i]
		}
	}
	return nil
}

func TestPipelineGate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("checkout", "1.0.0", "1.1.0")
		e.deploy("backend", "1.4.0", "1.5.0", "1.6.0")
		e.deploy("frontend", "2.0.0", "2.1.0")
		gate := func(service string) incident.GateResult {
			t.Helper()
			g, failure, err := e.svc.PipelineGate(e.ctx, service)
			if err != nil || failure != nil {
				t.Fatalf("PipelineGate %s: %q %v", service, failure, err)
			}
			return g
		}
		expect := func(service string, open bool, reason string) {
			t.Helper()
			g := gate(service)
			if g.Open != open || !strings.Contains(g.Reason, reason) {
				t.Fatalf("gate of %s: %+v, want open=%v with %q", service, g, open, reason)
			}
		}
		expect("checkout", true, "")
		expect("frontend", true, "")

		rc := e.propose(checkout())
		expect("checkout", false, "rollback "+rc.ID+" of checkout is proposed")

		if failure, err := e.svc.SetFreeze(e.ctx, person("owen"), "frontend", "release freeze"); err != nil || failure != nil {
			t.Fatalf("freeze: %q %v", failure, err)
		}
		expect("frontend", false, "frontend is frozen by owen: release freeze")
		if failure, err := e.svc.ClearFreeze(e.ctx, person("owen"), "frontend"); err != nil || failure != nil {
			t.Fatalf("unfreeze: %q %v", failure, err)
		}
		expect("frontend", true, "")

		rb := e.propose(incident.ProposeRequest{Services: []string{"backend"}})
		expect("backend", false, "rollback "+rb.ID+" of backend is proposed")
		expect("frontend", false, "rollback "+rb.ID+" of backend is proposed") // frontend depends on backend

		e.approve(rc.ID, "alice", "bob")
		e.finish(rc.ID, rollback.StateSucceeded)
		expect("checkout", true, "")
		e.approve(rb.ID, "alice", "bob")
		e.finish(rb.ID, rollback.StateSucceeded)
		expect("frontend", true, "")
	})
}

func TestAlertLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Run("resolved before approval goes stale", func(t *testing.T) {
			e := newEnv(t, b, setup{})
			e.deploy("checkout", "1.0.0", "1.1.0")
			e.onAlert(alert(incident.AlertTriggered, "P1"))
			rs := e.rollbacks("checkout")
			if len(rs) != 1 {
				t.Fatalf("%d proposals, want 1", len(rs))
			}
			id := rs[0].ID
			if notes := e.pager.Notes("P1"); len(notes) == 0 || !strings.Contains(notes[0], "Backout proposed rollback "+id) {
				t.Fatalf("PagerDuty notes %q", notes)
			}
			e.onAlert(alert(incident.AlertResolved, "P1"))
			r := e.get(id)
			if r.State != rollback.StateStale || r.Outcome != "stale: the incident resolved before approval; not executed" {
				t.Fatalf("after resolve: %s %q", r.State, r.Outcome)
			}
			if got := e.vote("alice", id, true); got != id+" is stale; votes are closed." {
				t.Fatalf("vote on a stale rollback: %q", got)
			}
			waitEngine(t, e.svc)
			if len(e.ex.Calls()) != 0 {
				t.Fatal("a stale rollback ran")
			}
		})
		t.Run("escalation raises urgency", func(t *testing.T) {
			e := newEnv(t, b, setup{})
			e.deploy("checkout", "1.0.0", "1.1.0")
			e.onAlert(alert(incident.AlertTriggered, "P1"))
			id := e.rollbacks("checkout")[0].ID
			e.onAlert(alert(incident.AlertEscalated, "P1"))
			r := e.get(id)
			if r.Urgency != "high" || len(r.Notes) != 1 || r.Notes[0].Text != "pagerduty incident P1 escalated" {
				t.Fatalf("after escalation: urgency %q, notes %+v", r.Urgency, r.Notes)
			}
			e.wantPosted("📣 pagerduty incident P1 escalated. " + id + " still needs 2 approval(s)")
		})
		t.Run("another incident resolving leaves a person's proposal", func(t *testing.T) {
			e := newEnv(t, b, setup{})
			e.deploy("checkout", "1.0.0", "1.1.0")
			r := e.propose(checkout())
			e.onAlert(alert(incident.AlertResolved, "P9"))
			if got := e.get(r.ID); got.State != rollback.StateProposed || len(got.Notes) != 1 {
				t.Fatalf("after an unrelated resolve: %s with %d note(s), want proposed with the note", got.State, len(got.Notes))
			}
		})
	})
}

// A successful rollback is recorded as a deploy of the target, known-good,
// so the next proposal and the pipeline see what really runs.
func TestSuccessfulRollbackRecordsDeploy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("checkout", "1.0.0", "1.1.0")
		r := e.propose(checkout())
		e.approve(r.ID, "alice", "bob")
		e.finish(r.ID, rollback.StateSucceeded)
		ds, err := e.st.ListDeploys(e.ctx, "checkout", 1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("deploys: %v, %v", ds, err)
		}
		if d := ds[0]; d.Version != "1.0.0" || !d.Good || d.DeployedBy != "backout "+r.ID {
			t.Fatalf("newest deploy = %+v; want 1.0.0, known-good, by backout %s", d, r.ID)
		}
	})
}

// TestNothingVanishes: every alert for a catalog service ends in something
// people see in its channel (a proposal, or why not), once per incident
// however often it is delivered, and each suppression is audited.
func TestNothingVanishes(t *testing.T) {
	tests := []struct {
		name    string
		arrange func(e *env)
		want    string // in the one channel note; "" for none
		thread  string // in the open rollback's thread instead
	}{
		{name: "no suspect deploy", arrange: func(e *env) {},
			want: "No deploy of checkout in the last"},
		{name: "no known-good release", arrange: func(e *env) {
			e.deploy("checkout", "1.1.0")
		}, want: "Backout did not propose a rollback: No known-good release of checkout"},
		{name: "cooldown after a rollback", arrange: func(e *env) {
			e.deploy("checkout", "1.0.0", "1.1.0")
			first := e.propose(checkout())
			e.approve(first.ID, "alice", "bob")
			e.finish(first.ID, rollback.StateSucceeded)
			e.clock.Advance(5 * time.Minute)
			e.deploy("checkout", "1.2.0")
		}, want: "To propose anyway, give a reason (it is audited and overrides the guard): `/rollback propose checkout <reason>`."},
		{name: "a rollback already open", arrange: func(e *env) {
			e.deploy("checkout", "1.0.0", "1.1.0")
			e.propose(checkout())
		}, thread: "Another alert for checkout (pagerduty) was folded into RB-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b, setup{})
				tt.arrange(e)
				before := len(e.rollbacks("checkout"))
				e.onAlert(alert(incident.AlertTriggered, "P7"))
				e.onAlert(alert(incident.AlertTriggered, "P7")) // a redelivery
				if n := len(e.rollbacks("checkout")); n != before {
					t.Fatalf("the alert made a proposal (%d rollbacks, %d before)", n, before)
				}
				var notes []string
				for _, p := range e.poster.Posts() {
					if p.Ref.Thread == "" && strings.Contains(p.Msg.Text.String(), "for checkout: 5xx spike") {
						notes = append(notes, p.Msg.Text.String())
					}
				}
				switch {
				case tt.want != "" && (len(notes) != 1 || !strings.Contains(notes[0], tt.want)):
					t.Fatalf("channel notes %q, want one containing %q", notes, tt.want)
				case tt.want == "" && len(notes) != 0:
					t.Fatalf("channel notes %q, want none", notes)
				}
				if tt.thread != "" {
					e.wantPosted(tt.thread)
				}
				if got := e.audited("alert.suppressed"); len(got) != 2 || got[0].Detail["incident"] != "P7" {
					t.Fatalf("audited %+v, want both deliveries", got)
				}
			})
		})
	}
}

// TestRunbookOverrideGroupsBind: a runbook's own approval `override:`
// decides who may override a failing check of its services, as documented;
// it used to be read for nothing, leaving overrides to every approver.
func TestRunbookOverrideGroupsBind(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: `
name: steps
approval: {override: [dba]}
steps:
  - {id: apply, uses: fake}
`})
		for _, d := range []incident.DeployInput{
			{Service: "checkout", Version: "1.0.0", Artifact: "registry.example/checkout:1.0.0", DeployedAt: T0.Add(-100 * time.Minute)},
			{Service: "checkout", Version: "1.1.0", Artifact: artifact("checkout", "1.1.0"), DeployedAt: T0.Add(-10 * time.Minute)},
		} {
			if _, failure, err := e.svc.RecordDeploy(e.ctx, person("ci"), d); err != nil || failure != nil {
				t.Fatalf("deploy: %q %v", failure, err)
			}
		}
		r := e.propose(checkout())
		e.approve(r.ID, "alice", "bob")
		waitEngine(t, e.svc)
		e.wantPosted(r.ID + " is approved but blocked by failing readiness checks")
		for _, tc := range []struct{ user, want string }{
			{"alice", "You may not override a failing check of " + r.ID + " (checkout). Who may: those the approval policy of checkout lets override (its `override:` groups, else its owners and approvers) (`permissions.override_check`)."},
			{"owen", "You may not override a failing check of " + r.ID + " (checkout). Who may: those the approval policy of checkout lets override (its `override:` groups, else its owners and approvers) (`permissions.override_check`)."},
			{"dan", ""},
		} {
			if got, err := e.svc.Override(e.ctx, person(tc.user), r.ID, "artifact-pinned", "the tag is immutable"); err != nil || got.String() != tc.want {
				t.Fatalf("override by %s: %q %v, want %q", tc.user, got, err, tc.want)
			}
		}
		e.finish(r.ID, rollback.StateSucceeded)
	})
}
