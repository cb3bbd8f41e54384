package present

import (
	"fmt"
	"strings"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
)

// Notice renders one lifecycle notice as a chat message. ok is false for a
// notice this package does not know, which is a programming error the
// caller logs.
func Notice(n rollback.Notice) (msg chat.Message, ok bool) {
	if m, ok := proposalNotice(n); ok {
		return m, true
	}
	if m, ok := controlNotice(n); ok {
		return m, true
	}
	return runNotice(n)
}

func plain(format string, args ...any) chat.Message {
	return chat.TextMessage(chat.Plain(fmt.Sprintf(format, args...)))
}

func said(format string, args ...any) chat.Message {
	return chat.TextMessage(chat.Textf(format, args...))
}

// proposalNotice covers alerts, votes and the proposal's own changes.
func proposalNotice(n rollback.Notice) (chat.Message, bool) {
	switch n := n.(type) {
	case rollback.AlertIgnored:
		return said("👀 %s %s for %s: %s. No deploy of %s in the last %s, so Backout is not proposing a rollback; %s if one is still wanted.",
			n.Source, n.Kind, n.Service, n.Summary, n.Service, human.Duration(n.Window), chat.Code("/rollback propose "+n.Service)), true
	case rollback.AlertNotProposed:
		msg := said("🤷 %s %s for %s: %s. Backout did not propose a rollback: %s", n.Source, n.Kind, n.Service, n.Summary, Words(n.Why))
		if n.Guarded {
			msg = said("🤷 %s %s for %s: %s. Backout did not propose a rollback: %s. To propose anyway, give a reason (it is audited and overrides the guard): %s.",
				n.Source, n.Kind, n.Service, n.Summary, clause(n.Why), chat.Code("/rollback propose "+n.Service+" <reason>"))
		}
		return msg, true
	case rollback.AlertFolded:
		return plain("🔁 Another alert for %s (%s) was folded into %s: %s", n.Service, n.Source, n.Rollback.ID, n.Summary), true
	case rollback.AlertUpdated:
		msg := plain("📣 %s.", n.Text)
		if n.StillNeeds {
			msg.Sections = []chat.Section{{Text: chat.Textf("📣 %s. %s still needs %s.", n.Text, n.Rollback.ID, Approvers(n.Rollback.Policy))}}
			msg.Mentions = chat.Mentions(n.Stakeholders...)
		}
		return msg, true
	case rollback.IncidentResolved:
		if n.Stale {
			return plain("💤 %s before anyone approved; %s is stale and will not run.", n.Text, n.Rollback.ID), true
		}
		return plain("ℹ️ %s; %s continues (%s).", n.Text, n.Rollback.ID, n.Rollback.State), true
	case rollback.Voted:
		return VoteNote(n.Rollback, n.User, n.Approve, n.Detail, n.At), true
	case rollback.Expired:
		return plain("⌛ %s expired at %s without enough approvals.", n.Rollback.ID, n.Rollback.Policy.ExpiresAt.UTC().Format("15:04Z")), true
	case rollback.AutoApproved:
		return said("🤖 Backout is executing %s automatically (%s). Anyone eligible can stop it with Abort or %s.", n.Rollback.ID, n.Why, chat.Code("/rollback abort "+n.Rollback.ID)), true
	case rollback.Replanned:
		return plain("📝 The plan of %s changed (%s → %s): %s. Earlier votes no longer count; please review and vote again.",
			n.Rollback.ID, n.OldHash, n.NewHash, rollback.SummaryLine(n.Rollback)), true
	case rollback.NoLongerApplies:
		return said("💤 %s no longer applies: %s", n.Rollback.ID, Words(n.Failure)), true
	}
	return chat.Message{}, false
}

// controlNotice covers what people do to a rollback in flight.
func controlNotice(n rollback.Notice) (chat.Message, bool) {
	switch n := n.(type) {
	case rollback.Overridden:
		return said("⚠️ %s overrode the failing check %s: %s", chat.User(n.User), chat.Bold(n.Check), n.Reason), true
	case rollback.AbortRequested:
		return said("🛑 %s asked to abort %s: %s", chat.User(n.User), n.Rollback.ID, n.Reason), true
	case rollback.Withdrawn:
		return said("🛑 %s withdrew %s: %s", chat.User(n.User), n.Rollback.ID, n.Reason), true
	case rollback.Paused:
		return said("⏸️ %s paused %s; steps already running finish, no new step starts until Resume.", chat.User(n.User), n.Rollback.ID), true
	case rollback.AffectedReported:
		return AffectedNote(n.Rollback), true
	case rollback.Holding:
		return plain("⏸️ %s is holding: no new step starts until Resume.", n.Rollback.ID), true
	case rollback.Resumed:
		return resumed(n), true
	case rollback.GateSigned:
		return said("🔓 %s (%s) signed off the gate at %s at %s.", chat.User(n.User), n.Group, n.Gate, n.At.UTC().Format("15:04:05Z")), true
	}
	return chat.Message{}, false
}

func resumed(n rollback.Resumed) chat.Message {
	switch {
	case !n.Interrupted:
		return said("▶️ %s resumed %s.", chat.User(n.By), n.Rollback.ID)
	case n.By == "":
		t := chat.Plain(fmt.Sprintf("▶️ Backout resumed %s on its own (automatic resume %d of %d).", n.Rollback.ID, n.AutoResume, n.MaxAuto))
		return chat.TextMessage(t.AddPlain(rerunText(n.Rerun, "Step(s) %s, in flight when it stopped, are idempotent and run again.")))
	}
	t := chat.Textf("▶️ %s resumed %s.", chat.User(n.By), n.Rollback.ID)
	return chat.TextMessage(t.AddPlain(rerunText(n.Rerun, "On their say-so, step(s) %s, in flight when Backout stopped, run again.")))
}

// rerunText says which steps a resume runs again; inflight words the ones
// that never finished.
func rerunText(r rollback.Rerun, inflight string) string {
	var b strings.Builder
	if len(r.InFlight) > 0 {
		b.WriteString(" " + fmt.Sprintf(inflight, strings.Join(r.InFlight, ", ")))
	}
	if len(r.Failed) > 0 {
		fmt.Fprintf(&b, " Step(s) %s, which had failed, run again too.", strings.Join(r.Failed, ", "))
	}
	if len(r.Undone) > 0 {
		fmt.Fprintf(&b, " Step(s) %s, which compensation had undone, run again too.", strings.Join(r.Undone, ", "))
	}
	return b.String()
}

// runNotice covers the engine's own news.
func runNotice(n rollback.Notice) (chat.Message, bool) {
	switch n := n.(type) {
	case rollback.Blocked:
		var lines []chat.Text
		for _, c := range n.Checks {
			override := fmt.Sprintf("/rollback override %s %s <reason>", n.Rollback.ID, rollback.CheckSlug(c.Name))
			lines = append(lines, chat.Textf("• %s (%s): %s — %s", chat.Bold(c.Name), c.Service, c.Reason, chat.Code(override)))
		}
		return said("⛔ %s is approved but blocked by failing readiness checks:\n%s", n.Rollback.ID, chat.Join(lines, "\n")), true
	case rollback.Started:
		return plain("🚀 %s started at %s.", n.Rollback.ID, n.At.UTC().Format("15:04:05Z")), true
	case rollback.Interrupted:
		return plain("%s", interrupted(n)), true
	case rollback.DriverGone:
		return plain("%s", driverGone(n)), true
	case rollback.HandedOn:
		return plain("%s", handedOn(n)), true
	case rollback.GateWaiting:
		return gateWaiting(n), true
	case rollback.StepAttemptFailed:
		return stepFailed(n), true
	case rollback.Settling:
		return SettlingMessage(n), true
	case rollback.Measured:
		return MeasuredMessage(n), true
	case rollback.Validated:
		return ValidationMessage(n.Rollback, n.Service, n.Results), true
	case rollback.Ended:
		return SummaryView(n.Rollback), true
	}
	return chat.Message{}, false
}

func interrupted(n rollback.Interrupted) string {
	r := n.Rollback
	msg := fmt.Sprintf("⚠️ %s was interrupted: %s.", r.ID, n.Why)
	if r.Lingering != nil {
		if r.AbortBy != "" { // never resumed: Tick ends it aborted
			msg += " " + r.Lingering.Where(r.ID) + "."
		} else {
			msg += " " + r.Lingering.Describe(r.ID)
		}
		if len(n.InFlight) > 0 {
			msg += fmt.Sprintf(" Step(s) %s had started and never finished.", strings.Join(n.InFlight, ", "))
		}
		if r.AbortBy != "" {
			return msg + undoingText(n.Undoing) + " The abort asked for ends it once they have stopped."
		}
		return msg + undoingText(n.Undoing) + " Abort now and it ends once they have stopped."
	}
	return msg + undoingText(n.Undoing) + whatNext(r, n.InFlight, n.MaxAuto)
}

// driverGone: the old driver of an interrupted rollback is known gone.
func driverGone(n rollback.DriverGone) string {
	msg := fmt.Sprintf("✅ %s: replica %s's lease expired and kill_grace passed, so none of its steps is running any more.", n.Rollback.ID, n.Replica)
	return msg + undoingText(n.Undoing) + whatNext(n.Rollback, n.InFlight, n.MaxAuto)
}

// undoingText names the compensations a driver left running: Backout does
// not run them again, so people must know to look.
func undoingText(undoing []string) string {
	if len(undoing) == 0 {
		return ""
	}
	return fmt.Sprintf(" The undo of %s had started and never finished: what it did is unknown, and Backout does not run it again.", strings.Join(undoing, ", "))
}

// whatNext says what happens to an interrupted rollback that nothing runs
// any more: Backout resumes it on its own, or a person chooses.
func whatNext(r *rollback.Record, inFlight []string, maxAuto int) string {
	var msg string
	switch {
	case r.AbortBy != "":
		// Backout ends it at its next tick; offering Resume would invite a
		// run that races the abort (Resume is refused).
		if len(inFlight) > 0 {
			msg += fmt.Sprintf(" Step(s) %s had started and never finished; they are not re-run.", strings.Join(inFlight, ", "))
		}
		msg += " The abort asked for ends it now."
	case r.ResumeDue && len(inFlight) > 0:
		msg += fmt.Sprintf(" Step(s) %s had started and never finished; they are idempotent, so Backout resumes on its own (automatic resume %d of %d). Abort to stop it.",
			strings.Join(inFlight, ", "), r.AutoResumes+1, maxAuto)
	case r.ResumeDue:
		msg += fmt.Sprintf(" No step was in flight, so Backout resumes on its own (automatic resume %d of %d). Abort to stop it.", r.AutoResumes+1, maxAuto)
	case len(inFlight) > 0:
		msg += fmt.Sprintf(" Step(s) %s had started and never finished; they are not re-run unless you press Resume.", strings.Join(inFlight, ", "))
		if r.AutoResumes >= maxAuto {
			msg += fmt.Sprintf(" (Backout already resumed it %d times on its own.)", r.AutoResumes)
		}
		msg += " Resume or Abort?"
	default:
		msg += " Resume or Abort?"
	}
	return msg
}

// handedOn says which replica stopped, what became of the steps it was
// running, and what happens next, from the record as handed on.
func handedOn(n rollback.HandedOn) string {
	r := n.Rollback
	var b strings.Builder
	fmt.Fprintf(&b, "⏏️ Backout replica %s stopped", n.Replica)
	if n.Signal != "" {
		fmt.Fprintf(&b, " (%s)", n.Signal)
	}
	fmt.Fprintf(&b, " while it ran %s, and handed it on.", r.ID)
	if len(n.Finished) > 0 {
		fmt.Fprintf(&b, " Step(s) %s finished first.", strings.Join(n.Finished, ", "))
	}
	if len(n.Failed) > 0 {
		fmt.Fprintf(&b, " Step(s) %s failed.", strings.Join(n.Failed, ", "))
	}
	if len(n.Rerun) > 0 {
		fmt.Fprintf(&b, " Step(s) %s were interrupted; they are idempotent and run again on resume.", strings.Join(n.Rerun, ", "))
	}
	if len(n.Unknown) > 0 {
		fmt.Fprintf(&b, " Step(s) %s were still running when the shutdown grace (%s) ran out and were stopped: what they did is unknown, and a resume runs them again.",
			strings.Join(n.Unknown, ", "), human.Duration(n.Grace))
	}
	switch {
	case r.ResumeDue:
		fmt.Fprintf(&b, " No new step started; the rollback resumes on its own on another replica, or on this one once it is back (automatic resume %d of %d). Abort to stop it.",
			r.AutoResumes+1, n.MaxAuto)
	case len(n.Unknown) > 0:
		b.WriteString(" It needs a person: check what those steps did, then Resume or Abort.")
	case len(n.Failed) > 0:
		b.WriteString(" It needs a person: Resume (the failed step runs again) or Abort.")
	case r.Paused:
		b.WriteString(" It was paused: Resume when ready, or Abort.")
	case r.AutoResumes >= n.MaxAuto:
		fmt.Fprintf(&b, " Backout already resumed it %d times on its own, so it needs a person: Resume when ready, or Abort.", r.AutoResumes)
	default:
		b.WriteString(" It needs a person: Resume when ready, or Abort.")
	}
	return b.String()
}

func gateWaiting(n rollback.GateWaiting) chat.Message {
	text := n.Message
	if text == "" {
		text = fmt.Sprintf("Step %s of %s waits for sign-off from %s.", n.Step, n.Service, n.Group)
	}
	msg := chat.TextMessage(chat.Plain("🔒 " + text))
	msg.Buttons = []chat.Button{{ActionID: chat.ActionGate, Text: "Sign off (" + n.Group + ")",
		Value: chat.ButtonValue(n.Rollback.ID, n.Gate), Style: chat.StylePrimary}}
	msg.Mentions = chat.Mentions(n.Group)
	return msg
}

// failureTail is how many output lines a failed attempt's thread note shows.
const failureTail = 15

func stepFailed(n rollback.StepAttemptFailed) chat.Message {
	exit := ""
	if code := fmt.Sprint(n.ExitCode); n.ExitCode != 0 && !strings.Contains(n.Error, code) {
		exit = ", exit " + code
	}
	step := n.Step
	if n.Title != "" && n.Title != n.Step {
		step = fmt.Sprintf("“%s” (%s)", n.Title, n.Step)
	}
	var text chat.Text
	if n.RetryIn > 0 {
		text = chat.Textf("🔁 Step %s of %s failed after %s (attempt %d%s): %s. Retrying in %s.",
			step, n.Service, human.Duration(n.Took), n.Attempt, exit, oneLine(n.Error, 300), human.Duration(n.RetryIn))
	} else {
		text = chat.Textf("❌ Step %s of %s failed after %s (attempt %d%s): %s",
			step, n.Service, human.Duration(n.Took), n.Attempt, exit, oneLine(n.Error, 300))
	}
	if out := strings.TrimRight(n.Output, "\n"); strings.TrimSpace(out) != "" {
		text = text.Add(chat.Textf("\n%s", OutputBlock(strings.Split(out, "\n"), failureTail)))
	} else {
		text = text.AddPlain("\n(no output)")
	}
	return chat.TextMessage(text)
}
