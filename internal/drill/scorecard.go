package drill

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
)

// RollbackEnded implements incident.EndHook: a drill's scorecard, with each
// step's time against the service's previous drill.
func (d *Drills) RollbackEnded(ctx context.Context, r *rollback.Record) {
	if !r.Drill {
		return
	}
	steps, err := d.store.ListSteps(ctx, r.ID)
	if err != nil {
		d.log.WarnContext(ctx, "drill scorecard: steps", "rollback", r.ID, "err", err)
	}
	var failed []string
	for _, ev := range steps {
		if ev.Kind == rollback.StepFailed {
			failed = append(failed, ev.Service+"/"+ev.StepID)
		}
	}
	start := r.StartedAt
	if start.IsZero() {
		start = r.CreatedAt
	}
	for _, c := range r.Services {
		rec := rollback.DrillRecord{ID: r.ID + "/" + c.Service, Service: c.Service, RollbackID: r.ID, At: r.EndedAt,
			Succeeded: r.State == rollback.StateSucceeded, Duration: r.EndedAt.Sub(start), RecoveryTarget: r.RecoveryTarget, FailedSteps: failed,
			Steps: stepTimes(steps, c.Service), SkippedChecks: skippedChecks(r.Validation, c.Service),
			SharedChecks: sharedChecks(r.Validation, c.Service)}
		rec.Mode, rec.DryRunCause = d.svc.DrillRunMode(r, c.Service)
		if rec.Mode != r.DrillMode {
			rec.PolicyMode = r.DrillMode
		}
		rec.RollForward = d.svc.RollForward(ctx, r, c.Service)
		prev, err := d.previousDrill(ctx, rec)
		if err != nil {
			d.log.WarnContext(ctx, "drill scorecard: previous drill", "rollback", r.ID, "err", err)
		}
		if err := d.store.PutDrill(ctx, rec); err != nil {
			d.log.ErrorContext(ctx, "drill scorecard: store", "rollback", r.ID, "err", err)
			continue
		}
		d.metrics.DrillEnded(c.Service, rec.Succeeded)
		d.metrics.Overdue(c.Service, false)
		if _, err := d.poster.Post(ctx, chat.Ref{Channel: r.Channel, Thread: r.MessageTS}, Scorecard(rec, prev)); err != nil {
			d.log.WarnContext(ctx, "drill scorecard: post", "rollback", r.ID, "err", err)
		}
	}
}

// previousDrill is the service's last drill before rec, nil for its first.
func (d *Drills) previousDrill(ctx context.Context, rec rollback.DrillRecord) (*rollback.DrillRecord, error) {
	drills, err := d.store.ListDrills(ctx, rec.Service)
	if err != nil {
		return nil, fmt.Errorf("list drills of %s: %w", rec.Service, err)
	}
	for _, prev := range drills { // newest first
		if prev.ID != rec.ID && prev.At.Before(rec.At) {
			return &prev, nil
		}
	}
	return nil, nil
}

// stepTimes is how long each of a service's steps took, from its first
// start to its last end, in the order the steps started. A step that never
// ended has no time.
func stepTimes(events []rollback.StepEvent, service string) []rollback.DrillStep {
	type span struct{ start, end time.Time }
	spans := map[string]*span{}
	var order []string
	for _, ev := range events {
		if ev.Service != service {
			continue
		}
		sp := spans[ev.StepID]
		switch ev.Kind {
		case rollback.StepStarted:
			if sp == nil {
				sp = &span{start: ev.At}
				spans[ev.StepID] = sp
				order = append(order, ev.StepID)
			}
		case rollback.StepSucceeded, rollback.StepFailed:
			if sp != nil {
				sp.end = ev.At
			}
		}
	}
	var out []rollback.DrillStep
	for _, id := range order {
		if sp := spans[id]; !sp.end.IsZero() {
			out = append(out, rollback.DrillStep{Step: id, Duration: sp.end.Sub(sp.start)})
		}
	}
	return out
}

// skippedChecks are the reasons of a service's skipped validation checks.
func skippedChecks(results []rollback.CheckResult, service string) []string {
	var out []string
	for _, res := range results {
		if res.Service == service && res.Status == string(check.Skipped) {
			out = append(out, res.Reason)
		}
	}
	return out
}

// sharedChecks are a service's validation checks that observed production,
// as "name: why".
func sharedChecks(results []rollback.CheckResult, service string) []string {
	var out []string
	for _, res := range results {
		if res.Service == service && res.SharedWithProduction != "" {
			out = append(out, res.Name+": "+res.SharedWithProduction)
		}
	}
	return out
}

// Scorecard renders one drill's result; prev, the service's drill before
// it (nil for the first), gives each step's trend.
func Scorecard(rec rollback.DrillRecord, prev *rollback.DrillRecord) chat.Message {
	verdict := "❌ failed"
	if rec.Succeeded {
		verdict = "✅ succeeded"
	}
	target := "no recovery target"
	switch {
	case rec.RecoveryTarget <= 0:
	case !rec.Succeeded:
		// A failed drill recovered nothing: no "within the target".
		target = "recovery target " + human.Duration(rec.RecoveryTarget)
	case rec.Duration <= rec.RecoveryTarget:
		target = "within the recovery target of " + human.Duration(rec.RecoveryTarget)
	default:
		target = fmt.Sprintf("%s OVER the recovery target of %s", human.Duration(rec.Duration-rec.RecoveryTarget), human.Duration(rec.RecoveryTarget))
	}
	lines := []string{fmt.Sprintf("🎯 Drill scorecard for %s (%s): %s in %s, %s.", rec.Service, rec.ModeText(), verdict, human.Duration(rec.Duration), target)}
	if len(rec.FailedSteps) > 0 {
		lines = append(lines, "Failed steps: "+strings.Join(rec.FailedSteps, ", "))
	}
	if line := StepTrend(rec, prev); line != "" {
		lines = append(lines, line)
	}
	for _, s := range rec.SkippedChecks {
		lines = append(lines, "⏭️ "+s)
	}
	for _, s := range rec.SharedChecks {
		lines = append(lines, "⚠️ Judged on production's data, not the drill's (drill.same_as_production): "+s)
	}
	if line := rollForwardLine(rec); line != "" {
		lines = append(lines, line)
	}
	return chat.TextMessage(chat.Plain(strings.Join(lines, "\n")))
}

// StepTrend is each step's time in rec beside its change since prev:
// "Step times vs drill of 2026-11-29: drain 4s (+1s), switch 1m2s (−3s)".
// A step prev did not time is "new"; without prev there is no comparison.
func StepTrend(rec rollback.DrillRecord, prev *rollback.DrillRecord) string {
	if len(rec.Steps) == 0 {
		return ""
	}
	before := map[string]time.Duration{}
	head := "Step times (first drill of " + rec.Service + ", nothing to compare with): "
	if prev != nil {
		for _, s := range prev.Steps {
			before[s.Step] = s.Duration
		}
		head = fmt.Sprintf("Step times vs drill %s of %s: ", prev.RollbackID, prev.At.UTC().Format(time.DateOnly))
	}
	parts := make([]string, len(rec.Steps))
	for i, s := range rec.Steps {
		parts[i] = s.Step + " " + human.Duration(s.Duration)
		if prev == nil {
			continue
		}
		if was, ok := before[s.Step]; ok {
			parts[i] += " (" + signedDuration(s.Duration-was) + ")"
		} else {
			parts[i] += " (new)"
		}
	}
	return head + strings.Join(parts, ", ")
}

// signedDuration is a change in time: "+12s", "−3s", "±0s".
func signedDuration(d time.Duration) string {
	switch {
	case d > 0:
		return "+" + human.Duration(d)
	case d < 0:
		return "−" + human.Duration(-d)
	}
	return "±0s"
}

// rollForwardLine says whether the drill environment was returned to its
// version after the drill.
func rollForwardLine(rec rollback.DrillRecord) string {
	rf := rec.RollForward
	if rf == nil {
		return ""
	}
	if !rf.Ran {
		return "↪️ Roll forward did not run: " + rf.Detail + "."
	}
	if rf.Succeeded {
		return fmt.Sprintf("↪️ Roll forward: the drill environment is back on %s.", rf.Version)
	}
	return fmt.Sprintf("↪️ Roll forward to %s FAILED: %s", rf.Version, rf.Detail)
}
