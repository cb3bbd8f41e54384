package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/backout/backout/internal/app"
	"github.com/backout/backout/internal/store"
	boltstore "github.com/backout/backout/internal/store/bolt"
	"github.com/backout/backout/internal/testutil/syncbuf"
)

const testAuditKey = "an-audit-key-of-32-bytes-for-tests"

// writeTrail writes a config and a keyed audit trail of n events, and
// returns the config's path, the bolt file and the head.
func writeTrail(t *testing.T, n int, listen string) (string, string, store.AuditEvent) {
	t.Helper()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "state.db")
	cfgPath := filepath.Join(dir, "bot.yaml")
	cfg := fmt.Sprintf("listen: %q\nstore: {kind: bolt, path: state.db}\nslack: {channel: C1}\nrunbooks: runbooks\naudit: {anchor_every: 1h}\n", listen)
	if err := os.Mkdir(filepath.Join(dir, "runbooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(dbPath, boltstore.Options{Hasher: store.NewHasher([]byte(testAuditKey))})
	if err != nil {
		t.Fatal(err)
	}
	var head store.AuditEvent
	for i := range n {
		if head, err = st.AppendAudit(context.Background(), store.AuditEvent{Actor: "U0BOB", Action: fmt.Sprint("action-", i), Target: "RB-1", From: "slack"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dbPath, head
}

// editBolt changes the audit bucket by hand, as someone with the file could.
func editBolt(t *testing.T, dbPath string, fn func(b *bbolt.Bucket, key func(seq uint64) []byte) error) {
	t.Helper()
	db, err := bbolt.Open(dbPath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := func(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }
	if err := db.Update(func(tx *bbolt.Tx) error { return fn(tx.Bucket([]byte("audit")), key) }); err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerify runs `bot audit verify` over one keyed trail as it is
// checked, cut and edited: each break exits 1 naming the seq.
func TestAuditVerify(t *testing.T) {
	cfgPath, dbPath, head := writeTrail(t, 4, "127.0.0.1:0")
	keyed := env("BACKOUT_AUDIT_KEY", testAuditKey)
	anchor := fmt.Sprintf("%d:%s", head.Seq, head.Hash)
	cutTail := func(t *testing.T) {
		editBolt(t, dbPath, func(b *bbolt.Bucket, key func(uint64) []byte) error { return b.Delete(key(4)) })
	}
	editSeq2 := func(t *testing.T) {
		editBolt(t, dbPath, func(b *bbolt.Bucket, key func(uint64) []byte) error {
			var e store.AuditEvent
			if err := json.Unmarshal(b.Get(key(2)), &e); err != nil {
				return err
			}
			e.Actor = "U0MALLORY"
			v, _ := json.Marshal(e)
			return b.Put(key(2), v)
		})
	}
	steps := []struct {
		name   string
		tamper func(t *testing.T)
		env    func(string) string
		args   []string
		code   int
		want   []string
	}{
		{"intact", nil, keyed, nil, exitOK, []string{"audit chain ok: 4 events", "head seq=4 hash=" + head.Hash, "keyed HMAC-SHA256"}},
		{"reaches the anchor", nil, keyed, []string{"--anchor", anchor}, exitOK, []string{"reaches the anchor seq=4"}},
		{"without the key", nil, env(), nil, exitInvalid, []string{"BROKEN", "seq 1", "hint:"}},
		{"malformed anchor", nil, keyed, []string{"--anchor", "4"}, exitInvalid, nil},
		{"tail cut, anchored", cutTail, keyed, []string{"--anchor", anchor}, exitInvalid, []string{"BROKEN", "seq 4", "truncated?", "last intact link: seq=3"}},
		{"tail cut, no anchor: invisible", nil, keyed, nil, exitOK, []string{"audit chain ok: 3 events"}},
		{"edited", editSeq2, keyed, nil, exitInvalid, []string{"BROKEN", "seq 2", "rewritten without the key"}},
	}
	for _, s := range steps {
		if s.tamper != nil {
			s.tamper(t)
		}
		code, out, errOut := runBot(t, s.env, append([]string{"audit", "verify", "--config", cfgPath}, s.args...)...)
		if code != s.code {
			t.Fatalf("%s: exit %d, want %d\n%s%s", s.name, code, s.code, out, errOut)
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Fatalf("%s: output lacks %q:\n%s", s.name, w, out)
			}
		}
	}
}

// TestAuditVerifyWhileServing: with bot serve holding the bolt file,
// verify fails over to the server's /api/v1/audit/verify at the config's
// listen address, and serve anchors the head when it stops.
func TestAuditVerifyWhileServing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfgPath, _, head := writeTrail(t, 3, addr)
	getenv := env("BACKOUT_AUDIT_KEY", testAuditKey, "BACKOUT_API_TOKEN", "tok-audit")
	loaded, err := app.Load(cfgPath, getenv, registries)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- app.Serve(ctx, loaded, slog.New(slog.NewTextHandler(&logs, nil))) }()
	waitListening(t, addr)

	anchor := fmt.Sprintf("--anchor=%d:%s", head.Seq, head.Hash)
	code, out, errOut := runBot(t, getenv, "audit", "verify", "--config", cfgPath, anchor)
	if code != exitOK || !strings.Contains(out, "audit chain ok: 3 events") || !strings.Contains(out, "verified by http://"+addr) ||
		!strings.Contains(errOut, "held by a running bot serve") {
		t.Fatalf("verify beside serve: exit %d\n%s%s", code, out, errOut)
	}
	// The verification left a checkpoint at the head: a resumed one reads
	// only the event there.
	code, out, errOut = runBot(t, getenv, "audit", "verify", "--config", cfgPath, "--resume")
	if code != exitOK || !strings.Contains(out, "audit chain ok: 3 events") || !strings.Contains(out, "resumed from the checkpoint at seq 3: read 1 events") {
		t.Fatalf("resumed verify through serve: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runBot(t, getenv, "audit", "verify", "--config", cfgPath, fmt.Sprintf("--anchor=9:%s", head.Hash))
	if code != exitInvalid || !strings.Contains(out, "seq 4") || !strings.Contains(out, "truncated?") {
		t.Fatalf("anchor beyond the head, through serve: exit %d\n%s", code, out)
	}
	code, _, errOut = runBot(t, env("BACKOUT_AUDIT_KEY", testAuditKey), "audit", "verify", "--config", cfgPath)
	if code != exitRuntime || !strings.Contains(errOut, "set BACKOUT_API_TOKEN") {
		t.Fatalf("without a token: exit %d %s", code, errOut)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "audit anchor seq=3 hash="+head.Hash) {
		t.Fatalf("serve did not anchor at shutdown:\n%s", logs.String())
	}
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never listened on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
