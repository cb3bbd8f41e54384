package bolt

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/store/storetest"
)

// TestAuditTamper runs the tamper cases on the audit bucket itself.
func TestAuditTamper(t *testing.T) {
	storetest.RunTamper(t, func(t *testing.T, h store.Hasher) (store.Store, storetest.RawAudit) {
		s, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{Hasher: h})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s, rawAudit{s.db}
	})
}

// rawAudit edits the audit bucket in place; position p is key p.
type rawAudit struct{ db *bbolt.DB }

func (r rawAudit) Get(t *testing.T, pos int) store.AuditEvent {
	t.Helper()
	var e store.AuditEvent
	err := r.db.View(func(tx *bbolt.Tx) error {
		return json.Unmarshal(tx.Bucket(bAudit).Get(u64(uint64(pos))), &e)
	})
	if err != nil {
		t.Fatalf("raw get %d: %v", pos, err)
	}
	return e
}

func (r rawAudit) Set(t *testing.T, pos int, e store.AuditEvent) {
	t.Helper()
	err := r.db.Update(func(tx *bbolt.Tx) error {
		return putJSON(tx.Bucket(bAudit), u64(uint64(pos)), &e)
	})
	if err != nil {
		t.Fatalf("raw set %d: %v", pos, err)
	}
}

func (r rawAudit) Delete(t *testing.T, pos int) {
	t.Helper()
	err := r.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bAudit).Delete(u64(uint64(pos))) })
	if err != nil {
		t.Fatalf("raw delete %d: %v", pos, err)
	}
}

// TestReadOnlyOpen checks what `bot audit verify` relies on: a read-only
// open reads the chain of a closed file, and fails fast with ErrLocked
// while a writer holds it.
func TestReadOnlyOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := w.AppendAudit(t.Context(), store.AuditEvent{Actor: "U1", Action: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := Open(path, Options{ReadOnly: true, Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only open beside a writer: %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("read-only open waited %v for the lock", waited)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := store.VerifyAuditLog(t.Context(), r, store.Hasher{}, nil)
	if err != nil || rep.Events != 3 {
		t.Fatalf("read-only verify: %+v, %v", rep, err)
	}
	if _, err := r.AppendAudit(t.Context(), store.AuditEvent{Actor: "U1", Action: "a"}); err == nil {
		t.Fatal("a read-only store accepted a write")
	}
}
