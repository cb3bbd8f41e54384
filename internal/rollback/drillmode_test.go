package rollback

import "testing"

// TestDrillModes: the mode a drill runs in, and how people read it, follow
// what ran, not what the policy asked for.
func TestDrillModes(t *testing.T) {
	const forced = "runbook rb forces drill.dry_run"
	records := []struct {
		name       string
		r          Record
		mode, text string
	}{
		{"rollback", Record{}, "", ""},
		{"environment", Record{Drill: true, DrillMode: "environment"}, "environment", "environment"},
		{"dry-run", Record{Drill: true, DrillMode: "dry-run"}, "dry-run", "dry-run"},
		{"forced", Record{Drill: true, DrillMode: "environment", DrillDryRunCause: forced}, "dry-run",
			"dry-run: the policy says environment, but " + forced},
	}
	for _, tt := range records {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.DrillRunMode(); got != tt.mode {
				t.Errorf("DrillRunMode = %q, want %q", got, tt.mode)
			}
			if got := tt.r.DrillModeText(); got != tt.text {
				t.Errorf("DrillModeText = %q, want %q", got, tt.text)
			}
		})
	}
	drills := []struct {
		name   string
		d      DrillRecord
		dryRun bool
		text   string
	}{
		{"environment", DrillRecord{Mode: "environment"}, false, "environment"},
		{"dry-run", DrillRecord{Mode: "dry-run", SkippedChecks: []string{"skipped"}}, true, "dry-run"},
		{"forced", DrillRecord{Mode: "dry-run", PolicyMode: "environment", DryRunCause: forced}, true,
			"dry-run: the policy says environment, but " + forced},
		{"older record of a forced dry run", DrillRecord{Mode: "environment", SkippedChecks: []string{"skipped"}}, true,
			"dry-run: the policy says environment, but its validation checks were skipped, as only in a dry run"},
	}
	for _, tt := range drills {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.DryRun(); got != tt.dryRun {
				t.Errorf("DryRun = %v, want %v", got, tt.dryRun)
			}
			if got := tt.d.ModeText(); got != tt.text {
				t.Errorf("ModeText = %q, want %q", got, tt.text)
			}
		})
	}
}
