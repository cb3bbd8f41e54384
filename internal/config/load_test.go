package config_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

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
