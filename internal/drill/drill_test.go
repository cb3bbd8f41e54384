package drill

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/exec/noop"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/present"
	"github.com/backout/backout/internal/report"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/store"
	boltstore "github.com/backout/backout/internal/store/bolt"
)

// fakeClock moves only when told; After channels fire as it passes them.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// advanceTo moves the clock in steps, letting waiting loops run between them.
func (c *fakeClock) advanceTo(t *testing.T, until time.Time) {
	for {
		c.mu.Lock()
		if !c.now.Before(until) {
			c.mu.Unlock()
			return
		}
		c.now = c.now.Add(10 * time.Second)
		var keep []waiter
		for _, w := range c.waiters {
			if !w.at.After(c.now) {
				w.ch <- c.now
			} else {
				keep = append(keep, w)
			}
		}
		c.waiters = keep
		c.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
}

type recordingPoster struct {
	mu    sync.Mutex
	posts []string
}

func (p *recordingPoster) Post(_ context.Context, ref chat.Ref, msg chat.Message) (chat.Ref, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.posts = append(p.posts, ref.Channel+" "+msg.Text.String())
	return chat.Ref{Channel: ref.Channel, TS: "1.0"}, nil
}
func (p *recordingPoster) Update(context.Context, chat.Ref, chat.Message) error { return nil }
func (p *recordingPoster) Ephemeral(context.Context, string, string, chat.Message) error {
	return nil
}
func (p *recordingPoster) Upload(context.Context, chat.Ref, string, string, string) error { return nil }

func (p *recordingPoster) count(substr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.posts {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

const testConfig = `
slack: {channel: C0OPS}
runbooks: runbooks
drills: {timezone: UTC, report_schedule: "0 9 * * MON", max_age: 7d}
services:
  - name: api
    runbook: quick
    channel: C0API
    recovery_target: 5m
    drill: {schedule: "*/30 * * * *", remind_before: 10m, mode: dry-run, waive_approval: true}
`

const testRunbook = `
name: quick
steps:
  - {id: one, uses: noop, with: {message: hi}}
`

// replica builds one Backout process's drill programme over a shared store.
func replica(t *testing.T, dir string, st store.Store, clock *fakeClock, poster chat.Poster) *Drills {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(dir, "bot.yaml"), []byte(testConfig), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	set, err := runbook.LoadDir(filepath.Join(dir, "runbooks"))
	if err != nil {
		t.Fatal(err)
	}
	svc := incident.New(incident.Deps{Config: cfg, Runbooks: set, Store: st, Executors: exec.NewRegistry(noop.New()),
		Notifier: present.NewNotifier(poster), Clock: clock, ReplicaID: t.Name()})
	rep := &report.Builder{Store: st, Config: cfg, Now: clock.Now, MaxAge: svc.DrillMaxAge}
	d := New(cfg, svc, st, poster, rep, clock, slog.New(slog.DiscardHandler), nopMetrics{})
	svc.AddEndHook(d)
	return d
}

type nopMetrics struct{}

func (nopMetrics) DrillEnded(string, bool) {}
func (nopMetrics) Overdue(string, bool)    {}

// TestScheduleFiresOncePerCluster runs two replicas' schedulers on one store
// with a fake clock: the reminder and the drill each fire exactly once, and
// the drill's scorecard is recorded.
func TestScheduleFiresOncePerCluster(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "runbooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "runbooks", "quick.yaml"), []byte(testRunbook), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 27, 10, 5, 0, 0, time.UTC)
	clock := &fakeClock{now: start}
	st, err := boltstore.Open(filepath.Join(dir, "state.db"), boltstore.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for _, v := range []struct {
		version string
		age     time.Duration
	}{{"1.0.0", 48 * time.Hour}, {"1.1.0", time.Hour}} {
		if err := st.AddDeploy(ctx, &rollback.Deploy{Service: "api", Version: v.version, Artifact: "reg/api@sha256:" + strings.Repeat("a", 64), At: start.Add(-v.age)}); err != nil {
			t.Fatal(err)
		}
	}
	poster := &recordingPoster{}
	a, b := replica(t, dir, st, clock, poster), replica(t, dir, st, clock, poster)
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, d := range []*Drills{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Run(runCtx) }()
	}
	time.Sleep(20 * time.Millisecond)             // both schedulers computed their next firing
	clock.advanceTo(t, start.Add(26*time.Minute)) // past 10:20 (reminder) and 10:30 (drill)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && poster.count("Drill scorecard") == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()

	if n := poster.count("Reminder: a rollback drill of api"); n != 1 {
		t.Errorf("reminders posted: %d, want 1", n)
	}
	if n := poster.count("Drill RB-"); n != 1 {
		t.Errorf("drill proposals posted: %d, want 1 (posts: %q)", n, poster.posts)
	}
	drills, err := st.ListDrills(ctx, "api")
	if err != nil || len(drills) != 1 || !drills[0].Succeeded || drills[0].Mode != "dry-run" {
		t.Fatalf("drill records = %+v, %v; want one successful dry-run", drills, err)
	}
	rs, err := st.ListRollbacks(ctx, store.RollbackQuery{Service: "api"})
	if err != nil || len(rs) != 1 || !rs[0].Drill {
		t.Fatalf("rollbacks = %v, %v; want exactly one drill", rs, err)
	}
}

func TestScorecardAgainstTarget(t *testing.T) {
	tests := []struct {
		rec  rollback.DrillRecord
		want string
	}{
		{rollback.DrillRecord{Service: "api", Mode: "dry-run", Succeeded: true, Duration: 2 * time.Minute, RecoveryTarget: 5 * time.Minute}, "✅ succeeded in 2m, within the recovery target of 5m"},
		{rollback.DrillRecord{Service: "api", Mode: "environment", Duration: 7 * time.Minute, RecoveryTarget: 5 * time.Minute, FailedSteps: []string{"api/one"}}, "❌ failed in 7m, recovery target 5m.\nFailed steps: api/one"},
		{rollback.DrillRecord{Service: "api", Mode: "dry-run", Succeeded: true, Duration: time.Second}, "no recovery target"},
		{rollback.DrillRecord{Service: "api", Mode: "environment", Succeeded: true, Duration: time.Second, SharedChecks: []string{"upstream: no staging copy"}},
			"\n⚠️ Judged on production's data, not the drill's (drill.same_as_production): upstream: no staging copy"},
	}
	for _, tt := range tests {
		if got := Scorecard(tt.rec, nil).Text.String(); !strings.Contains(got, tt.want) {
			t.Errorf("scorecard %q lacks %q", got, tt.want)
		}
	}
}

// TestScorecardTrend: each step's time beside its change since the
// service's previous drill; steps that drill did not time are new.
func TestScorecardTrend(t *testing.T) {
	prev := &rollback.DrillRecord{Service: "api", RollbackID: "RB-4", At: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC),
		Steps: []rollback.DrillStep{{Step: "drain", Duration: 20 * time.Second}, {Step: "switch", Duration: time.Minute}}}
	rec := rollback.DrillRecord{Service: "api", RollbackID: "RB-9", Mode: "environment", Succeeded: true, Duration: 2 * time.Minute,
		Steps: []rollback.DrillStep{{Step: "drain", Duration: 32 * time.Second}, {Step: "switch", Duration: 57 * time.Second},
			{Step: "settle", Duration: 5 * time.Second}, {Step: "undrain", Duration: time.Second}}}
	same := rec
	same.Steps = []rollback.DrillStep{{Step: "drain", Duration: 20 * time.Second}}
	tests := []struct {
		name string
		rec  rollback.DrillRecord
		prev *rollback.DrillRecord
		want string
	}{
		{"slower, faster, new", rec, prev, "Step times vs drill RB-4 of 2026-11-29: drain 32s (+12s), switch 57s (−3s), settle 5s (new), undrain 1s (new)"},
		{"unchanged", same, prev, "Step times vs drill RB-4 of 2026-11-29: drain 20s (±0s)"},
		{"first drill", rec, nil, "Step times (first drill of api, nothing to compare with): drain 32s, switch 57s, settle 5s, undrain 1s"},
		{"no steps timed", rollback.DrillRecord{Service: "api"}, prev, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StepTrend(tt.rec, tt.prev); got != tt.want {
				t.Errorf("trend\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestStepTimes: a step's time runs from its first start to its last end,
// retries included; a step that never ended has none.
func TestStepTimes(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	events := []rollback.StepEvent{
		{Service: "api", StepID: "a", Kind: rollback.StepStarted, At: at(0)},
		{Service: "web", StepID: "a", Kind: rollback.StepStarted, At: at(0)},
		{Service: "api", StepID: "b", Kind: rollback.StepStarted, At: at(1)},
		{Service: "api", StepID: "a", Kind: rollback.StepRetrying, At: at(2)},
		{Service: "api", StepID: "a", Kind: rollback.StepStarted, At: at(3)},
		{Service: "api", StepID: "a", Kind: rollback.StepSucceeded, At: at(7)},
		{Service: "web", StepID: "a", Kind: rollback.StepFailed, At: at(9)},
	}
	got := stepTimes(events, "api")
	want := []rollback.DrillStep{{Step: "a", Duration: 7 * time.Second}}
	if len(got) != len(want) || got[0] != want[0] {
		t.Errorf("stepTimes = %+v, want %+v", got, want)
	}
}

// TestScorecardRecordsRunMode: a drill's record keeps the mode it ran in.
// A policy of environment over a runbook that forces drill.dry_run ran as
// a dry run, and the record says so and why; the scorecard too.
func TestScorecardRecordsRunMode(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"plain.yaml":  "name: plain\nsteps:\n  - {id: one, uses: noop, with: {message: \"on {{ .Service.Environment }}\"}}\n",
		"forced.yaml": "name: forced\ndrill: {dry_run: true}\nsteps:\n  - {id: one, uses: noop, with: {message: \"on {{ .Service.Environment }}\"}}\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, "runbooks"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "runbooks", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const catalog = `
slack: {channel: C0OPS}
runbooks: runbooks
services:
  - {name: api, runbook: plain, drill: {mode: environment, environment: api-drill}}
  - {name: web, runbook: forced, drill: {mode: environment, environment: web-drill}}
  - {name: cli, runbook: forced, drill: {mode: dry-run}}
`
	cfg, err := config.Parse(filepath.Join(dir, "bot.yaml"), []byte(catalog), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	set, err := runbook.LoadDir(filepath.Join(dir, "runbooks"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(dir, "state.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := &fakeClock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	svc := incident.New(incident.Deps{Config: cfg, Runbooks: set, Store: st, Executors: exec.NewRegistry(noop.New()), Clock: clock})
	poster := &recordingPoster{}
	d := New(cfg, svc, st, poster, nil, clock, slog.New(slog.DiscardHandler), nopMetrics{})
	tests := []struct {
		service, runbook, policy string
		want                     rollback.DrillRecord
		scorecard                string
	}{
		{"api", "plain", "environment", rollback.DrillRecord{Mode: "environment"}, "Drill scorecard for api (environment)"},
		{"web", "forced", "environment", rollback.DrillRecord{Mode: "dry-run", PolicyMode: "environment", DryRunCause: "runbook forced forces drill.dry_run"},
			"Drill scorecard for web (dry-run: the policy says environment, but runbook forced forces drill.dry_run)"},
		{"cli", "forced", "dry-run", rollback.DrillRecord{Mode: "dry-run"}, "Drill scorecard for cli (dry-run)"},
	}
	for i, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			r := &rollback.Record{ID: fmt.Sprintf("RB-%d", i+1), State: rollback.StateSucceeded, Drill: true, DrillMode: tt.policy,
				Services: []rollback.ServiceChange{{Service: tt.service, Runbook: tt.runbook}}, CreatedAt: clock.Now(), EndedAt: clock.Now().Add(time.Minute)}
			d.RollbackEnded(t.Context(), r)
			drills, err := st.ListDrills(t.Context(), tt.service)
			if err != nil || len(drills) != 1 {
				t.Fatalf("drills of %s = %+v, %v; want one", tt.service, drills, err)
			}
			got := drills[0]
			if got.Mode != tt.want.Mode || got.PolicyMode != tt.want.PolicyMode || got.DryRunCause != tt.want.DryRunCause {
				t.Errorf("recorded mode %q (policy %q, cause %q), want %q (policy %q, cause %q)",
					got.Mode, got.PolicyMode, got.DryRunCause, tt.want.Mode, tt.want.PolicyMode, tt.want.DryRunCause)
			}
			if poster.count(tt.scorecard) != 1 {
				t.Errorf("no scorecard with %q in %q", tt.scorecard, poster.posts)
			}
		})
	}
}
