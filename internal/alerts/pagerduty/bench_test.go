package pagerduty_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/backout/backout/internal/alerts/pagerduty"
)

// The two benchmarks send the same signed v3 deliveries (each with a new
// event id, so every one is stored) over loopback HTTP; the difference is
// what intake costs over a handler that only reads the body.
//
//	go test -run '^$' -bench 'Intake|Bare' ./internal/alerts/pagerduty/

// BenchmarkBareHandler is the floor: read the body, answer 202.
func BenchmarkBareHandler(b *testing.B) {
	benchHTTP(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
}

// BenchmarkPagerDutyIntake is signature check, decode, dedup and a durable
// enqueue into a bolt file.
func BenchmarkPagerDutyIntake(b *testing.B) {
	db := openBolt(b, filepath.Join(b.TempDir(), "state.db"))
	defer db.Close()
	benchHTTP(b, pagerduty.NewHandler(pagerduty.HandlerConfig{Inbox: db, Secrets: []string{secretOld, secretNew},
		Logger: slog.New(slog.DiscardHandler)}))
}

func benchHTTP(b *testing.B, h http.Handler) {
	tmpl := fixture(b, "incident_triggered.json")
	const idField = `"id": "01DFJ2ZWN3NW1BQZFPX9AGQAWZ"`
	const incField = `"id": "Q2KXO6NYO7PBDQ"`
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	var seq atomic.Int64
	b.SetParallelism(16) // webhook senders are many and mostly waiting
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			body := bytes.Replace(tmpl, []byte(idField), fmt.Appendf(nil, `"id": "BENCH%021d"`, n), 1)
			body = bytes.Replace(body, []byte(incField), fmt.Appendf(nil, `"id": "QB%012d"`, n), 1)
			req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
			req.Header.Set(pagerduty.SignatureHeader, pagerduty.Sign(body, secretNew))
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
