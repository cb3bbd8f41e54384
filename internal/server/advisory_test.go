package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
)

// TestChangeAdvisory: GET /services/{name}/readiness?for_deploy=V&risk=high
// answers 423 with the reasons while a high-risk release's rollback path is
// unproven (no fresh drill, a runbook that does not lint), 200 with the
// evidence once a drill within drills.max_age_high_risk succeeded; and a
// high-risk deploy recorded without one is flagged.
func TestChangeAdvisory(t *testing.T) {
	const catalog = `
slack: {channel: C1}
runbooks: runbooks
drills: {max_age_high_risk: 7d}
services:
  - {name: api, owners: [U1], runbook: quick}
  - {name: web, owners: [U1], runbook: broken}
  - {name: ledger, owners: [U1], runbook: restore, constraints: "never revert ledger.entries (audit)"}
`
	srv, _, st := newAPIWith(t, catalog, map[string]string{
		"quick":   "name: quick\nsteps:\n  - {id: one, uses: noop}\n",
		"broken":  "name: broken\nsteps:\n  - {id: one, uses: kubectl}\n",
		"restore": "name: restore\nsteps:\n  - {id: one, uses: noop}\ndata: {reverts: [\"ledger (full restore)\"]}\n",
	})
	ctx := t.Context()
	now := time.Now()
	drillOf := func(service, id, mode string, age time.Duration, ok bool) {
		t.Helper()
		if err := st.PutDrill(ctx, rollback.DrillRecord{ID: id, Service: service, RollbackID: "RB-" + id, At: now.Add(-age), Mode: mode, Succeeded: ok}); err != nil {
			t.Fatal(err)
		}
	}
	drill := func(id, mode string, age time.Duration, ok bool) { drillOf("api", id, mode, age, ok) }
	const path = "/api/v1/services/%s/readiness?for_deploy=2.5.0&risk=%s"
	dryRunOnly := func() { drillOf("web", "DR-W", "dry-run", time.Hour, true) }
	steps := []struct {
		name    string
		before  func()
		service string
		risk    string
		code    int
		want    []string
	}{
		{"never drilled", nil, "api", "high", 423, []string{`"open":false`, `"for_deploy":"2.5.0"`, "no fresh drill: api has never been drilled successfully (a high-risk deploy needs one within 7d)"}},
		{"drill too old, a recent one failed", func() {
			drill("DR-1", "environment", 10*24*time.Hour, true)
			drill("DR-2", "environment", time.Hour, false)
		}, "api", "high", 423,
			[]string{"no fresh drill: last successful drill of api at ", "(10d ago, RB-DR-1); a high-risk deploy needs one within 7d", `"drill_id":"DR-1"`}},
		{"a fresh dry run proves nothing ran", func() { drill("DR-3", "dry-run", 30*time.Minute, true) }, "api", "high", 423,
			[]string{"(10d ago, RB-DR-1); the drill since (RB-DR-3 on " + now.Add(-30*time.Minute).UTC().Format(time.DateOnly) + ", 30m ago) was a dry run, which runs no step and proves nothing; a high-risk deploy needs one within 7d"}},
		{"an environment drill its runbook forced to a dry run proves nothing", func() {
			if err := st.PutDrill(ctx, rollback.DrillRecord{ID: "DR-3F", Service: "api", RollbackID: "RB-DR-3F", At: now.Add(-20 * time.Minute), Mode: "dry-run",
				PolicyMode: "environment", DryRunCause: "runbook quick forces drill.dry_run", Succeeded: true}); err != nil {
				t.Fatal(err)
			}
		}, "api", "high", 423,
			[]string{"(10d ago, RB-DR-1); the drill since (RB-DR-3F on ", "20m ago) was a dry run (the policy says environment, but runbook quick forces drill.dry_run), which runs no step and proves nothing"}},
		{"an older record of a forced dry run: its skipped checks give it away", func() {
			if err := st.PutDrill(ctx, rollback.DrillRecord{ID: "DR-3L", Service: "api", RollbackID: "RB-DR-3L", At: now.Add(-10 * time.Minute), Mode: "environment",
				SkippedChecks: []string{"skipped promql check errors: dry-run drill, not judged against production"}, Succeeded: true}); err != nil {
				t.Fatal(err)
			}
		}, "api", "high", 423,
			[]string{"(10d ago, RB-DR-1); the drill since (RB-DR-3L on ", "10m ago) was a dry run (the policy says environment, but its validation checks were skipped, as only in a dry run), which runs no step and proves nothing"}},
		{"fresh drill", func() { drill("DR-4", "environment", 2*24*time.Hour, true) }, "api", "high", 200,
			[]string{`"open":true`, "last successful drill of api at ", "(2d ago, RB-DR-4)", "runbook quick lints"}},
		{"runbook does not lint; only a dry run", dryRunOnly, "web", "high", 423, []string{"runbook lint errors: ", "kubectl",
			"no fresh drill: the last successful drill of web (RB-DR-W on " + now.Add(-time.Hour).UTC().Format(time.DateOnly) + ", 1h ago) was a dry run, which runs no step and proves nothing; a high-risk deploy needs an environment drill within 7d"}},
		{"runbook reverts what the service forbids", nil, "ledger", "high", 423, []string{`runbook lint errors: `, `restore.yaml:4:18: service ledger: runbook restore reverts \"ledger (full restore)\", but the constraints of ledger say: never revert ledger.entries (audit)`}},
		{"low risk needs no proof", nil, "web", "low", 200, []string{`"open":true`, "a low-risk deploy needs no proven rollback path"}},
		{"unknown risk", nil, "api", "yolo", 400, []string{`risk: unknown value \"yolo\"`}},
		{"unknown service", nil, "nope", "high", 404, []string{"Unknown service"}},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		code, body := call(t, srv, "GET", fmt.Sprintf(path, s.service, s.risk), token, "")
		for _, w := range s.want {
			if code != s.code || !strings.Contains(body, w) {
				t.Errorf("%s: %d %s\nwant %d containing %q", s.name, code, body, s.code, w)
			}
		}
	}

	// Recorded all the same (it already shipped), but flagged.
	code, body := call(t, srv, "POST", "/api/v1/deploys", token, `{"service":"web","version":"3.0","artifact":"reg/web`+digest+`","risk":"high"}`)
	var rec struct {
		Deploy  rollback.Deploy `json:"deploy"`
		Warning string          `json:"warning"`
	}
	if err := json.Unmarshal([]byte(body), &rec); err != nil || code != 201 {
		t.Fatalf("record: %d %s %v", code, body, err)
	}
	if len(rec.Deploy.Unproven) != 2 || !strings.Contains(rec.Warning, "recorded a high-risk deploy without a proven rollback path") {
		t.Errorf("high-risk deploy without a fresh drill: %+v, warning %q; want it flagged with both reasons", rec.Deploy.Unproven, rec.Warning)
	}
	code, body = call(t, srv, "POST", "/api/v1/deploys", token, `{"service":"api","version":"3.0","artifact":"reg/api`+digest+`","risk":"high"}`)
	if code != 201 || strings.Contains(body, "rollback_unproven") || strings.Contains(body, "warning") {
		t.Errorf("high-risk deploy with a fresh drill: %d %s; want it recorded without a flag", code, body)
	}

	// for_deploy is looked up: a recorded version (promoted from staging,
	// say) is named with its deploy; one not recorded yet, the usual case
	// before a deploy, changes no verdict and says so.
	lookups := []struct {
		name, version string
		want          []string
	}{
		{"recorded", "3.0", []string{`"deploy_id":"D-`, "for deploy D-", ": api 3.0 recorded at ", ", risk high"}},
		{"not recorded yet", "3.1", []string{`"open":true`, "api 3.1 is not recorded as deployed yet (among its last 200 deploys): the verdict is about api's rollback path"}},
	}
	for _, l := range lookups {
		code, body := call(t, srv, "GET", "/api/v1/services/api/readiness?risk=high&for_deploy="+l.version, token, "")
		for _, w := range l.want {
			if code != 200 || !strings.Contains(body, w) {
				t.Errorf("for_deploy %s: %d %s\nwant 200 containing %q", l.name, code, body, w)
			}
		}
		if l.version == "3.1" && strings.Contains(body, "deploy_id") {
			t.Errorf("for_deploy %s: %s names a deploy", l.name, body)
		}
	}
}
