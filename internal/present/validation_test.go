package present

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/rollback"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// plainText is a message as a screen reader or the console reads it.
func plainText(m chat.Message) string {
	out := m.Text.String()
	for _, s := range m.Sections {
		if s.Text.String() != m.Text.String() && len(s.Text) > 0 {
			out += "\n" + s.Text.String()
		}
		if s.Table != nil {
			out += "\n" + strings.Join(s.Table.Header, " | ")
			for _, r := range s.Table.Rows {
				out += "\n" + strings.Join(r, " | ")
			}
		}
	}
	for _, img := range m.Images {
		out += fmt.Sprintf("\n[image %s: %q, %d bytes of PNG, sparkline %s]", img.Filename, img.Title, len(img.PNG), img.Sparkline)
	}
	return out + "\n"
}

// TestValidationPhasesGolden words a validation as the thread shows it:
// the settling delay, each measurement as it lands, then the results.
func TestValidationPhasesGolden(t *testing.T) {
	r := &rollback.Record{ID: "RB-7", State: rollback.StateValidating, Channel: "C1", MessageTS: "1.2"}
	on := rollback.About{Rollback: r}
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	notices := []rollback.Notice{
		rollback.Settling{About: on, Service: "demo-api", Delay: time.Minute, Window: 10 * time.Minute, Checks: 2},
		rollback.Measured{About: on, Service: "demo-api", Check: "error ratio", N: 1, Count: 3, Outcome: "Failed", Value: "0.2", Bound: "< 0.05",
			Message: "value = 0.2, outside < 0.05", At: at.Add(time.Minute)},
		rollback.Measured{About: on, Service: "demo-api", Check: "error ratio", N: 2, Count: 3, Outcome: "Error",
			Message: `query "x": connection refused`, At: at.Add(90 * time.Second)},
		rollback.Measured{About: on, Service: "demo-api", Check: "error ratio", N: 3, Count: 3, Outcome: "Successful", Value: "0.01", Bound: "< 0.05",
			Message: "value = 0.01, within < 0.05", At: at.Add(2 * time.Minute)},
		rollback.Measured{About: on, Service: "demo-api", Check: "latency", N: 1, Count: 1, Outcome: "Inconclusive",
			Message: "too few samples to compare: 3 before, 2 after (need 8 each)", At: at.Add(time.Minute)},
		rollback.Validated{About: on, Service: "demo-api", Results: []rollback.CheckResult{
			{Name: "error ratio", Status: "Failed", Value: "0.2", Bound: "< 0.05", Measured: &rollback.MeasurementTally{Count: 3, Failed: 1}},
			{Name: "latency", Status: "Inconclusive", Measured: &rollback.MeasurementTally{Count: 1, Inconclusive: 1}},
			{Name: "from an older record", Status: "Successful", Value: "3", Bound: "< 5"},
		}},
		rollback.Validated{About: on, Service: "demo-api", Results: []rollback.CheckResult{
			{Name: "smoke", Status: "Successful", Value: "1/1 URLs passed", Bound: "all pass", Measured: &rollback.MeasurementTally{Count: 2, Successful: 2}},
			{Name: "latency p99", Status: "Successful", Value: "0.2", Bound: "< 0.3", Measured: &rollback.MeasurementTally{Count: 3, Successful: 2, Failed: 1}},
			{Name: "error ratio", Status: "Successful", Value: "0.01", Bound: "< 0.05", Measured: &rollback.MeasurementTally{Count: 3, Successful: 3, Errors: 1}, Chart: &rollback.Chart{Query: "errors", From: at.Add(-time.Minute), To: at.Add(3 * time.Minute),
				Series: []rollback.ChartSeries{{Name: "{}", Points: []rollback.ChartPoint{{At: at, Value: 0.01}, {At: at.Add(time.Minute), Value: 0.3}, {At: at.Add(2 * time.Minute), Value: 0.01}}}}}},
		}},
	}
	var got strings.Builder
	for _, n := range notices {
		msg, ok := Notice(n)
		if !ok {
			t.Fatalf("%T has no wording", n)
		}
		got.WriteString(plainText(msg))
	}
	golden(t, "validation.golden", regexp.MustCompile(`\d+ bytes of PNG`).ReplaceAllString(got.String(), "N bytes of PNG"))
}
