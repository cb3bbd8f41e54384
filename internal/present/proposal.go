package present

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
)

var stateIcon = map[rollback.State]string{
	rollback.StateProposed: "🗳️", rollback.StateApproved: "✅", rollback.StateRunning: "⏳", rollback.StateValidating: "🔎",
	rollback.StateSucceeded: "🟢", rollback.StateFailed: "🔴", rollback.StateRejected: "🚫", rollback.StateExpired: "⌛",
	rollback.StateStale: "💤", rollback.StateAborted: "🛑", rollback.StateInterrupted: "⚠️",
}

var stepIcon = map[string]string{
	rollback.StepStarted: "⏳", rollback.StepSucceeded: "✅", rollback.StepFailed: "❌", rollback.StepRetrying: "🔁",
	rollback.StepSkipped: "⏭️", rollback.StepCompensating: "↩️", rollback.StepCompensated: "↩️",
	rollback.StepCompensationFailed: "💥", rollback.StepCompensationStopped: "⚠️", rollback.StepGateWaiting: "🔒", rollback.StepGatePassed: "🔓", rollback.StepInterrupted: "⚠️",
}

var readinessIcon = map[string]string{rollback.ReadinessPass: "✅", rollback.ReadinessWarn: "⚠️", rollback.ReadinessFail: "❌"}

// StateLabel is a rollback's state as people read it: a running rollback
// that holds before its next step is "paused".
func StateLabel(r *rollback.Record) string {
	if r.Paused && r.State == rollback.StateRunning {
		return "paused"
	}
	return string(r.State)
}

// ProposalView is the main message of a rollback; it is updated in place as
// the rollback progresses.
func ProposalView(r *rollback.Record, votes []rollback.Vote, steps []rollback.StepEvent) chat.Message {
	kind := "Rollback"
	if r.Drill {
		kind = "Drill"
	}
	state := StateLabel(r)
	header := fmt.Sprintf("%s %s %s · %s", stateIcon[r.State], kind, r.ID, state)
	msg := chat.Message{Header: header, Text: chat.Textf("%s %s (%s): %s", kind, r.ID, state, rollback.SummaryLine(r))}

	var fields []chat.Field
	for _, c := range r.Services {
		fields = append(fields, chat.Field{Label: c.Service, Value: chat.Textf("%s → %s\n%s", c.Current.Version, chat.Bold(c.Target.Version), chat.Code(c.Target.Artifact))})
	}
	scope := r.Scope
	if r.Release != "" {
		scope = "release " + r.Release
	}
	msg.Sections = append(msg.Sections, chat.Section{Title: "What goes back (" + scope + ")", Fields: fields})
	msg.Sections = append(msg.Sections, chat.Section{Title: "Why", Text: whyText(r)})
	msg.Sections = append(msg.Sections, chat.Section{Title: "Plan", Text: planText(r, steps)})
	if len(r.Readiness) > 0 {
		msg.Sections = append(msg.Sections, chat.Section{Title: "Readiness", Table: readinessTable(r)})
	}
	if len(r.Constraints) > 0 {
		msg.Sections = append(msg.Sections, chat.Section{Title: "Constraints", Text: chat.Plain(bullets(r.Constraints))})
	}
	if len(r.DataReverts)+len(r.DataKeeps) > 0 {
		var lines []string
		for _, d := range r.DataReverts {
			lines = append(lines, "reverts: "+d)
		}
		for _, d := range r.DataKeeps {
			lines = append(lines, "keeps: "+d)
		}
		msg.Sections = append(msg.Sections, chat.Section{Title: "Data", Text: chat.Plain(bullets(lines))})
	}
	targets := []chat.Field{{Label: "Recovery target", Value: chat.Plain(durationOr(r.RecoveryTarget, "not set"))},
		{Label: "Max data loss", Value: chat.Plain(MaxDataLoss(r.MaxDataLoss))}}
	msg.Sections = append(msg.Sections, chat.Section{Fields: targets})
	msg.Sections = append(msg.Sections, chat.Section{Title: "Approvals", Text: approvalsText(r, votes)})
	if r.Outcome != "" {
		msg.Sections = append(msg.Sections, chat.Section{Title: "Outcome", Text: chat.Plain(r.Outcome)})
	}
	if r.State == rollback.StateInterrupted && r.Lingering != nil {
		msg.Sections = append(msg.Sections, chat.Section{Title: "Still stopping", Text: chat.Plain(r.Lingering.Describe(r.ID))})
	}
	msg.Buttons = buttons(r)
	msg.Context = chat.Textf("%s · plan %s · proposed %s", requestedBy(r), r.PlanHash, chat.Stamp(r.CreatedAt))
	if r.State == rollback.StateProposed && !r.Policy.ExpiresAt.IsZero() {
		msg.Context = msg.Context.AddPlain(" · expires " + chat.Stamp(r.Policy.ExpiresAt))
	}
	return msg
}

func whyText(r *rollback.Record) chat.Text {
	var t chat.Text
	switch r.Trigger.Kind {
	case "alert", "watcher":
		t = chat.Textf("%s %s", r.Trigger.Source, r.Trigger.Kind)
		if r.Trigger.Summary != "" {
			t = t.AddPlain(": " + r.Trigger.Summary)
		}
		if r.Trigger.URL != "" {
			t = t.Add(chat.Textf(" (%s)", chat.Link(r.Trigger.URL, "details")))
		}
		if r.Urgency != "" {
			t = t.Add(chat.Textf(" · urgency %s", chat.Bold(r.Urgency)))
		}
	case "drill":
		if r.Trigger.Source == "cron" {
			t = chat.Textf("scheduled drill (%s)", r.DrillModeText())
		} else {
			t = chat.Textf("drill (%s) requested by %s", r.DrillModeText(), chat.User(r.Requester))
		}
	default:
		t = chat.Textf("requested by %s", chat.User(r.Requester))
	}
	if r.Reason != "" {
		t = t.Add(chat.Textf("\n%s", chat.Quote(r.Reason)))
	}
	// A person's reason overrides the thrash guard without another step, so
	// the approvers must read here that the guard held this proposal back.
	for _, o := range r.Overrides {
		if o.Check == rollback.OverrideThrashGuard {
			t = t.Add(chat.Textf("\n⚠️ Proposed while the thrash guard held it back; %s overrode the guard (audited).", chat.User(o.By)))
		}
	}
	for _, n := range r.Notes {
		t = t.AddPlain(fmt.Sprintf("\n• %s %s", chat.Stamp(n.At), n.Text))
	}
	return t
}

// lastStepEvents maps service/step to its latest event.
func lastStepEvents(steps []rollback.StepEvent) map[string]rollback.StepEvent {
	out := map[string]rollback.StepEvent{}
	for _, ev := range steps {
		if ev.Kind == rollback.StepOutput {
			continue
		}
		out[ev.Service+"/"+ev.StepID] = ev
	}
	return out
}

// liveTail maps service/step to the output lines of its current attempt,
// for steps still running: every output record since the attempt started.
func liveTail(steps []rollback.StepEvent) map[string][]string {
	out := map[string][]string{}
	for _, ev := range steps {
		key := ev.Service + "/" + ev.StepID
		switch ev.Kind {
		case rollback.StepOutput:
			out[key] = append(out[key], strings.Split(strings.TrimRight(ev.Output, "\n"), "\n")...)
		case rollback.StepStarted:
			delete(out, key)
		}
	}
	return out
}

func planText(r *rollback.Record, steps []rollback.StepEvent) chat.Text {
	last := lastStepEvents(steps)
	live := liveTail(steps)
	var lines []chat.Text
	for _, c := range r.Services {
		if len(r.Services) > 1 {
			lines = append(lines, chat.Textf("%s (order %d)", chat.Bold(c.Service), c.Level+1))
		}
		for i, st := range c.Steps {
			key := c.Service + "/" + st.ID
			lines = append(lines, stepLine(i, st, last[key], live[key]))
		}
	}
	return chat.Join(lines, "\n")
}

// Output shown under a step: the newest lines of a running step, the tail
// of a failed one. Bounded, so a chatty step cannot crowd out the plan.
const (
	liveShown = 8
	tailShown = 6
)

// stepLine is one planned step: its state icon, title, gate, preview, how
// long it took, its error and output tail when it failed, or its newest
// output lines while it runs. ev is the zero event when the step has not
// started.
func stepLine(i int, st rollback.PlannedStep, ev rollback.StepEvent, live []string) chat.Text {
	icon := "◻️"
	if ev.Kind != "" {
		icon = stepIcon[ev.Kind]
	} else if st.Skipped {
		icon = "⏭️"
	}
	line := chat.Plain(fmt.Sprintf("%s %d. %s", icon, i+1, st.Title))
	if st.Gate != "" {
		line = line.AddPlain(" 🔒 " + st.Gate)
	}
	if st.Preview != "" {
		// The whole command, never cut in the middle (Slack wraps a long
		// code span); what qualifies it follows, outside the code.
		command, details := commandAndDetails(st.Preview)
		line = line.Add(chat.Textf(" — %s", chat.Code(command)))
		if details != "" {
			line = line.AddPlain(" (" + strings.ReplaceAll(details, " ;", ";") + ")")
		}
	}
	if ev.Duration > 0 {
		line = line.AddPlain(fmt.Sprintf(" (%s)", human.Duration(ev.Duration)))
	}
	if ev.Error != "" {
		line = line.AddPlain("\n      " + oneLine(ev.Error, 200))
	}
	switch {
	case ev.Kind == rollback.StepStarted && len(live) > 0:
		line = line.Add(chat.Textf("\n%s", OutputBlock(live, liveShown)))
	case ev.Kind == rollback.StepFailed && strings.TrimSpace(ev.Output) != "":
		line = line.Add(chat.Textf("\n%s", OutputBlock(strings.Split(strings.TrimRight(ev.Output, "\n"), "\n"), tailShown)))
	}
	return line
}

// OutputBlock shows the last n lines as a block, saying how many earlier
// ones it leaves out.
func OutputBlock(lines []string, n int) chat.Span {
	var b strings.Builder
	if len(lines) > n {
		fmt.Fprintf(&b, "[… %d earlier lines]\n", len(lines)-n)
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		b.WriteString(human.Truncate(l, 160) + "\n")
	}
	return chat.Pre(strings.TrimSuffix(b.String(), "\n"))
}

// oneLine is s on one line, cut to n characters.
func oneLine(s string, n int) string {
	return human.Truncate(strings.Join(strings.Fields(s), " "), n)
}

func readinessTable(r *rollback.Record) *chat.Table {
	t := &chat.Table{Header: []string{"", "check", "service", "result"}}
	for _, c := range r.Readiness {
		name := c.Name
		if c.Blocking {
			name += " (blocking)"
		}
		reason := c.Reason
		for _, o := range r.Overrides {
			if strings.EqualFold(o.Check, c.Name) {
				reason += fmt.Sprintf(" — overridden by %s: %s", o.By, o.Reason)
			}
		}
		t.Rows = append(t.Rows, []string{readinessIcon[c.Status] + " " + c.Status, name, c.Service, oneLine(reason, 140)})
	}
	return t
}

func bullets(lines []string) string { return "• " + strings.Join(lines, "\n• ") }

// MaxDataLoss tells "not set" from "none allowed" (a 0 in the config).
func MaxDataLoss(d *time.Duration) string {
	switch {
	case d == nil:
		return "not set"
	case *d == 0:
		return "none allowed (0)"
	}
	return human.Duration(*d)
}

func durationOr(d time.Duration, none string) string {
	if d <= 0 {
		return none
	}
	return human.Duration(d)
}

func approvalsText(r *rollback.Record, votes []rollback.Vote) chat.Text {
	var t chat.Text
	switch {
	case r.Policy.Waived:
		t = chat.Plain("waived by the drill policy")
	case len(r.Policy.Services) > 0:
		t = bundleProgress(r, votes)
	default:
		t = chat.Plain("Needs ").Add(Approvers(r.Policy))
	}
	if at := r.Policy.UnansweredAt; !at.IsZero() && r.State == rollback.StateProposed && len(votes) == 0 {
		// Silence is not a no: say when it approves itself, so nobody
		// leaves a proposal alone expecting it to expire.
		t = t.Add(chat.Textf("\nIf nobody votes by %s, Backout approves it on its own (auto_execute: when_unanswered %s).",
			chat.Stamp(at), human.Duration(at.Sub(r.CreatedAt))))
	}
	for _, v := range votes {
		if v.PlanHash != r.PlanHash {
			continue
		}
		icon := "👍"
		if !v.Approve {
			icon = "👎"
		}
		t = t.Add(chat.Textf("\n%s %s %s", icon, chat.User(v.User), chat.Stamp(v.At)))
		if !v.Counted {
			t = t.AddPlain(" (not counted)")
		}
	}
	if len(r.Approvers) > 0 && r.State != rollback.StateProposed {
		t = t.AddPlain("\nApproved by " + strings.Join(r.Approvers, ", "))
	}
	return t
}

// Approvers says who may approve under a policy, for people.
func Approvers(p rollback.Policy) chat.Text {
	var parts []chat.Text
	if len(p.Groups) > 0 {
		parts = append(parts, chat.Plain("members of "+strings.Join(p.Groups, ", ")))
	}
	if len(p.Users) > 0 {
		users := make([]chat.Text, len(p.Users))
		for i, u := range p.Users {
			users[i] = chat.Of(chat.User(u))
		}
		parts = append(parts, chat.Join(users, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, chat.Plain("anyone"))
	}
	t := chat.Textf("%d approval(s) from %s", p.Min, chat.Join(parts, " or "))
	if len(p.Roles) > 0 {
		t = t.AddPlain(", including one from each of: " + strings.Join(p.Roles, ", "))
	}
	if p.ForbidSelf {
		t = t.AddPlain("; the requester's vote does not count")
	}
	return t
}

func buttons(r *rollback.Record) []chat.Button {
	value := chat.ButtonValue(r.ID, r.PlanHash)
	abort := chat.Button{ActionID: chat.ActionAbort, Text: "Abort", Value: chat.ButtonValue(r.ID, ""), Style: chat.StyleDanger,
		Confirm: "Stop " + r.ID + "? Running steps are killed; compensations run where the runbook has them."}
	resume := chat.Button{ActionID: chat.ActionResume, Text: "Resume", Value: chat.ButtonValue(r.ID, ""), Style: chat.StylePrimary}
	switch r.State {
	case rollback.StateProposed:
		if r.Policy.Waived {
			return nil // a drill that needs no votes starts as soon as it is posted
		}
		return []chat.Button{{ActionID: chat.ActionApprove, Text: "Approve", Value: value, Style: chat.StylePrimary},
			{ActionID: chat.ActionReject, Text: "Reject", Value: value, Style: chat.StyleDanger}}
	case rollback.StateApproved, rollback.StateValidating:
		return []chat.Button{abort}
	case rollback.StateRunning:
		if r.Paused {
			return []chat.Button{resume, abort}
		}
		return []chat.Button{{ActionID: chat.ActionPause, Text: "Pause", Value: chat.ButtonValue(r.ID, "")}, abort}
	case rollback.StateInterrupted:
		if r.Lingering != nil || r.AbortBy != "" {
			// Resume is offered once the old driver is known gone, and never
			// under an abort someone asked for (a Tick ends the rollback).
			return []chat.Button{abort}
		}
		resume.Confirm = "Resume " + r.ID + "? Steps that were in flight run again."
		return []chat.Button{resume, abort}
	}
	return nil
}

// requestedBy names who asked: a person by mention, a machine in words (an
// alert source is no chat user, and "@pagerduty" would read as one).
func requestedBy(r *rollback.Record) chat.Text {
	switch r.Trigger.Kind {
	case "alert", "watcher":
		return chat.Plain("raised by " + TriggerLabel(r.Trigger))
	case "drill":
		if r.Trigger.Source == "cron" {
			return chat.Plain("scheduled drill")
		}
	}
	return chat.Textf("requested by %s", chat.User(r.Requester))
}

// TriggerLabel says in words what started a rollback: "a PagerDuty alert",
// "a post-deploy watcher", "a person (Slack)", "a scheduled drill".
func TriggerLabel(t rollback.Trigger) string {
	source := map[string]string{"pagerduty": "PagerDuty", "alertmanager": "Alertmanager", "watcher": "post-deploy watcher",
		"slack": "Slack", "console": "the console", "api": "the API", "cron": "schedule"}
	name := func(s string) string {
		s, _, _ = strings.Cut(s, ":") // "console:console", "slack:10.0.0.1" -> the adapter
		if n, ok := source[s]; ok {
			return n
		}
		return s
	}
	switch t.Kind {
	case "alert":
		return "a " + name(t.Source) + " alert"
	case "watcher":
		return "a post-deploy watcher"
	case "drill":
		if t.Source == "cron" {
			return "a scheduled drill"
		}
		return "a drill requested in " + name(t.Source)
	}
	if t.Source == "" {
		return "a person"
	}
	return "a person in " + name(t.Source)
}

// bundleProgress shows each service's own policy and how far its approvals
// have come: in a bundle, one service's approvers do not count for another.
func bundleProgress(r *rollback.Record, votes []rollback.Vote) chat.Text {
	t := chat.Plain("Each service needs its own approvals:")
	for _, name := range slices.Sorted(maps.Keys(r.Policy.Services)) {
		p := r.Policy.Services[name]
		got := 0
		for _, v := range votes {
			if v.PlanHash == r.PlanHash && v.Approve && v.Counted && slices.Contains(v.Services, name) {
				got++
			}
		}
		mark := "⏳"
		if got >= p.Min {
			mark = "✅"
		}
		t = t.Add(chat.Textf("\n%s %s: %d of ", mark, name, got)).Add(Approvers(p))
	}
	return t
}
