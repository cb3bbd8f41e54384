package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
)

type harness struct {
	life     *fakeLifecycle
	reporter *fakeReporter
	driller  *fakeDriller
	d        *Dispatcher
}

func newHarness() *harness {
	h := &harness{
		life:     &fakeLifecycle{services: map[string]time.Duration{"checkout": time.Hour, "cart": 0}},
		reporter: &fakeReporter{},
		driller:  &fakeDriller{},
	}
	h.d = NewDispatcher(h.life, h.reporter, h.driller, slog.New(slog.DiscardHandler))
	return h
}

func (h *harness) command(text string) Reply {
	return h.d.Command(context.Background(), Invocation{User: "U0ALICE", Source: "console", From: "console", Text: text})
}

// asked is everything the dispatcher asked of its collaborators, in order
// per collaborator.
func (h *harness) asked() []string {
	var all []string
	all = append(all, h.life.calls...)
	all = append(all, h.reporter.asked...)
	return append(all, h.driller.asked...)
}

// TestEveryVerbReachesItsHandler runs one valid command per verb and checks
// what the handler the verb table names asked for.
func TestEveryVerbReachesItsHandler(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"propose checkout,cart to 1.0 bad deploy", []string{"Propose [checkout cart] "}},
		{"release storefront", []string{"Propose [] storefront"}},
		{"plan checkout to 1.0", []string{"Plan [checkout] 1.0"}},
		{"status", []string{"OpenRollbacks"}},
		{"approve RB-7", []string{"Rollback RB-7", "Vote RB-7 true"}},
		{"reject RB-7 wrong version", []string{"Vote RB-7 false"}},
		{"abort RB-7 smoke fails", []string{"Abort RB-7 smoke fails"}},
		{"resume RB-7", []string{"Resume RB-7"}},
		{"pause RB-7", []string{"Pause RB-7"}},
		{"affected RB-7", []string{"ReportAffected RB-7"}},
		{"override RB-7 backup-fresh no writes", []string{"Override RB-7 backup-fresh no writes"}},
		{"history checkout", []string{"History checkout 15"}},
		{"deploys checkout", []string{"Deploys checkout 15"}},
		{"registry checkout --since 7d", []string{"Registry checkout 168h0m0s"}},
		{"readiness checkout", []string{"ServiceReadiness checkout"}},
		{"drill checkout", []string{"Describe checkout"}},
		{"drill checkout now", []string{"RunNow checkout"}},
		{"freeze checkout", []string{"SetFreeze checkout no reason given"}},
		{"unfreeze checkout", []string{"ClearFreeze checkout"}},
	}
	covered := map[string]bool{"help": true}
	for _, c := range cases {
		h := newHarness()
		reply := h.command(c.text)
		if got := reply.Message.Text.String(); strings.HasPrefix(got, "Usage:") || strings.HasPrefix(got, "⚠️") {
			t.Errorf("%q answered %q", c.text, got)
		}
		if got := h.asked(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q asked %q, want %q", c.text, got, c.want)
		}
		covered[strings.Fields(c.text)[0]] = true
	}
	for name := range verbs {
		if !covered[name] {
			t.Errorf("verb %q has no case here", name)
		}
	}
}

func TestStatus(t *testing.T) {
	h := newHarness()
	if got, want := h.command("status rb-9"), "There is no rollback RB-9."+noneOpen; !privately(got, want) {
		t.Errorf("unknown id: %+v, want %+v", got, want)
	}
	if got, want := h.command("status"), private("No rollback is open."); !reflect.DeepEqual(got, want) {
		t.Errorf("nothing open: %+v, want %+v", got, want)
	}

	h.life.rollbacks = map[string]*rollback.Record{"RB-7": {ID: "RB-7", State: rollback.StateProposed}}
	h.life.open = []*rollback.Record{h.life.rollbacks["RB-7"]}
	h.life.calls = nil
	one := h.command("status RB-7")
	if !one.Ephemeral || !strings.Contains(one.Message.Header, "RB-7") {
		t.Errorf("one rollback: %+v", one)
	}
	if want := []string{"Rollback RB-7", "Votes RB-7", "StepLog RB-7"}; !reflect.DeepEqual(h.life.calls, want) {
		t.Errorf("one rollback asked %q, want %q", h.life.calls, want)
	}
	list := h.command("status")
	if list.Message.Text.String() != "1 open rollback(s)" || list.Message.Sections[0].Table.Rows[0][0] != "RB-7" {
		t.Errorf("open list: %+v", list.Message)
	}
}

const noneOpen = "\nNo rollback is open; `/rollback history <service>` lists past ones."

// TestUnknownService: every verb that names services answers a name not in
// the catalog the same way, with the service most likely meant, and asks
// nothing else.
func TestUnknownService(t *testing.T) {
	const (
		nope    = `Unknown service "nope". Known services: cart, checkout.`
		chekout = `Unknown service "chekout". Did you mean "checkout"?`
	)
	for _, c := range []struct{ text, want string }{
		{"history nope", nope},
		{"deploys nope", nope},
		{"registry nope", nope},
		{"registry nope --since 7d", nope},
		{"readiness nope", nope},
		{"freeze nope", nope},
		{"unfreeze nope", nope},
		{"drill nope now", nope},
		{"history chekout", chekout},
		{"deploys checkot", `Unknown service "checkot". Did you mean "checkout"?`},
		{"propose chekout bad deploy", chekout},
		{"propose checkout,crat", `Unknown service "crat". Did you mean "cart"?`},
		{"plan chekout to 1.0", chekout},
		{"drill chekout", chekout},
		{"freeze carts launch day", `Unknown service "carts". Did you mean "cart"?`},
	} {
		h := newHarness()
		if got := h.command(c.text); !reflect.DeepEqual(got, private(c.want)) {
			t.Errorf("%q: %q, want %q", c.text, got.Message.Text.String(), c.want)
		}
		if got := h.asked(); len(got) != 0 {
			t.Errorf("%q asked %q", c.text, got)
		}
	}
}

// TestUnknownID: a command about a rollback that does not exist lists the
// open ones, since a mistyped id usually meant one of them; a failure about
// a rollback that exists is passed on as it is.
func TestUnknownID(t *testing.T) {
	open := "\nOpen: RB-9 (proposed, checkout 2 → 1). `/rollback history <service>` lists past ones."
	for _, text := range []string{"status RB-99", "approve RB-99", "reject RB-99 no", "abort RB-99 stop",
		"resume RB-99", "pause RB-99", "override RB-99 backup-fresh because"} {
		h := newHarness()
		rb9 := &rollback.Record{ID: "RB-9", State: rollback.StateProposed, Services: []rollback.ServiceChange{
			{Service: "checkout", Current: rollback.Release{Version: "2"}, Target: rollback.Release{Version: "1"}}}}
		h.life.rollbacks = map[string]*rollback.Record{"RB-9": rb9}
		h.life.open = []*rollback.Record{rb9}
		h.life.failure = rollback.Say("There is no rollback RB-99.")
		if got, want := h.command(text), "There is no rollback RB-99."+open; !privately(got, want) {
			t.Errorf("%q: %q, want %q", text, got.Message.Text.String(), want)
		}
		if strings.HasPrefix(text, "status") {
			continue // status of a rollback that exists shows it
		}
		h.life.failure = rollback.Say("RB-9 is not open.")
		h.life.open = nil
		if got, want := h.command(strings.ReplaceAll(text, "RB-99", "RB-9")), private("RB-9 is not open."); !reflect.DeepEqual(got, want) {
			t.Errorf("%q on RB-9: %q, want %q", text, got.Message.Text.String(), want.Message.Text.String())
		}
	}
	h := newHarness()
	h.life.failure = rollback.Say("There is no rollback RB-99.")
	if got, want := h.command("approve RB-99"), "There is no rollback RB-99."+noneOpen; !privately(got, want) {
		t.Errorf("none open: %q, want %q", got.Message.Text.String(), want)
	}
}

// privately reports whether r answers only its asker, with text reading
// want as the console shows it (code in backticks).
func privately(r Reply, want string) bool {
	return r.Ephemeral && r.Message.Text.String() == want && !r.Ignore
}

func TestDeploys(t *testing.T) {
	h := newHarness()
	if got, want := h.command("deploys checkout"), private("No deploys of checkout are recorded."); !reflect.DeepEqual(got, want) {
		t.Errorf("no deploys: %+v, want %+v", got, want)
	}
	h.life.deploys = []*rollback.Deploy{
		{ID: "d3", Version: "3"},
		{ID: "d2", Version: "2", Bad: true, Mutable: true},
		{ID: "d1", Version: "1", Good: true},
	}
	msg := h.command("deploys checkout").Message
	var status []string
	for _, row := range msg.Sections[0].Table.Rows {
		status = append(status, row[4])
	}
	if want := []string{"current", "rolled back (mutable artifact!)", "known-good"}; !reflect.DeepEqual(status, want) {
		t.Errorf("status column %q, want %q", status, want)
	}
	if h.life.stableAfter != time.Hour {
		t.Errorf("KnownGood got stable_after %v, want the catalog's 1h", h.life.stableAfter)
	}
}

// TestReasonRequired: a typed reject or abort without a reason is refused
// before the lifecycle is asked, since the reason is audited.
func TestReasonRequired(t *testing.T) {
	for text, want := range map[string]string{
		"reject RB-7": "A rejection needs a reason; it is audited.\nUsage: `/rollback reject <id> <reason>`",
		"abort RB-7":  "An abort needs a reason; it is audited.\nUsage: `/rollback abort <id> <reason>`",
	} {
		h := newHarness()
		// The usage line is typed code: Slack shows it as code, the
		// console in backticks.
		if got := h.command(text); !got.Ephemeral || got.Message.Text.String() != want || !slices.Contains(got.Message.Text, chat.Code(want[strings.Index(want, "/"):len(want)-1])) {
			t.Errorf("%q: %+v, want %q", text, got, want)
		}
		if got := h.asked(); len(got) != 0 {
			t.Errorf("%q asked %q", text, got)
		}
	}
}

// TestFaults: a store outage, however deeply wrapped, gets the "try again"
// reply; any other error gets the internal-error reply naming the verb.
func TestFaults(t *testing.T) {
	h := newHarness()
	h.life.err = fmt.Errorf("list rollbacks: %w", incident.ErrUnavailable)
	if got := h.command("history checkout").Message.Text.String(); !strings.Contains(got, "state store is unavailable") {
		t.Errorf("store down: %q", got)
	}
	h.life.err = fmt.Errorf("vote on RB-7: %w", incident.ErrShuttingDown)
	for _, cmd := range []string{"approve RB-7", "resume RB-7", "propose checkout errors up"} {
		got := h.command(cmd)
		if !got.Ephemeral || !strings.Contains(got.Message.Text.String(), "is shutting down") ||
			!strings.Contains(got.Message.Text.String(), "Try again in a few minutes") || !strings.Contains(got.Message.Text.String(), "Abort still works") {
			t.Errorf("%s on a replica shutting down: %+v", cmd, got)
		}
	}
	h.life.err = errors.New("boom")
	want := "⚠️ Backout hit an internal error while handling `approve`; nothing more was done. The error is logged for the operators."
	if got := h.command("approve RB-7"); !got.Ephemeral || got.Message.Text.String() != want {
		t.Errorf("internal error: %+v, want %q", got, want)
	}
	h.life.err = nil
	h.life.rollbacks = map[string]*rollback.Record{"RB-7": {ID: "RB-7", State: rollback.StateSucceeded}}
	h.life.failure = rollback.Say("RB-7 is not open.")
	if got := h.command("resume RB-7"); !reflect.DeepEqual(got, private("RB-7 is not open.")) {
		t.Errorf("failure: %+v", got)
	}
}

func TestClick(t *testing.T) {
	click := func(h *harness, action, value, reason string) Reply {
		return h.d.Click(context.Background(), Click{User: "U0BOB", Source: "slack", From: "1.2.3.4", ActionID: action, Value: value, Reason: reason})
	}
	h := newHarness()
	if got := click(h, chat.ActionApprove, "RB-7|9c1e", ""); !got.Ignore {
		t.Errorf("approve: %+v, want the thread to speak", got)
	}
	if want := (incident.VoteRequest{ID: "RB-7", Approve: true, PlanHash: "9c1e"}); h.life.lastVote != want {
		t.Errorf("vote %+v, want %+v", h.life.lastVote, want)
	}
	if got := click(h, chat.ActionGate, "RB-7|dba", ""); !got.Ignore || h.life.calls[len(h.life.calls)-1] != "SignGate RB-7 dba" {
		t.Errorf("gate: %+v after %q", got, h.life.calls)
	}

	h = newHarness()
	for _, c := range []struct{ action, value, want string }{
		{chat.ActionApprove, "nope", "That button carries no rollback id; it may be from an older version of Backout."},
		{chat.ActionReject, "RB-7|9c1e", "A rejection needs a reason; it is audited."},
		{chat.ActionAbort, "RB-7", "An abort needs a reason; it is audited."},
		{"launch", "RB-7", `Unknown action "launch".`},
	} {
		if got := click(h, c.action, c.value, " "); !reflect.DeepEqual(got, private(c.want)) {
			t.Errorf("%s %s: %+v, want %q", c.action, c.value, got, c.want)
		}
	}
	if len(h.life.calls) != 0 {
		t.Errorf("refused clicks asked %q", h.life.calls)
	}
}

func TestPropose(t *testing.T) {
	h := newHarness()
	got := h.command("propose checkout to 1.0 bad deploy")
	if want := privateText(chat.Textf("Proposed RB-1 in %s: checkout 2 → 1.", chat.Channel("C0OPS"))); !reflect.DeepEqual(got, want) {
		t.Errorf("reply %+v, want %+v", got, want)
	}
	want := incident.ProposeRequest{Services: []string{"checkout"}, Version: "1.0", Reason: "bad deploy"}
	if !reflect.DeepEqual(h.life.lastPropose, want) {
		t.Errorf("asked %+v, want %+v", h.life.lastPropose, want)
	}
}

// TestTypedApproveBindsToThePlan: a typed approve after the plan changed is
// refused with the new plan and a button bound to it; naming the plan, or
// a plan that never changed, votes.
func TestTypedApproveBindsToThePlan(t *testing.T) {
	h := newHarness()
	h.life.rollbacks = map[string]*rollback.Record{
		"RB-7": {ID: "RB-7", State: rollback.StateProposed, PlanHash: "bbbbbbbb", Replans: 1},
		"RB-8": {ID: "RB-8", State: rollback.StateProposed, PlanHash: "cccccccc"},
	}
	reply := h.command("approve RB-7")
	if got := h.life.calls; slices.Contains(got, "Vote RB-7 true") {
		t.Fatalf("a typed approve of a changed plan voted: %q", got)
	}
	if len(reply.Message.Buttons) != 1 || reply.Message.Buttons[0].Value != chat.ButtonValue("RB-7", "bbbbbbbb") ||
		!strings.Contains(reply.Message.Text.String(), "it is now bbbbbbbb") || !reply.Ephemeral {
		t.Fatalf("reply %+v: want a private refusal naming the new plan, with its button", reply)
	}
	for _, text := range []string{"approve RB-7 bbbbbbbb", "approve RB-8"} {
		h := newHarness()
		h.life.rollbacks = map[string]*rollback.Record{"RB-7": {ID: "RB-7", State: rollback.StateProposed, PlanHash: "bbbbbbbb", Replans: 1},
			"RB-8": {ID: "RB-8", State: rollback.StateProposed, PlanHash: "cccccccc"}}
		h.command(text)
		if !slices.ContainsFunc(h.life.calls, func(c string) bool { return strings.HasPrefix(c, "Vote ") }) {
			t.Errorf("%q did not vote: %q", text, h.life.calls)
		}
	}
}
