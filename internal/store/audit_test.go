package store_test

import (
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
