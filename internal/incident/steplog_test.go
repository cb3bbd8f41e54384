package incident

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// fakeLog is a step log whose writes can be held and failed.
type fakeLog struct {
	mu      sync.Mutex
	written []string
	writes  int
	fail    error         // the next write fails with it
	hold    chan struct{} // when set, a write waits on it
	holding chan struct{} // told when a write starts holding
}

func (f *fakeLog) write(_ context.Context, evs []rollback.StepEvent) error {
	f.mu.Lock()
	hold, holding := f.hold, f.holding
	f.hold = nil
	f.mu.Unlock()
	if hold != nil {
		holding <- struct{}{}
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail; err != nil {
		f.fail = nil
		return err
	}
	f.writes++
	for _, ev := range evs {
		f.written = append(f.written, ev.StepID)
	}
	return nil
}

func (f *fakeLog) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.written)
}

func ev(id string) rollback.StepEvent { return rollback.StepEvent{StepID: id} }

func TestStepWriterEndsGoWithTheNextWrite(t *testing.T) {
	f := &fakeLog{}
	w := newStepWriter(f.write)
	w.queueEnd(ev("a.end"))
	w.queueEnd(ev("b.end"))
	if got := f.log(); len(got) != 0 {
		t.Fatalf("queued ends were written at once: %v", got)
	}
	if err := w.append(t.Context(), ev("c.start")); err != nil {
		t.Fatal(err)
	}
	if got, want := f.log(), []string{"a.end", "b.end", "c.start"}; !slices.Equal(got, want) || f.writes != 1 {
		t.Fatalf("log %v in %d writes, want %v in one", got, f.writes, want)
	}
	if err := w.append(t.Context()); err != nil || f.writes != 1 {
		t.Fatalf("flushing nothing: %v, %d writes", err, f.writes)
	}
}

// While one write is in flight, later events wait and go out together, in
// the order they were queued, after it.
func TestStepWriterKeepsOrderAcrossConcurrentWrites(t *testing.T) {
	f := &fakeLog{hold: make(chan struct{}), holding: make(chan struct{})}
	release := f.hold
	w := newStepWriter(f.write)
	w.queueEnd(ev("a.end"))
	first := make(chan error)
	go func() { first <- w.append(t.Context(), ev("b.start")) }()
	<-f.holding // the first write has taken a.end and b.start

	w.queueEnd(ev("b.end"))
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() { errs[i] = w.append(t.Context(), ev(fmt.Sprintf("c%d.start", i))) })
	}
	// The three queue behind the held write; none may pass it.
	for queued(w) < 4 {
		runtime.Gosched()
	}
	if got := f.log(); len(got) != 0 {
		t.Fatalf("written while the first write was in flight: %v", got)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := f.log()
	if !slices.Equal(got[:3], []string{"a.end", "b.start", "b.end"}) || len(got) != 6 {
		t.Fatalf("log %v: want a.end, b.start, b.end, then the three starts", got)
	}
	if f.writes != 2 {
		t.Errorf("%d writes: want the held one, then one for everything queued behind it", f.writes)
	}
}

// queued counts the events waiting for the next write.
func queued(w *stepWriter) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur == nil {
		return 0
	}
	return len(w.cur.evs)
}

func TestStepWriterFailedWriteKeepsEnds(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantLog  []string // after the failed write and a retry of d.start
		wantKept bool
	}{
		{"store unavailable", store.ErrUnavailable, []string{"a.end", "b.end", "d.start"}, true},
		{"lease lost", store.ErrStaleToken, []string{"d.start"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLog{fail: tt.err}
			w := newStepWriter(f.write)
			w.queueEnd(ev("a.end"))
			w.queueEnd(ev("b.end"))
			if err := w.append(t.Context(), ev("c.start")); !errors.Is(err, tt.err) {
				t.Fatalf("failed write answered %v, want %v", err, tt.err)
			}
			if err := w.append(t.Context(), ev("d.start")); err != nil {
				t.Fatal(err)
			}
			// c.start failed with its caller; the ends are facts and wait for
			// the next write, unless another replica owns the log now.
			if got := f.log(); !slices.Equal(got, tt.wantLog) {
				t.Fatalf("log %v, want %v", got, tt.wantLog)
			}
		})
	}
}
