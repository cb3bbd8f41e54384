package chart

import (
	"bytes"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// incident is a chart of an error ratio that rose at the deploy and
// recovered a few seconds after the rollback.
func incident() rollback.Chart {
	deploy := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var pts []rollback.ChartPoint
	for s := -60; s <= 180; s += 2 {
		v := 0.01
		if s >= 0 && s < 130 {
			v = 0.3
		}
		pts = append(pts, rollback.ChartPoint{At: deploy.Add(time.Duration(s) * time.Second), Value: v + 0.002*math.Sin(float64(s))})
	}
	high := 0.05
	return rollback.Chart{
		Query: `max(demo_error_ratio)`, From: deploy.Add(-time.Minute), To: deploy.Add(3 * time.Minute),
		Series: []rollback.ChartSeries{{Name: `{service="shop"}`, Points: pts}},
		Marks: []rollback.ChartMark{{Label: "bad deploy", At: deploy}, {Label: "alert", At: deploy.Add(40 * time.Second)},
			{Label: "rollback start", At: deploy.Add(100 * time.Second)}, {Label: "rollback end", At: deploy.Add(125 * time.Second)}},
		WindowStart: deploy.Add(135 * time.Second), WindowEnd: deploy.Add(3 * time.Minute),
		Band: &rollback.ChartBand{Label: "threshold < 0.05", High: &high},
	}
}

// TestPNG decodes the chart and checks its size; -update writes it to
// testdata/incident.png for a person to look at.
func TestPNG(t *testing.T) {
	b, err := PNG(incident(), "shop · error ratio")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if got := img.Bounds().Size(); got.X != 900 || got.Y != 450 {
		t.Fatalf("size %v, want 900x450", got)
	}
	if *update {
		if err := os.WriteFile(filepath.Join("testdata", "incident.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPNGWithoutData(t *testing.T) {
	c := rollback.Chart{Query: "up", From: time.Unix(0, 0), To: time.Unix(600, 0)}
	if _, err := PNG(c, "empty"); err != nil {
		t.Fatalf("an empty chart still draws: %v", err)
	}
}

func TestSparkline(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		width  int
		want   string
	}{
		{"empty", nil, 10, ""},
		{"flat", []float64{3, 3, 3}, 10, "▁▁▁"},
		{"ramp", []float64{0, 1, 2, 3, 4, 5, 6, 7}, 10, "▁▂▃▄▅▆▇█"},
		{"incident", []float64{0.01, 0.01, 0.3, 0.3, 0.3, 0.01, 0.01}, 10, "▁▁███▁▁"},
		{"resampled", []float64{0, 0, 1, 1, 0, 0}, 3, "▁█▁"},
		{"negative", []float64{-2, 0, 2}, 3, "▁▅█"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sparkline(tt.values, tt.width); got != tt.want {
				t.Fatalf("Sparkline = %q, want %q", got, tt.want)
			}
		})
	}
}
