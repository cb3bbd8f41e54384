package redis

import (
	"encoding/json"
	"testing"

	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/store/storetest"
)

// TestAuditTamper runs the tamper cases on the audit list itself.
func TestAuditTamper(t *testing.T) {
	storetest.RunTamper(t, func(t *testing.T, h store.Hasher) (store.Store, storetest.RawAudit) {
		s := openTestOpts(t, Options{Hasher: h})
		return s, rawAudit{s}
	})
}

// rawAudit edits the audit list with plain list commands; position p is
// list index p-1.
type rawAudit struct{ s *Store }

func (r rawAudit) Get(t *testing.T, pos int) store.AuditEvent {
	t.Helper()
	v, err := r.s.c.LIndex(t.Context(), r.s.key("audit"), int64(pos-1)).Bytes()
	if err != nil {
		t.Fatalf("raw get %d: %v", pos, err)
	}
	var e store.AuditEvent
	if err := json.Unmarshal(v, &e); err != nil {
		t.Fatalf("raw get %d: %v", pos, err)
	}
	return e
}

func (r rawAudit) Set(t *testing.T, pos int, e store.AuditEvent) {
	t.Helper()
	v, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.s.c.LSet(t.Context(), r.s.key("audit"), int64(pos-1), v).Err(); err != nil {
		t.Fatalf("raw set %d: %v", pos, err)
	}
}

// Delete marks the element and removes the mark: Redis lists have no
// delete-by-index.
func (r rawAudit) Delete(t *testing.T, pos int) {
	t.Helper()
	const mark = "\x00tampered"
	ctx, key := t.Context(), r.s.key("audit")
	if err := r.s.c.LSet(ctx, key, int64(pos-1), mark).Err(); err != nil {
		t.Fatalf("raw delete %d: %v", pos, err)
	}
	if err := r.s.c.LRem(ctx, key, 1, mark).Err(); err != nil {
		t.Fatalf("raw delete %d: %v", pos, err)
	}
}
