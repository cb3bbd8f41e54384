package watch_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/alerts/alertstest"
	"github.com/backout/backout/internal/alerts/watch"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

func f(v float64) *float64 { return &v }

func TestJudge(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name         string
		values       []float64
		above, below *float64
		want         watch.Result
		value        float64
	}{
		{"no data", nil, f(1), nil, watch.Inconclusive, nan},
		{"only NaN", []float64{nan}, f(1), nil, watch.Inconclusive, nan},
		{"under above", []float64{0.5, 0.9}, f(1), nil, watch.OK, 0.5},
		{"equal is not above", []float64{1}, f(1), nil, watch.OK, 1},
		{"any series above", []float64{0.5, 1.5}, f(1), nil, watch.Breach, 1.5},
		{"below", []float64{0.2}, nil, f(0.5), watch.Breach, 0.2},
		{"equal is not below", []float64{0.5}, nil, f(0.5), watch.OK, 0.5},
		{"between both bounds", []float64{0.7}, f(1), f(0.5), watch.OK, 0.7},
		{"NaN skipped", []float64{nan, 3}, f(1), nil, watch.Breach, 3},
		{"+Inf above", []float64{math.Inf(1)}, f(1), nil, watch.Breach, math.Inf(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, v := watch.Judge(tt.values, tt.above, tt.below)
			if got != tt.want || (v != tt.value && !(math.IsNaN(v) && math.IsNaN(tt.value))) {
				t.Fatalf("got %v %v, want %v %v", got, v, tt.want, tt.value)
			}
		})
	}
}

// fakeClock moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 5, 20, 14, 0, 0, 0, time.UTC), c: make(chan time.Time)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) NewTicker(time.Duration) watch.Ticker { return fakeTicker{c.c} }

type fakeTicker struct{ c chan time.Time }

func (t fakeTicker) C() <-chan time.Time { return t.c }
func (fakeTicker) Stop()                 {}

// step is one scripted query answer.
type step struct {
	values []float64
	err    error
}

var (
	ok     = step{values: []float64{0.01}}
	breach = step{values: []float64{0.01, 0.2}}
	nodata = step{}
	qerr   = step{err: errors.New("prometheus: 503")}
)

// script answers each query with its next step, then repeats the last one.
type script struct {
	mu    sync.Mutex
	steps map[string][]step
	calls int
}

func (s *script) Query(_ context.Context, q string) ([]float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	st := s.steps[q]
	if len(st) == 0 {
		return nil, fmt.Errorf("unexpected query %q", q)
	}
	cur := st[0]
	if len(st) > 1 {
		s.steps[q] = st[1:]
	}
	return cur.values, cur.err
}

func (s *script) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

var checkout = config.Service{Name: "checkout", Environment: "production", WatchFor: config.Duration(30 * time.Minute),
	Watchers: []config.Watcher{{Name: "error ratio", Query: "errors", Above: f(0.05), Interval: config.Duration(30 * time.Second), Breaches: 3}}}

type rig struct {
	clock *fakeClock
	st    *alertstest.Store
	q     *script
	sink  *alertstest.Sink
	m     *alertstest.Metrics
	r     *watch.Runner
}

func newRig(t *testing.T, svc config.Service, steps ...step) *rig {
	t.Helper()
	clock := newFakeClock()
	g := &rig{clock: clock, st: alertstest.NewStore(clock.Now), q: &script{steps: map[string][]step{"errors": steps}},
		sink: &alertstest.Sink{}, m: &alertstest.Metrics{}}
	g.r = g.runner(t, svc, "replica-a")
	return g
}

func (g *rig) runner(t *testing.T, svc config.Service, holder string) *watch.Runner {
	t.Helper()
	r, err := watch.New(watch.Config{Services: []config.Service{svc}, Querier: g.q, Deploys: g.st, Leases: g.st,
		Claims: g.st, Sink: g.sink, Holder: holder, Clock: g.clock, Metrics: g.m})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (g *rig) deploy(t *testing.T, id, env string, ago time.Duration) {
	t.Helper()
	if err := g.st.AddDeploy(context.Background(), &rollback.Deploy{ID: id, Service: "checkout", Version: "v1.42.0",
		Environment: env, At: g.clock.Now().Add(-ago)}); err != nil {
		t.Fatal(err)
	}
}

// run evaluates n intervals of 30s.
func (g *rig) run(n int) {
	for range n {
		g.r.Tick(context.Background())
		g.clock.Advance(30 * time.Second)
	}
}

func TestBreachesTrigger(t *testing.T) {
	tests := []struct {
		name   string
		steps  []step
		alerts int
	}{
		{"three breaches", []step{breach, breach, breach}, 1},
		{"fires once per deploy", []step{breach, breach, breach, breach, breach, breach, breach}, 1},
		{"two are not enough", []step{breach, breach, ok}, 0},
		{"an ok resets the run", []step{breach, breach, ok, breach, breach, ok}, 0},
		{"a run after a reset", []step{breach, ok, breach, breach, breach}, 1},
		{"no data resets nothing", []step{breach, nodata, breach, nodata, breach}, 1},
		{"no data never triggers", []step{nodata}, 0},
		{"query errors never trigger", []step{qerr}, 0},
		{"query errors reset nothing", []step{breach, qerr, breach, breach}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newRig(t, checkout, tt.steps...)
			g.deploy(t, "D1", "production", time.Minute)
			g.run(max(len(tt.steps), 8))
			got := g.sink.Alerts()
			if len(got) != tt.alerts {
				t.Fatalf("%d alerts, want %d: %+v", len(got), tt.alerts, got)
			}
			if tt.alerts == 1 {
				a := got[0]
				if a.Source != "watcher" || a.Kind != incident.AlertTriggered || a.Service != "checkout" ||
					a.IncidentID != "watch/D1/error ratio" || !strings.Contains(a.Summary, "0.2 is above 0.05") || a.At.IsZero() {
					t.Fatalf("alert %+v", a)
				}
			}
		})
	}
}

func TestCounters(t *testing.T) {
	g := newRig(t, checkout, nodata, qerr, qerr)
	g.deploy(t, "D1", "", time.Minute)
	g.run(3)
	if g.m.Get("ignored/watcher/inconclusive") != 1 || g.m.Get("failed/watcher/query") != 2 {
		t.Fatalf("inconclusive %d, query errors %d", g.m.Get("ignored/watcher/inconclusive"), g.m.Get("failed/watcher/query"))
	}
}

func TestInterval(t *testing.T) {
	g := newRig(t, checkout, breach)
	g.deploy(t, "D1", "production", time.Minute)
	for range 10 { // 10 ticks 1s apart: one evaluation
		g.r.Tick(context.Background())
		g.clock.Advance(time.Second)
	}
	if g.q.Calls() != 1 {
		t.Fatalf("%d queries in 10s with a 30s interval", g.q.Calls())
	}
	g.clock.Advance(20 * time.Second)
	g.r.Tick(context.Background())
	if g.q.Calls() != 2 {
		t.Fatalf("%d queries after the interval passed", g.q.Calls())
	}
}

func TestWhichDeploys(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		ago     time.Duration
		watched bool
	}{
		{"recent", "production", time.Minute, true},
		{"no environment recorded", "", time.Minute, true},
		{"another environment", "staging", time.Minute, false},
		{"older than watch_for", "production", 31 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newRig(t, checkout, breach)
			g.deploy(t, "D1", tt.env, tt.ago)
			g.run(1)
			if (g.q.Calls() > 0) != tt.watched {
				t.Fatalf("queries %d, want watched=%v", g.q.Calls(), tt.watched)
			}
		})
	}
}

func TestWindowCloses(t *testing.T) {
	g := newRig(t, checkout, breach, breach, ok)
	g.deploy(t, "D1", "production", 29*time.Minute)
	g.run(5) // the window closes after two evaluations
	if g.q.Calls() != 2 || len(g.sink.Alerts()) != 0 {
		t.Fatalf("%d queries, %d alerts", g.q.Calls(), len(g.sink.Alerts()))
	}
}

func TestEachDeployWatched(t *testing.T) {
	g := newRig(t, checkout, breach)
	g.deploy(t, "D1", "production", 10*time.Minute)
	g.deploy(t, "D2", "production", time.Minute)
	g.run(3)
	var ids []string
	for _, a := range g.sink.Alerts() {
		ids = append(ids, a.IncidentID)
	}
	if strings.Join(ids, ",") != "watch/D2/error ratio,watch/D1/error ratio" {
		t.Fatalf("alerts %v", ids)
	}
}

func TestOnlyTheLeaseHolderEvaluates(t *testing.T) {
	g := newRig(t, checkout, breach)
	g.deploy(t, "D1", "production", time.Minute)
	b := g.runner(t, checkout, "replica-b")
	g.r.Tick(context.Background())
	b.Tick(context.Background())
	if !g.r.Leader() || b.Leader() || g.q.Calls() != 1 {
		t.Fatalf("a leader %v, b leader %v, queries %d", g.r.Leader(), b.Leader(), g.q.Calls())
	}
	// Replica a stalls past its lease; b takes over; a must notice and stop.
	g.clock.Advance(20 * time.Second)
	g.st.StealLease(watch.LeaseName, "replica-b", 15*time.Second)
	g.r.Tick(context.Background())
	if g.r.Leader() || g.q.Calls() != 1 {
		t.Fatalf("after losing the lease: leader %v, queries %d", g.r.Leader(), g.q.Calls())
	}
}

func TestStoreDownStopsEvaluating(t *testing.T) {
	g := newRig(t, checkout, breach)
	g.deploy(t, "D1", "production", time.Minute)
	g.run(1)
	g.st.SetErr(store.ErrUnavailable)
	g.run(2) // renewal fails: skip, then give up once the lease would have expired
	if g.r.Leader() || g.q.Calls() != 1 || g.m.Get("failed/watcher/lease") == 0 {
		t.Fatalf("leader %v, queries %d", g.r.Leader(), g.q.Calls())
	}
}

func TestFiresOnceAcrossRestart(t *testing.T) {
	g := newRig(t, checkout, breach)
	g.deploy(t, "D1", "production", time.Minute)
	g.run(3)
	// A new process (fresh state) on the same store, lease expired.
	g.clock.Advance(time.Minute)
	g.r = g.runner(t, checkout, "replica-a2")
	g.run(5)
	if len(g.sink.Alerts()) != 1 {
		t.Fatalf("%d alerts, want 1", len(g.sink.Alerts()))
	}
}

func TestSinkErrorRetried(t *testing.T) {
	g := newRig(t, checkout, breach, breach, breach, ok)
	g.deploy(t, "D1", "production", time.Minute)
	g.sink.SetErr(errors.New("store down"))
	g.run(3)
	g.sink.SetErr(nil)
	g.run(1) // the metric recovered meanwhile, but the alert is owed
	if len(g.sink.Alerts()) != 1 || g.m.Get("failed/watcher/sink") != 1 {
		t.Fatalf("%d alerts, %d sink failures", len(g.sink.Alerts()), g.m.Get("failed/watcher/sink"))
	}
}

func TestRunReleasesLease(t *testing.T) {
	g := newRig(t, checkout, breach)
	g.deploy(t, "D1", "production", time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.r.Run(ctx) }()
	g.clock.c <- g.clock.Now() // the first tick ran before Run waited for this one
	g.clock.c <- g.clock.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g.q.Calls() != 1 {
		t.Fatalf("%d queries", g.q.Calls())
	}
	b := g.runner(t, checkout, "replica-b")
	b.Tick(context.Background())
	if !b.Leader() {
		t.Fatal("the lease was not released when Run stopped")
	}
}

func TestNewNeedsPorts(t *testing.T) {
	if _, err := watch.New(watch.Config{}); err == nil {
		t.Fatal("want an error")
	}
}
