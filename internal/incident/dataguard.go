package incident

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/yamlx"
)

// dataLossCheck is the readiness row's name ("data-loss" in an override).
const dataLossCheck = "data loss"

// dataLossEvidence is what a runbook says about the data a rollback loses:
// its declared data.loss_window and the values of its readiness checks
// marked `measures: data_loss`.
type dataLossEvidence struct {
	parts   []string      // "backup fresh measured 3h12m", for the reason
	worst   time.Duration // the largest loss seen
	unknown []string      // why part of it is unknown
	any     bool          // anything declared or measured at all
}

func (e *dataLossEvidence) add(what string, d time.Duration) {
	e.parts = append(e.parts, what)
	e.any = true
	e.worst = max(e.worst, d)
}

// gatherDataLoss reads the declaration and the measured checks' results.
func gatherDataLoss(rb *runbook.Runbook, measured []rollback.CheckResult) dataLossEvidence {
	var e dataLossEvidence
	if rb != nil && rb.Data != nil && rb.Data.LossWindow != nil {
		d := rb.Data.LossWindow.D()
		if d == 0 {
			e.add(fmt.Sprintf("runbook %s declares it loses no data (loss_window: 0)", rb.Name), 0)
		} else {
			e.add(fmt.Sprintf("runbook %s declares a loss window of %s", rb.Name, human.Duration(d)), d)
		}
	}
	for _, m := range measured {
		d, err := secondsOf(m.Value)
		if err != nil {
			e.any = true
			e.unknown = append(e.unknown, fmt.Sprintf("%s did not measure it (%s)", m.Name, strings.TrimSpace(m.Reason)))
			continue
		}
		e.add(fmt.Sprintf("%s measured %s", m.Name, human.Duration(d)), d)
	}
	return e
}

// secondsOf reads a measured data loss: a number of seconds (what a query
// such as `time() - backup_last_success_timestamp_seconds` returns) or a
// duration ("3h12m").
func secondsOf(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || math.IsNaN(f) || f > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("%q is not a number of seconds", v)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := yamlx.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("no value: want seconds or a duration, got %q", v)
	}
	return d, nil
}

// allowance words a service's max_data_loss.
func allowance(svc *config.Service) string {
	if svc.MaxDataLoss.D() == 0 {
		return fmt.Sprintf("%s allows no data loss (max_data_loss: 0)", svc.Name)
	}
	return fmt.Sprintf("%s allows at most %s of data loss", svc.Name, human.Duration(svc.MaxDataLoss.D()))
}

// dataLossReadiness holds the evidence against the service's max_data_loss.
// Unset: not checked; shown (a warning, never blocking) only when the
// runbook says the rollback may lose data or a measurement failed. Set (0 included): nothing declared or measured, or a measured
// check without a value, is "unknown" and blocks (fail closed) until
// someone overrides the "data-loss" check with a reason; a loss above the
// maximum blocks. A drill never blocks on it: its data is not the
// service's production data, so the row only informs.
func dataLossReadiness(svc *config.Service, rb *runbook.Runbook, measured []rollback.CheckResult, drill bool, now time.Time) (rollback.CheckResult, bool) {
	e := gatherDataLoss(rb, measured)
	res := rollback.CheckResult{Service: svc.Name, Name: dataLossCheck, Blocking: svc.MaxDataLoss != nil && !drill, At: now,
		Value: human.Duration(e.worst), Bound: "not set"}
	if svc.MaxDataLoss == nil {
		if e.worst == 0 && len(e.unknown) == 0 {
			return res, false // nothing to hold, and nothing said to be lost
		}
		res.Status, res.Reason = Warn, fmt.Sprintf("not checked: %s has no max_data_loss (not set); %s", svc.Name, strings.Join(append(e.parts, e.unknown...), "; "))
		return res, true
	}
	res.Bound = "≤ " + human.Duration(svc.MaxDataLoss.D())
	fail := func(reason string) (rollback.CheckResult, bool) {
		res.Status, res.Reason = Fail, reason
		if drill {
			res.Status, res.Reason = Warn, reason+" (a drill: not blocking)"
		}
		return res, true
	}
	switch {
	case !e.any:
		res.Value = "unknown"
		return fail(fmt.Sprintf("data loss unknown: runbook %s declares no data.loss_window and no readiness check measures data_loss; %s", rbName(rb), allowance(svc)))
	case e.worst > svc.MaxDataLoss.D():
		return fail(fmt.Sprintf("%s; %s", strings.Join(e.parts, "; "), allowance(svc)))
	case len(e.unknown) > 0:
		res.Value = "unknown"
		return fail(fmt.Sprintf("data loss unknown: %s; %s", strings.Join(e.unknown, "; "), allowance(svc)))
	}
	res.Status, res.Reason = Pass, fmt.Sprintf("%s; %s", strings.Join(e.parts, "; "), allowance(svc))
	return res, true
}

func rbName(rb *runbook.Runbook) string {
	if rb == nil {
		return "(not loaded)"
	}
	return rb.Name
}

// checkDataRules refuses a plan whose runbooks revert what their own
// data.keeps, or the constraints of any service in the plan, forbid. It
// asks runbook.ForbiddenReverts, as lint does.
func (s *Planner) checkDataRules(changes []rollback.ServiceChange) rollback.Words {
	var scope []*config.Service
	for _, c := range changes {
		svc, _ := s.cfg.ServiceByName(c.Service)
		scope = append(scope, svc)
	}
	var problems []string
	for _, c := range changes {
		rb, ok := s.runbooks[c.Runbook]
		if !ok {
			continue
		}
		for _, p := range runbook.ForbiddenReverts(rb, scope) {
			problems = append(problems, fmt.Sprintf("%s: %s", c.Service, p.Msg))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return rollback.Say("Refused: this rollback would revert data it must keep:\n• "+strings.Join(problems, "\n• ")+
		"\nChange the runbook's data.reverts or the service's constraints (", rollback.Code("bot lint"), " shows where), or roll back another way.")
}
