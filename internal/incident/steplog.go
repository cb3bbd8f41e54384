package incident

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// stepWriter writes one rollback's step events in the order they were
// queued, each write taking everything queued while the previous one was
// in flight (parallel steps share a write). A successful step's end is
// queued without waiting (queueEnd) and goes out with the next write,
// usually the next step's start: a chain of steps costs one durable write
// per step instead of two.
//
// Order is the point. The end of a step must reach the log no later than
// the start of a step that needs it, so two writes of one rollback are
// never in flight together: a later event committed ahead of an earlier
// end would log a step as running on top of one still in flight.
type stepWriter struct {
	write func(ctx context.Context, evs []rollback.StepEvent) error

	mu  sync.Mutex
	cur *stepBatch // what the next write takes; nil when nothing is queued

	writing sync.Mutex // held for the whole of a write
}

type stepBatch struct {
	evs  []rollback.StepEvent
	ends []bool // evs[i] is a step end nobody waits for
	err  error  // set by the write that took the batch, under writing
}

func newStepWriter(write func(ctx context.Context, evs []rollback.StepEvent) error) *stepWriter {
	return &stepWriter{write: write}
}

// queueEnd queues a step's end for the next write.
func (w *stepWriter) queueEnd(ev rollback.StepEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batchLocked().add(ev, true)
}

// append queues evs and returns once they, and everything queued before
// them, are written, or the write failed. With no evs it flushes the
// queued ends. After a failed write the queued ends wait for the next
// write (they happened; only their record is late); evs fail with it.
func (w *stepWriter) append(ctx context.Context, evs ...rollback.StepEvent) error {
	w.mu.Lock()
	b := w.batchLocked()
	for _, ev := range evs {
		b.add(ev, false)
	}
	w.mu.Unlock()

	w.writing.Lock()
	defer w.writing.Unlock()
	w.mu.Lock()
	mine := w.cur == b
	if mine {
		w.cur = nil
	}
	w.mu.Unlock()
	if !mine {
		return b.err // taken by a write that has finished: it is ours too
	}
	if len(b.evs) == 0 {
		return nil
	}
	b.err = w.write(ctx, b.evs)
	if b.err != nil && !errors.Is(b.err, store.ErrStaleToken) {
		w.requeueEnds(b)
	}
	return b.err
}

// requeueEnds puts the ends of a failed batch ahead of whatever was queued
// since, keeping their order.
func (w *stepWriter) requeueEnds(failed *stepBatch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	next := &stepBatch{}
	for i, ev := range failed.evs {
		if failed.ends[i] {
			next.add(ev, true)
		}
	}
	if w.cur != nil {
		next.evs = slices.Concat(next.evs, w.cur.evs)
		next.ends = slices.Concat(next.ends, w.cur.ends)
		// Callers waiting on w.cur must find their events in next.
		*w.cur = *next
		return
	}
	if len(next.evs) > 0 {
		w.cur = next
	}
}

func (w *stepWriter) batchLocked() *stepBatch {
	if w.cur == nil {
		w.cur = &stepBatch{}
	}
	return w.cur
}

func (b *stepBatch) add(ev rollback.StepEvent, end bool) {
	b.evs = append(b.evs, ev)
	b.ends = append(b.ends, end)
}
