package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// BenchEnqueueEvent measures webhook intake: many concurrent deliveries,
// each with unique dedup keys. It reports events/s.
func BenchEnqueueEvent(b *testing.B, s store.Store) {
	ctx := b.Context()
	var n atomic.Int64
	payload := []byte(`{"event":{"id":"x","event_type":"incident.triggered"}}`)
	// Webhooks arrive from many connections at once; with GOMAXPROCS
	// goroutines alone there would be nothing for a backend to coalesce.
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			ev := store.Event{ID: fmt.Sprint("bench-", i), Source: "pagerduty", Type: "incident.triggered", Payload: payload, ReceivedAt: T0}
			ok, err := s.EnqueueEvent(ctx, ev, []string{fmt.Sprint("wh:", i), fmt.Sprint("inc:", i)}, time.Hour)
			if err != nil || !ok {
				b.Errorf("enqueue %d: %v %v", i, ok, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchAppendStep measures the engine's step log writes under a lease.
func BenchAppendStep(b *testing.B, s store.Store) {
	ctx := b.Context()
	l, err := s.AcquireLease(ctx, store.LeaseName("RB-1"), "bench", time.Hour, 0)
	if err != nil {
		b.Fatal(err)
	}
	ev := rollback.StepEvent{Service: "api", StepID: "set-image", Kind: rollback.StepOutput, Output: "deployment.apps/api image updated", At: T0}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := s.AppendSteps(ctx, "RB-1", l.Token, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchUpdateRollback measures compare-and-set updates of one record.
func BenchUpdateRollback(b *testing.B, s store.Store) {
	ctx := b.Context()
	r := newRollback("RB-1", T0, rollback.StateRunning, false, "api", "web")
	if err := s.CreateRollback(ctx, r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r.Outcome = fmt.Sprint("update ", i)
		if err := s.UpdateRollback(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
