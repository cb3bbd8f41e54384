package incident

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/backout/backout/internal/rollback"
)

// liveLines is how many of a running step's newest lines one output record
// keeps; older ones since the last record are counted, not kept.
const liveLines = 20

// liveOutput turns a running step's output into StepOutput records, at
// most one per engine.output_every, each holding the lines written since
// the one before: a long step (a rollout status, a migration) shows its
// progress in the thread without a durable write per line. The record is
// written (persisted) before the message that shows it is refreshed.
type liveOutput struct {
	mu      sync.Mutex
	lines   []string // since the last record, the newest liveLines
	skipped int      // lines since the last record not kept
	flusher func()   // started on the first line: most steps print nothing live
	started bool
	stopped bool

	quit chan struct{}
	done chan struct{}
}

// watchOutput records service/stepID's output from its first line on; stop
// ends it before the step's end is recorded, so no output record follows
// the end.
func (d *driver) watchOutput(ctx context.Context, service, stepID string, attempt int) *liveOutput {
	l := &liveOutput{quit: make(chan struct{}), done: make(chan struct{})}
	every := d.e.cfg.Engine.OutputEvery.D()
	l.flusher = func() {
		defer close(l.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-l.quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if text := l.take(); text != "" {
				_ = d.record(ctx, rollback.StepEvent{Service: service, StepID: stepID, Kind: rollback.StepOutput, Attempt: attempt, Output: d.redact(text)})
			}
		}
	}
	return l
}

// add takes one line; executors may call it from several goroutines.
func (l *liveOutput) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return // a late line from a reader that outlived the step
	}
	if !l.started {
		l.started = true
		go l.flusher()
	}
	l.lines = append(l.lines, line)
	if len(l.lines) > liveLines {
		l.lines = append(l.lines[:0], l.lines[1:]...)
		l.skipped++
	}
}

// take returns the lines since the last call, or "".
func (l *liveOutput) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return ""
	}
	text := strings.Join(l.lines, "\n")
	if l.skipped > 0 {
		text = fmt.Sprintf("[… %d earlier lines …]\n", l.skipped) + text
	}
	l.lines, l.skipped = l.lines[:0], 0
	return text
}

func (l *liveOutput) stop() {
	l.mu.Lock()
	l.stopped = true
	started := l.started
	l.mu.Unlock()
	close(l.quit)
	if started {
		<-l.done
	}
}
