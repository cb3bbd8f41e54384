package rollback

import (
	"fmt"
	"strings"
	"time"
)

// Readiness statuses of a CheckResult taken before a rollback runs. They
// live in the domain because the engine decides on them and presentation
// shows them.
const (
	ReadinessPass = "pass"
	ReadinessWarn = "warn"
	ReadinessFail = "fail"
)

// SummaryLine is "checkout 2.4.1 → 2.4.0, cart 1.9 → 1.8".
func SummaryLine(r *Record) string {
	parts := make([]string, len(r.Services))
	for i, c := range r.Services {
		parts[i] = fmt.Sprintf("%s %s → %s", c.Service, c.Current.Version, c.Target.Version)
	}
	return strings.Join(parts, ", ")
}

// Phase is how long one part of a rollback took.
type Phase struct {
	Name     string
	Duration time.Duration
}

// Phases measures detect, approve, execute, validate and the total, leaving
// out any part whose ends are not both recorded.
func Phases(r *Record) []Phase {
	var out []Phase
	add := func(name string, from, to time.Time) {
		if !from.IsZero() && !to.IsZero() && !to.Before(from) {
			out = append(out, Phase{name, to.Sub(from)})
		}
	}
	start := troubleStart(r)
	if start.Before(r.CreatedAt) {
		add("detect", start, r.CreatedAt)
	}
	// A proposal rejected or left to expire was decided, not approved.
	if r.State == StateRejected || r.State == StateExpired {
		add("decide", r.CreatedAt, r.DecidedAt)
	} else {
		add("approve", r.CreatedAt, r.DecidedAt)
	}
	if !r.ValidatingAt.IsZero() {
		add("execute", r.StartedAt, r.ValidatingAt)
		add("validate", r.ValidatingAt, r.EndedAt)
	} else {
		add("execute", r.StartedAt, r.EndedAt)
	}
	add("total", start, r.EndedAt)
	return out
}

// RecoveryTime is how long a rollback took to recover, measured from when
// the trouble was detected (the alert's time) when that came before the
// proposal, else from the proposal, to its end. The thread, the post-mortem
// and the registry all judge the recovery target on it, so they agree.
func RecoveryTime(r *Record) time.Duration { return r.EndedAt.Sub(troubleStart(r)) }

// troubleStart is when the trouble was detected, if an alert or a watcher
// saw it before the proposal (DetectedAt, or the trigger's time on records
// that lack it), else the proposal: a person's proposal or a drill is its
// own start. The total and the recovery time both count from it.
func troubleStart(r *Record) time.Time {
	if r.Trigger.Kind == "person" || r.Trigger.Kind == "drill" {
		return r.CreatedAt
	}
	detected := r.DetectedAt
	if detected.IsZero() {
		detected = r.Trigger.At
	}
	if !detected.IsZero() && detected.Before(r.CreatedAt) {
		return detected
	}
	return r.CreatedAt
}

// CheckSlug is a check's name as typed in a command: "artifact pinned" ->
// "artifact-pinned".
func CheckSlug(name string) string { return strings.ReplaceAll(strings.ToLower(name), " ", "-") }

// ValidationSummary counts check outcomes: "2 successful, 1 failed".
func ValidationSummary(results []CheckResult) string {
	counts := map[string]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	var parts []string
	for _, k := range []string{"Successful", "Failed", "Inconclusive", "Error", "Skipped"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], strings.ToLower(k)))
		}
	}
	if len(parts) == 0 {
		return "no checks"
	}
	return strings.Join(parts, ", ")
}

// Describe says who may approve under a policy, in plain words (users as
// @ID): for refusals, which are plain text. internal/present draws the same
// with live mentions.
func (p Policy) Describe() string {
	var parts []string
	if len(p.Groups) > 0 {
		parts = append(parts, "members of "+strings.Join(p.Groups, ", "))
	}
	if len(p.Users) > 0 {
		users := make([]string, len(p.Users))
		for i, u := range p.Users {
			users[i] = "@" + u
		}
		parts = append(parts, strings.Join(users, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "anyone")
	}
	t := fmt.Sprintf("%d approval(s) from %s", p.Min, strings.Join(parts, " or "))
	if len(p.Roles) > 0 {
		t += ", including one from each of: " + strings.Join(p.Roles, ", ")
	}
	if p.ForbidSelf {
		t += "; the requester's vote does not count"
	}
	return t
}
