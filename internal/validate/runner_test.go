package validate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/validate/validatetest"
	"github.com/backout/backout/internal/yamlx"
)

// scripted is a fake checker: each Measure takes the next step of its
// script ("S", "F", "I", "E" error, "N" no values, "P" panic, "0" no
// outcome), repeating the last one when the script runs out.
type scripted struct {
	script []string
	mu     sync.Mutex
	calls  []time.Time
}

func (s *scripted) Name() string              { return "scripted" }
func (s *scripted) Validate(yamlx.Node) error { return nil }
func (s *scripted) times() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.calls...)
}
func (s *scripted) Measure(_ context.Context, req check.Request) (check.Measurement, error) {
	s.mu.Lock()
	n := len(s.calls)
	s.calls = append(s.calls, req.Now)
	s.mu.Unlock()
	step := s.script[min(n, len(s.script)-1)]
	m := check.Measurement{Value: fmt.Sprint(n + 1), Bound: "< 10", Message: fmt.Sprintf("measurement %d", n+1)}
	switch step {
	case "S":
		m.Outcome = check.Successful
	case "F":
		m.Outcome = check.Failed
	case "I":
		m.Outcome = check.Inconclusive
	case "E":
		return check.Measurement{}, errors.New("prometheus unreachable")
	case "N":
		return check.Measurement{}, fmt.Errorf("query x: %w", check.ErrNoValuesFound)
	case "P":
		panic("boom")
	}
	return m, nil
}

func outcomes(ms []check.Measurement) string {
	s := ""
	for _, m := range ms {
		s += string(m.Outcome)[:1]
	}
	return s
}

func TestRun(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	cases := []struct {
		name     string
		spec     runbook.Check
		script   []string
		want     check.Outcome
		wantSeen string // outcomes of every measurement, by initial
		wantMsg  string
	}{
		{"default one measurement", runbook.Check{}, []string{"S"}, check.Successful, "S", "measurement 1 (1 successful)"},
		{"count reached", runbook.Check{Count: 3}, []string{"S"}, check.Successful, "SSS", "measurement 3 (3 successful)"},
		{"first failure ends it", runbook.Check{Count: 5}, []string{"S", "F", "S"}, check.Failed, "SF", "measurement 2 (1 successful, 1 failed)"},
		{"failures within limit pass", runbook.Check{Count: 4, FailureLimit: 1}, []string{"F", "S"}, check.Successful, "FSSS", "measurement 4 (3 successful, 1 failed)"},
		{"failures over limit", runbook.Check{Count: 5, FailureLimit: 1}, []string{"S", "F", "S", "F", "S"}, check.Failed, "SFSF", "measurement 4 (2 successful, 2 failed)"},
		{"inconclusive ends it", runbook.Check{Count: 3}, []string{"I"}, check.Inconclusive, "I", "measurement 1 (1 inconclusive)"},
		{"inconclusive within limit", runbook.Check{Count: 3, InconclusiveLimit: 1}, []string{"I", "S"}, check.Successful, "ISS", "measurement 3 (2 successful, 1 inconclusive)"},
		{"inconclusive over limit", runbook.Check{Count: 5, InconclusiveLimit: 1}, []string{"I", "S", "I"}, check.Inconclusive, "ISI", "measurement 3 (1 successful, 2 inconclusive)"},
		{"no values is inconclusive", runbook.Check{}, []string{"N"}, check.Inconclusive, "I", "query x: no values found (1 inconclusive)"},
		{"default error limit 4", runbook.Check{Count: 2}, []string{"E"}, check.Error, "EEEEE", "prometheus unreachable (5 errors)"},
		{"error limit", runbook.Check{Count: 2, ConsecutiveErrorLimit: 1}, []string{"E"}, check.Error, "EE", "prometheus unreachable (2 errors)"},
		{"errors are retried, not counted", runbook.Check{Count: 2, ConsecutiveErrorLimit: 1}, []string{"E", "S", "E", "S"}, check.Successful, "ESES", "measurement 4 (2 successful, 2 errors)"},
		{"panic is an error", runbook.Check{ConsecutiveErrorLimit: 1}, []string{"P", "S"}, check.Successful, "ES", "measurement 2 (1 successful, 1 error)"},
		{"no outcome is an error", runbook.Check{ConsecutiveErrorLimit: 1}, []string{"0"}, check.Error, "EE", "scripted: measurement has no outcome (2 errors)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &scripted{script: tc.script}
			res := Run(t.Context(), validatetest.NewAutoClock(start), c, tc.spec, check.Request{}, nil)
			if res.Outcome != tc.want || outcomes(res.Measurements) != tc.wantSeen || res.Message != tc.wantMsg {
				t.Fatalf("Run = %s %q, measurements %s; want %s %q, %s", res.Outcome, res.Message, outcomes(res.Measurements), tc.want, tc.wantMsg, tc.wantSeen)
			}
			// Each measurement is stamped with the clock, interval apart
			// (30s by default).
			for i, at := range c.times() {
				if want := start.Add(time.Duration(i) * runbook.DefaultCheckInterval); !at.Equal(want) {
					t.Fatalf("measurement %d at %s, want %s", i+1, at, want)
				}
			}
		})
	}
}

func TestRunResultTakesDecidingMeasurement(t *testing.T) {
	res := Run(t.Context(), validatetest.NewAutoClock(time.Unix(0, 0)), &scripted{script: []string{"S", "E", "F"}},
		runbook.Check{Count: 3}, check.Request{}, nil)
	if res.Outcome != check.Failed || res.Value != "3" || res.Bound != "< 10" || len(res.Measurements) != 3 {
		t.Fatalf("Run = %+v", res)
	}
	if res.Measurements[1].Message != "prometheus unreachable" {
		t.Fatalf("error measurement = %+v", res.Measurements[1])
	}
}

// TestRunWaitsForTheInterval drives a stopped clock: the second measurement
// is only taken once the interval has passed.
func TestRunWaitsForTheInterval(t *testing.T) {
	clock := validatetest.NewClock(time.Unix(0, 0))
	c := &scripted{script: []string{"S"}}
	done := make(chan Result)
	go func() {
		done <- Run(t.Context(), clock, c, runbook.Check{Count: 2, Interval: yamlx.Duration(time.Minute)}, check.Request{}, nil)
	}()
	clock.BlockUntil(1)
	clock.Advance(59 * time.Second)
	if n := len(c.times()); n != 1 || clock.Waiters() != 1 {
		t.Fatalf("after 59s: %d measurements, %d waiters; want 1, 1", n, clock.Waiters())
	}
	clock.Advance(time.Second)
	res := <-done
	if res.Outcome != check.Successful || len(res.Measurements) != 2 {
		t.Fatalf("Run = %+v", res)
	}
	if got := c.times()[1]; !got.Equal(time.Unix(60, 0)) {
		t.Fatalf("second measurement at %s", got)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	clock := validatetest.NewClock(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan Result)
	go func() {
		done <- Run(ctx, clock, &scripted{script: []string{"S"}}, runbook.Check{Count: 3}, check.Request{}, nil)
	}()
	clock.BlockUntil(1)
	cancel()
	res := <-done
	if res.Outcome != check.Error || res.Message != "stopped after 1 of 3 measurements: context canceled (1 successful)" {
		t.Fatalf("Run = %s %q", res.Outcome, res.Message)
	}
}

func TestRunAll(t *testing.T) {
	jobs := []Job{
		{Checker: &scripted{script: []string{"F"}}, Spec: runbook.Check{Name: "a", Count: 2}},
		{Checker: nil, Spec: runbook.Check{Name: "b", Uses: "nope"}},
		{Checker: &scripted{script: []string{"S"}}, Spec: runbook.Check{Name: "c", Count: 3}},
		{Checker: &scripted{script: []string{"I"}}, Spec: runbook.Check{Name: "d"}},
	}
	got := RunAll(t.Context(), validatetest.NewAutoClock(time.Unix(0, 0)), jobs)
	want := []check.Outcome{check.Failed, check.Error, check.Successful, check.Inconclusive}
	for i := range want {
		if got[i].Outcome != want[i] {
			t.Errorf("job %d: %s %q, want %s", i, got[i].Outcome, got[i].Message, want[i])
		}
	}
	if got[1].Message != `check "b" (uses "nope"): no checker` {
		t.Errorf("nil checker message %q", got[1].Message)
	}
}

// TestRunTellsEachMeasurement: every measurement, errors included, is
// handed over as it lands, stamped with the clock.
func TestRunTellsEachMeasurement(t *testing.T) {
	start := time.Unix(0, 0)
	var seen []check.Measurement
	res := Run(t.Context(), validatetest.NewAutoClock(start), &scripted{script: []string{"S", "E", "S"}},
		runbook.Check{Count: 2, Interval: yamlx.Duration(time.Second)}, check.Request{}, func(m check.Measurement) { seen = append(seen, m) })
	if outcomes(seen) != "SES" || outcomes(res.Measurements) != "SES" {
		t.Fatalf("seen %s, result %s", outcomes(seen), outcomes(res.Measurements))
	}
	for i, m := range seen {
		if want := start.Add(time.Duration(i) * time.Second); !m.At.Equal(want) {
			t.Errorf("measurement %d at %s, want %s", i+1, m.At, want)
		}
	}
}

// TestSettle waits out the initial delay on the clock, or stops with ctx.
func TestSettle(t *testing.T) {
	clock := validatetest.NewClock(time.Unix(0, 0))
	done := make(chan error)
	go func() { done <- Settle(t.Context(), clock, time.Minute) }()
	clock.BlockUntil(1)
	clock.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatalf("Settle = %v", err)
	}
	if err := Settle(t.Context(), clock, 0); err != nil {
		t.Fatalf("no delay: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Settle(ctx, clock, time.Minute); err == nil || err.Error() != "settling for 1m0s: context canceled" {
		t.Fatalf("cancelled: %v", err)
	}
}
