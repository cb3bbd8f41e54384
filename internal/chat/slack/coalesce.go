package slack

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/backout/backout/internal/chat"
)

type sendFunc func(ctx context.Context, ref chat.Ref, msg chat.Message) error

// coalescer limits chat.update to one call per interval per message, always
// ending with the latest content. Every message with recent activity has a
// state; a state that is not sending always has a timer, which either sends
// what is pending or, if nothing is, forgets the message.
type coalescer struct {
	send     sendFunc
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger

	mu       sync.Mutex
	states   map[string]*updateState
	flushing int           // while > 0, pending updates go out at once
	changed  chan struct{} // closed and replaced when any send finishes
	errs     []error       // deferred send failures, reported by flush
}

type updateState struct {
	key     string
	ref     chat.Ref
	pending *chat.Message
	sending bool
	timer   *time.Timer
	gen     int // identifies the live timer; a stale callback sees a newer gen
}

func newCoalescer(send sendFunc, interval, timeout time.Duration, log *slog.Logger) *coalescer {
	return &coalescer{
		send: send, interval: interval, timeout: timeout, log: log,
		states:  map[string]*updateState{},
		changed: make(chan struct{}),
	}
}

func (c *coalescer) update(ctx context.Context, ref chat.Ref, msg chat.Message) error {
	key := ref.Channel + "/" + ref.TS
	c.mu.Lock()
	if st := c.states[key]; st != nil {
		st.pending = &msg // the latest content wins; its timer or sender sends it
		c.mu.Unlock()
		return nil
	}
	st := &updateState{key: key, ref: ref, sending: true}
	c.states[key] = st
	c.mu.Unlock()
	err := c.send(ctx, ref, msg)
	c.finish(st)
	return err
}

// finish ends a send and arms the state's timer.
func (c *coalescer) finish(st *updateState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st.sending = false
	delay := c.interval
	if c.flushing > 0 && st.pending != nil {
		delay = 0
	}
	c.armLocked(st, delay)
	c.notifyLocked()
}

func (c *coalescer) armLocked(st *updateState, d time.Duration) {
	st.gen++
	gen := st.gen
	st.timer = time.AfterFunc(d, func() { c.fire(st, gen) })
}

func (c *coalescer) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *coalescer) fire(st *updateState, gen int) {
	c.mu.Lock()
	if st.gen != gen || st.sending {
		c.mu.Unlock()
		return // superseded: flush took over this state
	}
	st.timer = nil
	if st.pending == nil {
		delete(c.states, st.key)
		c.notifyLocked()
		c.mu.Unlock()
		return
	}
	msg := *st.pending
	st.pending = nil
	st.sending = true
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := c.send(ctx, st.ref, msg); err != nil {
		c.log.Error("slack: coalesced update failed", "channel", st.ref.Channel, "ts", st.ref.TS, "err", err)
		c.mu.Lock()
		c.recordLocked(err)
		c.mu.Unlock()
	}
	c.finish(st)
}

// maxKeptErrors bounds the errors kept for flush when nobody calls it.
const maxKeptErrors = 32

func (c *coalescer) recordLocked(err error) {
	if len(c.errs) < maxKeptErrors {
		c.errs = append(c.errs, err)
	}
}

// flush sends all pending updates now, waits for sends in flight, and
// returns the errors of deferred sends since the last flush.
func (c *coalescer) flush(ctx context.Context) error {
	c.mu.Lock()
	c.flushing++
	defer func() {
		c.mu.Lock()
		c.flushing--
		c.mu.Unlock()
	}()
	for {
		busy := false
		var next *updateState
		for _, st := range c.states {
			switch {
			case st.sending:
				busy = true
			case st.pending != nil && st.timer != nil:
				if st.timer.Stop() {
					st.timer = nil
					st.gen++
					next = st
				} else {
					busy = true // its timer is firing and will send it
				}
			}
			if next != nil {
				break
			}
		}
		if next != nil {
			msg := *next.pending
			next.pending, next.sending = nil, true
			c.mu.Unlock()
			if err := c.send(ctx, next.ref, msg); err != nil {
				c.mu.Lock()
				c.recordLocked(err)
				c.mu.Unlock()
			}
			c.finish(next)
			c.mu.Lock()
			continue
		}
		if !busy {
			err := errors.Join(c.errs...)
			c.errs = nil
			c.mu.Unlock()
			return err
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
}
