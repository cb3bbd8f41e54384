package pagerduty_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/alerts/pagerduty"
	"github.com/backout/backout/internal/claims"
	"github.com/backout/backout/internal/incident"
	redisstore "github.com/backout/backout/internal/store/redis"
)

// The two benchmarks send the same signed v3 deliveries (each with a new
// event id, so every one is stored) over loopback HTTP; the difference is
// what intake costs over a handler that only reads the body.
//
//	go test -run '^$' -bench 'Intake|Bare' -benchtime 20000x ./internal/alerts/pagerduty/

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

// BenchmarkPagerDutyIntakeWorker is intake into bolt with the alert worker
// draining the inbox at the same time, as in bot serve: the worker's reads,
// claims, decodes and acks compete with intake for the same cores. The
// fixture's PagerDuty service is not in the catalog, so every event is
// dropped after intake, as in the duel.
func BenchmarkPagerDutyIntakeWorker(b *testing.B) {
	db := openBolt(b, filepath.Join(b.TempDir(), "state.db"))
	defer db.Close()
	quiet := slog.New(slog.DiscardHandler)
	w, err := alerts.NewWorker(alerts.WorkerConfig{Inbox: db, Claims: &claims.Memory{}, Logger: quiet,
		Sink:       alerts.SinkFunc(func(context.Context, incident.Alert) error { return nil }),
		Processors: map[string]alerts.Processor{alerts.SourcePagerDuty: pagerduty.NewProcessor(nil, nil, quiet)}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	benchHTTP(b, pagerduty.NewHandler(pagerduty.HandlerConfig{Inbox: db, Secrets: []string{secretOld, secretNew},
		Notifier: w, Logger: quiet}))
	cancel()
	<-done
}

// BenchmarkPagerDutyIntakeRedis is the same intake into Redis (REDIS_ADDR,
// default 127.0.0.1:6379), under a prefix of its own that is deleted after.
func BenchmarkPagerDutyIntakeRedis(b *testing.B) {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	prefix := "backout-bench-" + hex.EncodeToString(rnd[:]) + ":"
	st, err := redisstore.Open(context.Background(), redisstore.Options{URL: "redis://" + addr + "/0", Prefix: prefix})
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("redis at %s: %v", addr, err)
		}
		b.Skipf("redis at %s: %v", addr, err)
	}
	defer st.Close()
	defer func() {
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	}()
	benchHTTP(b, pagerduty.NewHandler(pagerduty.HandlerConfig{Inbox: st, Secrets: []string{secretOld, secretNew},
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
