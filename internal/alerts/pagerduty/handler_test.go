package pagerduty_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/alerts/alertstest"
	"github.com/backout/backout/internal/alerts/pagerduty"
	"github.com/backout/backout/internal/store"
)

const (
	secretOld = "ChangeMe+Secret/1"
	secretNew = "r0tated/Secret+2=="
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type countNotifier struct{ n atomic.Int64 }

func (c *countNotifier) Notify() { c.n.Add(1) }

func newHandler(st *alertstest.Store, m *alertstest.Metrics, n alerts.Notifier, secrets ...string) *pagerduty.Handler {
	return pagerduty.NewHandler(pagerduty.HandlerConfig{Inbox: st, Secrets: secrets, Notifier: n, Metrics: m})
}

func post(h http.Handler, body []byte, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(pagerduty.SignatureHeader, sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSignatures(t *testing.T) {
	body := fixture(t, "incident_triggered.json")
	// Computed independently: openssl dgst -sha256 -hmac 'ChangeMe+Secret/1' < testdata/incident_triggered.json
	const opensslSig = "v1=0f6937a3b6d760374275c63220dfa3b65c2a44c0250db6de9a1491bab41df389"
	tests := []struct {
		name    string
		secrets []string
		sig     string
		want    int
	}{
		{"valid, computed by openssl", []string{secretOld}, opensslSig, http.StatusAccepted},
		{"valid, Sign", []string{secretOld}, pagerduty.Sign(body, secretOld), http.StatusAccepted},
		{"rotated: second of two secrets", []string{secretOld, secretNew}, pagerduty.Sign(body, secretNew), http.StatusAccepted},
		{"rotated: second of two v1 values", []string{secretNew},
			pagerduty.Sign(body, secretOld) + "," + pagerduty.Sign(body, secretNew), http.StatusAccepted},
		{"rotated: spaces and unknown scheme", []string{secretNew},
			"v0=abcd, " + pagerduty.Sign(body, secretNew), http.StatusAccepted},
		{"invalid: wrong secret", []string{secretNew}, opensslSig, http.StatusUnauthorized},
		{"invalid: body changed", []string{secretOld}, pagerduty.Sign(append([]byte(" "), body...), secretOld), http.StatusUnauthorized},
		{"invalid: not hex", []string{secretOld}, "v1=zz" + opensslSig[5:], http.StatusUnauthorized},
		{"invalid: truncated", []string{secretOld}, opensslSig[:40], http.StatusUnauthorized},
		{"invalid: no v1 prefix", []string{secretOld}, strings.TrimPrefix(opensslSig, "v1="), http.StatusUnauthorized},
		{"missing", []string{secretOld}, "", http.StatusUnauthorized},
		{"no secret configured", nil, opensslSig, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, m := alertstest.NewStore(nil), &alertstest.Metrics{}
			rec := post(newHandler(st, m, nil, tt.secrets...), body, tt.sig)
			if rec.Code != tt.want {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tt.want)
			}
			wantStored := 0
			if tt.want == http.StatusAccepted {
				wantStored = 1
			} else if got := m.Get("rejected/pagerduty/unauthorized"); got != 1 {
				t.Errorf("unauthorized count %d, want 1", got)
			}
			if st.Pending() != wantStored {
				t.Errorf("stored %d events, want %d", st.Pending(), wantStored)
			}
		})
	}
}

func TestHandlerRefusals(t *testing.T) {
	signed := func(b []byte) string { return pagerduty.Sign(b, secretOld) }
	big := append([]byte(`{"event":{"id":"x","event_type":"incident.triggered","data":{"id":"Q1","title":"`),
		bytes.Repeat([]byte("a"), alerts.MaxBody)...)
	big = append(big, `"}}}`...)
	tests := []struct {
		name     string
		body     []byte
		storeErr error
		want     int
		wantMsg  string
		metric   string
	}{
		{"too large", big, nil, http.StatusRequestEntityTooLarge, "too large", "rejected/pagerduty/too_large"},
		{"malformed JSON", []byte(`{"event": {"id": `), nil, http.StatusBadRequest, "malformed PagerDuty v3 webhook JSON", "rejected/pagerduty/malformed"},
		{"trailing data", []byte(`{"event":{"id":"a","event_type":"pagey.ping"}} {}`), nil, http.StatusBadRequest, "data after the event", "rejected/pagerduty/malformed"},
		{"wrong type", []byte(`{"event": {"id": 7}}`), nil, http.StatusBadRequest, "malformed", "rejected/pagerduty/malformed"},
		{"v2 payload", []byte(`{"messages":[{"event":"incident.trigger"}]}`), nil, http.StatusBadRequest, "event.id is missing", "rejected/pagerduty/malformed"},
		{"no event type", []byte(`{"event":{"id":"01A"}}`), nil, http.StatusBadRequest, "event_type is missing", "rejected/pagerduty/malformed"},
		{"incident without id", []byte(`{"event":{"id":"01A","event_type":"incident.triggered","data":{}}}`), nil, http.StatusBadRequest, "no event.data.id", "rejected/pagerduty/malformed"},
		{"store unavailable", fixture(t, "incident_triggered.json"), store.ErrUnavailable, http.StatusServiceUnavailable, "retry later", "failed/pagerduty/store"},
		{"store fails otherwise", fixture(t, "incident_triggered.json"), errors.New("disk full"), http.StatusServiceUnavailable, "retry later", "rejected/pagerduty/unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, m := alertstest.NewStore(nil), &alertstest.Metrics{}
			st.Err = tt.storeErr
			rec := post(newHandler(st, m, nil, secretOld), tt.body, signed(tt.body))
			if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.wantMsg) {
				t.Fatalf("got %d %q, want %d containing %q", rec.Code, rec.Body, tt.want, tt.wantMsg)
			}
			if m.Get(tt.metric) != 1 {
				t.Errorf("metric %s = %d, want 1", tt.metric, m.Get(tt.metric))
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := newHandler(alertstest.NewStore(nil), &alertstest.Metrics{}, nil, secretOld)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhooks/pagerduty", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Fatalf("got %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestDeduplication(t *testing.T) {
	st, m, n := alertstest.NewStore(nil), &alertstest.Metrics{}, &countNotifier{}
	h := newHandler(st, m, n, secretOld)
	send := func(body []byte) int { return post(h, body, pagerduty.Sign(body, secretOld)).Code }

	trig := fixture(t, "incident_triggered.json")
	// The same incident's trigger through a second webhook subscription:
	// another event id, same incident.
	other := bytes.Replace(trig, []byte("01DFJ2ZWN3NW1BQZFPX9AGQAWZ"), []byte("01DFJ2ZWN3NW1BQZFPX9OTHERS"), 1)
	ack := fixture(t, "incident_acknowledged.json")
	for i, tc := range []struct {
		body       []byte
		wantStored int
	}{
		{trig, 1}, {trig, 1}, {other, 1}, {ack, 2}, {ack, 2},
	} {
		if code := send(tc.body); code != http.StatusAccepted {
			t.Fatalf("delivery %d: status %d, want 202", i, code)
		}
		if st.Pending() != tc.wantStored {
			t.Fatalf("delivery %d: %d stored, want %d", i, st.Pending(), tc.wantStored)
		}
	}
	if got := m.Get("duplicate/pagerduty"); got != 3 {
		t.Errorf("duplicates counted %d, want 3", got)
	}
	if got := m.Get("received/pagerduty"); got != 2 {
		t.Errorf("received counted %d, want 2", got)
	}
	if got := n.n.Load(); got != 2 {
		t.Errorf("worker notified %d times, want 2 (only for stored events)", got)
	}
	evs, _ := st.PendingEvents(context.Background(), 0)
	if evs[0].Source != alerts.SourcePagerDuty || evs[0].Type != pagerduty.EventTriggered ||
		!bytes.Equal(evs[0].Payload, trig) || evs[0].ReceivedAt.IsZero() {
		t.Errorf("stored event %+v", evs[0])
	}
}

func TestDedupKeys(t *testing.T) {
	for _, tt := range []struct {
		ev   pagerduty.Event
		want string
	}{
		{pagerduty.Event{ID: "E1", EventType: "incident.triggered", Data: pagerduty.Incident{ID: "Q1"}}, "pd-webhook/E1 pd-incident/Q1/triggered"},
		{pagerduty.Event{ID: "E2", EventType: "incident.resolved", Data: pagerduty.Incident{ID: "Q1"}}, "pd-webhook/E2"},
		{pagerduty.Event{ID: "E3", EventType: "pagey.ping"}, "pd-webhook/E3"},
	} {
		if got := strings.Join(pagerduty.DedupKeys(&tt.ev), " "); got != tt.want {
			t.Errorf("%s: keys %q, want %q", tt.ev.ID, got, tt.want)
		}
	}
}

func TestSplitSecrets(t *testing.T) {
	got := pagerduty.SplitSecrets(" a+b/c= , ,d== ")
	if len(got) != 2 || got[0] != "a+b/c=" || got[1] != "d==" {
		t.Fatalf("got %q", got)
	}
}

func TestReceivedAtFromClock(t *testing.T) {
	st := alertstest.NewStore(nil)
	at := time.Date(2024, 5, 20, 14, 0, 1, 0, time.UTC)
	h := pagerduty.NewHandler(pagerduty.HandlerConfig{Inbox: st, Secrets: []string{secretOld}, Now: func() time.Time { return at }})
	body := fixture(t, "pagey_ping.json")
	if rec := post(h, body, pagerduty.Sign(body, secretOld)); rec.Code != http.StatusAccepted {
		t.Fatalf("status %d", rec.Code)
	}
	evs, _ := st.PendingEvents(context.Background(), 1)
	if !evs[0].ReceivedAt.Equal(at) || evs[0].ID != "01G2Z0PVXPQ7H2M9J9A7CZ4N6K" {
		t.Fatalf("event %+v", evs[0])
	}
}

func TestUnconfiguredLogsOnce(t *testing.T) {
	var logs bytes.Buffer
	h := pagerduty.NewHandler(pagerduty.HandlerConfig{Inbox: alertstest.NewStore(nil), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	body := fixture(t, "pagey_ping.json")
	for range 3 {
		if rec := post(h, body, pagerduty.Sign(body, secretOld)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if n := strings.Count(logs.String(), "PAGERDUTY_WEBHOOK_SECRET is not set"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logs.String())
	}
}
