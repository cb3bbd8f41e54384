package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
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
