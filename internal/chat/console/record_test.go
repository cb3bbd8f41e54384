package console

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// t0 is when the fixture's alert fired; every other time is an offset.
var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// failedRollback is a rollback that went through most of what a record can
// hold: an alert, a vote on an earlier plan, a rejection that did not count,
// an override, a step retried after a failure, a gate, a step that failed and
// was compensated, a step never reached, validation and notes.
func failedRollback() (*rollback.Record, []rollback.Vote, []rollback.StepEvent) {
	r := &rollback.Record{
		ID: "RB-7", State: rollback.StateFailed, Scope: "service", Requester: "pagerduty", Reason: "2.4.1 deployed 4m ago",
		Trigger: rollback.Trigger{Kind: "alert", Source: "pagerduty", IncidentID: "Q1", URL: "https://pd.example/i/Q1",
			Summary: "5xx above 2%", Urgency: "high", At: t0},
		Services: []rollback.ServiceChange{{
			Service: "checkout", Runbook: "k8s-deployment", Params: map[string]string{"namespace": "shop", "context": "prod"},
			Current: rollback.Release{Version: "2.4.1", Artifact: "registry.example.com/checkout@sha256:aaaa", DeployID: "D-9",
				DeployedAt: at(-4 * time.Minute), Commit: "abc123"},
			Target: rollback.Release{Version: "2.4.0", Artifact: "registry.example.com/checkout@sha256:bbbb", DeployID: "D-8",
				DeployedAt: at(-26 * time.Hour), ConfigVersion: "cfg-41"},
			Steps: []rollback.PlannedStep{
				{ID: "set-image", Title: "Set the image", Uses: "kubectl", Preview: "$ kubectl set image deployment/checkout app=registry.example.com/checkout@sha256:bbbb -n shop\ntimeout: 1m"},
				{ID: "dba", Title: "DBA sign-off", Uses: "noop", Gate: "dba (1 of S0DBA)"},
				{ID: "migrate", Title: "Migrate down", Uses: "shell", Preview: "$ ./migrate down 41"},
				{ID: "smoke", Title: "Smoke test", Uses: "http", Preview: "GET https://checkout.internal/healthz"},
				{ID: "notify", Title: "Tell support", Uses: "http", Skipped: true},
			},
		}},
		PlanHash:       "9c1e0f",
		Readiness:      []rollback.CheckResult{{Service: "checkout", Name: "backup fresh", Status: "fail", Reason: "last backup 3h ago", Blocking: true, At: at(30 * time.Second)}, {Service: "checkout", Name: "drill recent", Status: "pass", Reason: "12d ago", At: at(30 * time.Second)}},
		Overrides:      []rollback.Override{{Check: "backup fresh", By: "carol", Reason: "no writes since 07:00", At: at(2 * time.Minute)}},
		Policy:         rollback.Policy{Min: 1, Groups: []string{"sre-leads"}, ForbidSelf: true, ExpiresAt: at(31 * time.Minute)},
		Constraints:    []string{"checkout: freeze window on Fridays"},
		DataReverts:    []string{"checkout: schema 41"},
		DataKeeps:      []string{"checkout: orders"},
		RecoveryTarget: 15 * time.Minute, MaxDataLoss: func() *time.Duration { d := 5 * time.Minute; return &d }(),
		Channel: "C0SHOP", MessageTS: "1.000100",
		DetectedAt: at(0), CreatedAt: at(30 * time.Second), DecidedAt: at(3 * time.Minute), StartedAt: at(3*time.Minute + time.Second),
		EndedAt: at(6 * time.Minute), Approvers: []string{"bob"},
		Outcome: "failed at checkout/migrate: exit status 3; compensated",
		Gates:   map[string]rollback.GateState{"dba": {Group: "S0DBA", Min: 1, Signed: []string{"dave"}, OpenedAt: at(3*time.Minute + 20*time.Second), Passed: true}},
		Notes:   []rollback.Note{{At: at(5 * time.Minute), Text: "PagerDuty incident Q1 acknowledged by bob"}},
	}
	votes := []rollback.Vote{
		{User: "alice", Approve: true, PlanHash: "0ld0", Counted: true, Groups: []string{"sre-leads"}, At: at(1 * time.Minute)},
		{User: "erin", Approve: false, Reason: "wrong target", PlanHash: "9c1e0f", At: at(2 * time.Minute)},
		{User: "bob", Approve: true, PlanHash: "9c1e0f", Counted: true, Groups: []string{"sre-leads"}, At: at(3 * time.Minute)},
	}
	var output []string
	for i := 1; i <= 14; i++ {
		output = append(output, "migrating table "+strings.Repeat("x", i%3+1))
	}
	steps := []rollback.StepEvent{
		{Service: "checkout", StepID: "set-image", Kind: rollback.StepStarted, Attempt: 1, At: at(3*time.Minute + time.Second)},
		{Service: "checkout", StepID: "set-image", Kind: rollback.StepRetrying, Attempt: 1, At: at(3*time.Minute + 3*time.Second),
			Error: "the server is\ncurrently unable", Output: "Error from server (ServiceUnavailable)", ExitCode: 1, Duration: 2 * time.Second},
		{Service: "checkout", StepID: "set-image", Kind: rollback.StepStarted, Attempt: 2, At: at(3*time.Minute + 5*time.Second)},
		{Service: "checkout", StepID: "set-image", Kind: rollback.StepOutput, Attempt: 2, Output: "deployment.apps/checkout image updated\n"},
		{Service: "checkout", StepID: "set-image", Kind: rollback.StepSucceeded, Attempt: 2, At: at(3*time.Minute + 6*time.Second),
			Output: "deployment.apps/checkout image updated", Duration: 1200 * time.Millisecond},
		{Service: "checkout", StepID: "dba", Kind: rollback.StepGateWaiting, At: at(3*time.Minute + 20*time.Second), Output: "waiting for S0DBA"},
		{Service: "checkout", StepID: "dba", Kind: rollback.StepSucceeded, At: at(4 * time.Minute), Output: "signed off by dave"},
		{Service: "checkout", StepID: "migrate", Kind: rollback.StepStarted, Attempt: 1, At: at(4*time.Minute + time.Second)},
		{Service: "checkout", StepID: "migrate", Kind: rollback.StepFailed, Attempt: 1, At: at(5*time.Minute + 31*time.Second),
			Output: strings.Join(output, "\n") + "\n", Error: "exit status 3", ExitCode: 3, Duration: 90 * time.Second},
		{Service: "checkout", StepID: "migrate", Kind: rollback.StepCompensating, At: at(5*time.Minute + 32*time.Second), Output: "step failed"},
		{Service: "checkout", StepID: "migrate", Kind: rollback.StepCompensated, At: at(5*time.Minute + 40*time.Second), Output: "migrated up 41"},
	}
	return r, votes, steps
}

// TestRecordText pins `show`'s text in testdata/show.golden (go test
// -update rewrites it).
func TestRecordText(t *testing.T) {
	got := RecordText(failedRollback())
	path := filepath.Join("testdata", "show.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got+"\n" != string(want) {
		t.Errorf("show differs from %s\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestRecordTextRunning: a step still running shows its live output; a
// proposal with no votes says so and no phase has ended.
func TestRecordTextRunning(t *testing.T) {
	r := &rollback.Record{ID: "RB-8", State: rollback.StateRunning, Paused: true, Scope: "service", Requester: "alice",
		Trigger: rollback.Trigger{Kind: "person", Source: "console"}, CreatedAt: t0, StartedAt: at(time.Minute),
		Policy: rollback.Policy{Waived: true}, Drill: true, DrillMode: "dry-run",
		Services: []rollback.ServiceChange{{Service: "cart", Current: rollback.Release{Version: "2"}, Target: rollback.Release{Version: "1"},
			Steps: []rollback.PlannedStep{{ID: "wait", Title: "Wait", Uses: "wait"}, {ID: "next", Title: "Next", Uses: "noop"}}}}}
	steps := []rollback.StepEvent{
		{Service: "cart", StepID: "wait", Kind: rollback.StepStarted, Attempt: 1, At: at(time.Minute)},
		{Service: "cart", StepID: "wait", Kind: rollback.StepOutput, Output: "poll 1: 3 pods old\npoll 2: 1 pod old\n"},
		{Service: "cart", StepID: "wait", Kind: rollback.StepOutput, Output: "poll 3: 1 pod old\n"},
	}
	got := RecordText(r, nil, steps)
	for _, want := range []string{
		"══ Drill (dry-run) RB-8 · running, paused ══",
		"Approval:   waived by the drill policy",
		"  1. Wait (wait, wait) · running · 1 attempt · started 10:01:00Z\n     running since 10:01:00Z (attempt 1)\n     │ poll 1: 3 pods old\n     │ poll 2: 1 pod old\n     │ poll 3: 1 pod old\n",
		"  2. Next (next, noop) · not started\n",
		"▸ Votes\nnone\n",
		"started    2026-03-04 10:01:00Z",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("show lacks %q\n%s", want, got)
		}
	}
	if strings.Contains(got, "phases:") {
		t.Errorf("no phase has ended, yet:\n%s", got)
	}
}
