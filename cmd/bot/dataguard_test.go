package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleDataRules: through `bot console`, the entry point people type
// /rollback in, a rollback of several services, one of whose runbooks
// reverts what another says never to revert, is refused with the reason
// (in either order; a service's own runbook against its own constraints,
// and members of a release against each other, are `bot lint`'s, and the
// bot does not start on a catalog that fails lint), and a service that
// caps data loss while its runbook says nothing about it gets a blocking
// "data loss unknown" readiness row, which approval does not get past.
func TestConsoleDataRules(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"bot.yaml": `slack: {channel: C0OPS}
runbooks: runbooks
groups:
  oncall: {members: [alice, bob]}
approvals:
  default: {min: 1, groups: [oncall], forbid_self: true, expires_after: 30m}
services:
  - {name: orders, owners: [alice], runbook: quiet, approval: default, stable_after: 1h,
     constraints: "never revert orders.audit_log (PCI: 7 years); page the DBA first"}
  - {name: reports, owners: [alice], runbook: restore, approval: default, stable_after: 1h}
  - {name: ledger, owners: [alice], runbook: quiet, approval: default, stable_after: 1h, max_data_loss: 1h}
`,
		"runbooks/restore.yaml": "name: restore\nsteps:\n  - {id: restore, uses: noop}\ndata:\n  reverts: [\"orders (full restore from the nightly backup)\"]\n",
		"runbooks/quiet.yaml":   "name: quiet\nsteps:\n  - {id: swap, uses: noop}\n",
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := "deploy orders 1.0.0 3h\ndeploy orders 1.1.0\ndeploy reports 1.0.0 3h\ndeploy reports 1.1.0\n" +
		"/rollback propose orders,reports bad schema\n/rollback propose reports,orders bad schema\n" +
		"deploy ledger 1.0.0 3h\ndeploy ledger 1.1.0\n/rollback propose ledger bad build\nas bob\n/rollback approve RB-1\nwait\n/rollback status RB-1\n"
	var out, errOut bytes.Buffer
	code := run([]string{"console", "--config", filepath.Join(dir, "bot.yaml")}, strings.NewReader(script), &out, &errOut, env("BACKOUT_DEMO_DIR", t.TempDir()))
	transcript := out.String()
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut.String(), transcript)
	}
	for _, refused := range []string{"Refused: this rollback would revert data it must keep:",
		`• reports: runbook restore reverts "orders (full restore from the nightly backup)", but the constraints of orders say: never revert orders.audit_log (PCI: 7 years)`} {
		if n := strings.Count(transcript, refused); n != 2 {
			t.Errorf("%q appears %d times, want 2 (once per proposal)", refused, n)
		}
	}
	for _, want := range []string{
		"data loss (blocking)",
		"data loss unknown: runbook quiet declares no data.loss_window and no readiness check measures data_loss; ledger allows at most 1h of data loss",
		"`/rollback override RB-1 data-loss <reason>`",
	} {
		if !strings.Contains(transcript, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	if strings.Contains(transcript, "RB-2") {
		t.Errorf("a refused plan got a rollback id")
	}
	if t.Failed() {
		t.Logf("transcript:\n%s", transcript)
	}
}
