package rollback

import (
	"testing"
	"time"
)

// press is one person pressing, minutes after the rollback ended.
type press struct {
	user    string
	minutes int
}

// TestReportAffected: a report counts once per person, only while the
// support window is open, and never on a rollback without one.
func TestReportAffected(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	open := func() *Record { return &Record{SupportUntil: t0.Add(2 * time.Hour)} }
	tests := []struct {
		name    string
		record  *Record
		presses []press
		want    []string
		reports int
	}{
		{"two people", open(), []press{{"ann", 1}, {"bob", 2}}, []string{SupportCounted, SupportCounted}, 2},
		{"one person twice", open(), []press{{"ann", 1}, {"ann", 5}}, []string{SupportCounted, SupportDuplicate}, 1},
		{"at the close", open(), []press{{"ann", 120}}, []string{SupportCounted}, 1},
		{"after the close", open(), []press{{"ann", 121}}, []string{SupportClosed}, 0},
		{"no window", &Record{}, []press{{"ann", 1}}, []string{SupportNone}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, p := range tt.presses {
				if got := tt.record.ReportAffected(p.user, t0.Add(time.Duration(p.minutes)*time.Minute)); got != tt.want[i] {
					t.Errorf("press %d (%s at +%dm) = %s, want %s", i+1, p.user, p.minutes, got, tt.want[i])
				}
			}
			if got := len(tt.record.SupportReports); got != tt.reports {
				t.Errorf("%d reports, want %d", got, tt.reports)
			}
		})
	}
}
