package store_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

func TestQueryIndex(t *testing.T) {
	tests := []struct {
		name string
		q    store.RollbackQuery
		want string
	}{
		{"nothing: time", store.RollbackQuery{}, store.IndexTime},
		{"open states: open", store.RollbackQuery{States: []rollback.State{rollback.StateProposed, rollback.StateRunning}}, store.IndexOpen},
		{"open states of a service: open", store.RollbackQuery{Service: "api", States: []rollback.State{rollback.StateInterrupted}}, store.IndexOpen},
		{"service", store.RollbackQuery{Service: "api"}, store.IndexService("api")},
		{"service and an ended state", store.RollbackQuery{Service: "api", States: []rollback.State{rollback.StateFailed}}, store.IndexServiceState("api", rollback.StateFailed)},
		{"service and two ended states: service", store.RollbackQuery{Service: "api", States: []rollback.State{rollback.StateFailed, rollback.StateAborted}}, store.IndexService("api")},
		{"service and trigger: service", store.RollbackQuery{Service: "api", Trigger: "alert"}, store.IndexService("api")},
		{"one ended state", store.RollbackQuery{States: []rollback.State{rollback.StateFailed}}, store.IndexState(rollback.StateFailed)},
		{"open and ended: time", store.RollbackQuery{States: []rollback.State{rollback.StateFailed, rollback.StateRunning}}, store.IndexTime},
		{"trigger", store.RollbackQuery{Trigger: "alert"}, store.IndexTrigger("alert")},
		{"one state and a trigger: state", store.RollbackQuery{Trigger: "alert", States: []rollback.State{rollback.StateFailed}}, store.IndexState(rollback.StateFailed)},
	}
	for _, tc := range tests {
		if got := tc.q.Index(); got != tc.want {
			t.Errorf("%s: index %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSortKeyOrder(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ordered := []store.Position{
		{Micro: -5, ID: "RB-1"},
		{Micro: 0, ID: "RB-1"},
		{Micro: t0.UnixMicro(), ID: "RB-10"},
		{Micro: t0.UnixMicro(), ID: "RB-9"},
		{Micro: t0.UnixMicro() + 1, ID: "RB-1"},
	}
	for i, p := range ordered {
		back, err := store.ParseSortKey(p.SortKey())
		if err != nil || back != p {
			t.Fatalf("round trip of %+v: %+v, %v", p, back, err)
		}
		if i > 0 && ordered[i-1].SortKey() >= p.SortKey() {
			t.Fatalf("%+v sorts at or after %+v", ordered[i-1], p)
		}
	}
}

func TestParseCursor(t *testing.T) {
	p := store.Position{Micro: 1740830400000000, ID: "RB-42"}
	const scope = "rollbacks?outcome=failed"
	good := store.EncodeCursor(scope, p)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	edited := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), "RB-42", "RB-41", 1)))
	tests := []struct {
		name, scope, in string
		want            string // error substring; "" for success
	}{
		{"round trip", scope, good, ""},
		{"not base64", scope, "%%%", "not base64url"},
		{"another tag", scope, "eDF8MDAwMDAwMDAwMDAwMDAwMDpSQi0x", "not a cursor of this API"},
		{"an older Backout's", scope, "YzF8ODAwNjYyMDc4NjkwNTE2YzpELTEy", "made by an older Backout"},
		{"truncated", scope, good[:10], "cursor:"},
		{"cut by one character", scope, good[:len(good)-1], "it belongs to another listing or other filters, or was edited"},
		{"another scope", "rollbacks?outcome=aborted", good, "it belongs to another listing or other filters, or was edited"},
		{"edited position", scope, edited, "it belongs to another listing or other filters, or was edited"},
		{"too long", scope, strings.Repeat("A", 600), "too long"},
		{"empty", scope, "", "not a cursor"},
	}
	for _, tc := range tests {
		got, err := store.ParseCursor(tc.scope, tc.in)
		switch {
		case tc.want == "" && (err != nil || got != p):
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, p)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// FuzzParseCursor: no input panics, and whatever parses encodes back to a
// cursor that parses to the same position.
func FuzzParseCursor(f *testing.F) {
	f.Add(store.EncodeCursor("s", store.Position{Micro: 1, ID: "RB-1"}))
	f.Add("")
	f.Add("YzF8")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := store.ParseCursor("s", s)
		if err != nil {
			return
		}
		again, err := store.ParseCursor("s", store.EncodeCursor("s", p))
		if err != nil || again != p {
			t.Fatalf("%q parsed to %+v, which encodes to a cursor that parses to %+v, %v", s, p, again, err)
		}
	})
}
