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
	if r.Trigger.Kind != "person" && r.Trigger.Kind != "drill" {
		add("detect", r.Trigger.At, r.CreatedAt)
	}
	add("approve", r.CreatedAt, r.DecidedAt)
	if !r.ValidatingAt.IsZero() {
		add("execute", r.StartedAt, r.ValidatingAt)
		add("validate", r.ValidatingAt, r.EndedAt)
	} else {
		add("execute", r.StartedAt, r.EndedAt)
	}
	add("total", r.CreatedAt, r.EndedAt)
	return out
}
