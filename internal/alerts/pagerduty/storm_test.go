package pagerduty_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/alerts/alertstest"
	"github.com/backout/backout/internal/alerts/pagerduty"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/store/bolt"
)

// stormEvent renders a v3 event for incident i (on PagerDuty service i).
func stormEvent(t testing.TB, base *pagerduty.Envelope, id, eventType string, i int) []byte {
	t.Helper()
	env := *base
	env.Event.ID = id
	env.Event.EventType = eventType
	env.Event.Data.ID = fmt.Sprintf("Q%05d", i)
	env.Event.Data.Service.ID = fmt.Sprintf("PSVC%03d", i)
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func stormCatalog(n int) []config.Service {
	out := make([]config.Service, n)
	for i := range out {
		out[i] = config.Service{Name: fmt.Sprintf("svc-%03d", i), PagerDutyServices: []string{fmt.Sprintf("PSVC%03d", i)}}
	}
	return out
}

// flaky fails a share of enqueues as an unreachable store would, so the
// storm also exercises 503 and PagerDuty's retries.
type flaky struct {
	alerts.Enqueuer
	mu  sync.Mutex
	rng *rand.Rand
}

func (f *flaky) EnqueueEvent(ctx context.Context, ev store.Event, keys []string, ttl time.Duration) (bool, error) {
	f.mu.Lock()
	fail := f.rng.IntN(20) == 0
	f.mu.Unlock()
	if fail {
		return false, store.ErrUnavailable
	}
	return f.Enqueuer.EnqueueEvent(ctx, ev, keys, ttl)
}

func openBolt(t testing.TB, path string) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestAlertStorm sends 10,000 deliveries for 50 incidents on 50 services
// through the real handler into a bolt file while the worker drains it:
// every incident triggers through two webhook subscriptions, each delivery
// is retried many times, in random order, with 5% of enqueues failing. The
// sink must see exactly one trigger per incident.
func TestAlertStorm(t *testing.T) {
	const incidents, deliveries, clients = 50, 10000, 64
	base, err := pagerduty.Decode(fixture(t, "incident_triggered.json"))
	if err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	for i := range incidents {
		bodies = append(bodies,
			stormEvent(t, base, fmt.Sprintf("E%03d-sub1", i), pagerduty.EventTriggered, i),
			stormEvent(t, base, fmt.Sprintf("E%03d-sub2", i), pagerduty.EventTriggered, i),
			stormEvent(t, base, fmt.Sprintf("E%03d-ack", i), pagerduty.EventAcknowledged, i),
			stormEvent(t, base, fmt.Sprintf("E%03d-ping", i), "pagey.ping", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	order := make([][]byte, deliveries)
	for i := range order {
		order[i] = bodies[i%len(bodies)] // every body sent 50 times
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })

	db := openBolt(t, filepath.Join(t.TempDir(), "state.db"))
	defer db.Close()
	sink, m := &alertstest.Sink{}, &alertstest.Metrics{}
	quiet := slog.New(slog.DiscardHandler) // 5% of 10,000 deliveries log a 503
	w, err := alerts.NewWorker(alerts.WorkerConfig{Inbox: db, Claims: db, Sink: sink, Metrics: m, Logger: quiet,
		Processors: map[string]alerts.Processor{alerts.SourcePagerDuty: pagerduty.NewProcessor(stormCatalog(incidents), m, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	workerDone := make(chan error)
	go func() { workerDone <- w.Run(ctx) }()

	h := pagerduty.NewHandler(pagerduty.HandlerConfig{Inbox: &flaky{Enqueuer: db, rng: rand.New(rand.NewPCG(3, 4))},
		Secrets: []string{secretOld, secretNew}, Notifier: w, Metrics: m, Logger: quiet})
	srv := httptest.NewServer(h)
	defer srv.Close()
	sendAll(t, srv, order, clients)

	waitFor(t, func() bool { n, _ := db.PendingEvents(ctx, 0); return len(n) == 0 && len(sink.Alerts()) >= 2*incidents })
	cancel()
	if err := <-workerDone; err != nil {
		t.Fatal(err)
	}
	kinds := map[string]map[string]int{}
	for _, a := range sink.Alerts() {
		if kinds[a.Kind] == nil {
			kinds[a.Kind] = map[string]int{}
		}
		kinds[a.Kind][a.Service+"/"+a.IncidentID]++
	}
	for _, kind := range []string{incident.AlertTriggered, incident.AlertAcknowledged} {
		if len(kinds[kind]) != incidents {
			t.Errorf("%s: %d incidents, want %d", kind, len(kinds[kind]), incidents)
		}
		for k, n := range kinds[kind] {
			if n != 1 {
				t.Errorf("%s %s seen %d times", kind, k, n)
			}
		}
	}
	if len(sink.Alerts()) != 2*incidents {
		t.Errorf("sink saw %d alerts, want %d", len(sink.Alerts()), 2*incidents)
	}
	// 200 distinct deliveries, 50 of them second triggers: 150 stored. An
	// enqueue cut by alerts.EnqueueTimeout (a slow, loaded disk) is answered
	// 503 yet may commit after all; its retry is then a duplicate, so
	// "received" may fall short of 150 by at most the 503s. The sink's
	// exactly-once counts above are what proves nothing was lost.
	got, unavailable := m.Get("received/pagerduty"), m.Get("rejected/pagerduty/unavailable")
	if got > 150 || got < 150-unavailable {
		t.Errorf("received %d events, want 150 (or down to %d after %d 503s)", got, 150-unavailable, unavailable)
	}
	t.Logf("duplicates %d, 503s %d, pings ignored %d", m.Get("duplicate/pagerduty"),
		m.Get("rejected/pagerduty/unavailable"), m.Get("ignored/pagerduty/event_type"))
}

// sendAll delivers bodies from several clients, retrying on 503 as
// PagerDuty does, and fails on any other answer than 202.
func sendAll(t *testing.T, srv *httptest.Server, bodies [][]byte, clients int) {
	t.Helper()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = clients
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(bodies)); i = next.Add(1) - 1 {
				if err := deliver(client, srv.URL, bodies[i]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func deliver(client *http.Client, url string, body []byte) error {
	sig := signatures.get(body)
	for attempt := 0; attempt < 50; attempt++ {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set(pagerduty.SignatureHeader, sig)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body) // drained, so the connection is reused
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			return nil
		case http.StatusServiceUnavailable:
			continue
		default:
			return fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	return fmt.Errorf("still refused after 50 attempts")
}

// TestNothingLostAcrossRestart accepts events with no worker running,
// closes the store as a crash would leave it, and lets a new worker on the
// reopened file process them.
func TestNothingLostAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := openBolt(t, path)
	h := pagerduty.NewHandler(pagerduty.HandlerConfig{Inbox: db, Secrets: []string{secretOld}})
	files := []string{"incident_triggered.json", "incident_escalated.json", "incident_priority_updated.json",
		"incident_acknowledged.json", "incident_resolved.json"}
	for _, f := range files {
		body := fixture(t, f)
		if rec := post(h, body, pagerduty.Sign(body, secretOld)); rec.Code != http.StatusAccepted {
			t.Fatalf("%s: %d", f, rec.Code)
		}
	}
	// A worker that starts and is stopped before it processes anything.
	sink := &alertstest.Sink{}
	sink.SetErr(fmt.Errorf("process killed"))
	w1, _ := alerts.NewWorker(alerts.WorkerConfig{Inbox: db, Claims: db, Sink: sink, ClaimTTL: time.Millisecond,
		Processors: map[string]alerts.Processor{alerts.SourcePagerDuty: pagerduty.NewProcessor(catalog, nil, nil)}})
	if n, err := w1.Drain(context.Background()); n != 0 || err != nil {
		t.Fatalf("acked %d, %v", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openBolt(t, path)
	defer db.Close()
	sink.SetErr(nil)
	w2, _ := alerts.NewWorker(alerts.WorkerConfig{Inbox: db, Claims: db, Sink: sink,
		Processors: map[string]alerts.Processor{alerts.SourcePagerDuty: pagerduty.NewProcessor(catalog, nil, nil)}})
	waitFor(t, func() bool { n, _ := w2.Drain(context.Background()); return n > 0 || len(sink.Alerts()) > 0 })
	var kinds []string
	for _, a := range sink.Alerts() {
		kinds = append(kinds, a.Kind)
	}
	want := []string{incident.AlertTriggered, incident.AlertEscalated, incident.AlertPriorityUpdated,
		incident.AlertAcknowledged, incident.AlertResolved}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("after restart the sink saw %v, want %v in arrival order", kinds, want)
	}
	if left, _ := db.PendingEvents(context.Background(), 0); len(left) != 0 {
		t.Fatalf("%d events still pending", len(left))
	}
}

// signatures caches one signature per distinct body: the storm sends each
// 50 times and the race detector makes HMACs slow.
var signatures = &sigCache{m: map[string]string{}}

type sigCache struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *sigCache) get(body []byte) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	sig, ok := c.m[string(body)]
	if !ok {
		sig = pagerduty.Sign(body, secretNew)
		c.m[string(body)] = sig
	}
	return sig
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
