package present

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/rollback"
)

// TestEveryNoticeIsWorded renders each notice the lifecycle emits: a new
// notice without wording here fails, instead of vanishing at run time.
func TestEveryNoticeIsWorded(t *testing.T) {
	r := &rollback.Record{ID: "RB-7", State: rollback.StateRunning, Channel: "C1", MessageTS: "1.2",
		Policy: rollback.Policy{Min: 1, Users: []string{"U1"}}}
	on := rollback.About{Rollback: r}
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	lingering := &rollback.Record{ID: "RB-7", State: rollback.StateInterrupted, Channel: "C1", MessageTS: "1.2",
		Lingering: &rollback.Lingering{Replica: "bot-1", Until: at.Add(20 * time.Second)}}
	// Until is a bound: 10:00:20.3 reads 10:00:21, never a time already past.
	lateLingering := &rollback.Record{ID: "RB-7", State: rollback.StateInterrupted, Channel: "C1", MessageTS: "1.2",
		Lingering: &rollback.Lingering{Replica: "bot-1", Until: at.Add(20*time.Second + 300*time.Millisecond)}}
	aborting := &rollback.Record{ID: "RB-7", State: rollback.StateInterrupted, Channel: "C1", MessageTS: "1.2", AbortBy: "U4",
		Lingering: &rollback.Lingering{Replica: "bot-1", Until: at.Add(20 * time.Second)}}
	tests := []struct {
		notice rollback.Notice
		want   string // a piece of the plain fallback
	}{
		{rollback.AlertIgnored{Channel: "C1", Service: "api", Source: "pagerduty", Kind: "triggered", Summary: "5xx", Window: time.Hour}, "No deploy of api in the last 1h, so"},
		{rollback.AlertNotProposed{Channel: "C1", Service: "api", Source: "pagerduty", Kind: "triggered", Summary: "5xx", Why: rollback.Say("No known-good release of api.")}, "did not propose a rollback: No known-good release of api."},
		{rollback.AlertNotProposed{Channel: "C1", Service: "api", Source: "pagerduty", Kind: "triggered", Summary: "5xx", Why: rollback.Say("suppressed by the thrash guard: cooldown"), Guarded: true}, "`/rollback propose api <reason>`"},
		{rollback.AlertFolded{About: on, Service: "api", Source: "pagerduty", Summary: "5xx"}, "folded into RB-7"},
		{rollback.AlertUpdated{About: on, Text: "escalated", StillNeeds: true, Stakeholders: []string{"U2"}}, "RB-7 still needs 1 approval(s) from @U1"},
		{rollback.IncidentResolved{About: on, Text: "incident P1 resolved", Stale: true}, "is stale and will not run"},
		{rollback.IncidentResolved{About: on, Text: "incident P1 resolved"}, "RB-7 continues (running)"},
		{rollback.Voted{About: on, User: "U3", Approve: true, At: at}, "@U3 approved RB-7"},
		{rollback.Voted{About: on, User: "U3", Detail: "too early", At: at}, "@U3 rejected RB-7 at 2026-12-06 10:00:00Z: too early"},
		{rollback.Expired{About: on}, "expired"},
		{rollback.AutoApproved{About: on, Why: "policy"}, "executing RB-7 automatically (policy)"},
		{rollback.Replanned{About: on, OldHash: "a", NewHash: "b"}, "(a → b)"},
		{rollback.NoLongerApplies{About: on, Failure: rollback.Say("target is current")}, "no longer applies: target is current"},
		{rollback.Blocked{About: on, Checks: []rollback.CheckResult{{Name: "backup fresh", Service: "db", Reason: "old"}}}, "/rollback override RB-7 backup-fresh <reason>"},
		{rollback.Started{About: on, At: at}, "RB-7 started at 10:00:00Z"},
		{rollback.Overridden{About: on, User: "U4", Check: "backup", Reason: "verified"}, "@U4 overrode the failing check"},
		{rollback.AbortRequested{About: on, User: "U4", Reason: "wrong"}, "@U4 asked to abort RB-7: wrong"},
		{rollback.Withdrawn{About: on, User: "U4", Reason: "dup"}, "@U4 withdrew RB-7: dup"},
		{rollback.Paused{About: on, User: "U4"}, "@U4 paused RB-7"},
		{rollback.Holding{About: on}, "RB-7 is holding"},
		{rollback.Resumed{About: on, By: "U4"}, "@U4 resumed RB-7."},
		{rollback.Resumed{About: on, By: "U4", Interrupted: true, Rerun: rollback.Rerun{InFlight: []string{"api/set-image"}}}, "step(s) api/set-image, in flight when Backout stopped, run again"},
		{rollback.Resumed{About: on, Interrupted: true, AutoResume: 1, MaxAuto: 2}, "on its own (automatic resume 1 of 2)"},
		{rollback.Interrupted{About: on, Why: "replica died", InFlight: []string{"api/x"}, MaxAuto: 2}, "not re-run unless you press Resume"},
		{rollback.Interrupted{About: rollback.About{Rollback: lingering}, Why: "its driver stopped", InFlight: []string{"api/x"}, MaxAuto: 2},
			"Steps of RB-7 may still be running on replica bot-1 until 10:00:20Z (lease expiry + kill_grace); Resume is offered after that."},
		{rollback.Interrupted{About: rollback.About{Rollback: lateLingering}, Why: "its driver stopped", MaxAuto: 2}, "until 10:00:21Z (lease expiry + kill_grace)"},
		{rollback.Interrupted{About: rollback.About{Rollback: aborting}, Why: "its driver stopped", MaxAuto: 2},
			"until 10:00:20Z (lease expiry + kill_grace). The abort asked for ends it once they have stopped."},
		{rollback.DriverGone{About: on, Replica: "bot-1", InFlight: []string{"api/x"}, MaxAuto: 2}, "replica bot-1's lease expired and kill_grace passed, so none of its steps is running any more. Step(s) api/x had started and never finished; they are not re-run unless you press Resume."},
		{rollback.HandedOn{About: on, Replica: "host-1", Signal: "SIGTERM", Finished: []string{"db/migrate"}}, "replica host-1 stopped (SIGTERM) while it ran RB-7"},
		{rollback.GateWaiting{About: on, Service: "db", Step: "migrate", Gate: "db/migrate", Group: "dba"}, "Step migrate of db waits for sign-off from dba"},
		{rollback.GateSigned{About: on, User: "U5", Group: "dba", Gate: "db/migrate", At: at}, "@U5 (dba) signed off the gate"},
		{rollback.StepAttemptFailed{About: on, Service: "api", Step: "migrate", Attempt: 1, ExitCode: 3, Error: "exit status 3", Output: "a\nb\nboom", Took: 1200 * time.Millisecond, RetryIn: 2 * time.Second}, "failed after 1.2s (attempt 1): exit status 3. Retrying in 2s.\na\nb\nboom"},
		{rollback.StepAttemptFailed{About: on, Service: "api", Step: "migrate", Attempt: 2, Error: "timed out", Took: 36 * time.Second}, "❌ Step migrate of api failed after 36s (attempt 2): timed out\n(no output)"},
		{rollback.Settling{About: on, Service: "api", Delay: time.Minute, Window: 10 * time.Minute, Checks: 2}, "waiting 1m for api to settle"},
		{rollback.Measured{About: on, Service: "api", Check: "errors", N: 1, Count: 3, Outcome: "Successful", Message: "value = 0.01, within < 0.05", At: at}, "api · errors: measurement #1 (count 3)"},
		{rollback.Validated{About: on, Service: "api", Results: []rollback.CheckResult{{Name: "errors", Status: "Successful"}}}, "1 successful"},
		{rollback.Ended{About: on}, "RB-7 running"},
	}
	for _, tt := range tests {
		msg, ok := Notice(tt.notice)
		if !ok {
			t.Errorf("%T has no wording", tt.notice)
			continue
		}
		got := msg.Text.String()
		for _, sec := range msg.Sections {
			got += "\n" + sec.Text.String()
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("%T: %q does not say %q", tt.notice, got, tt.want)
		}
		if run := plainMarkup(msg); run != "" {
			t.Errorf("%T writes markup into the plain run %q", tt.notice, run)
		}
	}
}

// TestNoticesKeepPeopleTyped: who acted is a typed mention, and what
// people typed stays plain text, so a reason cannot ping or link anyone.
func TestNoticesKeepPeopleTyped(t *testing.T) {
	r := &rollback.Record{ID: "RB-7", Channel: "C1", MessageTS: "1.2"}
	msg, _ := Notice(rollback.AbortRequested{About: rollback.About{Rollback: r}, User: "U4", Reason: "<!channel> see <https://x|here>"})
	var users, plain int
	for _, s := range msg.Text {
		switch s.Kind {
		case chat.SpanUser:
			users++
		case chat.SpanPlain:
			plain++
		default:
			t.Errorf("unexpected %s span %q", s.Kind, s.Text)
		}
	}
	if users != 1 || plain == 0 {
		t.Errorf("spans %+v: want one user span and the rest plain", msg.Text)
	}
}

// TestLifecycleWordsKeepTheirCode: the lifecycle's words in a notice (why
// an alert raised no proposal, why a proposal no longer applies) keep their
// code as code spans, and the rest, the alert's summary included, plain
// with no markup written into it.
func TestLifecycleWordsKeepTheirCode(t *testing.T) {
	on := rollback.About{Rollback: &rollback.Record{ID: "RB-7", State: rollback.StateProposed, Channel: "C1"}}
	noGood := rollback.Say("No known-good release of api before 2.0: none lived 1h without a rollback. Name a version with ",
		rollback.Code("to <version>"), ", or mark one good.")
	tests := []struct {
		notice rollback.Notice
		want   chat.Text
	}{
		{rollback.AlertNotProposed{Channel: "C1", Service: "api", Source: "pagerduty", Kind: "triggered", Summary: "5xx *now*", Why: noGood},
			chat.Textf("🤷 pagerduty triggered for api: 5xx *now*. Backout did not propose a rollback: No known-good release of api before 2.0: none lived 1h without a rollback. Name a version with %s, or mark one good.",
				chat.Code("to <version>"))},
		{rollback.AlertNotProposed{Channel: "C1", Service: "api", Source: "pagerduty", Kind: "triggered", Summary: "5xx", Guarded: true,
			Why: rollback.Say("suppressed by the thrash guard: RB-6 ended 5m ago.")},
			chat.Textf("🤷 pagerduty triggered for api: 5xx. Backout did not propose a rollback: suppressed by the thrash guard: RB-6 ended 5m ago. To propose anyway, give a reason (it is audited and overrides the guard): %s.",
				chat.Code("/rollback propose api <reason>"))},
		{rollback.NoLongerApplies{About: on, Failure: rollback.Say("Runbook \"x\" of api is not loaded; run ", rollback.Code("bot lint"), ".")},
			chat.Textf("💤 RB-7 no longer applies: Runbook \"x\" of api is not loaded; run %s.", chat.Code("bot lint"))},
	}
	for _, tt := range tests {
		msg, ok := Notice(tt.notice)
		if !ok {
			t.Fatalf("%T is not worded", tt.notice)
		}
		if got := msg.Text; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%T:\n got %#v\nwant %#v", tt.notice, got, tt.want)
		}
	}
}
