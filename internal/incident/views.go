package incident

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/backout/backout/internal/chat"
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
	rollback.StepCompensationFailed: "💥", rollback.StepGateWaiting: "🔒", rollback.StepGatePassed: "🔓", rollback.StepInterrupted: "⚠️",
}

var readinessIcon = map[string]string{Pass: "✅", Warn: "⚠️", Fail: "❌"}

// proposalView renders the rollback's main message from its stored state.
func (s *notifier) proposalView(ctx context.Context, r *rollback.Record) chat.Message {
	votes, _ := s.views.ListVotes(ctx, r.ID)
	steps, _ := s.views.ListSteps(ctx, r.ID)
	return ProposalView(r, votes, steps)
}

// ProposalView is the main message of a rollback; it is updated in place as
// the rollback progresses. Pure, so golden tests pin it.
func ProposalView(r *rollback.Record, votes []rollback.Vote, steps []rollback.StepEvent) chat.Message {
	kind := "Rollback"
	if r.Drill {
		kind = "Drill"
	}
	state := string(r.State)
	if r.Paused && r.State == rollback.StateRunning {
		state = "paused"
	}
	header := fmt.Sprintf("%s %s %s · %s", stateIcon[r.State], kind, r.ID, state)
	msg := chat.Message{Header: header, Text: fmt.Sprintf("%s %s (%s): %s", kind, r.ID, state, summaryLine(r))}

	var fields []chat.Field
	for _, c := range r.Services {
		fields = append(fields, chat.Field{Label: c.Service, Value: fmt.Sprintf("%s → *%s*\n`%s`", c.Current.Version, c.Target.Version, c.Target.Artifact)})
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
		msg.Sections = append(msg.Sections, chat.Section{Title: "Constraints", Text: bullets(r.Constraints)})
	}
	if len(r.DataReverts)+len(r.DataKeeps) > 0 {
		var lines []string
		for _, d := range r.DataReverts {
			lines = append(lines, "reverts: "+d)
		}
		for _, d := range r.DataKeeps {
			lines = append(lines, "keeps: "+d)
		}
		msg.Sections = append(msg.Sections, chat.Section{Title: "Data", Text: bullets(lines)})
	}
	targets := []chat.Field{{Label: "Recovery target", Value: durationOr(r.RecoveryTarget, "not set")},
		{Label: "Max data loss", Value: durationOr(r.MaxDataLoss, "none")}}
	msg.Sections = append(msg.Sections, chat.Section{Fields: targets})
	msg.Sections = append(msg.Sections, chat.Section{Title: "Approvals", Text: approvalsText(r, votes)})
	if r.Outcome != "" {
		msg.Sections = append(msg.Sections, chat.Section{Title: "Outcome", Text: r.Outcome})
	}
	msg.Buttons = buttons(r)
	msg.Context = fmt.Sprintf("requested by <@%s> · plan %s · proposed %s", r.Requester, r.PlanHash, chat.Stamp(r.CreatedAt))
	if r.State == rollback.StateProposed && !r.Policy.ExpiresAt.IsZero() {
		msg.Context += " · expires " + chat.Stamp(r.Policy.ExpiresAt)
	}
	return msg
}

func whyText(r *rollback.Record) string {
	var b strings.Builder
	switch r.Trigger.Kind {
	case "alert", "watcher":
		fmt.Fprintf(&b, "%s %s", r.Trigger.Source, r.Trigger.Kind)
		if r.Trigger.Summary != "" {
			fmt.Fprintf(&b, ": %s", r.Trigger.Summary)
		}
		if r.Trigger.URL != "" {
			fmt.Fprintf(&b, " (<%s|details>)", r.Trigger.URL)
		}
		if r.Urgency != "" {
			fmt.Fprintf(&b, " · urgency *%s*", r.Urgency)
		}
	case "drill":
		if r.Trigger.Source == "cron" {
			fmt.Fprintf(&b, "scheduled drill (%s)", r.DrillMode)
		} else {
			fmt.Fprintf(&b, "drill (%s) requested by <@%s>", r.DrillMode, r.Requester)
		}
	default:
		fmt.Fprintf(&b, "requested by <@%s>", r.Requester)
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, "\n> %s", r.Reason)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n• %s %s", chat.Stamp(n.At), n.Text)
	}
	return b.String()
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

// liveLine maps service/step to the newest output line of its current
// attempt, for steps still running.
func liveLine(steps []rollback.StepEvent) map[string]string {
	out := map[string]string{}
	for _, ev := range steps {
		key := ev.Service + "/" + ev.StepID
		switch ev.Kind {
		case rollback.StepOutput:
			text := strings.TrimRight(ev.Output, "\n")
			out[key] = text[strings.LastIndexByte(text, '\n')+1:]
		case rollback.StepStarted:
			delete(out, key)
		}
	}
	return out
}

func planText(r *rollback.Record, steps []rollback.StepEvent) string {
	last := lastStepEvents(steps)
	live := liveLine(steps)
	var lines []string
	for _, c := range r.Services {
		if len(r.Services) > 1 {
			lines = append(lines, fmt.Sprintf("*%s* (order %d)", c.Service, c.Level+1))
		}
		for i, st := range c.Steps {
			icon := "◻️"
			if ev, ok := last[c.Service+"/"+st.ID]; ok {
				icon = stepIcon[ev.Kind]
			} else if st.Skipped {
				icon = "⏭️"
			}
			line := fmt.Sprintf("%s %d. %s", icon, i+1, st.Title)
			if st.Gate != "" {
				line += " 🔒 " + st.Gate
			}
			if st.Preview != "" {
				line += fmt.Sprintf(" — `%s`", oneLine(st.Preview, 120))
			}
			if ev, ok := last[c.Service+"/"+st.ID]; ok && ev.Duration > 0 {
				line += fmt.Sprintf(" (%s)", ev.Duration.Round(time.Millisecond))
			}
			if ev, ok := last[c.Service+"/"+st.ID]; ok && ev.Error != "" {
				line += "\n      " + oneLine(ev.Error, 200)
			}
			if ev := last[c.Service+"/"+st.ID]; ev.Kind == rollback.StepStarted && live[c.Service+"/"+st.ID] != "" {
				line += "\n      › `" + strings.ReplaceAll(oneLine(live[c.Service+"/"+st.ID], 160), "`", "'") + "`"
			}
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
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

func durationOr(d time.Duration, none string) string {
	if d <= 0 {
		return none
	}
	return d.String()
}

func approvalsText(r *rollback.Record, votes []rollback.Vote) string {
	var b strings.Builder
	if r.Policy.Waived {
		b.WriteString("waived by the drill policy")
	} else {
		b.WriteString("Needs " + describeApprovers(r.Policy))
	}
	for _, v := range votes {
		if v.PlanHash != r.PlanHash {
			continue
		}
		icon := "👍"
		if !v.Approve {
			icon = "👎"
		}
		fmt.Fprintf(&b, "\n%s <@%s> %s", icon, v.User, chat.Stamp(v.At))
		if !v.Counted {
			b.WriteString(" (not counted)")
		}
	}
	if len(r.Approvers) > 0 && r.State != rollback.StateProposed {
		fmt.Fprintf(&b, "\nApproved by %s", strings.Join(r.Approvers, ", "))
	}
	return b.String()
}

func buttons(r *rollback.Record) []chat.Button {
	value := r.ID + "|" + r.PlanHash
	abort := chat.Button{ActionID: "abort", Text: "Abort", Value: r.ID, Style: chat.StyleDanger, Confirm: "Stop " + r.ID + "? Running steps are killed; compensations run where the runbook has them."}
	switch r.State {
	case rollback.StateProposed:
		if r.Policy.Waived {
			return nil // a drill that needs no votes starts as soon as it is posted
		}
		return []chat.Button{{ActionID: "approve", Text: "Approve", Value: value, Style: chat.StylePrimary},
			{ActionID: "reject", Text: "Reject", Value: value, Style: chat.StyleDanger}}
	case rollback.StateApproved, rollback.StateValidating:
		return []chat.Button{abort}
	case rollback.StateRunning:
		if r.Paused {
			return []chat.Button{{ActionID: "resume", Text: "Resume", Value: r.ID, Style: chat.StylePrimary}, abort}
		}
		return []chat.Button{{ActionID: "pause", Text: "Pause", Value: r.ID}, abort}
	case rollback.StateInterrupted:
		return []chat.Button{{ActionID: "resume", Text: "Resume", Value: r.ID, Style: chat.StylePrimary,
			Confirm: "Resume " + r.ID + "? Steps that were in flight run again."}, abort}
	}
	return nil
}

// VoteNote is the thread note for one vote.
func VoteNote(r *rollback.Record, user string, approve bool, detail string, at time.Time) chat.Message {
	var text string
	if approve {
		text = fmt.Sprintf("👍 <@%s> approved %s at %s.", user, r.ID, chat.Stamp(at))
		if detail != "" {
			text += " Still needed: " + detail + "."
		}
	} else {
		text = fmt.Sprintf("👎 <@%s> rejected %s at %s: %s", user, r.ID, chat.Stamp(at), detail)
	}
	return textMessage(text)
}

// ValidationMessage posts the validation table of one service.
func ValidationMessage(r *rollback.Record, service string, results []rollback.CheckResult) chat.Message {
	t := &chat.Table{Header: []string{"check", "outcome", "value", "bound"}}
	for _, res := range results {
		t.Rows = append(t.Rows, []string{res.Name, res.Status, res.Value, res.Bound})
	}
	text := fmt.Sprintf("Validation of %s for %s: %s", service, r.ID, validationSummary(results))
	return chat.Message{Text: text, Sections: []chat.Section{{Text: "🔎 " + text, Table: t}}}
}

func validationSummary(results []rollback.CheckResult) string {
	counts := map[string]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	var parts []string
	for _, k := range []string{"Successful", "Failed", "Inconclusive", "Error"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], strings.ToLower(k)))
		}
	}
	if len(parts) == 0 {
		return "no checks"
	}
	return strings.Join(parts, ", ")
}

// SummaryView is the last thread note of a rollback.
func SummaryView(r *rollback.Record) chat.Message {
	var lines []string
	for _, p := range phases(r) {
		lines = append(lines, fmt.Sprintf("%s %s", p.Name, p.Duration.Round(time.Second)))
	}
	text := fmt.Sprintf("%s %s %s", stateIcon[r.State], r.ID, outcomeText(r))
	if r.RecoveryTarget > 0 && !r.EndedAt.IsZero() && !r.StartedAt.IsZero() {
		took := r.EndedAt.Sub(r.CreatedAt)
		verdict := "within"
		if took > r.RecoveryTarget {
			verdict = "over"
		}
		text += fmt.Sprintf("\nTook %s, %s the recovery target of %s.", took.Round(time.Second), verdict, r.RecoveryTarget)
	}
	if r.State == rollback.StateFailed {
		text += "\nNext: check the failed step's output above, decide whether to retry (`/rollback propose`) or roll forward, and page the owners. Backout starts nothing more by itself."
	}
	msg := textMessage(text)
	if len(lines) > 0 {
		msg.Context = strings.Join(lines, " · ")
	}
	return msg
}

// SupportView tells a support channel the outcome.
func SupportView(r *rollback.Record) chat.Message {
	text := outcomeText(r)
	if !strings.Contains(text, summaryLine(r)) {
		text = summaryLine(r) + ": " + text
	}
	return textMessage(fmt.Sprintf("%s Rollback %s: %s", stateIcon[r.State], r.ID, text))
}

// outcomeText is "succeeded: …" once, whether or not the outcome already
// starts with the state.
func outcomeText(r *rollback.Record) string {
	switch {
	case r.Outcome == "":
		return string(r.State)
	case strings.HasPrefix(r.Outcome, string(r.State)):
		return r.Outcome
	}
	return string(r.State) + ": " + r.Outcome
}
