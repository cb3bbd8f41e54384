package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/backout/backout/internal/store"
	boltstore "github.com/backout/backout/internal/store/bolt"
)

// TestAuditVerify writes an audit trail through the store, checks that
// `bot audit verify` accepts it, edits one event by hand in the bolt file,
// and checks that verify then exits 1 naming the broken link.
func TestAuditVerify(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "state.db")
	cfgPath := filepath.Join(dir, "bot.yaml")
	cfg := "store: {kind: bolt, path: state.db}\nslack: {channel: C1}\nrunbooks: " + dir + "\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(dbPath, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"rollback.proposed", "vote.approve", "rollback.started", "rollback.succeeded"} {
		if _, err := st.AppendAudit(context.Background(), store.AuditEvent{Actor: "U0BOB", Action: action, Target: "RB-1", From: "slack"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runBot(t, env(), "audit", "verify", "--config", cfgPath)
	if code != exitOK || !strings.Contains(out, "audit chain ok: 4 events") {
		t.Fatalf("intact chain: exit %d, %q %q", code, out, errOut)
	}

	// Someone rewrites history: the approval now names another person.
	db, err := bbolt.Open(dbPath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		key := make([]byte, 8)
		binary.BigEndian.PutUint64(key, 2)
		var e store.AuditEvent
		if err := json.Unmarshal(b.Get(key), &e); err != nil {
			return err
		}
		e.Actor = "U0MALLORY"
		v, _ := json.Marshal(e)
		return b.Put(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runBot(t, env(), "audit", "verify", "--config", cfgPath)
	if code != exitInvalid || !strings.Contains(out, "audit chain BROKEN") || !strings.Contains(out, "seq 2") {
		t.Fatalf("tampered chain: exit %d, %q; want exit 1 naming seq 2", code, out)
	}
}
