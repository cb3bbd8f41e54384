package bolt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/backout/backout/internal/store"
)

// blockCommitter occupies the committer with a write that waits until
// release is called, so later writes pile up in its queue and form one
// group. This makes grouping deterministic without timing.
func blockCommitter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(unblock) }) }
	t.Cleanup(release)
	go func() {
		err := s.batch(context.Background(), func(tx *bbolt.Tx) error {
			close(started)
			<-unblock
			return put("blocker")(tx)
		})
		if err != nil {
			t.Error(err)
		}
	}()
	<-started
	return release
}

// waitQueued polls until n writes wait in the committer's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.gc.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", len(s.gc.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func put(key string) func(*bbolt.Tx) error {
	return func(tx *bbolt.Tx) error { return tx.Bucket(bBlobs).Put([]byte(key), []byte("v")) }
}

func has(t *testing.T, s *Store, key string) bool {
	t.Helper()
	var ok bool
	if err := s.db.View(func(tx *bbolt.Tx) error {
		ok = tx.Bucket(bBlobs).Get([]byte(key)) != nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestGroupCommitIsolatesFailures queues good, failing and panicking writes
// into one group: only the bad ones fail, and the good ones commit.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, nil)
	errBad := errors.New("bad write")
	tests := []struct {
		name    string
		fn      func(*bbolt.Tx) error
		wantErr func(error) bool
		wantKey bool
	}{
		{"first ok", put("a"), func(err error) bool { return err == nil }, true},
		{"fails after writing", func(tx *bbolt.Tx) error {
			if err := put("b")(tx); err != nil {
				return err
			}
			return errBad
		}, func(err error) bool { return errors.Is(err, errBad) }, false},
		{"panics", func(tx *bbolt.Tx) error {
			_ = put("c")(tx)
			panic("boom")
		}, func(err error) bool { var p panicError; return errors.As(err, &p) }, false},
		{"last ok", put("d"), func(err error) bool { return err == nil }, true},
	}
	// A blocker occupies the committer so the four below form one group.
	release := blockCommitter(t, s)
	errs := make([]error, len(tests))
	var wg sync.WaitGroup
	for i, tt := range tests {
		wg.Go(func() { errs[i] = s.batch(ctx, tt.fn) })
		waitQueued(t, s, i+1) // keep the queue in table order
	}
	release()
	wg.Wait()
	keys := map[string]string{"first ok": "a", "fails after writing": "b", "panics": "c", "last ok": "d"}
	for i, tt := range tests {
		if !tt.wantErr(errs[i]) {
			t.Errorf("%s: err %v", tt.name, errs[i])
		}
		if got := has(t, s, keys[tt.name]); got != tt.wantKey {
			t.Errorf("%s: key stored %v, want %v", tt.name, got, tt.wantKey)
		}
	}
	// The committer survived the panic.
	if err := s.batch(ctx, put("after")); err != nil || !has(t, s, "after") {
		t.Fatalf("write after a panic: %v", err)
	}
}

// TestGroupCommitShares checks that writes queued during a commit share the
// next transaction.
func TestGroupCommitShares(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, nil)
	release := blockCommitter(t, s)
	const n = 20
	var mu sync.Mutex
	txs := map[int]bool{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := s.batch(ctx, func(tx *bbolt.Tx) error {
				mu.Lock()
				txs[tx.ID()] = true
				mu.Unlock()
				return put(fmt.Sprint("k", i))(tx)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()
	if len(txs) != 1 {
		t.Fatalf("%d queued writes used %d transactions, want 1", n, len(txs))
	}
}

func TestGroupCommitHonoursContext(t *testing.T) {
	s := openTemp(t, nil)
	release := blockCommitter(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.batch(ctx, put("abandoned")) }()
	waitQueued(t, s, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	release()
	// A caller that gave up before its group formed is answered, not run.
	if err := s.batch(t.Context(), put("next")); err != nil {
		t.Fatal(err)
	}
	if has(t, s, "abandoned") {
		t.Fatal("a write abandoned before its group formed was committed")
	}
	cancelled, stop := context.WithCancel(t.Context())
	stop()
	if err := s.batch(cancelled, put("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("done ctx: err %v", err)
	}
}

// TestCloseDrainsQueuedWrites closes the store with writes queued: each is
// answered (and committed) before the file closes, and later writes are
// refused as unavailable.
func TestCloseDrainsQueuedWrites(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, nil)
	release := blockCommitter(t, s)
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = s.Claim(ctx, fmt.Sprint("k", i), time.Hour) })
	}
	waitQueued(t, s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for { // wait until Close has stopped intake
		s.gc.mu.RLock()
		c := s.gc.closed
		s.gc.mu.RUnlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Claim(ctx, "late", time.Hour); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("claim after Close: %v, want ErrUnavailable", err)
	}
	release()
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("queued claim %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
