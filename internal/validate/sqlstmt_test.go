package validate

import (
	"strings"
	"testing"
)

func TestReadOnlyStatement(t *testing.T) {
	for _, tc := range []struct {
		query, wantErr string
	}{
		{"SELECT 1", ""},
		{"  select count(*) from t;  ", ""},
		{"-- orphans\n/* note; */ WITH x AS (SELECT 1) SELECT * FROM x", ""},
		{"(SELECT 1) UNION (SELECT 2)", ""},
		{"SELECT ';' AS s, \"a;b\", `c;d`, 'it''s; fine'", ""},
		{"SELECT $$a; b$$, $tag$ ; $tag$", ""},
		{"SELECT $1::int; ", ""},
		{"SELECT 1 -- trailing; comment", ""},
		{"SELECT 1; -- only a comment after", ""},
		{"", "expected a SELECT or WITH statement"},
		{"-- nothing", "expected a SELECT or WITH statement"},
		{"DELETE FROM t", "only SELECT or WITH statements may run in a check, got DELETE"},
		{"/* SELECT */ update t set a = 1", "only SELECT or WITH statements may run in a check, got UPDATE"},
		{"SELECTX 1", "only SELECT or WITH statements may run in a check, got SELECTX"},
		{"SELECT 1; DELETE FROM t", "write a single statement"},
		{"SELECT 1;;", "write a single statement"},
		{"SELECT 'unterminated; DELETE", ""},
		{"SELECT 1 /* ; */; SELECT 2", "write a single statement"},
		{"SELECT $x$ ; $x$; DROP TABLE t", "write a single statement"},
	} {
		if got := errString(readOnlyStatement(tc.query)); got != tc.wantErr {
			t.Errorf("readOnlyStatement(%q) = %q, want %q", tc.query, got, tc.wantErr)
		}
	}
}

// FuzzReadOnlyStatement: an accepted query starts with SELECT or WITH once
// comments and parentheses are dropped, and holds one statement.
func FuzzReadOnlyStatement(f *testing.F) {
	f.Fuzz(func(t *testing.T, q string) {
		if readOnlyStatement(q) != nil {
			return
		}
		rest := skipSpaceAndComments(q)
		for strings.HasPrefix(rest, "(") {
			rest = skipSpaceAndComments(rest[1:])
		}
		up := strings.ToUpper(rest)
		if !strings.HasPrefix(up, "SELECT") && !strings.HasPrefix(up, "WITH") {
			t.Fatalf("accepted %q", q)
		}
		if statementCount(q) != 1 {
			t.Fatalf("accepted %q with %d statements", q, statementCount(q))
		}
	})
}
