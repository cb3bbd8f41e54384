package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/backout/backout/internal/store"
)

// testAuditScan checks the paged read: order across page boundaries, a
// start in the middle, an early stop, and the head.
func testAuditScan(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	if _, err := s.LastAudit(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LastAudit of an empty log: %v, want ErrNotFound", err)
	}
	must(t, s.ScanAudit(ctx, 1, func(e store.AuditEvent) error {
		return fmt.Errorf("empty log handed over seq %d", e.Seq)
	}))
	n := store.AuditPage + 10 // more than one page
	for i := range n {
		_, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "U1", Action: fmt.Sprint("a", i)})
		must(t, err)
	}
	stop := errors.New("stop")
	tests := []struct {
		name      string
		from      int64
		stopAfter int
		wantFirst int64
		wantCount int
		wantErr   error
	}{
		{"whole log", 1, 0, 1, n, nil},
		{"zero means whole log", 0, 0, 1, n, nil},
		{"from the middle of the second page", int64(n - 3), 0, int64(n - 3), 4, nil},
		{"past the head", int64(n + 5), 0, 0, 0, nil},
		{"stopped by fn", 1, 3, 1, 3, stop},
	}
	for _, tc := range tests {
		var seqs []int64
		err := s.ScanAudit(ctx, tc.from, func(e store.AuditEvent) error {
			seqs = append(seqs, e.Seq)
			if len(seqs) == tc.stopAfter {
				return stop
			}
			return nil
		})
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: error %v, want %v", tc.name, err, tc.wantErr)
		}
		if len(seqs) != tc.wantCount || (len(seqs) > 0 && seqs[0] != tc.wantFirst) {
			t.Fatalf("%s: %d events starting at %v, want %d starting at %d", tc.name, len(seqs), seqs[:min(len(seqs), 1)], tc.wantCount, tc.wantFirst)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Fatalf("%s: seq %d follows %d", tc.name, seqs[i], seqs[i-1])
			}
		}
	}
	last, err := s.LastAudit(ctx)
	must(t, err)
	if last.Seq != int64(n) {
		t.Fatalf("LastAudit: seq %d, want %d", last.Seq, n)
	}
	rep, err := store.VerifyAuditLog(ctx, s, store.Hasher{}, &store.AuditAnchor{Seq: last.Seq, Hash: last.Hash})
	must(t, err)
	if rep.Events != int64(n) || rep.Head.Seq != last.Seq || rep.Head.Hash != last.Hash {
		t.Fatalf("verification report %+v, want %d events up to the head", rep, n)
	}
}

// RawAudit reaches under a backend's API into its stored audit log, as
// someone with access to the store (but not the audit key) could. pos is
// the 1-based storage position: the bolt key, the Redis list index + 1.
type RawAudit interface {
	Get(t *testing.T, pos int) store.AuditEvent
	Set(t *testing.T, pos int, e store.AuditEvent) // overwrite as is, no rehash
	Delete(t *testing.T, pos int)
}

// tamperEvents is how many events each tamper case starts from.
const tamperEvents = 6

// testKey is the audit key of the keyed cases.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// RunTamper writes a chain, tampers with it through raw, and checks that
// verification names the broken seq: with the anchor taken before the
// tampering always, and without one exactly when the case says the chain
// alone shows it. open returns a fresh, empty store hashing with h.
func RunTamper(t *testing.T, open func(t *testing.T, h store.Hasher) (store.Store, RawAudit)) {
	tests := []struct {
		name  string
		keyed bool
		edit  func(t *testing.T, raw RawAudit)
		// wantSeq is the seq verification must name with the anchor;
		// unanchored says whether the chain alone shows the break.
		wantSeq    int64
		unanchored bool
	}{
		{"edited event", false, func(t *testing.T, raw RawAudit) {
			e := raw.Get(t, 3)
			e.Actor = "U0MALLORY"
			raw.Set(t, 3, e)
		}, 3, true},
		{"deleted from the middle", false, func(t *testing.T, raw RawAudit) { raw.Delete(t, 3) }, 3, true},
		{"deleted tail", false, func(t *testing.T, raw RawAudit) {
			raw.Delete(t, tamperEvents)
			raw.Delete(t, tamperEvents-1)
		}, tamperEvents - 1, false},
		{"reordered", false, func(t *testing.T, raw RawAudit) {
			a, b := raw.Get(t, 2), raw.Get(t, 3)
			raw.Set(t, 2, b)
			raw.Set(t, 3, a)
		}, 2, true},
		// Unkeyed, a consistent rewrite passes the chain; only the
		// anchor shows it, at the anchored seq.
		{"rewritten consistently, unkeyed", false, rewriteFrom(2), tamperEvents, false},
		{"rewritten consistently, keyed", true, rewriteFrom(2), 2, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			h := store.Hasher{}
			if tc.keyed {
				h = store.NewHasher(testKey)
			}
			s, raw := open(t, h)
			for i := range tamperEvents {
				_, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "U1", Action: fmt.Sprint("action-", i), Target: "RB-1"})
				must(t, err)
			}
			head, err := s.LastAudit(ctx)
			must(t, err)
			anchor := store.AuditAnchor{Seq: head.Seq, Hash: head.Hash}
			_, err = store.VerifyAuditLog(ctx, s, h, &anchor)
			must(t, err)
			tc.edit(t, raw)

			_, err = store.VerifyAuditLog(ctx, s, h, &anchor)
			wantBroken(t, "with the anchor", err, tc.wantSeq)
			_, err = store.VerifyAuditLog(ctx, s, h, nil)
			if tc.unanchored {
				var broken *store.ChainError
				if !errors.As(err, &broken) {
					t.Fatalf("without an anchor: %v, want a broken chain", err)
				}
			} else if err != nil {
				t.Fatalf("without an anchor: %v; this tampering should pass the chain alone (the reason for anchors)", err)
			}
		})
	}
}

// rewriteFrom edits the event at pos and rehashes it and every later one
// with plain SHA-256, as a forger without the key would.
func rewriteFrom(pos int) func(t *testing.T, raw RawAudit) {
	return func(t *testing.T, raw RawAudit) {
		prev := raw.Get(t, pos-1).Hash
		for p := pos; p <= tamperEvents; p++ {
			e := raw.Get(t, p)
			if p == pos {
				e.Actor = "U0MALLORY"
			}
			e.PrevHash = prev
			e.Hash = store.HashAudit(e)
			raw.Set(t, p, e)
			prev = e.Hash
		}
	}
}

func wantBroken(t *testing.T, what string, err error, seq int64) {
	t.Helper()
	var broken *store.ChainError
	if !errors.As(err, &broken) {
		t.Fatalf("%s: %v, want a broken chain at seq %d", what, err, seq)
	}
	if broken.Seq != seq || !strings.Contains(err.Error(), fmt.Sprintf("seq %d:", seq)) {
		t.Fatalf("%s: %q names seq %d, want seq %d", what, err, broken.Seq, seq)
	}
}
