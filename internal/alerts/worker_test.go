package alerts_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/alerts/alertstest"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/store"
)

// echo yields one triggered alert per event, naming the service after the
// payload; a payload of "poison" cannot be processed.
type echo struct{}

func (echo) Process(_ context.Context, ev store.Event) ([]incident.Alert, error) {
	if string(ev.Payload) == "poison" {
		return nil, errors.New("undecodable")
	}
	return []incident.Alert{{Source: ev.Source, Kind: incident.AlertTriggered, Service: string(ev.Payload), IncidentID: ev.ID}}, nil
}

func setup(t *testing.T, batch int) (*alertstest.Store, *alertstest.Sink, *alertstest.Metrics, *alerts.Worker) {
	t.Helper()
	st, sink, m := alertstest.NewStore(nil), &alertstest.Sink{}, &alertstest.Metrics{}
	w, err := alerts.NewWorker(alerts.WorkerConfig{Inbox: st, Claims: st, Sink: sink, Metrics: m, Batch: batch,
		Processors: map[string]alerts.Processor{"pagerduty": echo{}}})
	if err != nil {
		t.Fatal(err)
	}
	return st, sink, m, w
}

func enqueue(t *testing.T, st *alertstest.Store, id, source, payload string) {
	t.Helper()
	if _, err := st.EnqueueEvent(context.Background(), store.Event{ID: id, Source: source, Payload: []byte(payload)}, []string{id}, time.Hour); err != nil {
		t.Fatal(err)
	}
}

func TestNewWorkerNeedsPorts(t *testing.T) {
	if _, err := alerts.NewWorker(alerts.WorkerConfig{}); err == nil {
		t.Fatal("want an error")
	}
}

func TestDrain(t *testing.T) {
	tests := []struct {
		name        string
		events      [][3]string // id, source, payload
		claimed     []string    // held by another replica
		wantAlerts  string
		wantPending int
		wantAcked   int
		metric      string
	}{
		{name: "processes in order", events: [][3]string{{"e1", "pagerduty", "a"}, {"e2", "pagerduty", "b"}},
			wantAlerts: "a,b", wantAcked: 2, metric: "processed/pagerduty"},
		{name: "poison is dropped", events: [][3]string{{"e1", "pagerduty", "poison"}, {"e2", "pagerduty", "b"}},
			wantAlerts: "b", wantAcked: 2, metric: "failed/pagerduty/decode"},
		{name: "unknown source is dropped", events: [][3]string{{"e1", "nagios", "a"}},
			wantAcked: 1, metric: "ignored/nagios/no_source"},
		{name: "another replica's claim is left alone", events: [][3]string{{"e1", "pagerduty", "a"}, {"e2", "pagerduty", "b"}},
			claimed: []string{"e1"}, wantAlerts: "b", wantPending: 1, wantAcked: 1, metric: "processed/pagerduty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, sink, m, w := setup(t, 10)
			for _, e := range tt.events {
				enqueue(t, st, e[0], e[1], e[2])
			}
			for _, id := range tt.claimed {
				if ok, _ := st.Claim(context.Background(), alerts.ClaimPrefix+id, time.Minute); !ok {
					t.Fatal("claim")
				}
			}
			n, err := w.Drain(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range sink.Alerts() {
				got = append(got, a.Service)
			}
			if strings.Join(got, ",") != tt.wantAlerts || n != tt.wantAcked || st.Pending() != tt.wantPending {
				t.Fatalf("alerts %q acked %d pending %d; want %q %d %d", got, n, st.Pending(), tt.wantAlerts, tt.wantAcked, tt.wantPending)
			}
			if m.Get(tt.metric) == 0 {
				t.Errorf("metric %s not counted", tt.metric)
			}
		})
	}
}

func TestSinkErrorRetriesAfterClaimTTL(t *testing.T) {
	st, sink, m, w := setup(t, 10)
	enqueue(t, st, "e1", "pagerduty", "a")
	sink.SetErr(errors.New("store down"))
	ctx := context.Background()
	if n, _ := w.Drain(ctx); n != 0 || st.Pending() != 1 || m.Get("failed/pagerduty/sink") != 1 {
		t.Fatalf("acked %d pending %d: a refused alert must stay pending", n, st.Pending())
	}
	sink.SetErr(nil)
	if n, _ := w.Drain(ctx); n != 0 {
		t.Fatal("retried before the claim expired")
	}
	st.ExpireClaims()
	if n, _ := w.Drain(ctx); n != 1 || st.Pending() != 0 || len(sink.Alerts()) != 1 {
		t.Fatalf("acked %d pending %d alerts %d after the claim expired", n, st.Pending(), len(sink.Alerts()))
	}
}

func TestDrainManyBatches(t *testing.T) {
	st, sink, _, w := setup(t, 7)
	for i := range 50 {
		enqueue(t, st, fmt.Sprintf("e%02d", i), "pagerduty", "s")
	}
	if n, err := w.Drain(context.Background()); err != nil || n != 50 || len(sink.Alerts()) != 50 {
		t.Fatalf("acked %d, sink %d, err %v", n, len(sink.Alerts()), err)
	}
}

func TestDrainStoreDown(t *testing.T) {
	st, _, m, w := setup(t, 10)
	st.SetErr(store.ErrUnavailable)
	if _, err := w.Drain(context.Background()); !errors.Is(err, store.ErrUnavailable) || m.Get("failed/inbox/store") != 1 {
		t.Fatalf("err %v", err)
	}
}

func TestRunWakesOnNotify(t *testing.T) {
	st, sink := alertstest.NewStore(nil), &alertstest.Sink{}
	// A poll far longer than the test: only Notify can get the event through.
	w, err := alerts.NewWorker(alerts.WorkerConfig{Inbox: st, Claims: st, Sink: sink, Poll: time.Hour,
		Processors: map[string]alerts.Processor{"pagerduty": echo{}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	// The first drain takes e0 and reads the inbox no more (it was shorter
	// than a batch), so e1 can only arrive through the wake-up.
	enqueue(t, st, "e0", "pagerduty", "a")
	w.Notify()
	waitFor(t, func() bool { return len(sink.Alerts()) == 1 })
	enqueue(t, st, "e1", "pagerduty", "b")
	w.Notify()
	w.Notify() // never blocks, even with a wake-up already pending
	waitFor(t, func() bool { return len(sink.Alerts()) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond; it bounds the wait without asserting any timing.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gate wraps the test store and holds each Claim and AckEvent until want
// calls of that kind are in flight (or a generous bound passes), recording
// the peak. A worker that claims or acks one event at a time peaks at 1.
type gate struct {
	*alertstest.Store
	want        map[string]int // calls of each kind expected in flight together
	mu          sync.Mutex
	inflight    map[string]int
	peak        map[string]int
	arrived     map[string]chan struct{}
	claimErrFor string
}

func newGate(st *alertstest.Store, want map[string]int) *gate {
	return &gate{Store: st, want: want, inflight: map[string]int{}, peak: map[string]int{},
		arrived: map[string]chan struct{}{"claim": make(chan struct{}), "ack": make(chan struct{})}}
}

func (g *gate) enter(kind string) {
	g.mu.Lock()
	g.inflight[kind]++
	g.peak[kind] = max(g.peak[kind], g.inflight[kind])
	if g.inflight[kind] == g.want[kind] {
		close(g.arrived[kind])
	}
	g.mu.Unlock()
	select {
	case <-g.arrived[kind]:
	case <-time.After(2 * time.Second): // only a sequential worker gets here
	}
	g.mu.Lock()
	g.inflight[kind]--
	g.mu.Unlock()
}

func (g *gate) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	g.enter("claim")
	if key == alerts.ClaimPrefix+g.claimErrFor {
		return false, store.ErrUnavailable
	}
	return g.Store.Claim(ctx, key, ttl)
}

func (g *gate) AckEvent(ctx context.Context, id string) error {
	g.enter("ack")
	return g.Store.AckEvent(ctx, id)
}

// refuse is a Sink that refuses alerts for the service "bad".
type refuse struct{ alertstest.Sink }

func (r *refuse) OnAlert(ctx context.Context, a incident.Alert) error {
	if a.Service == "bad" {
		return errors.New("refused")
	}
	return r.Sink.OnAlert(ctx, a)
}

// TestDrainBatchesClaimsAndAcks checks that a batch's claims, then its acks,
// are in flight together (so a group-commit store writes each set once), and
// that only events whose alerts were all accepted are acknowledged.
func TestDrainBatchesClaimsAndAcks(t *testing.T) {
	st, m := alertstest.NewStore(nil), &alertstest.Metrics{}
	events := [][3]string{{"e1", "pagerduty", "a"}, {"e2", "pagerduty", "bad"}, {"e3", "pagerduty", "c"},
		{"e4", "pagerduty", "d"}, {"e5", "nagios", "x"}, {"e6", "pagerduty", "f"}}
	for _, e := range events {
		enqueue(t, st, e[0], e[1], e[2])
	}
	// e6's claim fails; e2's alert is refused; e5 has no processor (dropped).
	// Acked: e1, e3, e4, e5.
	g := newGate(st, map[string]int{"claim": len(events), "ack": 4})
	g.claimErrFor = "e6"
	sink := &refuse{}
	w, err := alerts.NewWorker(alerts.WorkerConfig{Inbox: g, Claims: g, Sink: sink, Metrics: m, Batch: 10,
		Processors: map[string]alerts.Processor{"pagerduty": echo{}}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := w.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range sink.Alerts() {
		got = append(got, a.Service)
	}
	if strings.Join(got, ",") != "a,c,d" || n != 4 || st.Pending() != 2 {
		t.Fatalf("alerts %q acked %d pending %d; want a,c,d 4 2", got, n, st.Pending())
	}
	if g.peak["claim"] < len(events) || g.peak["ack"] < 4 {
		t.Fatalf("peak concurrency: claims %d (want %d), acks %d (want 4)", g.peak["claim"], len(events), g.peak["ack"])
	}
	if m.Get("failed/pagerduty/claim") != 1 || m.Get("failed/pagerduty/sink") != 1 {
		t.Fatalf("claim failures %d, sink failures %d; want 1 and 1", m.Get("failed/pagerduty/claim"), m.Get("failed/pagerduty/sink"))
	}
}
