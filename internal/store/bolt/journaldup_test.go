package bolt

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backout/backout/internal/store"
)

// heldSync makes the journal's syncs wait until release, then fail with
// the error given there (nil: sync for real).
type heldSync struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	err     error
}

// holdSyncs holds s's syncs until releaseWith, which the test's cleanup
// calls too (before s closes) should the test stop first.
func holdSyncs(t *testing.T, j *journal) *heldSync {
	h := &heldSync{entered: make(chan struct{}, 64), release: make(chan struct{})}
	t.Cleanup(func() { h.releaseWith(nil) })
	j.syncFile = func(f *os.File) error {
		h.entered <- struct{}{}
		<-h.release
		if h.err != nil {
			return h.err
		}
		return fdatasync(f)
	}
	return h
}

func (h *heldSync) releaseWith(err error) {
	h.once.Do(func() {
		h.err = err
		close(h.release)
	})
}

type enqueueResult struct {
	fresh bool
	err   error
}

func enqueueAsync(ctx context.Context, s *Store, id, key string) chan enqueueResult {
	out := make(chan enqueueResult, 1)
	go func() {
		fresh, err := s.EnqueueEvent(ctx, store.Event{ID: id}, []string{key}, time.Hour)
		out <- enqueueResult{fresh, err}
	}()
	return out
}

// waitUntil yields until cond holds; the test's deadline bounds it.
func waitUntil(cond func() bool) {
	for !cond() {
		runtime.Gosched()
	}
}

// TestJournalDuplicateWaitsForItsOriginal: a duplicate that arrives while
// its original's sync has not returned (a sender that timed out on a slow
// disk retries into exactly that window) is answered with that sync's
// outcome, never before: answered at once, it would be the only 202 for an
// event a failed sync or a crash loses.
func TestJournalDuplicateWaitsForItsOriginal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dupID   string // "e1": the same delivery again; another id: the same dedup key
		behind  bool   // the original waits in the accumulating group, behind a group in sync
		syncErr error
	}{
		{name: "same id, original syncing, sync succeeds", dupID: "e1"},
		{name: "same id, original syncing, sync fails", dupID: "e1", syncErr: syscall.EIO},
		{name: "same key, original syncing, sync fails", dupID: "e9", syncErr: syscall.EIO},
		{name: "same id, original queued behind a sync, sync succeeds", dupID: "e1", behind: true},
		{name: "same key, original queued behind a sync, sync fails", dupID: "e9", behind: true, syncErr: syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTemp(t, nil)
			held := holdSyncs(t, s.journal)
			var first chan enqueueResult
			if tc.behind {
				first = enqueueAsync(ctx, s, "e0", "wh:0")
				<-held.entered
			}
			orig := enqueueAsync(ctx, s, "e1", "wh:1")
			if tc.behind {
				waitUntil(func() bool {
					s.journal.mu.Lock()
					defer s.journal.mu.Unlock()
					_, ok := s.journal.ids["e1"]
					return ok
				})
			} else {
				<-held.entered
			}
			dup := enqueueAsync(ctx, s, tc.dupID, "wh:1")
			var early *enqueueResult
			waitUntil(func() bool {
				select {
				case r := <-dup:
					early = &r
					return true
				default:
					return s.journal.dupWaiting.Load() == 1
				}
			})
			if early != nil {
				t.Fatalf("duplicate answered (%v, %v) before its original's sync returned", early.fresh, early.err)
			}
			held.releaseWith(tc.syncErr)
			o, d := <-orig, <-dup
			if first != nil {
				<-first
			}
			if tc.syncErr == nil {
				if !o.fresh || o.err != nil || d.fresh || d.err != nil {
					t.Fatalf("original = %+v, duplicate = %+v; want accepted, then a duplicate", o, d)
				}
				return
			}
			if o.err == nil || d.err == nil || !errors.Is(d.err, syscall.EIO) {
				t.Fatalf("original = %+v, duplicate = %+v; want both refused with the sync's error", o, d)
			}
		})
	}
}

// TestJournalDuplicateWaitsPastTheSyncInFlight: a duplicate of a record
// still accumulating is answered by that record's own sync, not by the
// sync in flight when it came, which holds other records: the one after
// it is what makes the original durable.
func TestJournalDuplicateWaitsPastTheSyncInFlight(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, nil)
	// Each sync waits for its own result; once the test ends (should it
	// stop early), every sync proceeds, so the store can close.
	entered, results, ended := make(chan struct{}, 8), make(chan error), make(chan struct{})
	t.Cleanup(func() { close(ended) })
	s.journal.syncFile = func(f *os.File) error {
		entered <- struct{}{}
		select {
		case err := <-results:
			if err != nil {
				return err
			}
		case <-ended:
		}
		return fdatasync(f)
	}
	first := enqueueAsync(ctx, s, "e0", "wh:0")
	<-entered // e0's group is in flight
	orig := enqueueAsync(ctx, s, "e1", "wh:1")
	waitUntil(func() bool {
		s.journal.mu.Lock()
		defer s.journal.mu.Unlock()
		_, ok := s.journal.ids["e1"]
		return ok
	})
	dup := enqueueAsync(ctx, s, "e1", "wh:1")
	waitUntil(func() bool { return s.journal.dupWaiting.Load() == 1 })
	results <- nil // e0's sync returns
	if r := <-first; !r.fresh || r.err != nil {
		t.Fatalf("e0 = %+v, want accepted", r)
	}
	<-entered // e1's group is in flight
	deadline := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(deadline) {
		select {
		case r := <-dup:
			t.Fatalf("duplicate answered (%v, %v) before its original's own sync returned", r.fresh, r.err)
		default:
			runtime.Gosched()
		}
	}
	results <- nil
	if o, d := <-orig, <-dup; !o.fresh || o.err != nil || d.fresh || d.err != nil {
		t.Fatalf("original = %+v, duplicate = %+v; want accepted, then a duplicate", o, d)
	}
}
