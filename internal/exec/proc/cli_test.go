package proc

import (
	"testing"
	"time"
)

func TestToolTimeout(t *testing.T) {
	tests := []struct {
		step time.Duration
		want string
	}{
		{0, ""},
		{-time.Second, ""},
		{time.Second, "900ms"},
		{time.Minute, "54s"},
		{5 * time.Minute, "4m30s"},
		{10 * time.Minute, "9m30s"},
		{30 * time.Minute, "29m30s"},
		{time.Hour + 30*time.Second, "1h"},
		{90*time.Second + 500*time.Millisecond, "1m21s"},
	}
	for _, tt := range tests {
		if got := ToolTimeout(tt.step); got != tt.want {
			t.Errorf("ToolTimeout(%s) = %q, want %q", tt.step, got, tt.want)
		}
	}
}
