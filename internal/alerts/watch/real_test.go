package watch_test

import (
	"context"
	"testing"
	"time"

	"github.com/backout/backout/internal/alerts/alertstest"
	"github.com/backout/backout/internal/alerts/watch"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/testutil/promtest"
)

// TestAgainstRealPrometheus runs watchers against Debian's prometheus
// scraping a target whose values the test sets: a gauge above the bound
// triggers after three breaches, a query with no data never does, and a
// malformed query is counted as an error.
func TestAgainstRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	prom := promtest.Start(t)
	labels := map[string]string{"service": "checkout"}
	prom.Set("backout_test_error_ratio", labels, 0.01)
	prom.WaitForData(t, `backout_test_error_ratio{service="checkout"}`)

	q, err := watch.NewPromQuerier(prom.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := config.Service{Name: "checkout", WatchFor: config.Duration(30 * time.Minute), Watchers: []config.Watcher{
		{Name: "error ratio", Query: `max(backout_test_error_ratio{service="checkout"})`, Above: f(0.05), Interval: config.Duration(30 * time.Second), Breaches: 3},
		{Name: "absent", Query: `backout_test_never_exported`, Above: f(0), Interval: config.Duration(30 * time.Second), Breaches: 1},
		{Name: "broken", Query: `sum(`, Above: f(0), Interval: config.Duration(30 * time.Second), Breaches: 1},
	}}
	clock := newFakeClock()
	st, sink, m := alertstest.NewStore(clock.Now), &alertstest.Sink{}, &alertstest.Metrics{}
	if err := st.AddDeploy(context.Background(), &rollback.Deploy{ID: "D1", Service: "checkout", Version: "v1.42.0", At: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	r, err := watch.New(watch.Config{Services: []config.Service{svc}, Querier: q, Deploys: st, Leases: st, Claims: st,
		Sink: sink, Clock: clock, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	tick := func(n int) {
		for range n {
			r.Tick(context.Background())
			clock.Advance(30 * time.Second)
		}
	}

	tick(3) // healthy
	if len(sink.Alerts()) != 0 {
		t.Fatalf("alert while healthy: %+v", sink.Alerts())
	}
	prom.Set("backout_test_error_ratio", labels, 0.2)
	promtest.WaitFor(t, prom.URL, `backout_test_error_ratio{service="checkout"}`, func(v []float64) bool { return len(v) == 1 && v[0] == 0.2 })
	tick(2)
	if len(sink.Alerts()) != 0 {
		t.Fatal("fired after two breaches")
	}
	tick(1)
	got := sink.Alerts()
	if len(got) != 1 || got[0].IncidentID != "watch/D1/error ratio" {
		t.Fatalf("alerts %+v, want the error ratio watcher once", got)
	}
	if m.Get("ignored/watcher/inconclusive") != 6 || m.Get("failed/watcher/query") != 6 {
		t.Fatalf("inconclusive %d (absent metric), query errors %d (broken query); want 6 each",
			m.Get("ignored/watcher/inconclusive"), m.Get("failed/watcher/query"))
	}
}
