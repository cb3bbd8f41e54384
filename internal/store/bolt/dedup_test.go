package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/store/storetest"
)

// enqueue enqueues a new event with keys, failing the test unless the
// store answers fresh.
func enqueue(t testing.TB, s *Store, id string, ttl time.Duration, keys ...string) bool {
	t.Helper()
	ok, err := s.EnqueueEvent(context.Background(), store.Event{ID: id, Source: "pagerduty", Type: "t"}, keys, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// ackAll acknowledges every event the journal holds, as a worker keeping
// up does (not through PendingEvents, whose move when a second has passed
// would store them in the inbox first), and moves the journal into bolt.
func ackAll(t testing.TB, s *Store) {
	t.Helper()
	ctx := context.Background()
	for _, ev := range s.journal.pending(0) {
		if err := s.AckEvent(ctx, ev.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.journal.move(ctx); err != nil {
		t.Fatal(err)
	}
}

func bucketKeys(t testing.TB, s *Store, name []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(name).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// keyInMemory reports whether memory holds key live at now.
func keyInMemory(s *Store, key string, now time.Time) bool {
	s.journal.mu.Lock()
	defer s.journal.mu.Unlock()
	return s.journal.keys.live(key, now.UnixNano())
}

func keysInMemory(s *Store) int {
	s.journal.mu.Lock()
	defer s.journal.mu.Unlock()
	return len(s.journal.keys.until)
}

// TestDedupKeysLifecycle: a key keeps repeats out from the journal, from
// bolt after a move, and after a restart; once it expired it is accepted
// again, and the purge forgets it in bolt and in memory.
func TestDedupKeysLifecycle(t *testing.T) {
	s, path, clk := openFreshAt(t)
	if !enqueue(t, s, "e1", time.Hour, "wh:1", "inc:1") {
		t.Fatal("first delivery refused")
	}
	steps := []struct {
		name string
		do   func()
	}{
		{"while journaled", func() {}},
		{"after a move", func() { ackAll(t, s) }},
		{"after a restart", func() { s = reopenWithJournal(t, s, path, clk, nil) }},
	}
	for i, st := range steps {
		st.do()
		if enqueue(t, s, fmt.Sprint("r", i), time.Hour, "inc:1") {
			t.Fatalf("%s: a repeat of a live key was accepted", st.name)
		}
	}
	if n := bucketKeys(t, s, bDedupExp); n != 2 {
		t.Fatalf("%d keys by expiry in bolt, want 2", n)
	}
	if n := bucketKeys(t, s, bDedup); n != 0 {
		t.Fatalf("%d keys by key in bolt, want none (memory answers)", n)
	}

	clk.Advance(2 * time.Hour)
	if !enqueue(t, s, "e2", time.Hour, "inc:1") {
		t.Fatal("a repeat of an expired key was refused")
	}
	ackAll(t, s) // this move purges the two expired keys
	if n := bucketKeys(t, s, bDedupExp); n != 1 {
		t.Fatalf("%d keys by expiry after the purge, want 1 (e2's)", n)
	}
	if inMemory := keysInMemory(s); inMemory != 1 {
		t.Fatalf("%d keys in memory after the purge, want 1", inMemory)
	}
}

// TestDedupQuietPurge: with no intake to move the journal, the worker's
// reads still purge expired keys, once a minute, from bolt and memory.
func TestDedupQuietPurge(t *testing.T) {
	s, _, clk := openFreshAt(t)
	for i := range 3 {
		enqueue(t, s, fmt.Sprint("e", i), time.Hour, fmt.Sprint("k", i))
	}
	ackAll(t, s)
	pendingIDs(t, s) // a read, before anything expired
	clk.Advance(2 * time.Hour)
	pendingIDs(t, s)
	if n := bucketKeys(t, s, bDedupExp); n != 0 {
		t.Fatalf("%d expired keys left in bolt", n)
	}
	if left := keysInMemory(s); left != 0 {
		t.Fatalf("%d expired keys left in memory", left)
	}
}

// TestDedupOldLayoutMigrates: a file written when keys were also kept by
// key still deduplicates after the upgrade (the expiry order always held
// every key), and its by-key bucket is emptied.
func TestDedupOldLayoutMigrates(t *testing.T) {
	s, path, clk := openFreshAt(t)
	until := clk.Now().Add(time.Hour).UnixNano()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		v := binary.BigEndian.AppendUint64(nil, uint64(until))
		if err := tx.Bucket(bDedup).Put([]byte("old:1"), v); err != nil {
			return err
		}
		return tx.Bucket(bDedupExp).Put(dedupKeyOf("old:1", until), []byte{})
	})
	if err != nil {
		t.Fatal(err)
	}
	s = reopenWithJournal(t, s, path, clk, nil)
	if enqueue(t, s, "e1", time.Hour, "old:1") {
		t.Fatal("a key stored by the old layout no longer deduplicates")
	}
	if n := bucketKeys(t, s, bDedup); n != 0 {
		t.Fatalf("%d keys left in the old by-key bucket", n)
	}
}

// TestDedupMoveWritesGrowWithTheMove: a move costs pages in proportion to
// the keys it adds, not to the day of keys already stored. Random keys
// kept by key cost about a page each once the tree was large.
func TestDedupMoveWritesGrowWithTheMove(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 100k keys")
	}
	s := openTemp(t, storetest.NewClock(storetest.T0).Now)
	const history, move = 100_000, 1_000
	base := storetest.T0.Add(time.Hour).UnixNano()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for i := range history {
			if err := putDedupKeys(tx, []string{fmt.Sprintf("pd-webhook/%08x-history", uint32(i)*2654435761)}, base+int64(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pages0, _ := s.DiskWrites()
	for i := range move {
		enqueue(t, s, fmt.Sprint("e", i), 2*time.Hour, fmt.Sprintf("pd-webhook/%08x-new", uint32(i)*2654435761))
	}
	ackAll(t, s)
	pages1, _ := s.DiskWrites()
	// 1,000 keys of ~30 bytes fill about ten pages; allow for the inbox,
	// the mark and the branch pages on the way.
	if got := pages1 - pages0; got > 60 {
		t.Fatalf("moving %d keys over %d stored wrote %d pages, want a few dozen", move, history, got)
	}
}

// TestDedupMemoryKeepsTheNewestKeys: memory holds at most DedupMaxKeys
// keys, the newest: the mover lets the oldest go and says so once, a
// restart loads only the newest, and bolt keeps every key until it expires
// (a reopen with a larger bound knows them all again).
func TestDedupMemoryKeepsTheNewestKeys(t *testing.T) {
	const max, batch = 100, 100
	path := filepath.Join(t.TempDir(), "state.db")
	clk := storetest.NewClock(storetest.T0)
	var said bytes.Buffer
	open := func(max int) *Store {
		s, err := Open(path, Options{Now: clk.Now, DedupMaxKeys: max, Logger: slog.New(slog.NewTextHandler(&said, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open(max)
	key := func(b, i int) string { return fmt.Sprintf("wh:%d-%d", b, i) }
	for b := range 3 {
		for i := range batch {
			if !enqueue(t, s, key(b, i), time.Hour, key(b, i)) {
				t.Fatalf("batch %d: %s refused", b, key(b, i))
			}
		}
		ackAll(t, s)
		clk.Advance(time.Second)
	}
	if n := keysInMemory(s); n != max {
		t.Errorf("memory holds %d keys, want the newest %d", n, max)
	}
	if n := bucketKeys(t, s, bDedupExp); n != 3*batch {
		t.Errorf("bolt holds %d keys, want all %d", n, 3*batch)
	}
	if got := strings.Count(said.String(), "memory holds the newest keys only"); got != 1 {
		t.Errorf("said %d times that keys were let go, want once a minute:\n%s", got, said.String())
	}
	recognized := func(s *Store, b int) int {
		n := 0
		for i := range batch {
			if keyInMemory(s, key(b, i), clk.Now()) {
				n++
			}
		}
		return n
	}
	for _, reopen := range []struct {
		name         string
		max          int
		newest, rest int
	}{
		{"before a restart", 0, batch, 0},
		{"after a restart", max, batch, 0},
		{"after a restart with a larger bound", 10 * max, batch, 2 * batch},
	} {
		if reopen.max > 0 {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(reopen.max)
		}
		if got := recognized(s, 2); got != reopen.newest {
			t.Errorf("%s: %d of the newest batch's keys recognized, want %d", reopen.name, got, reopen.newest)
		}
		if got := recognized(s, 0) + recognized(s, 1); got != reopen.rest {
			t.Errorf("%s: %d of the older batches' keys recognized, want %d", reopen.name, got, reopen.rest)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDedupEvictionGoesOnAfterARestart: after a restart that left older
// keys in bolt only, the next eviction starts where the load stopped, and
// still does once the purge has deleted the key it stopped at.
func TestDedupEvictionGoesOnAfterARestart(t *testing.T) {
	const max = 100
	tests := []struct {
		name     string
		wait     time.Duration // before the third batch
		wantBolt int
	}{
		{"nothing expired", time.Minute, 3 * max},
		{"the first batch purged", time.Hour - time.Second/2, 2 * max},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			clk := storetest.NewClock(storetest.T0)
			open := func() *Store {
				s, err := Open(path, Options{Now: clk.Now, DedupMaxKeys: max, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			key := func(b, i int) string { return fmt.Sprintf("am:%d-%d", b, i) }
			fill := func(s *Store, b int) {
				for i := range max {
					if !enqueue(t, s, key(b, i), time.Hour, key(b, i)) {
						t.Fatalf("%s refused", key(b, i))
					}
				}
				ackAll(t, s)
			}
			s := open()
			fill(s, 0)
			clk.Advance(time.Second)
			fill(s, 1)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open() // loads batch 1; batch 0 stays in bolt only
			clk.Advance(tt.wait)
			fill(s, 2) // lets batch 1 go
			if n := keysInMemory(s); n != max {
				t.Errorf("memory holds %d keys, want %d", n, max)
			}
			if n := bucketKeys(t, s, bDedupExp); n != tt.wantBolt {
				t.Errorf("bolt holds %d keys, want %d", n, tt.wantBolt)
			}
			for b, want := range map[int]bool{1: false, 2: true} {
				if got := keyInMemory(s, key(b, 0), clk.Now()); got != want {
					t.Errorf("batch %d recognized in memory: %v, want %v", b, got, want)
				}
			}
		})
	}
}
