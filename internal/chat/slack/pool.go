package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

type job func(ctx context.Context)

var (
	errQueueFull  = errors.New("work queue full")
	errPoolClosed = errors.New("adapter shutting down")
)

// pool is the adapter's bounded work queue. Inbound requests reserve a slot
// BEFORE claiming their dedup key, so a claimed request is never refused for
// lack of room: either it is queued, or it is refused unclaimed (503) and
// Slack's retry finds the key free.
type pool struct {
	log *slog.Logger

	mu      sync.Mutex
	size    int
	pending int // slots reserved and not yet taken by a worker
	closed  bool
	jobs    chan job
	urgent  chan job      // taken before jobs: work with a deadline of its own
	freed   chan struct{} // one-shot hint for a blocked reserve
	drained chan struct{} // closed once closed && pending == 0
}

func newPool(size int, log *slog.Logger) *pool {
	return &pool{
		log:     log,
		size:    size,
		jobs:    make(chan job, size),
		urgent:  make(chan job, size),
		freed:   make(chan struct{}, 1),
		drained: make(chan struct{}),
	}
}

// tryReserve takes a slot or fails at once (HTTP: answer 503).
func (p *pool) tryReserve() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return errPoolClosed
	case p.pending >= p.size:
		return errQueueFull
	}
	p.pending++
	return nil
}

// reserve waits for a slot (Socket Mode: the envelope is already
// acknowledged, so waiting is the only way not to lose it).
func (p *pool) reserve(ctx context.Context) error {
	for {
		err := p.tryReserve()
		if !errors.Is(err, errQueueFull) {
			if err == nil {
				p.hint() // pass the wake-up on in case more slots are free
			}
			return err
		}
		select {
		case <-p.freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reserved counts slots in use.
func (p *pool) reserved() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending
}

// release returns an unused reservation.
func (p *pool) release() {
	p.mu.Lock()
	p.pending--
	p.changedLocked()
	p.mu.Unlock()
}

// submit queues j on a reservation; it never blocks because jobs has room
// for every reservation.
func (p *pool) submit(j job) { p.jobs <- j }

// submitUrgent queues j ahead of every job waiting in the ordinary queue.
// Opening a modal is such a job: Slack's trigger_id expires about 3 s after
// the click, however long the queue.
func (p *pool) submitUrgent(j job) { p.urgent <- j }

func (p *pool) hint() {
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

func (p *pool) changedLocked() {
	p.hint()
	if p.closed && p.pending == 0 {
		select {
		case <-p.drained:
		default:
			close(p.drained)
		}
	}
}

// run works the queue with n workers until ctx ends, then refuses new work,
// finishes what was accepted (up to drain), and returns. Jobs run under a
// context that outlives ctx so accepted work is not cut short by shutdown.
func (p *pool) run(ctx context.Context, n int, jobTimeout, drain time.Duration) {
	base, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { p.work(base, stop, jobTimeout) })
	}
	<-ctx.Done()
	p.mu.Lock()
	p.closed = true
	p.changedLocked()
	p.mu.Unlock()
	t := time.NewTimer(drain)
	select {
	case <-p.drained:
	case <-t.C:
		p.log.Error("slack: shutdown drain timed out; abandoning queued work", "jobs", p.reserved())
		cancelJobs()
	}
	t.Stop()
	close(stop)
	wg.Wait()
}

func (p *pool) work(base context.Context, stop <-chan struct{}, timeout time.Duration) {
	for {
		var j job
		select {
		case j = <-p.urgent:
		default:
			select {
			case j = <-p.urgent:
			case j = <-p.jobs:
			case <-stop:
				return
			}
		}
		p.mu.Lock()
		p.pending--
		p.changedLocked()
		p.mu.Unlock()
		p.runJob(base, j, timeout)
	}
}

// runJob isolates one job: a panic in a handler must not take the bot down
// with every other queued click.
func (p *pool) runJob(base context.Context, j job, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(base, timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("slack: job panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	j(ctx)
}
