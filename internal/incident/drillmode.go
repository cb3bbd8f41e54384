package incident

import (
	"slices"
	"strings"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/steprequest"
)

// drillDryRunCause says why a drill whose policy mode runs its steps will
// only preview them: each runbook of its services that forces
// drill.dry_run. "" when the drill runs as its mode says, or for a
// rollback. The engine decides each step by the same rule
// (steprequest.DryRun), so the proposal says what will happen.
func (s *Planner) drillDryRunCause(r *rollback.Record) string {
	var causes []string
	for _, c := range r.Services {
		if cause := steprequest.ForcedDryRun(s.runbooks[c.Runbook], drillInfo(r)); cause != "" && !slices.Contains(causes, cause) {
			causes = append(causes, cause)
		}
	}
	return strings.Join(causes, "; ")
}

// DrillRunMode is the mode a drill ran in for one of its services, by the
// rule its steps were run by (steprequest.DryRun over the loaded
// runbooks), and why it differs from the policy's mode ("" when it does
// not). It is what a drill's scorecard records.
func (s *Planner) DrillRunMode(r *rollback.Record, service string) (mode, cause string) {
	for _, c := range r.Services {
		if c.Service == service {
			rb := s.runbooks[c.Runbook]
			return steprequest.DrillRunMode(rb, drillInfo(r)), steprequest.ForcedDryRun(rb, drillInfo(r))
		}
	}
	return r.DrillRunMode(), r.DrillDryRunCause
}

func drillInfo(r *rollback.Record) runbook.DrillInfo {
	return runbook.DrillInfo{Enabled: r.Drill, Mode: r.DrillMode}
}
