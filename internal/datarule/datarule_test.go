package datarule_test

import (
	"strings"
	"testing"

	"github.com/backout/backout/internal/datarule"
)

func TestParseItem(t *testing.T) {
	tests := []struct {
		in, name, note, err string
	}{
		{"orders.audit_log", "orders.audit_log", "", ""},
		{"  orders.audit_log (7-year retention: never reverted) ", "orders.audit_log", "7-year retention: never reverted", ""},
		{"orders.* (every table)", "orders.*", "every table", ""},
		{"demo.version_file(the installed version)", "demo.version_file", "the installed version", ""},
		{"the installed version file", "", "", "write one dotted data name"},
		{"orders..x", "", "", "is not a data name"},
		{"orders (open", "", "", "a note goes in parentheses at the end"},
		{"", "", "", "a data name is required"},
		{"(only a note)", "", "", "a data name is required"},
	}
	for _, tt := range tests {
		it, err := datarule.ParseItem(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseItem(%q) error = %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || it.Name.String() != tt.name || it.Note != tt.note {
			t.Errorf("ParseItem(%q) = %q (%q), %v; want %q (%q)", tt.in, it.Name, it.Note, err, tt.name, tt.note)
		}
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"orders", "orders.audit_log", true},                // a full restore reverts the table
		{"orders.audit_log.rows", "orders.audit_log", true}, // part of what is kept
		{"orders.line_items", "orders.audit_log", false},
		{"orders.*", "orders.audit_log", true},
		{"*.audit_log", "payments.audit_log", true},
		{"*.audit_log", "payments.ledger", false},
		{"orders", "orders", true},
		{"orders", "orderbook", false},
	}
	for _, tt := range tests {
		a, _ := datarule.ParseName(tt.a)
		b, _ := datarule.ParseName(tt.b)
		if got := a.Overlaps(b); got != tt.want || b.Overlaps(a) != tt.want {
			t.Errorf("%s overlaps %s = %v, want %v both ways", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseConstraints(t *testing.T) {
	tests := []struct {
		in        string
		forbidden []string
		notes     []string
		err       string
	}{
		{"", nil, nil, ""},
		{"Demo only: nothing here is real.", nil, []string{"Demo only: nothing here is real."}, ""},
		{"never revert orders.audit_log (PCI, 7 years); a full restore is forbidden",
			[]string{"orders.audit_log"}, []string{"a full restore is forbidden"}, ""},
		{"Never Revert a.b, c.* (why, and more)\nnever revert d", []string{"a.b", "c.*", "d"}, nil, ""},
		{"audit_log rows are never reverted", nil, nil, "speaks of reverting but is not a rule"},
		{"never revert", nil, nil, "name what is never reverted"},
		{"never revert a (b", nil, nil, "unbalanced parentheses"},
		{"never revert a), b", nil, nil, "unbalanced parentheses"},
		{"never revert the ledger", nil, nil, "write one dotted data name"},
	}
	for _, tt := range tests {
		c, err := datarule.ParseConstraints(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseConstraints(%q) error = %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		var got []string
		for _, it := range c.Forbidden() {
			got = append(got, it.Name.String())
		}
		if err != nil || strings.Join(got, "|") != strings.Join(tt.forbidden, "|") || strings.Join(c.Notes, "|") != strings.Join(tt.notes, "|") {
			t.Errorf("ParseConstraints(%q) = %q, notes %q, %v; want %q, notes %q", tt.in, got, c.Notes, err, tt.forbidden, tt.notes)
		}
	}
}

func TestConflicts(t *testing.T) {
	item := func(s string) datarule.Item {
		it, err := datarule.ParseItem(s)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	reverts := []datarule.Item{item("orders.line_items.discount_code (column)"), item("orders (full restore)")}
	keeps := []datarule.Item{item("orders.audit_log"), item("payments.ledger")}
	got := datarule.Conflicts(reverts, keeps)
	if len(got) != 1 || got[0].Revert.Name.String() != "orders" || got[0].Forbidden.Name.String() != "orders.audit_log" {
		t.Errorf("Conflicts = %+v, want only the full restore against orders.audit_log", got)
	}
}

// FuzzParseConstraints: the parser never panics, and every rule it accepts
// names only valid data names, each of which overlaps itself.
func FuzzParseConstraints(f *testing.F) {
	for _, s := range []string{"", "never revert orders.audit_log (PCI); a full restore is forbidden",
		"never revert a, b.* (x, y)\nnote", "revert", "never revert ((", "never revert a)(", "NEVER REVERT *.*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := datarule.ParseConstraints(s)
		if err != nil {
			return
		}
		for _, it := range c.Forbidden() {
			again, err := datarule.ParseName(it.Name.String())
			if err != nil || !again.Overlaps(it.Name) {
				t.Fatalf("accepted %q with target %q that does not parse back: %v", s, it.Name, err)
			}
		}
		for _, n := range c.Notes {
			if strings.Contains(strings.ToLower(n), "revert") {
				t.Fatalf("accepted a note that speaks of reverting: %q", n)
			}
		}
	})
}

func FuzzParseItem(f *testing.F) {
	for _, s := range []string{"orders.audit_log (7 years)", "a", "*.b", "(x)", "a (b) c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		it, err := datarule.ParseItem(s)
		if err == nil && len(it.Name) == 0 {
			t.Fatalf("accepted %q without a name", s)
		}
	})
}
