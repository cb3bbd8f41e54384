package console

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/present"
	"github.com/backout/backout/internal/rollback"
)

// tailLines is how much of a step's output `show` prints: enough to see why
// a step failed, without one chatty step burying the rest of the record.
const tailLines = 10

// RecordText is the whole record of one rollback as `show` prints it. The
// chat message summarises a rollback for the people deciding; this spells out
// what the record holds for the person looking back or debugging: every step
// with its attempts, timings and output tail, every check, vote, override,
// gate and note, and how long each phase took. It is built from the
// lifecycle's answers alone (the record, its votes and its step log).
func RecordText(r *rollback.Record, votes []rollback.Vote, steps []rollback.StepEvent) string {
	w := &textWriter{}
	recordHeader(w, r)
	recordServices(w, r)
	recordSteps(w, r, steps)
	recordChecks(w, "Readiness", r.Readiness)
	recordOverrides(w, r.Overrides)
	recordVotes(w, r, votes)
	recordGates(w, r.Gates)
	recordChecks(w, "Validation", r.Validation)
	recordNotes(w, r)
	recordPhases(w, r)
	return strings.TrimRight(w.b.String(), "\n")
}

// textWriter collects lines; section starts a titled block after a blank line.
type textWriter struct{ b strings.Builder }

func (w *textWriter) line(format string, args ...any) { fmt.Fprintf(&w.b, format+"\n", args...) }

func (w *textWriter) section(title string) { w.line("\n▸ %s", title) }

// block writes text indented, one output line per line, so that multi-line
// commands and output keep their shape.
func (w *textWriter) block(indent, text string) {
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		w.line("%s%s", indent, l)
	}
}

func recordHeader(w *textWriter, r *rollback.Record) {
	kind := "Rollback"
	if r.Drill {
		kind = fmt.Sprintf("Drill (%s)", r.DrillModeText())
	}
	state := string(r.State)
	if r.Paused && r.State == rollback.StateRunning {
		state += ", paused"
	}
	w.line("══ %s %s · %s ══", kind, r.ID, state)
	scope := r.Scope
	if r.Release != "" {
		scope = "release " + r.Release
	}
	w.line("What:       %s (%s)", rollback.SummaryLine(r), scope)
	w.line("Trigger:    %s", triggerText(r.Trigger))
	w.line("Requested:  by %s at %s", who(r.Requester), stamp(r.CreatedAt))
	if r.Reason != "" {
		w.line("Reason:     %s", r.Reason)
	}
	w.line("Channel:    #%s", r.Channel)
	w.line("Plan:       %s", r.PlanHash)
	w.line("Approval:   %s", policyText(r))
	w.line("Targets:    recovery %s · max data loss %s", durationOr(r.RecoveryTarget), present.MaxDataLoss(r.MaxDataLoss))
	if r.AbortBy != "" {
		w.line("Aborted:    by %s: %s", who(r.AbortBy), r.AbortReason)
	}
	if r.AutoResumes > 0 || r.ResumeDue {
		w.line("Resumed:    %d time(s) by Backout (resume due: %v)", r.AutoResumes, r.ResumeDue)
	}
	if r.Outcome != "" {
		w.line("Outcome:    %s", r.Outcome)
	}
	for _, c := range r.Constraints {
		w.line("Constraint: %s", c)
	}
	for _, d := range r.DataReverts {
		w.line("Reverts:    %s", d)
	}
	for _, d := range r.DataKeeps {
		w.line("Keeps:      %s", d)
	}
}

func triggerText(t rollback.Trigger) string {
	s := present.TriggerLabel(t)
	if !t.At.IsZero() {
		s += " at " + stamp(t.At)
	}
	if t.Summary != "" {
		s += ": " + t.Summary
	}
	if t.IncidentID != "" {
		s += " · incident " + t.IncidentID
	}
	if t.URL != "" {
		s += " " + t.URL
	}
	if t.Urgency != "" {
		s += " · urgency " + t.Urgency
	}
	return s
}

func policyText(r *rollback.Record) string {
	p := r.Policy
	if p.Waived {
		return "waived by the drill policy"
	}
	var from []string
	if len(p.Groups) > 0 {
		from = append(from, "members of "+strings.Join(p.Groups, ", "))
	}
	for _, u := range p.Users {
		from = append(from, who(u))
	}
	if len(from) == 0 {
		from = []string{"anyone"}
	}
	s := fmt.Sprintf("%d from %s", p.Min, strings.Join(from, " or "))
	if len(p.Roles) > 0 {
		s += "; one from each of " + strings.Join(p.Roles, ", ")
	}
	if p.ForbidSelf {
		s += "; not the requester"
	}
	if !p.ExpiresAt.IsZero() {
		s += "; expires " + stamp(p.ExpiresAt)
	}
	if r.Auto {
		s += "; executed without votes by policy"
	}
	if len(r.Approvers) > 0 {
		s += "; approved by " + strings.Join(r.Approvers, ", ")
	}
	if !r.DecidedAt.IsZero() {
		s += "; decided " + stamp(r.DecidedAt)
	}
	return s
}

func recordServices(w *textWriter, r *rollback.Record) {
	w.section("Services")
	for _, c := range r.Services {
		order := fmt.Sprintf("order %d", c.Level+1)
		if len(c.DependsOn) > 0 {
			order += ", after " + strings.Join(c.DependsOn, ", ")
		}
		w.line("%s %s → %s · runbook %s · %s", c.Service, c.Current.Version, c.Target.Version, c.Runbook, order)
		w.line("  from %s", releaseText(c.Current))
		w.line("  to   %s", releaseText(c.Target))
		if len(c.Params) > 0 {
			keys := make([]string, 0, len(c.Params))
			for k := range c.Params {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			params := make([]string, len(keys))
			for i, k := range keys {
				params[i] = k + "=" + c.Params[k]
			}
			w.line("  params: %s", strings.Join(params, " "))
		}
	}
}

func releaseText(rel rollback.Release) string {
	parts := []string{rel.Version}
	if rel.Artifact != "" {
		parts = append(parts, rel.Artifact)
	}
	if rel.DeployID != "" {
		parts = append(parts, "deploy "+rel.DeployID)
	}
	if !rel.DeployedAt.IsZero() {
		parts = append(parts, "deployed "+stamp(rel.DeployedAt))
	}
	if rel.Commit != "" {
		parts = append(parts, "commit "+rel.Commit)
	}
	if rel.ConfigVersion != "" {
		parts = append(parts, "config "+rel.ConfigVersion)
	}
	return strings.Join(parts, " · ")
}

func recordChecks(w *textWriter, title string, checks []rollback.CheckResult) {
	if len(checks) == 0 {
		return
	}
	w.section(title)
	width := 0
	for _, c := range checks {
		width = max(width, len(c.Status))
	}
	for _, c := range checks {
		name := c.Name
		if c.Blocking {
			name += " (blocking)"
		}
		s := fmt.Sprintf("%-*s  %s · %s", width, c.Status, c.Service, name)
		if c.Reason != "" {
			s += ": " + c.Reason
		}
		if c.Value != "" || c.Bound != "" {
			s += fmt.Sprintf(" (value %s, bound %s)", orDash(c.Value), orDash(c.Bound))
		}
		if !c.At.IsZero() {
			s += " · " + clock(c.At)
		}
		w.line("%s", s)
	}
}

func recordOverrides(w *textWriter, overrides []rollback.Override) {
	if len(overrides) == 0 {
		return
	}
	w.section("Overrides")
	for _, o := range overrides {
		w.line("%s set aside %s at %s: %s", who(o.By), o.Check, stamp(o.At), o.Reason)
	}
}

// recordVotes lists every vote cast, counted or not, and on which plan: a
// vote on an older plan stays in the record but no longer decides.
func recordVotes(w *textWriter, r *rollback.Record, votes []rollback.Vote) {
	w.section("Votes")
	if len(votes) == 0 {
		w.line("none")
		return
	}
	for _, v := range votes {
		decision := "approved"
		if !v.Approve {
			decision = "rejected"
			if v.Reason != "" {
				decision += ": " + v.Reason
			}
		}
		counted := "not counted"
		if v.Counted {
			counted = "counted"
			if len(v.Groups) > 0 {
				counted += " for " + strings.Join(v.Groups, ", ")
			}
		}
		if v.PlanHash != "" && v.PlanHash != r.PlanHash {
			counted += " (on an earlier plan " + v.PlanHash + ")"
		}
		w.line("%s  %s %s · %s", stamp(v.At), who(v.User), decision, counted)
	}
}

func recordGates(w *textWriter, gates map[string]rollback.GateState) {
	if len(gates) == 0 {
		return
	}
	w.section("Gates")
	keys := make([]string, 0, len(gates))
	for k := range gates {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := gates[k]
		signed := "nobody yet"
		if len(g.Signed) > 0 {
			signed = strings.Join(g.Signed, ", ")
		}
		state := "open"
		if g.Passed {
			state = "passed"
		}
		w.line("%s: %s · needs %d of %s · signed by %s · opened %s", k, state, g.Min, g.Group, signed, stamp(g.OpenedAt))
	}
}

func recordNotes(w *textWriter, r *rollback.Record) {
	if len(r.Notes) == 0 {
		return
	}
	w.section("Notes")
	for _, n := range r.Notes {
		w.line("%s  %s", stamp(n.At), n.Text)
	}
}

func recordPhases(w *textWriter, r *rollback.Record) {
	w.section("Timings")
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"detected  ", r.DetectedAt}, {"proposed  ", r.CreatedAt}, {"decided   ", r.DecidedAt}, {"started   ", r.StartedAt},
		{"validating", r.ValidatingAt}, {"ended     ", r.EndedAt}} {
		if !t.at.IsZero() {
			w.line("%s %s", t.name, stamp(t.at))
		}
	}
	var phases []string
	for _, p := range rollback.Phases(r) {
		phases = append(phases, p.Name+" "+human.Duration(p.Duration))
	}
	if len(phases) > 0 {
		w.line("phases: %s", strings.Join(phases, " · "))
	}
}

// who shows a chat user as the console does everywhere else.
func who(id string) string { return "@" + id }

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// clock is the time of day alone: within one record the date is known.
func clock(t time.Time) string { return t.UTC().Format("15:04:05Z") }

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func durationOr(d time.Duration) string {
	if d <= 0 {
		return "not set"
	}
	return human.Duration(d)
}
