package bolt

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/store/storetest"
)

func openTemp(t testing.TB, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
		return openTemp(t, now)
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	clk := storetest.NewClock(storetest.T0)
	s, err := Open(path, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.NextID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRollback(ctx, &rollback.Record{ID: id, State: rollback.StateProposed}); err != nil {
		t.Fatal(err)
	}
	l, err := s.AcquireLease(ctx, "drill/api", "a", time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "U1", Action: "propose"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Claim(ctx, "tick", time.Hour); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetRollback(ctx, id); err != nil {
		t.Fatalf("rollback lost on reopen: %v", err)
	}
	if next, err := s.NextID(ctx); err != nil || next == id {
		t.Fatalf("NextID after reopen = %q, %v; the counter must persist", next, err)
	}
	if l2, err := s.AcquireLease(ctx, "drill/api", "b", time.Minute, 0); err != nil || l2.Token <= l.Token {
		t.Fatalf("lease token after reopen = %d, %v; want above %d", l2.Token, err, l.Token)
	}
	if ok, err := s.Claim(ctx, "tick", time.Hour); err != nil || ok {
		t.Fatalf("claim after reopen = %v, %v; want false (the first claim persists)", ok, err)
	}
	audit, err := s.ListAudit(ctx)
	if err != nil || len(audit) != 1 || store.VerifyAudit(audit) != nil {
		t.Fatalf("audit after reopen: %v %v", audit, err)
	}
}

// TestAuditEditOnDiskDetected edits an audit record in the file, as someone
// with access to the volume might, and expects the chain to notice.
func TestAuditEditOnDiskDetected(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, nil)
	for _, a := range []string{"propose", "approve", "execute"} {
		if _, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "U1", Action: a}); err != nil {
			t.Fatal(err)
		}
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bAudit)
		var e store.AuditEvent
		if err := json.Unmarshal(b.Get(u64(2)), &e); err != nil {
			return err
		}
		e.Actor = "U666"
		return putJSON(b, u64(2), &e)
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.ListAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.VerifyAudit(list); err == nil {
		t.Fatal("edited audit record not detected")
	}
}

func TestExpiredKeysArePurged(t *testing.T) {
	ctx := t.Context()
	clk := storetest.NewClock(storetest.T0)
	s := openTemp(t, clk.Now)
	// Concurrent claims share batches, which keeps this quick.
	var wg sync.WaitGroup
	for i := range 3 * purgeMax {
		wg.Go(func() {
			if _, err := s.Claim(ctx, fmt.Sprint("k", i), time.Second); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	clk.Advance(time.Minute)
	// Each write removes up to purgeMax expired keys; four writes clear them.
	for range 4 {
		if _, err := s.Claim(ctx, "fresh", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		if n := tx.Bucket(bClaims).Stats().KeyN; n != 1 {
			t.Errorf("%d claims left, want only the fresh one", n)
		}
		if n := tx.Bucket(bClaimsExp).Stats().KeyN; n != 1 {
			t.Errorf("%d expiry index entries left, want 1", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestClosedIsUnavailable(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping on a closed store: %v, want ErrUnavailable", err)
	}
	if _, err := s.Claim(t.Context(), "k", time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Claim on a closed store: %v, want ErrUnavailable", err)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt's flock is per open file description, so a second Open in the
	// same process contends like a second replica would.
	if s2, err := Open(path, Options{}); err == nil {
		_ = s2.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
}

func BenchmarkEnqueueEvent(b *testing.B) {
	storetest.BenchEnqueueEvent(b, openTemp(b, nil))
}

func BenchmarkAppendStep(b *testing.B) {
	storetest.BenchAppendStep(b, openTemp(b, nil))
}

func BenchmarkUpdateRollback(b *testing.B) {
	storetest.BenchUpdateRollback(b, openTemp(b, nil))
}
