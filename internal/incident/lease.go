package incident

import (
	"context"
	"errors"
	"time"

	"github.com/backout/backout/internal/store"
)

// errRenewDeadline: this replica could not renew a rollback's lease within
// engine.renew_deadline, so it stopped the rollback's steps and gave it up.
var errRenewDeadline = errors.New("lease not renewed within engine.renew_deadline: steps stopped, rollback given up")

// The lease timing, as client-go's leader election has it (see
// docs/reliability.md): the holder renews every renew_deadline/3, each
// attempt bounded by its own deadline; when no renewal has succeeded for
// renew_deadline (< lease_ttl) it stops its steps (SIGTERM, then SIGKILL
// after kill_grace). Another replica takes over only once lease_ttl +
// kill_grace have passed since the last renewal, so the holder's steps are
// dead by then.

// renewEvery is how often a holder renews.
func (e *Engine) renewEvery() time.Duration {
	return max(e.cfg.Engine.RenewDeadline.D()/3, 50*time.Millisecond)
}

// keepLease renews the lease until the returned stop is called, and
// watches for an abort requested through another replica. It outlives the
// run's cancellation (an abort's compensations run under the lease too).
// When the lease is lost, or not renewed for renew_deadline, it gives the
// rollback up: the run and every step (compensations included) are
// cancelled, and nothing more is written.
func (d *driver) keepLease(ctx context.Context) func() {
	s := d.e
	ttl, every := s.cfg.Engine.LeaseTTL.D(), s.renewEvery()
	kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	// A timer of its own: a renewal that hangs in a store that ignores its
	// deadline must not hold the give-up back.
	watchdog := time.AfterFunc(d.untilOverdue(), func() { d.giveUp(kctx, errRenewDeadline) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer watchdog.Stop()
		t := time.NewTicker(every)
		defer t.Stop()
		// The first renewal at once: what ran between the grant and this
		// point (the record's transition, the announcement) used some of
		// the deadline already.
		for {
			if d.overdue() { // e.g. the process was frozen (SIGSTOP) past the deadline
				d.giveUp(kctx, errRenewDeadline)
				return
			}
			if lost := d.renewOnce(kctx, ttl, min(every, d.untilOverdue())); lost {
				d.giveUp(kctx, errLeaseLost)
				return
			}
			watchdog.Reset(d.untilOverdue())
			d.checkAbort(kctx, every)
			select {
			case <-kctx.Done():
				return
			case <-d.held.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { stop(); <-done }
}

// renewOnce makes one renewal attempt bounded by timeout; it reports
// whether the lease is lost (someone else holds it now).
func (d *driver) renewOnce(ctx context.Context, ttl, timeout time.Duration) (lost bool) {
	sent := time.Now() // before the store sets the new expiry: the holder's view errs early
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	l, err := d.e.store.RenewLease(actx, d.currentLease(), ttl)
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		return true
	case err != nil:
		d.e.log.WarnContext(ctx, "driver: lease renewal failed", "rollback", d.id, "err", err,
			"steps_stop_in", d.untilOverdue().Round(time.Millisecond))
	default:
		d.renewed(l, sent)
	}
	return false
}

// checkAbort cancels the run when someone asked to abort it through
// another replica; the lease is still kept for the compensations.
func (d *driver) checkAbort(ctx context.Context, timeout time.Duration) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if r, err := d.e.store.GetRollback(actx, d.id); err == nil && r.AbortBy != "" {
		d.run.cancel(errAborted)
	}
}

// currentLease is the lease as last granted or renewed.
func (d *driver) currentLease() store.Lease {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lease
}

// renewed records a successful renewal sent at sent (monotonic), unless
// the rollback was given up meanwhile.
func (d *driver) renewed(l store.Lease, sent time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.held.Err() != nil {
		return
	}
	d.lease, d.heldAt = l, sent
}

// untilOverdue is the time left before the renew deadline.
func (d *driver) untilOverdue() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.e.cfg.Engine.RenewDeadline.D() - time.Since(d.heldAt)
}

// overdue reports whether no renewal succeeded for renew_deadline. It
// reads the monotonic clock, so a process frozen past the deadline sees it
// the moment it wakes, before it starts or records anything.
func (d *driver) overdue() bool { return d.untilOverdue() <= 0 }

// giveUp stops the run and its steps for good, once.
func (d *driver) giveUp(ctx context.Context, cause error) {
	if d.held.Err() != nil {
		return
	}
	d.dropHeld(cause)
	d.run.cancel(cause)
	d.e.log.WarnContext(ctx, "driver: giving the rollback up; its steps are stopped", "rollback", d.id, "replica", d.e.replica, "cause", cause)
}

// holdLease gives d its lease and the context of work done under it,
// cancelled when the rollback is given up. heldAt is when the grant was
// asked for (monotonic).
func (d *driver) holdLease(ctx context.Context, l store.Lease, heldAt time.Time) {
	d.lease, d.heldAt = l, heldAt
	d.held, d.dropHeld = context.WithCancelCause(context.WithoutCancel(ctx))
}

// stillHeld says whether d may write under its lease: nil, or why not.
func (d *driver) stillHeld() error {
	if d.overdue() {
		d.giveUp(context.Background(), errRenewDeadline)
	}
	if d.held.Err() != nil {
		return context.Cause(d.held)
	}
	return nil
}
