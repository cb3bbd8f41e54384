package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleDrills drives drills through `bot console`: an environment
// drill of the bundled demo acts on the drill's copy only, validates that
// copy, rolls it forward to the version it had, and a second drill's
// scorecard compares each step's time with the first; a dry-run drill
// skips its Prometheus check and says so, where a check that ran would have
// failed it (nothing listens at the test config's prometheus.url); a check
// a runbook lets observe production is named, with why, on the scorecard.
func TestConsoleDrills(t *testing.T) {
	t.Chdir("../..")
	tests := []struct {
		name   string
		config string
		script string
		want   []string
		check  func(t *testing.T, demoDir string)
	}{
		{
			name:   "environment drill, twice",
			config: "examples/bot.yaml",
			script: "deploy demo-api 1.4.0 3h\ndeploy demo-api 1.5.0\n/rollback drill demo-api now\nwait\n/rollback drill demo-api now\nwait\n",
			want: []string{
				// The drill policy waives approval, so the drill has started
				// by the time its requester is answered.
				"[only @alice] Drill RB-1 of demo-api started in #C0DEMO.",
				"demo.sh install demo-api/drill 1.4.0 ",
				"🔎 Validation of demo-api for RB-1: 2 successful",
				"🎯 Drill scorecard for demo-api (environment): ✅ succeeded",
				"Step times (first drill of demo-api, nothing to compare with): ",
				"↪️ Roll forward: the drill environment is back on 1.5.0.",
				"Step times vs drill RB-1 of ",
			},
			check: func(t *testing.T, demoDir string) {
				if _, err := os.Stat(filepath.Join(demoDir, "demo-api", "installed")); !os.IsNotExist(err) {
					t.Errorf("the drills touched production demo-api: stat installed: %v", err)
				}
				got, err := os.ReadFile(filepath.Join(demoDir, "demo-api", "drill", "installed"))
				if err != nil || !strings.HasPrefix(string(got), "1.5.0 ") {
					t.Errorf("drill copy installed = %q, %v; want 1.5.0 after the roll forward", got, err)
				}
			},
		},
		{
			name:   "dry-run drill skips its metric check",
			config: "cmd/bot/testdata/drills/bot.yaml",
			script: "deploy api 1.0.0 3h\ndeploy api 1.1.0\n/rollback drill api now\nwait\n",
			want: []string{
				"🔎 Validation of api for RB-1: 1 skipped",
				"⏭️ skipped promql check error-rate: dry-run drill, not judged against production",
				"🎯 Drill scorecard for api (dry-run): ✅ succeeded",
			},
		},
		{
			name:   "environment drill with a check shared with production",
			config: "cmd/bot/testdata/drills/shared.yaml",
			script: "deploy api 1.0.0 3h\ndeploy api 1.1.0\n/rollback drill api now\nwait\n",
			want: []string{
				"🎯 Drill scorecard for api (environment): ✅ succeeded",
				"⚠️ Judged on production's data, not the drill's (drill.same_as_production): upstream answers: the upstream has no staging copy",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			demoDir := t.TempDir()
			var out, errOut bytes.Buffer
			code := run([]string{"console", "--config", tt.config}, strings.NewReader(tt.script), &out, &errOut, env("BACKOUT_DEMO_DIR", demoDir))
			if code != exitOK {
				t.Fatalf("exit %d, stderr %q\n%s", code, errOut.String(), out.String())
			}
			for _, want := range tt.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("transcript lacks %q", want)
				}
			}
			if tt.check != nil {
				tt.check(t, demoDir)
			}
			if t.Failed() {
				t.Logf("transcript:\n%s", out.String())
			}
		})
	}
}
