package bolt

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// commitQueue bounds how many writes wait for the committer; it is also the
// largest group one transaction takes.
const commitQueue = 1024

// committer is a group commit for hot, independent writes. One goroutine
// takes every write queued while the previous commit was syncing and runs
// them in a single bbolt transaction, so the batch grows with the cost of
// the disk sync instead of being cut by a timer. bbolt's own db.Batch closes
// a batch MaxBatchDelay after its first caller and then queues it behind the
// writer lock; writes arriving meanwhile form new small batches, each paying
// two fdatasyncs (docs/performance.md).
type committer struct {
	db   *bbolt.DB
	reqs chan commitReq

	mu     sync.RWMutex // held for reading while sending on reqs
	closed bool         // set under mu before reqs is closed
	done   chan struct{}
}

type commitReq struct {
	ctx  context.Context
	fn   func(*bbolt.Tx) error
	done chan error // buffered: the committer never waits for a caller
}

// panicError is a write function's panic, answered to its caller alone.
type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprintf("panic in write transaction: %v", p.v) }

func newCommitter(db *bbolt.DB) *committer {
	c := &committer{db: db, reqs: make(chan commitReq, commitQueue), done: make(chan struct{})}
	go c.loop()
	return c
}

// do runs fn in a transaction shared with other callers and returns its
// error. As with db.Batch, fn may run more than once (when the shared
// transaction fails it runs again alone), so it must reset whatever it
// reports back. A caller whose ctx ends gets ctx.Err() at once, but a fn
// already queued may still commit afterwards: treat such a write as done or
// not done, never as undone.
func (c *committer) do(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := commitReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return bolterrors.ErrDatabaseNotOpen
	}
	select {
	case c.reqs <- r:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops taking writes, waits until every queued one is answered, and
// is safe to call twice.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.reqs)
	}
	c.mu.Unlock()
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
	for r := range c.reqs {
		group := []commitReq{r}
	drain:
		for len(group) < commitQueue {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
			default:
				break drain
			}
		}
		c.commit(group)
	}
}

// commit runs group in one transaction. When a function fails, the shared
// transaction is rolled back, that function is answered by a run of its own,
// and the rest are tried together again: one bad call cannot fail the
// others, and a business error (ErrStaleToken) costs no disk sync.
func (c *committer) commit(group []commitReq) {
	group = liveOnly(group)
	for len(group) > 0 {
		failed, failErr := -1, error(nil)
		err := c.db.Update(func(tx *bbolt.Tx) error {
			for i, r := range group {
				if err := safeCall(r.fn, tx); err != nil {
					failed, failErr = i, err
					return err
				}
			}
			return nil
		})
		switch {
		case err == nil:
			for _, r := range group {
				r.done <- nil
			}
			return
		case failed < 0:
			// The commit itself failed (disk full, I/O error): give each
			// write its own answer.
			for _, r := range group {
				r.done <- c.solo(r.fn)
			}
			return
		}
		r := group[failed]
		group = slices.Delete(group, failed, failed+1)
		if _, ok := failErr.(panicError); ok {
			r.done <- failErr // running it again would only panic again
			continue
		}
		r.done <- c.solo(r.fn)
	}
}

// liveOnly answers, without running them, the writes whose callers already
// gave up, so an overloaded store does not spend syncs on abandoned work.
func liveOnly(group []commitReq) []commitReq {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	return live
}

func (c *committer) solo(fn func(*bbolt.Tx) error) error {
	return c.db.Update(func(tx *bbolt.Tx) error { return safeCall(fn, tx) })
}

// safeCall turns a panic in fn into an error so it fails only its caller
// (and the committer survives).
func safeCall(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError{v}
		}
	}()
	return fn(tx)
}
