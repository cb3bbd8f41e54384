package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/steprequest"
	"github.com/backout/backout/internal/store"
)

// driver runs one rollback on this replica while it holds the lease.
type driver struct {
	e         *Engine
	id        string
	lease     store.Lease
	run       *run
	resumedBy string
	announce  func(ctx context.Context, r *rollback.Record) // once the lease is kept, before the first step

	compMu sync.Mutex // one compensation pass at a time

	steps *stepWriter // the step log, written in order

	// held is the context of everything done under the lease; it ends,
	// with dropHeld's cause, when the rollback is given up (see lease.go).
	held     context.Context
	dropHeld context.CancelCauseFunc

	refreshWG sync.WaitGroup // a pending or running render of the message

	mu           sync.Mutex
	holding      bool      // paused at a step boundary, announced
	readAt       time.Time // real time of the last read of r by waitUnpaused
	refreshTimer *time.Timer
	refreshDue   bool
	lastRefresh  time.Time // real time: it paces chat updates, not the lifecycle
	heldAt       time.Time // monotonic: when the last successful renewal of lease was sent
	r            *rollback.Record
	done         map[string]string // service/step -> final kind (succeeded, skipped, failed)
	completed    []string          // service/step in order of successful completion
	failed       []string          // service/step that failed

	shut     shutdownWatch // what ran when this replica began to shut down (shutdown.go)
	handedOn bool          // stop handed the rollback on (set and read by the run's goroutine)
}

func (d *driver) load(ctx context.Context) error {
	r, err := d.e.store.GetRollback(ctx, d.id)
	if err != nil {
		return err
	}
	events, err := d.e.store.ListSteps(ctx, d.id)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.r = r
	d.done = map[string]string{}
	d.completed = completedInOrder(events)
	for _, ev := range events {
		key := ev.Service + "/" + ev.StepID
		switch ev.Kind {
		case rollback.StepSucceeded:
			d.done[key] = ev.Kind
			delete(d.done, key+"#compensated")
		case rollback.StepSkipped:
			d.done[key] = ev.Kind
		case rollback.StepCompensated:
			// Undone: a resume runs it again; an abort does not undo it twice.
			delete(d.done, key)
			d.done[key+"#compensated"] = ev.Kind
		}
	}
	return nil
}

// drive runs every level of services, validates, and ends the rollback.
func (d *driver) drive(ctx context.Context) {
	s := d.e
	defer func() { _ = s.store.ReleaseLease(context.WithoutCancel(ctx), d.currentLease()) }()
	stopRenew := d.keepLease(ctx)
	defer stopRenew()
	if err := d.load(ctx); err != nil {
		s.log.ErrorContext(ctx, "driver: load", "rollback", d.id, "err", err)
		return
	}
	// The lease is kept under ctx; the steps run under the context that
	// ends, too, when this replica begins to shut down.
	ctx, stopWork := d.untilShutdown(ctx)
	defer stopWork()
	defer d.flushRefresh()
	if d.announce != nil {
		d.announce(ctx, d.r)
	}
	s.refresh(ctx, d.id)

	levels := map[int][]rollback.ServiceChange{}
	maxLevel := 0
	for _, c := range d.r.Services {
		levels[c.Level] = append(levels[c.Level], c)
		maxLevel = max(maxLevel, c.Level)
	}
	for level := 0; level <= maxLevel; level++ {
		if len(levels[level]) == 0 {
			continue
		}
		if failure := d.runLevel(ctx, levels[level], level == maxLevel); failure != "" {
			d.stop(ctx, failure)
			return
		}
	}
	d.end(ctx, rollback.StateSucceeded, "succeeded: "+summaryLine(d.r))
}

// runLevel runs the services of one level in parallel, then validates them.
func (d *driver) runLevel(ctx context.Context, changes []rollback.ServiceChange, last bool) string {
	var wg sync.WaitGroup
	failures := make([]string, len(changes))
	for i, c := range changes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failures[i] = d.runService(ctx, c)
		}()
	}
	wg.Wait()
	if f := joinNonEmpty(failures); f != "" {
		return f
	}
	if ctx.Err() != nil {
		return context.Cause(ctx).Error()
	}
	if last {
		r, err := d.e.transition(ctx, d.id, rollback.StateValidating, []rollback.State{rollback.StateRunning}, nil)
		if err != nil {
			return "could not enter validation: " + err.Error()
		}
		d.setRecord(r)
		d.e.refresh(ctx, d.id)
	}
	return d.validate(ctx, changes)
}

func joinNonEmpty(parts []string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

func (d *driver) setRecord(r *rollback.Record) {
	d.mu.Lock()
	d.r = r
	d.mu.Unlock()
}

// token is the current fencing token.
func (d *driver) token() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lease.Token
}

// record persists a step event under the fencing token, with the step
// ends queued before it, then refreshes the message: persisted before
// announced.
func (d *driver) record(ctx context.Context, ev rollback.StepEvent) error {
	return d.steps.append(context.WithoutCancel(ctx), d.stamped(ev))
}

// stamped dates ev and bounds its output for the log.
func (d *driver) stamped(ev rollback.StepEvent) rollback.StepEvent {
	ev.At = d.e.clock.Now()
	ev.Output = truncateTail(ev.Output, 4000)
	return ev
}

// recordEnd queues a step's successful end for the next write (see
// stepWriter), and the scheduler goes on at once. Safe because nothing
// announces the end before it is written, and a crash before then leaves
// the step in flight, exactly as a crash just before a write of its own
// would.
func (d *driver) recordEnd(ev rollback.StepEvent) {
	d.steps.queueEnd(d.stamped(ev))
}

// flushEnds writes the queued step ends, if any.
func (d *driver) flushEnds(ctx context.Context) error {
	return d.steps.append(context.WithoutCancel(ctx))
}

// flushEndsOrLog flushes where the run goes on whatever happens; a failure
// is logged, and the ends stay queued for the next write.
func (d *driver) flushEndsOrLog(ctx context.Context, when string) {
	err := d.flushEnds(ctx)
	switch {
	case errors.Is(err, store.ErrStaleToken):
		// Expected once the lease is lost: the new holder treats these
		// steps as in flight, which is the truth as the log tells it.
		d.e.log.WarnContext(ctx, "driver: step ends not written: lease lost", "rollback", d.id, "when", when)
	case err != nil:
		d.e.log.ErrorContext(ctx, "driver: step ends not written", "rollback", d.id, "when", when, "err", err)
	}
}

// writeSteps is the stepWriter's one durable write.
func (d *driver) writeSteps(ctx context.Context, evs []rollback.StepEvent) error {
	if err := d.stillHeld(); err != nil {
		// Given up: what this replica ran is the next holder's to judge.
		return fmt.Errorf("record step %s: %w", stepIDs(evs), err)
	}
	_, err := d.e.store.AppendSteps(ctx, d.id, d.token(), evs...)
	if errors.Is(err, store.ErrStaleToken) {
		// Another replica drives the rollback now; what it finds in
		// flight it treats as unknown, which is the truth.
		d.giveUp(ctx, errLeaseLost)
		return err
	}
	if err != nil {
		return fmt.Errorf("record step %s: %w", stepIDs(evs), err)
	}
	d.refreshSoon(ctx)
	return nil
}

func stepIDs(evs []rollback.StepEvent) string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.StepID
	}
	return strings.Join(ids, ", ")
}

// refreshEvery bounds how often a run re-renders its message: a render
// reads the whole record and step log, so one per step event would make a
// long plan quadratic (and chat rate-limits updates anyway).
const refreshEvery = 250 * time.Millisecond

// refreshSoon re-renders the message at once, or refreshEvery after the
// last render; events in between are coalesced into that one.
func (d *driver) refreshSoon(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refreshDue {
		return
	}
	d.refreshDue = true
	d.refreshWG.Add(1)
	d.refreshTimer = time.AfterFunc(max(refreshEvery-time.Since(d.lastRefresh), 0), func() {
		defer d.refreshWG.Done()
		d.mu.Lock()
		d.refreshDue, d.lastRefresh = false, time.Now()
		d.mu.Unlock()
		d.e.refresh(ctx, d.id)
	})
}

// flushRefresh waits for a render in progress and drops a pending one:
// the end of a run renders the message itself.
func (d *driver) flushRefresh() {
	d.mu.Lock()
	if d.refreshDue && d.refreshTimer.Stop() {
		d.refreshDue = false
		d.refreshWG.Done()
	}
	d.mu.Unlock()
	d.refreshWG.Wait()
}

// stop ends a run that did not succeed, according to why it stopped.
func (d *driver) stop(ctx context.Context, failure string) {
	bg := context.WithoutCancel(ctx)
	cause := d.why(ctx)
	if errors.Is(cause, errRenewDeadline) || errors.Is(cause, errLeaseLost) {
		// Given up: write nothing more; the next holder finds the steps
		// in flight and treats their outcome as unknown, which is the truth.
		d.e.log.WarnContext(bg, "driver: lease lost or not renewed in time, stopping", "rollback", d.id, "cause", cause)
		return
	}
	d.flushEndsOrLog(bg, "stopping") // what interrupt or compensate read must be whole
	switch {
	case errors.Is(cause, errShutdown):
		d.handOn(bg)
	case errors.Is(cause, errAborted):
		d.abort(bg)
	default:
		d.end(bg, rollback.StateFailed, "failed: "+failure)
	}
}

// abort ends an aborted run: the compensations its runbook asks for (under
// the lease, not past a shutdown's grace), then the aborted state.
func (d *driver) abort(ctx context.Context) {
	r, _ := d.e.store.GetRollback(ctx, d.id)
	notUndone := d.compensateForAbort()
	if d.held.Err() != nil {
		return // given up mid-compensation: the next holder finishes the abort
	}
	d.end(ctx, rollback.StateAborted, d.abortOutcome(ctx, r, notUndone))
}

// abortOutcome is an aborted rollback's outcome: who aborted it and why,
// what its compensations could not undo, and the steps that stay done
// because their runbook has no undo for them, so that the thread says what
// state the services are left in, not only that the run stopped.
func (d *driver) abortOutcome(ctx context.Context, r *rollback.Record, notUndone []string) string {
	if r == nil {
		return "aborted" + notUndoneText(notUndone) + "; which steps stay done is unknown (the record could not be read)"
	}
	text := fmt.Sprintf("aborted by %s: %s", r.AbortBy, r.AbortReason) + notUndoneText(notUndone)
	kept, err := d.keptSteps(ctx, r, notUndone)
	switch {
	case err != nil:
		d.e.log.WarnContext(ctx, "driver: read the step log for the abort's outcome", "rollback", d.id, "err", err)
		return text + "; which steps stay done is unknown (the step log could not be read)"
	case len(kept) > 0:
		return text + "; still done (the runbook has no undo for them): " + strings.Join(kept, ", ")
	}
	return text
}

// keptSteps lists, as service/step in the order they ran, the steps that
// succeeded, changed something (not a gate, not a dry run) and have no
// compensation, leaving out those notUndone already names.
func (d *driver) keptSteps(ctx context.Context, r *rollback.Record, notUndone []string) ([]string, error) {
	events, err := d.e.store.ListSteps(ctx, d.id)
	if err != nil {
		return nil, err
	}
	var kept []string
	for _, key := range completedInOrder(events) {
		if slices.ContainsFunc(notUndone, func(s string) bool { return s == key || strings.HasPrefix(s, key+" ") }) {
			continue
		}
		service, stepID, _ := strings.Cut(key, "/")
		_, rb, st, ok := d.lookupStep(r, service, stepID)
		if ok && st.Uses != "" && st.Compensate == nil && !steprequest.DryRun(rb, drillInfo(r)) {
			kept = append(kept, key)
		}
	}
	return kept, nil
}

// notUndoneText is what an abort's outcome adds for compensations that did
// not run to success, so that the thread never reads as cleanly undone.
func notUndoneText(notUndone []string) string {
	if len(notUndone) == 0 {
		return ""
	}
	return "; not undone: " + strings.Join(notUndone, "; ")
}

// compensateForAbort runs an abort's compensations under the lease, cut
// when a shutdown's grace runs out (a cut one is recorded as stopped, its
// outcome unknown), and returns those that did not run to success.
func (d *driver) compensateForAbort() []string {
	ctx, stop := d.e.untilGraceOver(d.held)
	defer stop()
	return d.compensate(ctx, "aborted")
}

// end moves the rollback to a final state and closes the loop.
func (d *driver) end(ctx context.Context, state rollback.State, outcome string) {
	// A last try for ends a failed write left queued. The rollback ends
	// either way: its outcome is known, and a step whose end could not be
	// written shows as started in its log, never as succeeded.
	d.flushEndsOrLog(ctx, "ending")
	r, err := d.e.transition(ctx, d.id, state, []rollback.State{rollback.StateRunning, rollback.StateValidating, rollback.StateInterrupted, rollback.StateApproved}, func(r *rollback.Record) {
		r.Outcome = outcome
		r.SupportUntil = d.e.supportWindowEnd(r, state)
	})
	if err != nil {
		d.e.log.ErrorContext(ctx, "driver: end", "rollback", d.id, "state", state, "err", err)
		return
	}
	d.e.audit(ctx, Actor{User: "backout", From: "engine:" + d.e.replica}, "rollback."+string(state), d.id, map[string]string{"outcome": outcome})
	d.e.finish(ctx, r)
}

func truncateTail(s string, n int) string {
	if tail, cut := human.Tail(s, n); cut {
		return "[…]\n" + tail
	}
	return s
}
