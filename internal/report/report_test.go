package report_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/report"
	"github.com/backout/backout/internal/rollback"
	boltstore "github.com/backout/backout/internal/store/bolt"
)

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
