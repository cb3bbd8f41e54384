package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// forcedDryRunCatalog is a service whose drill policy says environment
// but whose runbook forces drill.dry_run: no step of its drills runs.
func forcedDryRunCatalog(t *testing.T) (cfgPath string) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "runbooks", "forced.yaml"), `name: forced
drill: {dry_run: true}
steps:
  - {id: switch, uses: noop, with: {message: "switch {{ .Service.Environment }} to {{ .Target.Version }}"}}
`)
	writeFile(t, filepath.Join(dir, "bot.yaml"), `runbooks: runbooks
slack: {channel: C1}
groups:
  sre: {members: [alice]}
approvals:
  default: {min: 1, groups: [sre]}
drills: {max_age_high_risk: 7d}
services:
  - name: api
    channel: C1
    runbook: forced
    drill: {mode: environment, environment: api-drill, waive_approval: true}
`)
	return filepath.Join(dir, "bot.yaml")
}

// TestForcedDryRunDrillProvesNothing: a drill whose policy says
// environment but whose runbook forces drill.dry_run is recorded, through
// `bot console`, as the dry run it was (proposal, scorecard, drill status,
// registry), and `bot gate --risk high` against the real API over the
// console's state does not count it as proof, saying why.
func TestForcedDryRunDrillProvesNothing(t *testing.T) {
	cfgPath := forcedDryRunCatalog(t)
	state := filepath.Join(t.TempDir(), "state.db")
	script := "deploy api 1.0.0 3h\ndeploy api 1.1.0\n/rollback drill api now\nwait\n/rollback drill api\n/rollback registry api\n"
	var out, errOut bytes.Buffer
	code := run([]string{"console", "--config", cfgPath, "--state", state}, strings.NewReader(script), &out, &errOut, env())
	if code != exitOK {
		t.Fatalf("console: exit %d, stderr %q\n%s", code, errOut.String(), out.String())
	}
	const why = "dry-run: the policy says environment, but runbook forced forces drill.dry_run"
	for _, want := range []string{
		"drill (" + why + ") requested by",
		"🎯 Drill scorecard for api (" + why + "): ✅ succeeded",
		"Last drill RB-1 (" + why + ")",
		"Dry runs among them (no step ran): 1; in their environment: 0",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "scorecard for api (environment)") {
		t.Error("the scorecard calls the forced dry run an environment drill")
	}
	if t.Failed() {
		t.Logf("transcript:\n%s", out.String())
	}

	srv, _, _ := apiOver(t, cfgPath, state)
	getenv := env("BACKOUT_URL", srv.URL, "BACKOUT_API_TOKEN", apiToken)
	code, stdout, stderr := runBot(t, getenv, "gate", "api", "--risk", "high", "--for-deploy", "1.1.0")
	for _, want := range []string{
		"change advisory closed for api 1.1.0 (high risk)",
		"no fresh drill: the last successful drill of api (RB-1 on ",
		"was a dry run (the policy says environment, but runbook forced forces drill.dry_run), which runs no step and proves nothing; a high-risk deploy needs an environment drill within 7d",
	} {
		if code != exitGateClosed || !strings.Contains(stdout+stderr, want) {
			t.Errorf("gate: exit %d, output %q; want exit %d containing %q", code, stdout+stderr, exitGateClosed, want)
		}
	}
}
