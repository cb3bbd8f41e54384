package human

import (
	"math"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{850 * time.Millisecond, "850ms"},
		{1200 * time.Millisecond, "1.2s"},
		{2 * time.Second, "2s"},
		{36*time.Second + 400*time.Millisecond, "36s"},
		{75 * time.Second, "1m15s"},
		{15 * time.Minute, "15m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + 20*time.Second, "1h"},
		{720 * time.Hour, "30d"},
		{25 * time.Hour, "1d1h"},
		{-5 * time.Minute, "-5m"},
		{math.MinInt64, "-106751d23h47m"},
	}
	for _, tt := range tests {
		if got := Duration(tt.in); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzDuration(f *testing.F) {
	for _, d := range []int64{0, 1, -1, int64(time.Hour), math.MaxInt64, math.MinInt64} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		if got := Duration(time.Duration(n)); got == "" {
			t.Fatalf("Duration(%d) is empty", n)
		}
	})
}
