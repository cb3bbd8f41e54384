package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/backout/backout/internal/store"
)

// ClaimPrefix prefixes the claim that makes one replica process an event.
const ClaimPrefix = "event-processing/"

// WorkerConfig configures a Worker. Inbox, Claims and Sink are required.
type WorkerConfig struct {
	Inbox Inbox
	// Claims keep replicas off each other's events; with a store only one
	// process writes (bolt), claims.Memory spares a store write per batch.
	Claims Claimer
	Sink   Sink
	// Processors turn stored events into alerts, by store.Event.Source.
	Processors map[string]Processor
	Metrics    Metrics      // default NopMetrics
	Logger     *slog.Logger // default slog.Default()
	// Batch is how many pending events are read at a time (default 100).
	Batch int
	// ClaimTTL is how long one replica owns an event it is processing; an
	// event whose Sink call failed is retried once it passes (default 30s).
	ClaimTTL time.Duration
	// Poll is how often the inbox is checked without a Notify, to pick up
	// events left by other replicas, crashes and failed Sink calls
	// (default 1s).
	Poll time.Duration
}

// Worker drains the inbox. Delivery to the Sink is at least once: an event is
// acknowledged only after every alert it yields was accepted, so a crash or a
// Sink error means its alerts (all of them) are offered again later.
type Worker struct {
	cfg  WorkerConfig
	wake chan struct{}
}

// NewWorker checks cfg and fills in defaults.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Inbox == nil || cfg.Claims == nil || cfg.Sink == nil {
		return nil, errors.New("alerts: worker needs an inbox, claims and a sink")
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.ClaimTTL <= 0 {
		cfg.ClaimTTL = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	// One slot is enough: a wake-up that finds one pending already will
	// drain everything enqueued before it runs.
	return &Worker{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// Notify wakes the worker now; it never blocks.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run drains the inbox whenever notified and every Poll, until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := w.Drain(ctx); err != nil && ctx.Err() == nil {
			w.cfg.Logger.Warn("alert inbox: drain failed; retrying at the next poll", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		case <-t.C:
		}
	}
}

// Drain processes pending events until none is left that this replica may
// take now, and reports how many it acknowledged.
func (w *Worker) Drain(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		evs, err := w.cfg.Inbox.PendingEvents(ctx, w.cfg.Batch)
		if err != nil {
			w.cfg.Metrics.Failed("inbox", StageStore)
			return total, fmt.Errorf("read pending events: %w", err)
		}
		acked := w.handleBatch(ctx, evs)
		total += acked
		// Stop when everything pending was seen, or when the whole batch is
		// held by others (or cooling down after a Sink error): reading it
		// again at once would only spin.
		if len(evs) < w.cfg.Batch || acked == 0 {
			break
		}
	}
	return total, nil
}

// handleBatch claims every event of a batch, offers the claimed ones to the
// Sink in arrival order, and acknowledges those whose alerts were all
// accepted; it reports how many it acknowledged. Claims and acks are issued
// concurrently so bolt's group commit writes each set in one transaction
// (two disk syncs per batch instead of two per event) and redis overlaps
// the round trips. Every claim is taken before the first Sink call, so a
// batch whose Sink calls outlast ClaimTTL may see its last events taken by
// another replica too: delivery is at least once either way.
func (w *Worker) handleBatch(ctx context.Context, evs []store.Event) int {
	won := make([]bool, len(evs))
	claim := func(i int) { won[i] = w.claim(ctx, evs[i]) }
	if _, local := w.cfg.Claims.(inMemory); local {
		for i := range evs { // in memory: nothing to overlap
			claim(i)
		}
	} else {
		parallel(len(evs), claim)
	}
	var done []store.Event
	for i, ev := range evs {
		if ctx.Err() != nil {
			break // claimed but unprocessed events are retried once their claims expire
		}
		if won[i] && w.process(ctx, ev) {
			done = append(done, ev)
		}
	}
	acked := make([]bool, len(done))
	parallel(len(done), func(i int) { acked[i] = w.ack(ctx, done[i]) })
	n := 0
	for _, ok := range acked {
		if ok {
			n++
		}
	}
	return n
}

// maxParallel bounds the store calls one batch has in flight.
const maxParallel = 128

// parallel runs fn(0..n-1) concurrently and waits for all of them.
func parallel(n int, fn func(i int)) {
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

func (w *Worker) eventLog(ev store.Event) *slog.Logger {
	return w.cfg.Logger.With("event", ev.ID, "source", ev.Source, "type", ev.Type)
}

// claim reports whether this replica may process ev now.
func (w *Worker) claim(ctx context.Context, ev store.Event) bool {
	if ctx.Err() != nil {
		return false
	}
	ok, err := w.cfg.Claims.Claim(ctx, ClaimPrefix+ev.ID, w.cfg.ClaimTTL)
	if err != nil {
		if ctx.Err() == nil {
			w.cfg.Metrics.Failed(ev.Source, StageClaim)
			w.eventLog(ev).Warn("alert inbox: claim failed", "err", err)
		}
		return false
	}
	return ok // false: another replica has it, or our failed attempt is cooling down
}

// process offers ev's alerts to the Sink and reports whether ev is finished
// with: every alert accepted, or the event can never be processed.
func (w *Worker) process(ctx context.Context, ev store.Event) bool {
	// The event's logger is built only when something is logged: With
	// copies attributes, and under load nearly every event logs nothing.
	proc, found := w.cfg.Processors[ev.Source]
	if !found {
		w.cfg.Metrics.Ignored(ev.Source, ReasonNoSource)
		w.eventLog(ev).Warn("alert inbox: no processor for this source; dropping the event")
		return true
	}
	alerts, err := proc.Process(ctx, ev)
	if err != nil {
		// The payload passed intake but can never be processed: keeping it
		// would block the inbox forever.
		w.cfg.Metrics.Failed(ev.Source, StageDecode)
		w.eventLog(ev).Error("alert inbox: cannot process event; dropping it", "err", err)
		return true
	}
	for _, a := range alerts {
		if err := w.cfg.Sink.OnAlert(ctx, a); err != nil {
			w.cfg.Metrics.Failed(ev.Source, StageSink)
			w.eventLog(ev).Warn("alert inbox: sink refused alert; will retry", "service", a.Service,
				"kind", a.Kind, "incident", a.IncidentID, "retry_after", w.cfg.ClaimTTL, "err", err)
			return false
		}
		w.cfg.Metrics.Processed(ev.Source)
	}
	return true
}

// inMemory is a Claimer in this process's memory (claims.Memory): its
// claims cost nothing to take one after another, and are dropped once the
// event is acknowledged.
type inMemory interface {
	Release(key string)
}

func (w *Worker) ack(ctx context.Context, ev store.Event) bool {
	if err := w.cfg.Inbox.AckEvent(ctx, ev.ID); err != nil {
		w.cfg.Metrics.Failed(ev.Source, StageAck)
		w.eventLog(ev).Warn("alert inbox: ack failed; the event will be processed again", "err", err)
		return false
	}
	if r, ok := w.cfg.Claims.(inMemory); ok {
		r.Release(ClaimPrefix + ev.ID)
	}
	return true
}
