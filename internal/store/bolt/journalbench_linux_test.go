package bolt

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/backout/backout/internal/store"
)

// BenchmarkJournalEnqueue is webhook intake's durable step alone: callers
// each enqueue and wait for the group fdatasync that covers the event, with
// a worker reading and acknowledging the events as in bot serve (its acks
// are journal markers too, and its reads run the mover). With one caller
// every event is a sync of its own, so time and system CPU per event are
// the sync path's per sync; with 32 the groups are as large as they get.
// System and user CPU per event are the whole process's (getrusage).
func BenchmarkJournalEnqueue(b *testing.B) {
	for _, callers := range []int{1, 4, 32} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) { benchEnqueue(b, callers) })
	}
}

func benchEnqueue(b *testing.B, callers int) {
	s := openTemp(b, nil)
	payload := bytes.Repeat([]byte("p"), 1024) // about a PagerDuty webhook body
	ctx, cancel := context.WithCancel(b.Context())
	worker := make(chan struct{})
	go func() {
		defer close(worker)
		for ctx.Err() == nil {
			evs, err := s.PendingEvents(ctx, 256)
			if err != nil {
				return
			}
			for _, ev := range evs {
				_ = s.AckEvent(ctx, ev.ID)
			}
			if len(evs) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	b.ReportAllocs()
	before := rusage(b)
	b.ResetTimer()
	for range callers {
		wg.Go(func() {
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				id := fmt.Sprint("bench-", n)
				ev := store.Event{ID: id, Source: "pagerduty", Type: "incident.triggered", ReceivedAt: time.Now(), Payload: payload}
				if ok, err := s.EnqueueEvent(ctx, ev, []string{"wh:" + id}, time.Hour); err != nil || !ok {
					b.Errorf("enqueue %s = %v, %v", id, ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	after := rusage(b)
	cancel()
	<-worker
	b.ReportMetric(float64(after.Stime.Nano()-before.Stime.Nano())/float64(b.N), "sys-ns/op")
	b.ReportMetric(float64(after.Utime.Nano()-before.Utime.Nano())/float64(b.N), "user-ns/op")
}

func rusage(b *testing.B) syscall.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru
}
