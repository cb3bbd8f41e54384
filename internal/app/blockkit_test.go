package app

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	slackchat "github.com/backout/backout/internal/chat/slack"
	"github.com/backout/backout/internal/commands"
	"github.com/backout/backout/internal/drill"
	"github.com/backout/backout/internal/present"
	"github.com/backout/backout/internal/report"
	"github.com/backout/backout/internal/rollback"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

// sampleRollback is a realistic two-service rollback used by the goldens.
func sampleRollback(state rollback.State) *rollback.Record {
	digest := "sha256:" + "4f2a" + "0000000000000000000000000000000000000000000000000000000000"
	return &rollback.Record{
		ID: "RB-42", State: state, Scope: "release", Release: "storefront", Requester: "U0ALICE", Reason: "checkout 500s after 2.4.1",
		Trigger: rollback.Trigger{Kind: "alert", Source: "pagerduty", IncidentID: "Q1ABC", URL: "https://acme.pagerduty.com/incidents/Q1ABC",
			Summary: "High 5xx on checkout", Urgency: "high", At: t0.Add(-3 * time.Minute)},
		Services: []rollback.ServiceChange{
			{Service: "payments-api", Level: 0, Runbook: "k8s-deployment",
				Current: rollback.Release{Version: "2.4.1", Artifact: "reg/payments@" + digest},
				Target:  rollback.Release{Version: "2.4.0", Artifact: "reg/payments@" + digest},
				Steps: []rollback.PlannedStep{{ID: "set-image", Title: "Point the Deployment at the known-good digest", Uses: "kubectl",
					Preview: "kubectl --namespace=payments set image deployment/payments-api app=reg/payments@" + digest},
					{ID: "wait-rollout", Title: "Wait for the rollout", Uses: "kubectl", Needs: []string{"set-image"}, Preview: "kubectl rollout status deployment/payments-api"}}},
			{Service: "web-frontend", Level: 1, Runbook: "frontend-with-cache", DependsOn: []string{"payments-api"},
				Current: rollback.Release{Version: "5.1.0", Artifact: "reg/web@" + digest},
				Target:  rollback.Release{Version: "5.0.3", Artifact: "reg/web@" + digest},
				Steps:   []rollback.PlannedStep{{ID: "dba-ok", Title: "DBA signs off", Gate: "dba"}, {ID: "purge-cdn", Title: "Invalidate the CDN cache", Uses: "http", Preview: "POST https://cdn.example.com/zones/storefront/purge"}}},
		},
		PlanHash: "9c1e2f3a4b5c6d7e",
		Readiness: []rollback.CheckResult{
			{Service: "payments-api", Name: "artifact pinned", Status: "pass", Reason: "reg/payments@sha256:4f2a…", Blocking: true},
			{Service: "payments-api", Name: "backup fresh", Status: "fail", Reason: "last backup 3h ago (limit 1h)", Blocking: true},
			{Service: "web-frontend", Name: "drill recent", Status: "warn", Reason: "overdue: last successful drill 2026-08-01"},
		},
		Overrides:      []rollback.Override{{Check: "backup fresh", By: "U0BOB", Reason: "no writes since the deploy", At: t0}},
		Policy:         rollback.Policy{Min: 2, Groups: []string{"sre-leads"}, Roles: []string{"dba"}, ForbidSelf: true, ExpiresAt: t0.Add(30 * time.Minute)},
		Constraints:    []string{"payments-api: PCI: audit_log rows are retained for 7 years and never reverted"},
		DataReverts:    []string{"web-frontend: the session cookie format"},
		DataKeeps:      []string{"payments-api: ledger rows written since the deploy"},
		RecoveryTarget: 15 * time.Minute, MaxDataLoss: durationPtr(time.Minute), Channel: "C0STORE", MessageTS: "1764235800.000100",
		CreatedAt: t0, Urgency: "high",
	}
}

func goldenBlocks(t *testing.T, name string, msg chat.Message) {
	t.Helper()
	got, err := json.MarshalIndent(map[string]any{"text": slackchat.FallbackText(msg), "blocks": slackchat.Render(msg)}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "blockkit", name+".json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s (run go test ./internal/app -update to create): %v", path, err)
	}
	if string(want) != string(got)+"\n" {
		t.Errorf("%s: Block Kit differs from the golden file; run with -update after checking the change\n--- got\n%s", path, got)
	}
}

func TestBlockKitGoldens(t *testing.T) {
	votes := []rollback.Vote{{RollbackID: "RB-42", User: "U0BOB", Approve: true, PlanHash: "9c1e2f3a4b5c6d7e", Counted: true, Groups: []string{"sre-leads"}, At: t0.Add(time.Minute)}}
	running := sampleRollback(rollback.StateRunning)
	running.StartedAt, running.DecidedAt, running.Approvers = t0.Add(2*time.Minute), t0.Add(2*time.Minute), []string{"U0BOB", "U0DANA"}
	steps := []rollback.StepEvent{
		{Service: "payments-api", StepID: "set-image", Kind: rollback.StepSucceeded, Duration: 1200 * time.Millisecond},
		{Service: "payments-api", StepID: "wait-rollout", Kind: rollback.StepStarted},
	}
	failed := sampleRollback(rollback.StateFailed)
	failed.StartedAt, failed.EndedAt, failed.Outcome = t0.Add(2*time.Minute), t0.Add(9*time.Minute), "failed: web-frontend: step purge-cdn failed: status 503"
	failedSteps := append(steps[:1:1], rollback.StepEvent{Service: "payments-api", StepID: "wait-rollout", Kind: rollback.StepSucceeded, Duration: 40 * time.Second},
		rollback.StepEvent{Service: "web-frontend", StepID: "purge-cdn", Kind: rollback.StepFailed, Error: "POST https://cdn.example.com/zones/storefront/purge: status 503 after 5 attempts"})
	liveSteps := append(slices.Clone(steps), rollback.StepEvent{Service: "payments-api", StepID: "wait-rollout", Kind: rollback.StepOutput,
		Output: "Waiting for deployment \"payments-api\" rollout to finish: 1 of 3 updated replicas are available...\n" +
			"Waiting for deployment \"payments-api\" rollout to finish: 2 of 3 updated replicas are available..."})
	waivedDrill := sampleRollback(rollback.StateProposed)
	waivedDrill.Drill, waivedDrill.DrillMode, waivedDrill.Policy = true, "dry-run", rollback.Policy{Waived: true}
	interrupted := sampleRollback(rollback.StateInterrupted)
	lingering := sampleRollback(rollback.StateInterrupted)
	lingering.Lingering = &rollback.Lingering{Replica: "backout-7f9c-1", Until: t0.Add(3*time.Minute + 20*time.Second)}
	succeeded := sampleRollback(rollback.StateSucceeded)
	succeeded.DecidedAt, succeeded.StartedAt, succeeded.ValidatingAt, succeeded.EndedAt = t0.Add(2*time.Minute), t0.Add(2*time.Minute), t0.Add(6*time.Minute), t0.Add(11*time.Minute)
	succeeded.Outcome = "succeeded: payments-api 2.4.1 → 2.4.0, web-frontend 5.1.0 → 5.0.3"
	tests := []struct {
		name string
		msg  chat.Message
	}{
		{"proposal", present.ProposalView(sampleRollback(rollback.StateProposed), votes, nil)},
		{"progress", present.ProposalView(running, votes, steps)},
		{"interrupted", present.ProposalView(interrupted, votes, steps)},
		{"interrupted-steps-may-run", present.ProposalView(lingering, votes, steps)},
		{"notice-steps-may-run", mustNotice(t, rollback.Interrupted{About: rollback.About{Rollback: lingering}, Why: "its driver stopped (process died or lost the store)",
			InFlight: []string{"payments-api/wait-rollout"}, MaxAuto: 2})},
		{"notice-driver-gone", mustNotice(t, rollback.DriverGone{About: rollback.About{Rollback: interrupted}, Replica: "backout-7f9c-1",
			InFlight: []string{"payments-api/wait-rollout"}, MaxAuto: 2})},
		{"progress-live-output", present.ProposalView(running, votes, liveSteps)},
		{"drill-waived-approval", present.ProposalView(waivedDrill, nil, nil)},
		{"failed", present.ProposalView(failed, votes, failedSteps)},
		{"vote-approve", present.VoteNote(running, "U0BOB", true, "an approval from dba", t0.Add(time.Minute))},
		{"vote-reject", present.VoteNote(running, "U0CAROL", false, "the database is mid-migration", t0.Add(time.Minute))},
		{"validation", present.ValidationMessage(failed, "payments-api", []rollback.CheckResult{
			{Name: "error ratio at baseline", Status: "Successful", Value: "0.004", Bound: "<= 0.011", Measured: &rollback.MeasurementTally{Count: 3, Successful: 3}},
			{Name: "every pod on 2.4.0", Status: "Failed", Value: "2 of 3", Bound: "3 of 3", Measured: &rollback.MeasurementTally{Count: 3, Successful: 1, Failed: 1}},
			{Name: "canary latency", Status: "Inconclusive", Value: "p=0.21", Bound: "p < 0.05", Measured: &rollback.MeasurementTally{Count: 1, Inconclusive: 1, Errors: 1}}})},
		{"validation-dry-run-drill", present.ValidationMessage(waivedDrill, "checkout", []rollback.CheckResult{
			{Name: "error-rate", Status: "Skipped", Reason: "skipped promql check error-rate: dry-run drill, not judged against production"},
			{Name: "pods on target", Status: "Skipped", Reason: "skipped version check pods on target: dry-run drill, not judged against production"}})},
		{"summary-succeeded", present.SummaryView(succeeded)},
		{"summary-failed", present.SummaryView(failed)},
		{"support", present.SupportView(succeeded)},
		{"support-users-affected-button", present.SupportView(withSupportWindow(succeeded))},
		{"support-affected-reported", present.AffectedNote(withSupportWindow(succeeded))},
		{"usage", chat.TextMessage(commands.Help())},
		{"drill-scorecard", drill.Scorecard(rollback.DrillRecord{Service: "checkout", RollbackID: "RB-7", Mode: "dry-run", Succeeded: true,
			Duration: 4*time.Minute + 10*time.Second, RecoveryTarget: 10 * time.Minute,
			Steps:         []rollback.DrillStep{{Step: "set-image", Duration: 12 * time.Second}, {Step: "wait-rollout", Duration: 3 * time.Minute}},
			SkippedChecks: []string{"skipped promql-baseline check error ratio: dry-run drill, not judged against production"}},
			&rollback.DrillRecord{RollbackID: "RB-5", At: t0.Add(-7 * 24 * time.Hour),
				Steps: []rollback.DrillStep{{Step: "set-image", Duration: 9 * time.Second}, {Step: "wait-rollout", Duration: 3*time.Minute + 4*time.Second}}})},
		{"drill-scorecard-roll-forward", drill.Scorecard(rollback.DrillRecord{Service: "demo-api", RollbackID: "RB-8", Mode: "environment", Succeeded: true,
			Duration: 5 * time.Second, RollForward: &rollback.RollForward{Version: "1.5.0", Ran: true, Succeeded: true}}, nil)},
		{"drill-scorecard-forced-dry-run", drill.Scorecard(rollback.DrillRecord{Service: "checkout", RollbackID: "RB-9", Mode: "dry-run", PolicyMode: "environment",
			DryRunCause: "runbook k8s-deployment forces drill.dry_run", Succeeded: true, Duration: 3 * time.Second}, nil)},
		{"weekly-report", report.Message(report.Summary{Since: t0.Add(-7 * 24 * time.Hour), Until: t0,
			Outcomes: map[string]map[string]int{"checkout": {"succeeded": 3, "failed": 1}, "orders": {"aborted": 1, "expired": 2}},
			Approve:  report.Quantiles{N: 4, Median: 4 * time.Minute, P90: 11 * time.Minute},
			Recover:  report.Quantiles{N: 3, Median: 9 * time.Minute, P90: 14 * time.Minute}, WithTarget: 3, OverTarget: 1,
			DrillsDone: 2, DrillsFailed: 1, DrillsDryRun: 1, DrillsOverdue: []string{"orders"},
			FailingSteps: []report.StepCount{{Step: "checkout/wait-rollout", Count: 2}}}, "Weekly rollback report")},
		{"weekly-report-unproven-high-risk", report.Message(report.Summary{Since: t0.Add(-7 * 24 * time.Hour), Until: t0,
			Outcomes: map[string]map[string]int{}, DrillsOverdue: []string{"orders"},
			UnprovenHighRisk: []report.UnprovenDeploy{
				{Service: "orders", Version: "3.1.0", At: t0.Add(-50 * time.Hour), Why: []string{"no fresh drill: orders has never been drilled successfully (a high-risk deploy needs one within 7d)"}},
				{Service: "checkout", Version: "2.5.0", At: t0.Add(-3 * time.Hour), Why: []string{"no fresh drill: last successful drill of checkout at 2026-07-01T10:00:00Z (62d ago, RB-3); a high-risk deploy needs one within 7d", "runbook lint errors: runbooks/k8s-deployment.yaml:12:5: steps[0] (set-image): unknown executor \"kubctl\""}},
			}}, "Weekly rollback report")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { goldenBlocks(t, tt.name, tt.msg) })
	}
}

// mustNotice words a notice, which every notice has (TestEveryNoticeIsWorded).
func mustNotice(t *testing.T, n rollback.Notice) chat.Message {
	t.Helper()
	msg, ok := present.Notice(n)
	if !ok {
		t.Fatalf("%T has no wording", n)
	}
	return msg
}

func durationPtr(d time.Duration) *time.Duration { return &d }

// withSupportWindow is r with a support window open two hours after its
// end and two reports in it.
func withSupportWindow(r *rollback.Record) *rollback.Record {
	cp := *r
	cp.SupportUntil = r.EndedAt.Add(2 * time.Hour)
	cp.SupportReports = []rollback.SupportReport{{User: "U0SUP1", At: r.EndedAt.Add(9 * time.Minute)}, {User: "U0SUP2", At: r.EndedAt.Add(21 * time.Minute)}}
	return &cp
}
