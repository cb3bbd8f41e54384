package incident

import (
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
)

// TestSuspectWordingAndAutoApprovalAgree: what a proposal's Why says about
// when the deploy went out and whether Backout may approve it on its own
// are one judgement: a deploy the text calls "moments before" the alert
// keeps auto-approval, one it calls "after" loses it.
func TestSuspectWordingAndAutoApprovalAgree(t *testing.T) {
	alert := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		after time.Duration // deploy time minus alert time
		says  string
		later bool
	}{
		{"a minute before", -time.Minute, "deployed 1m before this alert", false},
		{"a moment before", -300 * time.Millisecond, "deployed moments before this alert", false},
		{"a moment after", 300 * time.Millisecond, "deployed moments before this alert", false},
		{"a second after", 600 * time.Millisecond, "deployed 1s after this alert opened", true},
		{"ten minutes after", 10 * time.Minute, "deployed 10m after this alert opened", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := alert.Add(tt.after)
			if got := suspectReason(&rollback.Deploy{Version: "1.5.0", At: at}, alert); !strings.Contains(got, tt.says) {
				t.Errorf("Why %q, want %q", got, tt.says)
			}
			r := &rollback.Record{Trigger: rollback.Trigger{Kind: "alert", At: alert},
				Services: []rollback.ServiceChange{{Service: "web", Current: rollback.Release{Version: "1.5.0", DeployedAt: at}}}}
			if got := deployedAfterAlert(r); got != tt.later {
				t.Errorf("needs a person: %v, want %v", got, tt.later)
			}
		})
	}
}
