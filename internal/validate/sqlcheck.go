package validate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	// Database drivers for the sql check, registered with database/sql.
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/yamlx"
)

// SQL is `uses: sql`: a read-only query whose rows or value prove the data
// consistent, e.g. no orphan rows after a schema rollback.
//
//	with: {driver: postgres, dsn_env: ORDERS_DB_DSN, expect_value: "0",
//	       query: 'SELECT count(*) FROM items i LEFT JOIN orders o ON o.id = i.order_id WHERE o.id IS NULL'}
//
// The query runs inside a READ ONLY transaction that is always rolled back,
// so even a data-modifying CTE or function is refused by the database. Lint
// also refuses anything but one SELECT or WITH statement, as a courtesy: it
// is a plain scan, not a SQL parser, and the transaction is the guard. The
// DSN is read from the environment variable dsn_env at Measure time and never
// appears in messages.
type SQL struct{}

// NewSQL returns the checker.
func NewSQL() *SQL { return &SQL{} }

// Name implements check.Checker.
func (*SQL) Name() string { return "sql" }

type sqlWith struct {
	Pos         yamlx.Pos
	KeyPos      map[string]yamlx.Pos
	Driver      string  `yaml:"driver"`
	DSNEnv      string  `yaml:"dsn_env"`
	Query       string  `yaml:"query"`
	ExpectRows  string  `yaml:"expect_rows"`
	ExpectValue *string `yaml:"expect_value"`
}

type sqlSpec struct {
	driver, dsnEnv, query string
	expectRows            int // -1: unset
	expectValue           *string
}

// sqlDrivers maps `driver:` to the database/sql driver name.
var sqlDrivers = map[string]string{"postgres": "pgx", "mysql": "mysql"}

func (c *SQL) parse(with yamlx.Node, lint bool) (sqlSpec, error) {
	var w sqlWith
	errs := decodeWith(with, &w)
	if len(errs) > 0 {
		return sqlSpec{}, errs.Err()
	}
	f := newFields(lint, with.Pos(), w.KeyPos, &errs)
	spec := sqlSpec{dsnEnv: w.DSNEnv, query: w.Query, expectRows: -1, expectValue: w.ExpectValue}
	if f.required("driver", w.Driver, "postgres or mysql") {
		spec.driver = f.oneOf("driver", w.Driver, "", "postgres", "mysql")
	}
	if f.required("dsn_env", w.DSNEnv, "the environment variable holding the DSN") {
		f.envName("dsn_env", w.DSNEnv)
	}
	if f.required("query", w.Query, "a SELECT") && !f.templated(w.Query) {
		if err := readOnlyStatement(w.Query); err != nil {
			f.fail("query", "%v", err)
		}
	}
	switch {
	case f.has("expect_rows") && f.has("expect_value"):
		f.fail("expect_value", "set either expect_rows or expect_value, not both")
	case f.has("expect_rows"):
		spec.expectRows = f.integer("expect_rows", w.ExpectRows, -1, 0)
	case !f.has("expect_value"):
		f.failAt("set expect_rows (a row count) or expect_value (the single value)")
	}
	return spec, errs.Err()
}

// Validate implements check.Checker.
func (c *SQL) Validate(with yamlx.Node) error {
	_, err := c.parse(with, true)
	return err
}

// Measure implements check.Checker.
func (c *SQL) Measure(ctx context.Context, req check.Request) (check.Measurement, error) {
	spec, err := c.parse(req.With, false)
	if err != nil {
		return check.Measurement{}, err
	}
	dsn, ok := lookupEnv(req, spec.dsnEnv)
	if !ok || dsn == "" {
		return check.Measurement{}, fmt.Errorf("sql: environment variable %s is not set", spec.dsnEnv)
	}
	db, err := sql.Open(sqlDrivers[spec.driver], dsn)
	if err != nil {
		return check.Measurement{}, fmt.Errorf("sql: open %s database from $%s: %w", spec.driver, spec.dsnEnv, redactErr(err, dsn))
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	res, err := queryReadOnly(ctx, db, spec.query)
	if err != nil {
		return check.Measurement{}, fmt.Errorf("sql: %w", redactErr(err, dsn))
	}
	return judgeRows(spec, res), nil
}

// rowsResult is what a query returned: how many rows, and the first one.
type rowsResult struct {
	count int
	first []string
}

// queryReadOnly runs query in a read-only transaction and rolls it back.
func queryReadOnly(ctx context.Context, db *sql.DB, query string) (rowsResult, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return rowsResult{}, fmt.Errorf("begin read-only transaction: %w", err)
	}
	// Never commit: the check only reads.
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return rowsResult{}, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return rowsResult{}, fmt.Errorf("query columns: %w", err)
	}
	var res rowsResult
	for rows.Next() {
		res.count++
		if res.count > 1 {
			continue
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return rowsResult{}, fmt.Errorf("scan: %w", err)
		}
		for _, v := range vals {
			res.first = append(res.first, sqlText(v))
		}
	}
	if err := rows.Err(); err != nil {
		return rowsResult{}, fmt.Errorf("query: %w", err)
	}
	return res, nil
}

// sqlText renders a scanned value for comparison with expect_value.
func sqlText(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(x)
	case string:
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func judgeRows(spec sqlSpec, res rowsResult) check.Measurement {
	if spec.expectValue == nil {
		m := check.Measurement{
			Outcome: check.Successful,
			Value:   fmt.Sprintf("%d rows", res.count),
			Bound:   fmt.Sprintf("= %d rows", spec.expectRows),
		}
		if res.count != spec.expectRows {
			m.Outcome = check.Failed
		}
		m.Message = fmt.Sprintf("query returned %d rows, want %d", res.count, spec.expectRows)
		return m
	}
	want := *spec.expectValue
	m := check.Measurement{Outcome: check.Failed, Bound: strconv.Quote(want)}
	switch {
	case res.count != 1:
		m.Value = fmt.Sprintf("%d rows", res.count)
		m.Message = fmt.Sprintf("query returned %d rows, want one row with %q", res.count, want)
	case len(res.first) == 0:
		m.Message = "query returned no columns"
	default:
		m.Value = human.Truncate(res.first[0], 80)
		m.Message = fmt.Sprintf("query returned %q, want %q", m.Value, want)
		if res.first[0] == want {
			m.Outcome = check.Successful
		}
	}
	return m
}

// redactErr removes the DSN (which may hold a password) from a driver error.
func redactErr(err error, dsn string) error {
	if dsn == "" || !strings.Contains(err.Error(), dsn) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), dsn, "<dsn>"))
}
