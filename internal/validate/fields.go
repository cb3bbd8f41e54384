// Package validate holds the readiness and validation checkers (PromQL
// threshold, baseline and canary, HTTP smoke, version, SQL, artifact) and the
// runner that measures a check repeatedly under Argo-Rollouts-style limits.
//
// Every checker decodes its `with:` tree twice: strictly at lint time, when
// values may still be templates, and again at Measure time from the rendered
// tree. Values that a template might produce are therefore decoded as strings
// and parsed here, so `below: '{{ .Params.max }}'` lints and `below: abc`
// does not.
package validate

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/yamlx"
)

// fields parses the string-typed values of one `with:` mapping and collects
// positioned errors.
type fields struct {
	lint   bool   // lint time: templated values are accepted unparsed
	prefix string // field path of nested mappings, e.g. "urls[0]."
	pos    yamlx.Pos
	keys   map[string]yamlx.Pos
	errs   *yamlx.Errors
}

func newFields(lint bool, pos yamlx.Pos, keys map[string]yamlx.Pos, errs *yamlx.Errors) fields {
	return fields{lint: lint, pos: pos, keys: keys, errs: errs}
}

// nested returns a parser for a sub-mapping such as urls[0].
func (f fields) nested(prefix string, pos yamlx.Pos, keys map[string]yamlx.Pos) fields {
	return fields{lint: f.lint, prefix: f.prefix + prefix, pos: pos, keys: keys, errs: f.errs}
}

// fail reports a problem with key, which may be a path below a written key
// (secret_headers.Authorization, urls[1]): the error sits on that entry,
// else on the nearest key above it that was written.
func (f fields) fail(key, format string, args ...any) {
	f.errs.Addf(yamlx.KeyAt(f.pos, f.keys, key), "%s%s: %s", f.prefix, key, fmt.Sprintf(format, args...))
}

// failAt reports a problem with the mapping as a whole (a missing key).
func (f fields) failAt(format string, args ...any) {
	f.errs.Addf(f.pos, "%s%s", f.prefix, fmt.Sprintf(format, args...))
}

// has reports whether key was written.
func (f fields) has(key string) bool {
	_, ok := f.keys[key]
	return ok
}

// templated reports whether s can only be parsed once rendered.
func (f fields) templated(s string) bool { return f.lint && isTemplate(s) }

func isTemplate(s string) bool { return strings.Contains(s, "{{") }

// required reports a missing or empty key.
func (f fields) required(key, value, hint string) bool {
	if strings.TrimSpace(value) != "" {
		return true
	}
	if hint != "" {
		hint = " (" + hint + ")"
	}
	f.failAt("%s is required%s", key, hint)
	return false
}

// float parses a number; ok is false when it is absent, templated or invalid.
func (f fields) float(key, s string) (float64, bool) {
	if s == "" || f.templated(s) {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) {
		f.fail(key, "expected a number, got %q", s)
		return 0, false
	}
	return v, true
}

// integer parses a whole number no smaller than minimum; absent gives def.
func (f fields) integer(key, s string, def, minimum int) int {
	if s == "" || f.templated(s) {
		return def
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		f.fail(key, "expected an integer, got %q", s)
		return def
	}
	if v < minimum {
		f.fail(key, "must be %d or more, got %d", minimum, v)
		return def
	}
	return v
}

// duration parses a positive duration; absent gives def.
func (f fields) duration(key, s string, def time.Duration) time.Duration {
	if s == "" || f.templated(s) {
		return def
	}
	d, err := yamlx.ParseDuration(s)
	if err != nil {
		f.fail(key, "%v", err)
		return def
	}
	if d <= 0 {
		f.fail(key, "must be more than 0")
		return def
	}
	return d
}

// oneOf checks s against the allowed values; absent gives def.
func (f fields) oneOf(key, s, def string, allowed ...string) string {
	if s == "" {
		return def
	}
	if f.templated(s) {
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	f.fail(key, "expected one of %s, got %q", strings.Join(allowed, ", "), s)
	return def
}

// envName checks the name of an environment variable (never its value: the
// value is a secret and only read at Measure time).
func (f fields) envName(key, s string) {
	if s == "" || f.templated(s) {
		return
	}
	for i, r := range s {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		f.fail(key, "expected an environment variable name such as DB_DSN, got %q", s)
		return
	}
}

// decodeWith decodes a `with:` tree strictly into spec, which must have
// Pos and KeyPos fields.
func decodeWith(with yamlx.Node, spec any) yamlx.Errors {
	var errs yamlx.Errors
	errs.Add(with.Pos(), with.Decode(spec))
	return errs
}

// lookupEnv reads a variable through the request's Env, or the process's.
func lookupEnv(req check.Request, name string) (string, bool) {
	if req.Env != nil {
		return req.Env(name)
	}
	return os.LookupEnv(name)
}

// evalTime is the request's evaluation time, or now.
func evalTime(req check.Request) time.Time {
	if req.Now.IsZero() {
		return time.Now()
	}
	return req.Now
}

// formatNum prints a measured number briefly: six significant digits.
func formatNum(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
