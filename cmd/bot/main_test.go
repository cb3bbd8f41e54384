package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// env returns a getenv that sees only the given variables.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func runBot(t *testing.T, getenv func(string) string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errOut, getenv)
	return code, out.String(), errOut.String()
}

// TestLintFixtures runs `bot lint` on each fixture under testdata/lint and
// compares its report with want.txt, message for message. A fixture whose
// directory ends in -ok must lint clean; every other must be refused.
func TestLintFixtures(t *testing.T) {
	dirs, err := filepath.Glob("testdata/lint/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			args := []string{"lint", filepath.Join(dir, "runbooks")}
			if _, err := os.Stat(filepath.Join(dir, "bot.yaml")); err == nil {
				args = []string{"lint", "--config", filepath.Join(dir, "bot.yaml")}
			}
			code, out, _ := runBot(t, env(), args...)
			wantCode := exitInvalid
			if strings.HasSuffix(dir, "-ok") {
				wantCode = exitOK
			}
			if code != wantCode {
				t.Errorf("exit code %d, want %d", code, wantCode)
			}
			golden := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if out != string(want) {
				t.Errorf("lint output differs from %s\n--- got\n%s--- want\n%s", golden, out, want)
			}
		})
	}
}

// TestServeRefusesAsLintReports: `bot serve` (and `bot console`) on a
// config that does not lint refuses to start and prints exactly what
// `bot lint` prints for it, every problem on its file:line:col line and
// then the count, rather than stopping at the first file in trouble.
func TestServeRefusesAsLintReports(t *testing.T) {
	dirs, err := filepath.Glob("testdata/lint/*/bot.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, cfg := range dirs {
		dir := filepath.Dir(cfg)
		if strings.HasSuffix(dir, "-ok") {
			continue
		}
		want, err := os.ReadFile(filepath.Join(dir, "want.txt"))
		if err != nil {
			t.Fatal(err)
		}
		problems := strings.Count(string(want), "\n")
		for _, cmd := range []string{"serve", "console"} {
			t.Run(filepath.Base(dir)+"/"+cmd, func(t *testing.T) {
				code, out, errOut := runBot(t, env(), cmd, "--config", cfg)
				wantErr := fmt.Sprintf("%sinvalid configuration: %d problem(s)\n", want, problems)
				if code != exitInvalid || errOut != wantErr {
					t.Errorf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", code, errOut, exitInvalid, wantErr)
				}
				if out != "" {
					t.Errorf("stdout %q, want nothing (it did not start)", out)
				}
			})
		}
	}
}

// TestServeRefusesIncompletePagerDuty: settings only the environment
// completes (lint, in CI, has no secrets) refuse the start at the key to
// fix, before anything is opened: the store file is not created.
func TestServeRefusesIncompletePagerDuty(t *testing.T) {
	const cfg = "testdata/serve/pagerduty/bot.yaml"
	if code, out, errOut := runBot(t, env(), "lint", "--config", cfg); code != exitOK {
		t.Fatalf("the fixture must lint clean: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut := runBot(t, env("PAGERDUTY_TOKEN", "pd-token"), "serve", "--config", cfg)
	want := cfg + ":5:1: pagerduty.from_email: required when PAGERDUTY_TOKEN is set (PagerDuty refuses writes without a From user)\n" +
		cfg + ":6:3: pagerduty.routing_key_env: names BACKOUT_TEST_UNSET_ROUTING_KEY, but it is not set in the environment\n" +
		"invalid configuration: 2 problem(s)\n"
	if code != exitInvalid || errOut != want {
		t.Errorf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", code, errOut, exitInvalid, want)
	}
	if made, _ := filepath.Glob("testdata/serve/pagerduty/must-not-be-created.db*"); len(made) > 0 {
		for _, f := range made {
			os.Remove(f)
		}
		t.Errorf("a refused start created %v", made)
	}
}

func TestLintShippedRunbooksAndExample(t *testing.T) {
	t.Chdir("../..")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"lint", "runbooks/"}, "6 runbooks, 0 services: ok\n"},
		{[]string{"lint", "--config", "examples/bot.yaml"}, "6 runbooks, 9 services: ok\n"},
	}
	for _, tt := range tests {
		code, out, errOut := runBot(t, env(), tt.args...)
		if code != exitOK || out != tt.want {
			t.Errorf("%v: exit %d, out %q, err %q; want 0 and %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

func TestUsageAndExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string // substring of stdout+stderr
	}{
		{"no args", nil, exitInvalid, "Usage:"},
		{"unknown command", []string{"frobnicate"}, exitInvalid, `unknown command "frobnicate"`},
		{"mistyped command", []string{"serv"}, exitInvalid, `unknown command "serv"; did you mean "serve"?`},
		{"usage names every flag", []string{"help"}, exitOK, "[--charts DIR]"},
		{"usage names gate's risk", []string{"help"}, exitOK, "bot gate     SERVICE [--risk R --for-deploy V]"},
		{"version", []string{"version"}, exitOK, "backout dev"},
		{"serve help", []string{"serve", "--help"}, exitOK, "Usage: bot serve"},
		{"console help", []string{"console", "--help"}, exitOK, "Usage: bot console"},
		{"lint help", []string{"lint", "--help"}, exitOK, "Usage: bot lint"},
		{"version help", []string{"version", "--help"}, exitOK, "Usage: bot version"},
		{"bad flag", []string{"lint", "--bogus"}, exitInvalid, "flag provided but not defined"},
		{"serve bad config", []string{"serve", "--config", "testdata/lint/config/bot.yaml"}, exitInvalid, "bot.yaml:6:9: store.kind"},
		// a permissions: problem is placed at the principal at fault, not at the section
		{"serve bad permissions", []string{"serve", "--config", "testdata/lint/permissions/bot.yaml"}, exitInvalid,
			`testdata/lint/permissions/bot.yaml:15:7: permissions.resume: unknown principal "admins"`},
		// serving loads through the same lint: a drill that would validate on production's data does not start
		{"serve drill validating on production", []string{"serve", "--config", "testdata/lint/drill-validation/bot.yaml"}, exitInvalid,
			"checks.yaml:30:7: services.api: validation.checks[2] (health): observes the same in the drill (environment staging) as in production"},
		{"serve missing config", []string{"serve", "--config", "testdata/nope.yaml"}, exitInvalid, "config file testdata/nope.yaml (from --config) does not exist"},
		{"lint nothing", []string{"lint"}, exitInvalid, "give --config FILE or runbook paths"},
		{"audit usage", []string{"audit"}, exitInvalid, "bot audit verify"},
		{"schema", []string{"schema"}, exitOK, `"title": "Backout runbook"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runBot(t, env(), tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.out) {
				t.Errorf("exit %d, output %q; want exit %d containing %q", code, out+errOut, tt.code, tt.out)
			}
		})
	}
}

// TestConfigFromEnv checks --config > $BACKOUT_CONFIG > bot.yaml.
func TestConfigFromEnv(t *testing.T) {
	code, out, _ := runBot(t, env("BACKOUT_CONFIG", "testdata/lint/config/bot.yaml"), "lint")
	if code != exitInvalid || !strings.Contains(out, "testdata/lint/config/bot.yaml:6:9") {
		t.Errorf("BACKOUT_CONFIG not used: exit %d, %q", code, out)
	}
}

// TestGeneratedDocsAreCommitted: docs/runbook.schema.json and
// docs/runbooks.md are what `bot schema` prints today, so neither can drift
// from the runbook types or the executors' and checks' fields.
func TestGeneratedDocsAreCommitted(t *testing.T) {
	tests := []struct {
		args  []string
		file  string
		regen string
	}{
		{[]string{"schema"}, "../../docs/runbook.schema.json", "go run ./cmd/bot schema > docs/runbook.schema.json"},
		{[]string{"schema", "--markdown"}, "../../docs/runbooks.md", "go run ./cmd/bot schema --markdown > docs/runbooks.md"},
	}
	for _, tt := range tests {
		code, out, errOut := runBot(t, env(), tt.args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", tt.args, code, errOut)
		}
		want, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("%s is stale: run `%s`", tt.file, tt.regen)
		}
	}
}
