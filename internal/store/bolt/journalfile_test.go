package bolt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/store/storetest"
	"go.etcd.io/bbolt"
)

// decoded renders records as "seq:id" ("+a" when acked) for comparison.
func decoded(recs []journalRecord) string {
	var b bytes.Buffer
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%s", r.Seq, r.ID)
		if r.acked {
			b.WriteString("+a")
		}
	}
	return b.String()
}

// TestDecodeJournalOverwrittenCycle: a cycle is written from the head of the
// file over the last one (all of which bolt already has), so replay must end
// at the new cycle's end whatever the old bytes after it look like, and a
// crash part-way through the overwrite must not make new and old records
// pass for one cycle.
func TestDecodeJournalOverwrittenCycle(t *testing.T) {
	old := journalFrames(t, journaled(t, 1, "o1", "wh:o1"), journaled(t, 2, "o2"))
	old = appendAck(old, 2)
	oldTail := journalFrames(t, journaled(t, 3, "o3"), journaled(t, 4, "o4"), journaled(t, 5, "o5"))
	old = append(old, oldTail...)
	fresh := appendAck(nil, 5) // an ack of the last cycle's record, queued before the rewind
	fresh = append(fresh, journalFrames(t, journaled(t, 6, "n6"), journaled(t, 7, "n7"))...)
	fresh = appendAck(fresh, 6)
	if len(fresh) >= len(old) {
		t.Fatalf("fixture: new cycle (%d bytes) must be shorter than the old (%d)", len(fresh), len(old))
	}
	over := func(head []byte) []byte { return append(bytes.Clone(head), old[len(head):]...) }
	record7 := bytes.Index(fresh, journalFrames(t, journaled(t, 7, "n7")))
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"rewound, nothing overwritten yet", old, "1:o1 2:o2+a 3:o3 4:o4 5:o5"},
		{"new cycle over the head of the old", over(fresh), "6:n6+a 7:n7"},
		{"old record starts where the new cycle ends", append(bytes.Clone(fresh), oldTail...), "6:n6+a 7:n7"},
		{"old ack, then old records, after the new cycle", append(appendAck(bytes.Clone(fresh), 4), oldTail...), "6:n6+a 7:n7"},
		{"ack of the new cycle's last record", append(bytes.Clone(fresh[:len(fresh)-28]), appendAck(nil, 7)...), "6:n6 7:n7+a"},
		{"record with a seq past the next", append(bytes.Clone(fresh), journalFrames(t, journaled(t, 9, "x9"))...), "6:n6+a 7:n7"},
		{"grown with zeros", append(bytes.Clone(fresh), make([]byte, 4096)...), "6:n6+a 7:n7"},
		{"torn overwrite: second record cut", over(fresh[:record7+20]), "6:n6"},
		{"torn overwrite: only the first frame", over(fresh[:28]), ""},
		{"torn overwrite: head not written, later page was", append(bytes.Clone(old[:record7]), fresh[record7:]...), "1:o1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decoded(decodeJournal(tt.file)); got != tt.want {
				t.Fatalf("replayed %q, want %q", got, tt.want)
			}
		})
	}
}

// crashCopy returns a state file, with its journal, as a kill -9 of s
// would leave them: the journal's bytes as written (the page cache outlives
// the process), then bolt as of its last commit. Taken while s is busy, the
// copy is not of one instant, but every delivery answered before it began
// is in it: a record overwritten while the journal is read was moved before
// its cycle started over, so the bolt copy, taken after, has it.
func crashCopy(t *testing.T, s *Store, path string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "state.db")
	data, err := os.ReadFile(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.View(func(tx *bbolt.Tx) error { return tx.CopyFile(to, 0o600) }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".journal", data, 0o600); err != nil {
		t.Fatal(err)
	}
	return to
}

func openAt(t *testing.T, path string, clk *storetest.Clock) *Store {
	t.Helper()
	s, err := Open(path, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func enqueueOK(t *testing.T, s *Store, id string) {
	t.Helper()
	if ok, err := s.EnqueueEvent(t.Context(), store.Event{ID: id}, []string{"wh:" + id}, time.Hour); err != nil || !ok {
		t.Fatalf("enqueue %s = %v, %v", id, ok, err)
	}
}

// TestJournalCycleCrashes: once a move has put everything in bolt, the next
// group is written over the head of the file, not after a truncate; the
// file keeps its size. A crash at each point of that cycle replays exactly
// what was answered 202 and not yet in bolt: nothing acknowledged is lost,
// nothing already processed comes back, and the old cycle's records left
// behind the new one are not replayed.
func TestJournalCycleCrashes(t *testing.T) {
	s, path, clk := openFreshAt(t)
	ctx := t.Context()
	crashes := map[string]string{} // crash point -> state file copy
	enqueueOK(t, s, "e1")
	enqueueOK(t, s, "e2")
	if got := fmt.Sprint(pendingIDs(t, s)); got != "[e1 e2]" {
		t.Fatalf("pending = %s", got)
	}
	if err := s.AckEvent(ctx, "e1"); err != nil { // in memory; its marker is synced by e3's 202 at the latest
		t.Fatal(err)
	}
	enqueueOK(t, s, "e3")
	crashes["after the first cycle"] = crashCopy(t, s, path)
	if err := s.journal.move(ctx); err != nil {
		t.Fatal(err)
	}
	crashes["rewound, nothing overwritten yet"] = crashCopy(t, s, path)
	before, err := os.Stat(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	enqueueOK(t, s, "e4")
	crashes["after the first overwrite"] = crashCopy(t, s, path)
	after, err := os.Stat(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	if before.Size() != journalGrowBy || after.Size() != before.Size() {
		t.Fatalf("journal size %d before the new cycle, %d after; want %d for both", before.Size(), after.Size(), journalGrowBy)
	}
	data, err := os.ReadFile(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	if got := decoded(decodeJournal(data)); got != "4:e4" {
		t.Fatalf("journal after the rewind replays %q, want only the new cycle's record", got)
	}
	// The overwrite torn: e4's sync never returned (so its 202 was never
	// sent) and only the head of its frame reached the disk, up to the second
	// byte of its id (e1's frame below is the same but for that id).
	oldData, err := os.ReadFile(crashes["rewound, nothing overwritten yet"] + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	cut := frameHeader + 16 + 2 + 1
	if string(data[cut-1:cut+1]) != "e4" || string(oldData[cut-1:cut+1]) != "e1" {
		t.Fatalf("fixture: ids not where expected: %q, %q", data[cut-1:cut+1], oldData[cut-1:cut+1])
	}
	torn := crashCopy(t, s, path)
	if err := os.WriteFile(torn+".journal", append(bytes.Clone(data[:cut]), oldData[cut:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	crashes["torn overwrite"] = torn

	tests := []struct {
		crash, pending string
		held, free     []string // dedup keys refused and accepted again after the restart
	}{
		{"after the first cycle", "[e2 e3]", []string{"e1", "e2", "e3"}, []string{"e4"}},
		{"rewound, nothing overwritten yet", "[e2 e3]", []string{"e1", "e2", "e3"}, []string{"e4"}},
		{"after the first overwrite", "[e2 e3 e4]", []string{"e1", "e2", "e3", "e4"}, nil},
		{"torn overwrite", "[e2 e3]", []string{"e1", "e2", "e3"}, []string{"e4"}},
	}
	for _, tt := range tests {
		t.Run(tt.crash, func(t *testing.T) {
			r := openAt(t, crashes[tt.crash], clk)
			if got := fmt.Sprint(pendingIDs(t, r)); got != tt.pending {
				t.Fatalf("pending after the restart = %s, want %s", got, tt.pending)
			}
			for _, id := range tt.held {
				if ok, err := r.EnqueueEvent(ctx, store.Event{ID: "again-" + id}, []string{"wh:" + id}, time.Hour); err != nil || ok {
					t.Errorf("key of %s accepted again (%v, %v)", id, ok, err)
				}
			}
			for _, id := range tt.free {
				enqueueOK(t, r, id)
			}
		})
	}
}

// TestJournalRestartAfterCrashedCycle: after a crash, the restarted store
// empties the journal before writing, so what the crash left after the
// replayed records (here, past the first step the file grows by, a
// persisted record of a group whose sync never returned, with a sequence
// number the new run hands out again) cannot be taken for the continuation
// of the new run's records once its cycle reaches that far.
func TestJournalRestartAfterCrashedCycle(t *testing.T) {
	s, path, clk := openFreshAt(t)
	file := journalFrames(t, journaled(t, 1, "e1", "wh:1"))
	torn := journalFrames(t, journaled(t, 2, "phantom-a", "wh:pa"))
	file = append(file, torn[:len(torn)-3]...) // e2's group torn...
	file = append(file, bytes.Repeat([]byte{0xff}, journalGrowBy)...)
	file = append(file, journalFrames(t, journaled(t, 3, "phantom-b", "wh:pb"))...) // ...where a later page persisted
	r := reopenWithJournal(t, s, path, clk, file)
	if got := fmt.Sprint(pendingIDs(t, r)); got != "[e1]" {
		t.Fatalf("pending after the first restart = %s, want [e1]", got)
	}
	enqueueOK(t, r, "e2") // Seq 2 in the new run
	copied := crashCopy(t, r, path)
	data, err := os.ReadFile(copied + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("phantom")) {
		t.Fatal("the crashed run's unreplayed records are still in the journal after the restart")
	}
	again := openAt(t, copied, clk)
	if got := fmt.Sprint(pendingIDs(t, again)); got != "[e1 e2]" {
		t.Fatalf("pending after the second restart = %s, want [e1 e2]", got)
	}
}

// FuzzDecodeJournalOverwrite: a new cycle written over an old one and cut
// anywhere (a crash part-way through the overwrite: the head of the new
// bytes on disk, the old bytes after it) replays a prefix of the new
// cycle's records, or old records only (all in bolt already), never old
// records after new ones. Whole, it replays exactly the new records, with
// their acks, whatever old frame starts where it ends.
func FuzzDecodeJournalOverwrite(f *testing.F) {
	f.Add([]byte("x"), 10, 1)
	f.Add(bytes.Repeat([]byte{0}, 300), 200, 3)
	f.Fuzz(func(t *testing.T, data []byte, cut, skip int) {
		if len(data) > 2048 {
			data = data[:2048] // ids and keys are framed with 16-bit lengths
		}
		rec := func(seq uint64, id string, payload []byte) journalRecord {
			return journalRecord{Seq: seq, ID: id, Until: 5, Keys: []string{"wh:" + id},
				Event: store.Event{ID: id, Source: "pagerduty", Type: "t", ReceivedAt: storetest.T0, Payload: payload}}
		}
		oldRecs := []journalRecord{rec(1, "o1", data), rec(2, "o2", nil), rec(3, "o3", data[len(data)/2:]), rec(4, "o4", nil)}
		var oldFrames [][]byte
		for i := range oldRecs {
			oldFrames = append(oldFrames, journalFrames(t, oldRecs[i]))
		}
		old := bytes.Join([][]byte{oldFrames[0], oldFrames[1], appendAck(nil, 2), oldFrames[2], oldFrames[3]}, nil)
		newRecs := []journalRecord{rec(5, "n5", data[:len(data)/2]), rec(6, "n6", nil), rec(7, string(data), data)}
		fresh := appendAck(nil, 4)
		fresh = append(fresh, journalFrames(t, newRecs...)...)
		fresh = appendAck(fresh, 6)
		newRecs[1].acked = true

		same := func(a, b journalRecord) bool {
			return fmt.Sprintf("%v %q %v %q %v %v", a.Seq, a.ID, a.Until, a.Keys, a.Event, a.acked) ==
				fmt.Sprintf("%v %q %v %q %v %v", b.Seq, b.ID, b.Until, b.Keys, b.Event, b.acked)
		}
		if cut < 0 {
			cut = -cut
		}
		cut %= len(fresh) + 1
		file := append(bytes.Clone(fresh[:cut]), old[min(cut, len(old)):]...)
		got := decodeJournal(file)
		for i, r := range got {
			switch {
			case got[0].Seq >= newRecs[0].Seq:
				if want := newRecs[i]; r.Seq != want.Seq || r.ID != want.ID || r.Event.ID != want.Event.ID {
					t.Fatalf("cut at %d: record %d = %d:%q, want %d:%q", cut, i, r.Seq, r.ID, want.Seq, want.ID)
				}
			case r.Seq > oldRecs[len(oldRecs)-1].Seq:
				t.Fatalf("cut at %d: new record %d:%q replayed after old ones", cut, r.Seq, r.ID)
			case !same(r, oldRecs[r.Seq-1]) && !(r.Seq == 2 && r.acked):
				t.Fatalf("cut at %d: old record %+v is not what was framed", cut, r)
			}
		}
		if cut == len(fresh) && len(got) != len(newRecs) {
			t.Fatalf("whole new cycle replayed %d of %d records", len(got), len(newRecs))
		}

		// The whole new cycle followed by old frames from any of them on.
		if skip < 0 {
			skip = -skip
		}
		file = bytes.Clone(fresh)
		for _, fr := range oldFrames[skip%len(oldFrames):] {
			file = append(file, fr...)
		}
		got = decodeJournal(file)
		if len(got) != len(newRecs) {
			t.Fatalf("new cycle then old frames from %d: replayed %d records, want %d", skip%len(oldFrames), len(got), len(newRecs))
		}
		for i := range got {
			if !same(got[i], newRecs[i]) {
				t.Fatalf("record %d = %+v, want %+v", i, got[i], newRecs[i])
			}
		}
	})
}

// TestJournalCrashCopiesUnderLoad: intake races a mover that moves as often
// as it can (so cycles start over at the head of the file again and again)
// and a worker that acknowledges; copies taken meanwhile (crashCopy) must
// each hold every delivery answered before the copy began, and offer no
// event twice.
func TestJournalCrashCopiesUnderLoad(t *testing.T) {
	s, path, clk := openFreshAt(t)
	ctx := t.Context()
	stop, churned := make(chan struct{}), make(chan struct{})
	go func() { defer close(churned); moveAndAck(t, s, stop) }()
	var (
		mu       sync.Mutex
		accepted []string
		wg       sync.WaitGroup
	)
	payload := bytes.Repeat([]byte("p"), 2000)
	for w := range 8 {
		wg.Go(func() {
			for i := range 150 {
				id := fmt.Sprintf("w%d-%d", w, i)
				ok, err := s.EnqueueEvent(ctx, store.Event{ID: id, Payload: payload}, []string{"wh:" + id}, time.Hour)
				if err != nil || !ok {
					t.Errorf("enqueue %s = %v, %v", id, ok, err)
					return
				}
				mu.Lock()
				accepted = append(accepted, id)
				mu.Unlock()
			}
		})
	}
	writers := make(chan struct{})
	go func() { wg.Wait(); close(writers) }()
	answeredBy := map[string][]string{} // copy -> deliveries answered before it
	for k := 1; k <= 6; k++ {           // a copy after every 150 answers
		for n := 0; n < 150*k; time.Sleep(time.Millisecond) {
			mu.Lock()
			n = len(accepted)
			mu.Unlock()
			select {
			case <-writers:
				n = 150 * k
			default:
			}
		}
		mu.Lock()
		answered := slices.Clone(accepted)
		mu.Unlock()
		answeredBy[crashCopy(t, s, path)] = answered
	}
	<-writers
	close(stop)
	<-churned
	for copied, answered := range answeredBy {
		r := openAt(t, copied, clk)
		lost := 0
		for _, id := range answered {
			if ok, err := r.EnqueueEvent(ctx, store.Event{ID: "again-" + id}, []string{"wh:" + id}, time.Hour); err != nil || ok {
				lost++
			}
		}
		ids := pendingIDs(t, r)
		if lost > 0 || len(ids) != len(slices.Compact(slices.Sorted(slices.Values(ids)))) {
			t.Errorf("%d of %d answered deliveries lost; pending %v", lost, len(answered), ids)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// moveAndAck moves the journal into bolt as often as it can and
// acknowledges every pending event, until stop.
func moveAndAck(t *testing.T, s *Store, stop chan struct{}) {
	for ctx := t.Context(); ; {
		select {
		case <-stop:
			return
		default:
		}
		if err := s.journal.move(ctx); err != nil {
			t.Error(err)
			return
		}
		evs, err := s.PendingEvents(ctx, 0)
		if err != nil {
			t.Error(err)
			return
		}
		for _, ev := range evs {
			if err := s.AckEvent(ctx, ev.ID); err != nil {
				t.Error(err)
			}
		}
	}
}
