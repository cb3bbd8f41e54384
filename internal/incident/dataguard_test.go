package incident_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/testutil/promtest"
	"github.com/backout/backout/internal/validate"
	"github.com/backout/backout/internal/yamlx"
)

// measured is a readiness check that reports a fixed value, as a query of
// a backup's age in seconds would; an empty value is a failed measurement.
type measured struct{ value string }

func (measured) Name() string              { return "backup" }
func (measured) Validate(yamlx.Node) error { return nil }
func (m measured) Measure(context.Context, check.Request) (check.Measurement, error) {
	if m.value == "" {
		return check.Measurement{}, errors.New("prometheus: connection refused")
	}
	return check.Measurement{Outcome: check.Successful, Value: m.value, Message: "ok"}, nil
}

// TestDataLossAgainstMaxDataLoss: what a runbook declares or measures is
// held against max_data_loss; unset and "0" differ; saying nothing while
// the service sets a maximum blocks (fail closed); a drill only informs.
func TestDataLossAgainstMaxDataLoss(t *testing.T) {
	const measuredCheck = "readiness:\n  - {name: backup age, uses: backup, measures: data_loss}\n"
	tests := []struct {
		name     string
		maxLoss  string // max_data_loss, "" for unset
		data     string // the runbook's data: section
		check    *measured
		drill    bool
		status   string // "" when no row is expected
		blocking bool
		reason   string
	}{
		{"unset, nothing said", "", "", nil, false, "", false, ""},
		{"unset, declared", "", "data: {loss_window: 15m}", nil, false, incident.Warn, false,
			"not checked: ledger has no max_data_loss (not set); runbook steps declares a loss window of 15m"},
		{"backup too old", "1h", "", &measured{"11520"}, false, incident.Fail, true,
			"backup age measured 3h12m; ledger allows at most 1h of data loss"},
		{"backup fresh enough", "1h", "", &measured{"600.5"}, false, incident.Pass, true,
			"backup age measured 10m1s; ledger allows at most 1h of data loss"},
		{"zero allows no loss", "\"0\"", "", &measured{"1"}, false, incident.Fail, true,
			"backup age measured 1s; ledger allows no data loss (max_data_loss: 0)"},
		{"zero met by a declared zero", "\"0\"", "data: {loss_window: 0}", nil, false, incident.Pass, true,
			"runbook steps declares it loses no data (loss_window: 0); ledger allows no data loss (max_data_loss: 0)"},
		{"unset, declared no loss", "", "data: {loss_window: 0}", nil, false, "", false, ""},
		{"declared above the maximum", "5m", "data: {loss_window: 15m}", nil, false, incident.Fail, true,
			"runbook steps declares a loss window of 15m; ledger allows at most 5m of data loss"},
		{"nothing said: unknown, fail closed", "1h", "", nil, false, incident.Fail, true,
			"data loss unknown: runbook steps declares no data.loss_window and no readiness check measures data_loss; ledger allows at most 1h of data loss"},
		{"measurement failed: unknown", "1h", "data: {loss_window: 0}", &measured{""}, false, incident.Fail, true,
			"data loss unknown: backup age did not measure it (could not measure: prometheus: connection refused)"},
		{"a drill only informs", "1h", "", &measured{"11520"}, true, incident.Warn, false,
			"backup age measured 3h12m; ledger allows at most 1h of data loss (a drill: not blocking)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rb := "name: steps\nsteps:\n  - {id: apply, uses: fake}\n" + tt.data + "\n"
			su := setup{services: "  - {name: ledger, owners: [owen], runbook: steps}\n"}
			if tt.maxLoss != "" {
				su.services = "  - {name: ledger, owners: [owen], runbook: steps, max_data_loss: " + tt.maxLoss + "}\n"
			}
			if tt.check != nil {
				rb += measuredCheck
				su.checkers = append(su.checkers, *tt.check)
			}
			su.runbook = rb
			e := newEnv(t, backends[0], su)
			e.deploy("ledger", "1.0.0", "1.1.0")
			r, failure, err := e.svc.Propose(e.ctx, person("req"), incident.ProposeRequest{Services: []string{"ledger"}, Drill: tt.drill, Reason: "test"})
			if err != nil || failure != nil {
				t.Fatalf("propose: %q %v", failure, err)
			}
			row := findCheck(r.Readiness, "data loss")
			if tt.status == "" {
				if row != nil {
					t.Fatalf("data loss row %+v, want none", row)
				}
				return
			}
			if row == nil || row.Status != tt.status || row.Blocking != tt.blocking || !strings.Contains(row.Reason, tt.reason) {
				t.Fatalf("data loss row %+v\nwant status %s, blocking %v, reason containing %q", row, tt.status, tt.blocking, tt.reason)
			}
			if tt.status == incident.Fail {
				e.approve(r.ID, "alice", "bob")
				waitEngine(t, e.svc)
				e.wantPosted("`/rollback override " + r.ID + " data-loss <reason>`")
				if len(e.ex.Calls()) != 0 {
					t.Fatal("a rollback beyond max_data_loss ran")
				}
			}
		})
	}
}

// TestDataRulesRefusePlanning: a runbook that reverts what a service in the
// plan says never to revert, or what the runbook itself keeps, is refused
// with the reason at every entry point: propose, plan, the readiness API,
// and an alert (whose channel hears why).
func TestDataRulesRefusePlanning(t *testing.T) {
	const restore = "name: steps\nsteps:\n  - {id: apply, uses: fake}\ndata:\n  reverts: [\"orders (full restore)\"]\n  keeps: [\"payments.ledger\"]\n  loss_window: 0\n"
	tests := []struct {
		name, runbook, services, want string
	}{
		{"constraints forbid", restore,
			"  - {name: orders, owners: [owen], runbook: steps, channel: C-ORDERS, constraints: \"never revert orders.audit_log (PCI: 7 years); page the DBA\"}\n",
			`orders: runbook steps reverts "orders (full restore)", but the constraints of orders say: never revert orders.audit_log (PCI: 7 years)`},
		{"its own keeps forbid", strings.Replace(restore, "payments.ledger", "orders.audit_log (7 years)", 1),
			"  - {name: orders, owners: [owen], runbook: steps, channel: C-ORDERS}\n",
			`orders: runbook steps reverts "orders (full restore)", but its data.keeps says "orders.audit_log (7 years)" stays`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, backends[0], setup{runbook: tt.runbook, services: tt.services})
			e.deploy("orders", "1.0.0", "1.1.0")
			const refused = "Refused: this rollback would revert data it must keep:\n• "
			_, failure, err := e.svc.Propose(e.ctx, person("req"), incident.ProposeRequest{Services: []string{"orders"}, Reason: "test"})
			if err != nil || !strings.HasPrefix(failure.String(), refused) || !strings.Contains(failure.String(), tt.want) {
				t.Errorf("propose: %q %v; want %q", failure, err, tt.want)
			}
			_, _, failure, err = e.svc.Plan(e.ctx, incident.PlanRequest{Services: []string{"orders"}})
			if err != nil || !strings.Contains(failure.String(), tt.want) {
				t.Errorf("plan: %q %v; want %q", failure, err, tt.want)
			}
			_, failure, err = e.svc.ServiceReadiness(e.ctx, "orders")
			if err != nil || !strings.Contains(failure.String(), tt.want) {
				t.Errorf("readiness: %q %v; want %q", failure, err, tt.want)
			}
			e.onAlert(incident.Alert{Source: "pagerduty", Kind: incident.AlertTriggered, Service: "orders", IncidentID: "P9", Summary: "errors", Urgency: "high"})
			e.wantPosted(tt.want)
			if rs := e.rollbacks("orders"); len(rs) != 0 {
				t.Errorf("%d rollbacks stored, want none", len(rs))
			}
		})
	}
}

// TestBackupAgeAgainstRealPrometheus: the shipped db-down-migration shape —
// a promql readiness check of the backup's age, marked measures: data_loss
// — measured by a real Prometheus, blocks a rollback of a service that
// allows at most 1h of data loss when the last backup is 3h12m old, and
// lets it through once a fresh backup is reported.
func TestBackupAgeAgainstRealPrometheus(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	var samples []promtest.Sample
	for m := 120; m >= 1; m-- {
		samples = append(samples,
			promtest.Sample{Name: "backup_last_success_timestamp_seconds", Labels: map[string]string{"service": "orders"},
				Time: now.Add(-time.Duration(m) * time.Minute), Value: float64(now.Add(-3*time.Hour - 12*time.Minute).Unix())},
			promtest.Sample{Name: "backup_last_success_timestamp_seconds", Labels: map[string]string{"service": "fresh"},
				Time: now.Add(-time.Duration(m) * time.Minute), Value: float64(now.Add(-20 * time.Minute).Unix())})
	}
	prom := promtest.Start(t, promtest.WithHistory(samples))
	const rb = `name: steps
readiness:
  - name: backup age
    uses: promql
    with: {query: 'time() - backup_last_success_timestamp_seconds{service="{{ .Service.Name }}"}', below: 86400}
    blocking: true
    measures: data_loss
steps:
  - {id: apply, uses: fake}
`
	su := setup{runbook: rb, checkers: []check.Checker{validate.NewPromQL(prom.URL)}, services: `
  - {name: orders, owners: [owen], runbook: steps, max_data_loss: 1h}
  - {name: fresh, owners: [owen], runbook: steps, max_data_loss: 1h}
`}
	clk := incidenttest.NewClock(now)
	e := newEnvOn(t, backends[0], openBolt(t, clk.Now), clk, su)
	tests := []struct {
		service, status, reason string
	}{
		{"orders", incident.Fail, "backup age measured 3h12m; orders allows at most 1h of data loss"},
		{"fresh", incident.Pass, "backup age measured 20m; fresh allows at most 1h of data loss"},
	}
	for _, tt := range tests {
		e.deploy(tt.service, "1.0.0", "1.1.0")
		res, failure, err := e.svc.ServiceReadiness(e.ctx, tt.service)
		if err != nil || failure != nil {
			t.Fatalf("readiness of %s: %q %v", tt.service, failure, err)
		}
		row := findCheck(res, "data loss")
		if row == nil || row.Status != tt.status || !row.Blocking || row.Reason != tt.reason {
			t.Errorf("%s: data loss row %+v\nwant %s, blocking, %q", tt.service, row, tt.status, tt.reason)
		}
	}
}
