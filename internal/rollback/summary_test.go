package rollback

import (
	"testing"
	"time"
)

// TestPhasesTotalIsTheRecoveryTime: the thread's "total" counts from the
// same moment as the recovery time the thread, post-mortem and registry
// judge the target on, so one rollback never shows two durations.
func TestPhasesTotalIsTheRecoveryTime(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name       string
		r          Record
		wantDetect bool
		wantTotal  time.Duration
	}{
		{"an alert, detected before the proposal", Record{Trigger: Trigger{Kind: "alert", At: at(0)}, DetectedAt: at(0),
			CreatedAt: at(3), DecidedAt: at(5), StartedAt: at(5), EndedAt: at(14), State: StateSucceeded}, true, 14 * time.Minute},
		{"an older record with only the trigger's time", Record{Trigger: Trigger{Kind: "alert", At: at(1)},
			CreatedAt: at(3), DecidedAt: at(5), StartedAt: at(5), EndedAt: at(14), State: StateSucceeded}, true, 13 * time.Minute},
		{"a person's proposal", Record{Trigger: Trigger{Kind: "person", At: at(0)}, DetectedAt: at(0),
			CreatedAt: at(3), DecidedAt: at(5), StartedAt: at(5), EndedAt: at(14), State: StateSucceeded}, false, 11 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var total time.Duration
			detect := false
			for _, p := range Phases(&tt.r) {
				switch p.Name {
				case "total":
					total = p.Duration
				case "detect":
					detect = true
				}
			}
			if total != tt.wantTotal || RecoveryTime(&tt.r) != tt.wantTotal || detect != tt.wantDetect {
				t.Errorf("total %s, recovery %s, detect phase %v; want %s, %s, %v",
					total, RecoveryTime(&tt.r), detect, tt.wantTotal, tt.wantTotal, tt.wantDetect)
			}
		})
	}
}
