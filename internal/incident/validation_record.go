package incident

import (
	"context"
	"fmt"
	"time"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
)

// recordValidation stores one service's validation results on the record
// and tells them.
func (d *driver) recordValidation(ctx context.Context, service string, results []rollback.CheckResult) {
	s := d.e
	r, err := s.update(context.WithoutCancel(ctx), d.id, func(r *rollback.Record) error {
		r.Validation = append(r.Validation, results...)
		return nil
	})
	if err != nil {
		return
	}
	d.setRecord(r)
	s.tell(ctx, rollback.Validated{About: rollback.About{Rollback: r}, Service: service, Results: results})
	s.notePagerDuty(ctx, r, fmt.Sprintf("Validation of %s for %s: %s", service, r.ID, rollback.ValidationSummary(results)))
}

// markShared notes on a drill's results which checks observed production
// as their runbook allows (drill.same_as_production), with why. Results
// come back in the order of checks.
func markShared(results []rollback.CheckResult, checks []runbook.Check) {
	for i := range results {
		if i < len(checks) {
			results[i].SharedWithProduction = checks[i].SharedWithProduction()
		}
	}
}

// skippedInDryRun is the validation of a dry-run drill: its steps only
// described themselves, so production is as it was and every check would
// judge production, not the drill. Each check is listed as skipped, with
// why, rather than measured.
func skippedInDryRun(service string, checks []runbook.Check, now time.Time) []rollback.CheckResult {
	out := make([]rollback.CheckResult, len(checks))
	for i, chk := range checks {
		out[i] = rollback.CheckResult{Service: service, Name: chk.Name, Status: string(check.Skipped), At: now,
			Reason: fmt.Sprintf("skipped %s check %s: dry-run drill, not judged against production", chk.Uses, chk.Name)}
	}
	return out
}
