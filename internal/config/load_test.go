package config_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/config"
)

var update = flag.Bool("update", false, "rewrite want.txt golden files")

// TestLoadFixtures loads each testdata/<case>/bot.yaml and compares what
// config.Load reports with the case's want.txt: "ok" for a file that loads,
// else every error line, file:line:col: message. The path is passed
// relative to the package so the goldens hold the same text on any machine.
// testdata/fuzz holds no bot.yaml, so the fuzz corpus is not a case.
// Whether a service's runbook exists is not Load's to say (it never reads
// the runbooks); runbook.LintCatalog checks it, under cmd/bot/testdata/lint.
func TestLoadFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "bot.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		dir := filepath.Dir(file)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			// No environment: a secret set on the test machine must not change the result.
			cfg, err := config.Load(filepath.ToSlash(file), noEnv)
			got := "ok\n"
			if err != nil {
				got = err.Error() + "\n"
			} else if cfg == nil {
				t.Fatal("no error and no config")
			}
			golden := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if got != string(want) {
				t.Errorf("config.Load output differs from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestAuditKey: BACKOUT_AUDIT_KEY comes from the environment only, is long
// enough to be a key, defaults the anchors, and never prints.
func TestAuditKey(t *testing.T) {
	const file = "bot.yaml"
	data := []byte("slack: {channel: C0OPS}\n")
	tests := []struct {
		name, key string
		wantErr   string
	}{
		{"no key: unkeyed chain", "", ""},
		{"a real key", "9f86d081884c7d659a2feaa0c55ad015", ""},
		{"too short", "hunter2", "bot.yaml: BACKOUT_AUDIT_KEY: must be at least 16 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := func(name string) string {
				if name == "BACKOUT_AUDIT_KEY" {
					return tc.key
				}
				return ""
			}
			cfg, err := config.Parse(file, data, env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), tc.key) {
					t.Fatalf("the error shows the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Audit.AnchorEvery != config.Duration(time.Hour) {
				t.Errorf("audit.anchor_every defaults to %v, want 1h", cfg.Audit.AnchorEvery)
			}
			if cfg.Secrets.AuditKey.Reveal() != tc.key {
				t.Errorf("AuditKey %q, want the environment's", cfg.Secrets.AuditKey.Reveal())
			}
			js, _ := json.Marshal(cfg.Secrets)
			for _, printed := range []string{fmt.Sprintf("%v %+v %#v %s", cfg.Secrets, cfg.Secrets, cfg.Secrets, cfg.Secrets.AuditKey), string(js)} {
				if tc.key != "" && strings.Contains(printed, tc.key) {
					t.Errorf("the key prints: %s", printed)
				}
			}
		})
	}
}

// TestShutdownGraceDefault: absent, engine.shutdown_grace is 10m; set,
// even to 0s (stop every step at once), it is kept.
func TestShutdownGraceDefault(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       time.Duration
	}{
		{"absent", "engine: {parallelism: 2}\n", 10 * time.Minute},
		{"no engine section", "listen: :8080\n", 10 * time.Minute},
		{"zero is kept", "engine: {shutdown_grace: 0s}\n", 0},
		{"set", "engine: {shutdown_grace: 90s}\n", 90 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Parse("bot.yaml", []byte(c.yaml), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Engine.ShutdownGrace.D(); got != c.want {
				t.Errorf("engine.shutdown_grace = %s, want %s", got, c.want)
			}
		})
	}
}
