package report_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/exec/noop"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/report"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	boltstore "github.com/backout/backout/internal/store/bolt"
)

// TestUnprovenHighRiskReleases: high-risk deploys recorded through the
// lifecycle without a fresh drill are flagged, and the report of the
// period lists exactly those: not the low-risk ones, not the high-risk one
// with a fresh drill, not the one before the period.
func TestUnprovenHighRiskReleases(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "bot.yaml"), []byte("slack: {channel: C1}\nservices:\n  - {name: api, runbook: quick}\n  - {name: web, runbook: quick}\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Parse(filepath.Join(dir, "runbooks", "quick.yaml"), []byte("name: quick\nsteps:\n  - {id: one, uses: noop}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(dir, "s.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := incidenttest.NewClock(t0.Add(-9 * 24 * time.Hour))
	svc := incident.New(incident.Deps{Config: cfg, Runbooks: runbook.Set{"quick": rb}, Store: st, Executors: exec.NewRegistry(noop.New()), Clock: clk})
	ctx := t.Context()
	record := func(service, version, risk string) {
		t.Helper()
		if _, failure, err := svc.RecordDeploy(ctx, incident.Actor{User: "ci", From: "api"},
			incident.DeployInput{Service: service, Version: version, Artifact: "reg/" + service + ":" + version, Risk: risk}); err != nil || failure != nil {
			t.Fatalf("record %s %s: %q %v", service, version, failure, err)
		}
	}
	record("api", "0.9", "high") // before the period
	clk.Advance(3 * 24 * time.Hour)
	record("api", "1.0", "high")
	record("api", "1.1", "low")
	if err := st.PutDrill(ctx, rollback.DrillRecord{ID: "DR-1", Service: "web", RollbackID: "RB-1", At: clk.Now(), Mode: "environment", Succeeded: true}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(24 * time.Hour)
	record("web", "2.0", "high") // drilled a day ago: proven
	record("api", "1.2", "high")
	clk.Advance(5 * 24 * time.Hour)

	b := &report.Builder{Store: st, Config: cfg, Now: clk.Now, MaxAge: svc.DrillMaxAge}
	s, err := b.Build(ctx, "", 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range s.UnprovenHighRisk {
		got = append(got, u.Service+" "+u.Version+": "+strings.Join(u.Why, "; "))
	}
	want := []string{
		"api 1.0: no fresh drill: api has never been drilled successfully (a high-risk deploy needs one within 7d)",
		"api 1.2: no fresh drill: api has never been drilled successfully (a high-risk deploy needs one within 7d)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("unproven high-risk releases:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	msg := report.Message(s, "Weekly rollback report")
	if !hasSection(msg.Sections, "High-risk releases without a fresh drill") {
		t.Errorf("the report has no section for them: %+v", msg.Sections)
	}
}

func hasSection(secs []chat.Section, title string) bool {
	for _, s := range secs {
		if s.Title == title {
			return true
		}
	}
	return false
}

// TestBuildReadsEveryPage: a period holding more rollbacks than one store
// page is counted whole, the service filter and the window hold, and the
// drill scan finds the last success behind failures.
func TestBuildReadsEveryPage(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	states := []rollback.State{rollback.StateSucceeded, rollback.StateFailed}
	for i := range 1300 {
		at := now.Add(-time.Duration(i+1) * time.Minute) // 1300 minutes back: all inside 30d
		r := &rollback.Record{ID: fmt.Sprintf("RB-%d", i+1), State: states[i%2], CreatedAt: at, EndedAt: at.Add(time.Minute),
			Services: []rollback.ServiceChange{{Service: []string{"api", "web"}[i%2]}}}
		if err := st.CreateRollback(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	old := &rollback.Record{ID: "RB-old", State: rollback.StateFailed, CreatedAt: now.Add(-60 * 24 * time.Hour), Services: []rollback.ServiceChange{{Service: "api"}}}
	if err := st.CreateRollback(ctx, old); err != nil {
		t.Fatal(err)
	}
	for i, ok := range []bool{true, false, false} { // oldest first: a success, then two failures
		if err := st.PutDrill(ctx, rollback.DrillRecord{Service: "api", At: now.Add(-time.Duration(3-i) * 24 * time.Hour), Succeeded: ok}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &config.Config{Services: []config.Service{{Name: "api"}, {Name: "web"}}}
	b := &report.Builder{Store: st, Config: cfg, Now: func() time.Time { return now }, MaxAge: func(string) time.Duration { return 7 * 24 * time.Hour }}
	tests := []struct {
		service       string
		want          map[string]map[string]int
		drills, fails int
		overdue       int
	}{
		{"", map[string]map[string]int{"api": {"succeeded": 650}, "web": {"failed": 650}}, 3, 2, 1},
		{"api", map[string]map[string]int{"api": {"succeeded": 650}}, 3, 2, 0},
	}
	for _, tc := range tests {
		s, err := b.Build(ctx, tc.service, 30*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(s.Outcomes) != fmt.Sprint(tc.want) || s.Recover.N != 650 || s.DrillsDone != tc.drills || s.DrillsFailed != tc.fails || len(s.DrillsOverdue) != tc.overdue {
			t.Errorf("service %q: outcomes %v, %d recoveries, drills %d (%d failed), overdue %v", tc.service, s.Outcomes, s.Recover.N, s.DrillsDone, s.DrillsFailed, s.DrillsOverdue)
		}
	}
}

// TestDrillModesInReport: the report says how many of the period's drills
// ran as dry runs, by the mode they ran in; nothing when none did.
func TestDrillModesInReport(t *testing.T) {
	tests := []struct {
		s    report.Summary
		want string
		not  string
	}{
		{report.Summary{DrillsDone: 3, DrillsFailed: 1, DrillsDryRun: 2}, "Drills done: 3 (1 failed)\nDry runs among them (no step ran): 2; in their environment: 1", ""},
		{report.Summary{DrillsDone: 2}, "Drills done: 2 (0 failed)\nNo service is overdue.", "dry run"},
	}
	for _, tt := range tests {
		var text string
		for _, sec := range report.Message(tt.s, "Registry").Sections {
			if sec.Title == "Drills" {
				text = sec.Text.String()
			}
		}
		if !strings.Contains(text, tt.want) || (tt.not != "" && strings.Contains(text, tt.not)) {
			t.Errorf("drills section %q; want %q, without %q", text, tt.want, tt.not)
		}
	}
}
