package validate

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/backout/backout/internal/check"
)

// Test databases: local PostgreSQL (trust auth) and MySQL/MariaDB.
const (
	postgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	mysqlDSN    = "root@tcp(127.0.0.1:3306)/test"
)

// openTestDB connects, or skips the test (fails it when CI=true).
func openTestDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err == nil {
		err = db.PingContext(t.Context())
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s test database: %v", driver, err)
		}
		t.Skipf("%s test database unavailable: %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func countRows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// orphanTables creates orders and items tables with one orphan item and
// returns their names.
func orphanTables(t *testing.T, db *sql.DB) (orders, items string) {
	suffix := rand.Uint32()
	orders, items = fmt.Sprintf("bo_orders_%d", suffix), fmt.Sprintf("bo_items_%d", suffix)
	mustExec(t, db,
		"CREATE TABLE "+orders+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+items+" (id INT PRIMARY KEY, order_id INT NOT NULL)",
		"INSERT INTO "+orders+" (id) VALUES (1)",
		"INSERT INTO "+items+" (id, order_id) VALUES (1, 1), (2, 2)",
	)
	t.Cleanup(func() { mustExec(t, db, "DROP TABLE "+items, "DROP TABLE "+orders) })
	return orders, items
}

func TestSQLCheck(t *testing.T) {
	for _, tc := range []struct{ driver, dsn, sqlDriver string }{
		{"postgres", postgresDSN, "pgx"},
		{"mysql", mysqlDSN, "mysql"},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			t.Parallel()
			db := openTestDB(t, tc.sqlDriver, tc.dsn)
			orders, items := orphanTables(t, db)
			orphans := fmt.Sprintf("FROM %s i LEFT JOIN %s o ON o.id = i.order_id WHERE o.id IS NULL", items, orders)
			env := mapEnv(map[string]string{"TEST_DSN": tc.dsn})
			measure := func(w string) check.Measurement {
				t.Helper()
				m, err := NewSQL().Measure(t.Context(), check.Request{With: with(t, w), Env: env})
				if err != nil {
					t.Fatalf("Measure(%s): %v", w, err)
				}
				return m
			}
			byValue := fmt.Sprintf(`{driver: %s, dsn_env: TEST_DSN, query: "SELECT count(*) %s", expect_value: "0"}`, tc.driver, orphans)
			byRows := fmt.Sprintf(`{driver: %s, dsn_env: TEST_DSN, query: "SELECT i.id %s", expect_rows: 0}`, tc.driver, orphans)

			want := check.Measurement{Outcome: check.Failed, Value: "1", Bound: `"0"`, Message: `query returned "1", want "0"`}
			if m := measure(byValue); m != want {
				t.Fatalf("with an orphan: %+v, want %+v", m, want)
			}
			want = check.Measurement{Outcome: check.Failed, Value: "1 rows", Bound: "= 0 rows", Message: "query returned 1 rows, want 0"}
			if m := measure(byRows); m != want {
				t.Fatalf("with an orphan, by rows: %+v, want %+v", m, want)
			}

			mustExec(t, db, "INSERT INTO "+orders+" (id) VALUES (2)")
			if m := measure(byValue); m.Outcome != check.Successful || m.Value != "0" {
				t.Fatalf("after the fix: %+v", m)
			}
			if m := measure(byRows); m.Outcome != check.Successful || m.Value != "0 rows" {
				t.Fatalf("after the fix, by rows: %+v", m)
			}
			multi := fmt.Sprintf(`{driver: %s, dsn_env: TEST_DSN, query: "SELECT id FROM %s", expect_value: "1"}`, tc.driver, items)
			if m := measure(multi); m.Outcome != check.Failed || m.Message != `query returned 2 rows, want one row with "1"` {
				t.Fatalf("two rows for expect_value: %+v", m)
			}

			// Writes are refused by the transaction, not just by lint.
			for _, stmt := range []string{
				"INSERT INTO " + orders + " (id) VALUES (99)",
				"DELETE FROM " + items,
			} {
				if _, err := queryReadOnly(t.Context(), db, stmt); err == nil || !strings.Contains(strings.ToLower(err.Error()), "read") {
					t.Errorf("%s in the read-only transaction: %v", stmt, err)
				}
			}
			if n := countRows(t, db, orders); n != 2 {
				t.Fatalf("orders has %d rows after refused writes, want 2", n)
			}
		})
	}
}

// TestSQLWriteThroughCheckRefused: a data-modifying CTE passes the lint
// courtesy (it starts with WITH) and is stopped by the read-only
// transaction.
func TestSQLWriteThroughCheckRefused(t *testing.T) {
	db := openTestDB(t, "pgx", postgresDSN)
	_, items := orphanTables(t, db)
	w := fmt.Sprintf(`{driver: postgres, dsn_env: TEST_DSN, query: "WITH d AS (DELETE FROM %s RETURNING 1) SELECT count(*) FROM d", expect_value: "0"}`, items)
	c := NewSQL()
	if err := c.Validate(with(t, w)); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	_, err := c.Measure(t.Context(), check.Request{With: with(t, w), Env: mapEnv(map[string]string{"TEST_DSN": postgresDSN})})
	if err == nil || !strings.Contains(err.Error(), "in a read-only transaction (SQLSTATE 25006)") {
		t.Fatalf("Measure error = %v", err)
	}
	if n := countRows(t, db, items); n != 2 {
		t.Fatalf("items has %d rows, want 2", n)
	}
}

func TestSQLMeasureErrors(t *testing.T) {
	const secretDSN = "postgres://app:hunter2@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"
	for _, tc := range []struct {
		name, with string
		env        map[string]string
		wantErr    string
	}{
		{"unset", `{driver: postgres, dsn_env: NOPE, query: "SELECT 1", expect_rows: 1}`, nil, "sql: environment variable NOPE is not set"},
		{"unreachable", `{driver: postgres, dsn_env: DSN, query: "SELECT 1", expect_rows: 1}`, map[string]string{"DSN": secretDSN}, "sql: begin read-only transaction: "},
		{"bad dsn", `{driver: mysql, dsn_env: DSN, query: "SELECT 1", expect_rows: 1}`, map[string]string{"DSN": "hunter2@@nonsense"}, "sql: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSQL().Measure(t.Context(), check.Request{With: with(t, tc.with), Env: mapEnv(tc.env)})
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("Measure error = %v, want prefix %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestSQLText(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{{nil, "NULL"}, {[]byte("x"), "x"}, {int64(3), "3"}, {0.5, "0.5"}, {true, "true"}, {"s", "s"}} {
		if got := sqlText(tc.in); got != tc.want {
			t.Errorf("sqlText(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
