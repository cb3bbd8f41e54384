package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/backout/backout/internal/store"
)

func TestParseAuditAnchor(t *testing.T) {
	h := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    store.AuditAnchor
		wantErr string
	}{
		{"42:" + h, store.AuditAnchor{Seq: 42, Hash: h}, ""},
		{" 7:" + strings.ToUpper(h) + " ", store.AuditAnchor{Seq: 7, Hash: h}, ""},
		{"42", store.AuditAnchor{}, "want SEQ:HASH"},
		{"0:" + h, store.AuditAnchor{}, "SEQ 1 or more"},
		{"x:" + h, store.AuditAnchor{}, "want SEQ:HASH"},
		{"42:" + h[:16], store.AuditAnchor{}, "whole 64-digit"},
		{"42:" + strings.Repeat("zz", 32), store.AuditAnchor{}, "whole 64-digit"},
	}
	for _, tc := range tests {
		got, err := store.ParseAuditAnchor(tc.in)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("ParseAuditAnchor(%q) = %+v, %v; want %+v, error %q", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err == nil && fmt.Sprint(got) != strings.TrimSpace(strings.ToLower(tc.in)) {
			t.Errorf("%+v prints as %q, not as the SEQ:HASH it was read from", got, got)
		}
	}
}

// TestHasher: the key changes every hash, and printing a hasher never
// shows the key.
func TestHasher(t *testing.T) {
	e := store.AuditEvent{Seq: 1, Actor: "U1", Action: "a"}
	key := "a-secret-audit-key-1234567890"
	tests := []struct {
		name  string
		h     store.Hasher
		keyed bool
	}{
		{"zero value", store.Hasher{}, false},
		{"empty key", store.NewHasher(nil), false},
		{"keyed", store.NewHasher([]byte(key)), true},
	}
	for _, tc := range tests {
		if tc.h.Keyed() != tc.keyed || (tc.h.Hash(e) == store.HashAudit(e)) == tc.keyed {
			t.Errorf("%s: keyed %v, hash %s; want keyed %v", tc.name, tc.h.Keyed(), tc.h.Hash(e), tc.keyed)
		}
		if printed := fmt.Sprintf("%v %+v %#v %s", tc.h, tc.h, tc.h, tc.h); strings.Contains(printed, key) {
			t.Errorf("%s: the key prints: %s", tc.name, printed)
		}
	}
	if store.NewHasher([]byte(key)).Hash(e) == store.NewHasher([]byte(key+"x")).Hash(e) {
		t.Error("two keys give one hash")
	}
}

// sliceLog is an AuditScanner over events in memory.
type sliceLog []store.AuditEvent

func (l sliceLog) ScanAudit(_ context.Context, fromSeq int64, fn func(store.AuditEvent) error) error {
	for _, e := range l {
		if e.Seq < fromSeq {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// chain builds n events hashed with h.
func chain(h store.Hasher, n int) sliceLog {
	var out sliceLog
	prev := ""
	for i := range n {
		e := store.AuditEvent{Seq: int64(i + 1), Actor: "U1", Action: fmt.Sprint("a", i), PrevHash: prev}
		e.Hash = h.Hash(e)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

// TestResumeAuditLog: a resumed check reads from the checkpoint on, and
// refuses a checkpoint it cannot trust.
func TestResumeAuditLog(t *testing.T) {
	key := store.NewHasher([]byte("the-audit-key-of-this-test"))
	log := chain(key, 10)
	full, err := store.VerifyAuditLog(t.Context(), log[:6], key, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp := store.NewAuditCheckpoint(key, full) // at seq 6
	forged := store.NewAuditCheckpoint(store.Hasher{}, full)
	edited := append(sliceLog{}, log...)
	edited[5].Actor = "U0MALLORY"
	tests := []struct {
		name     string
		log      sliceLog
		cp       store.AuditCheckpoint
		anchor   *store.AuditAnchor
		from     int64
		read     int64
		events   int64
		errorHas string
	}{
		{"reads only what is new", log, cp, nil, 6, 5, 10, ""},
		{"nothing new", log[:6], cp, nil, 6, 1, 6, ""},
		{"an anchor after the checkpoint", log, cp, &store.AuditAnchor{Seq: 8, Hash: log[7].Hash}, 6, 5, 10, ""},
		{"an anchor before it: the whole chain", log, cp, &store.AuditAnchor{Seq: 2, Hash: log[1].Hash}, 1, 10, 10, ""},
		{"a checkpoint without the key", log, forged, nil, 6, 0, 0, "does not verify with this key"},
		{"the checkpoint's event edited", edited, cp, nil, 6, 1, 0, "changed since it was verified"},
		{"cut before the checkpoint", log[:4], cp, nil, 6, 0, 0, "ends before the verification checkpoint"},
	}
	for _, tc := range tests {
		rep, err := store.ResumeAuditLog(t.Context(), tc.log, key, tc.anchor, tc.cp)
		if tc.errorHas != "" {
			var broken *store.ChainError
			if !errors.As(err, &broken) || !strings.Contains(err.Error(), tc.errorHas) {
				t.Errorf("%s: error %v, want a chain error with %q", tc.name, err, tc.errorHas)
			}
			continue
		}
		if err != nil || rep.From != tc.from || rep.Read != tc.read || rep.Events != tc.events || rep.Head.Seq != int64(len(tc.log)) {
			t.Errorf("%s: %+v, %v; want from %d, read %d, events %d", tc.name, rep, err, tc.from, tc.read, tc.events)
		}
	}
}
