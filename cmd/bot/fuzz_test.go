package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/backout/backout/internal/app"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/yamlx"
)

// fuzzCatalog is a catalog that names the fuzzed runbook twice: once as a
// plain service, once with an environment drill, so LintCatalog and
// LintDrillTargets both read it.
const fuzzCatalog = `slack: {channel: C1}
prometheus: {url: "http://prometheus.invalid:9090"}
groups: {dba: {members: [dana]}}
services:
  - {name: api, runbook: fuzz, params: {namespace: shop}}
  - {name: web, runbook: fuzz, environment: production, drill: {mode: environment, environment: staging, params: {namespace: drill}}}
`

// fuzzLine is every problem's shape: file:line:col: message (or file:
// message for a whole file), in the runbook or the catalog.
var fuzzLine = regexp.MustCompile(`^(rb|bot)\.yaml(?::\d+:\d+)?: .+`)

// FuzzLintWithRealKinds: a runbook of any bytes, linted with the real
// executors and checks (each decoding its own with:, which the runbook
// package's fuzz test fakes) and against a catalog, never panics, and
// every problem is one positioned line in one of the two files.
func FuzzLintWithRealKinds(f *testing.F) {
	shipped, err := filepath.Glob("../../runbooks/*.yaml")
	if err != nil || len(shipped) == 0 {
		f.Fatalf("no shipped runbooks to seed from: %v", err)
	}
	for _, p := range append(shipped, "testdata/lint/list-items/runbooks/rb.yaml", "testdata/lint/checks/runbooks/rb.yaml") {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	cfg, err := config.Parse("bot.yaml", []byte(fuzzCatalog), func(string) string { return "" })
	if err != nil {
		f.Fatal(err)
	}
	ex, checks := executors(cfg), checkers(cfg)
	kinds, drillKinds := app.LintKinds(ex, checks), app.DrillKinds(ex, checks)
	f.Fuzz(func(t *testing.T, data []byte) {
		rb, err := runbook.Parse("rb.yaml", data)
		checkLines(t, data, err)
		if rb == nil {
			return
		}
		rb.Name = "fuzz" // the name the catalog gives its services
		set := runbook.Set{rb.Name: rb}
		checkLines(t, data, runbook.Lint(rb, kinds))
		checkLines(t, data, runbook.LintCatalog(cfg, set))
		checkLines(t, data, runbook.LintDrillTargets(cfg, set, drillKinds))
	})
}

func checkLines(t *testing.T, data []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var list yamlx.Errors
	if !errors.As(err, &list) {
		t.Fatalf("error is not yamlx.Errors (%T): %v\ninput: %q", err, err, data)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !fuzzLine.MatchString(line) {
			t.Fatalf("error line %q is not file:line:col: message\nwhole error: %v\ninput: %q", line, err, data)
		}
	}
}
