package alertmanager_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/alerts/alertmanager"
	"github.com/backout/backout/internal/claims"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/store/bolt"
)

// benchBody is what cmd/loadgen sends (one new firing alert per request,
// no fingerprint, as in the duel); %s are the instance twice and startsAt.
const benchBody = `{"version":"4","groupKey":"{}:{alertname=\"LoadgenHigh\",instance=\"%s\"}","truncatedAlerts":0,` +
	`"status":"firing","receiver":"backout","groupLabels":{"alertname":"LoadgenHigh"},` +
	`"commonLabels":{"alertname":"LoadgenHigh","service":"loadgen","severity":"page"},"commonAnnotations":{"summary":"loadgen"},` +
	`"externalURL":"http://alertmanager.invalid","alerts":[{"status":"firing","labels":{"alertname":"LoadgenHigh",` +
	`"instance":"%s","service":"loadgen","severity":"page"},"annotations":{"summary":"loadgen"},` +
	`"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.invalid/graph","fingerprint":""}]}`

// BenchmarkAlertmanagerIntakeWorker is bearer check, decode, dedup and a
// durable enqueue into bolt over loopback HTTP, with the alert worker
// draining the inbox at the same time as in bot serve (no service matches,
// so every notification is dropped after intake, as in the duel).
//
//	go test -run '^$' -bench AlertmanagerIntake -benchtime 5000x ./internal/alerts/alertmanager/
func BenchmarkAlertmanagerIntakeWorker(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	quiet := slog.New(slog.DiscardHandler)
	proc, err := alertmanager.NewProcessor(nil, nil, quiet)
	if err != nil {
		b.Fatal(err)
	}
	w, err := alerts.NewWorker(alerts.WorkerConfig{Inbox: db, Claims: &claims.Memory{}, Logger: quiet,
		Sink:       alerts.SinkFunc(func(context.Context, incident.Alert) error { return nil }),
		Processors: map[string]alerts.Processor{alerts.SourceAlertmanager: proc}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(alertmanager.NewHandler(alertmanager.HandlerConfig{Inbox: db, BearerToken: token,
		Notifier: w, Logger: quiet}))
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	var seq atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			inst := fmt.Sprintf("bench-%d", seq.Add(1))
			body := fmt.Appendf(nil, benchBody, inst, inst, time.Now().UTC().Format(time.RFC3339Nano))
			req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
