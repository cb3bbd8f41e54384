package incident

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
)

// Deploy risks.
const (
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

// validRisk reports whether risk is one CI may report ("" is unset).
func validRisk(risk string) bool {
	switch risk {
	case "", RiskLow, RiskMedium, RiskHigh:
		return true
	}
	return false
}

// Advisory is the change advisory gate's answer for one deploy: a
// high-risk release needs a rollback path proven by a recent successful
// drill and a runbook that lints. Open is false with the reasons when it
// is not proven; Evidence says what was found either way.
type Advisory struct {
	Service   string     `json:"service"`
	ForDeploy string     `json:"for_deploy,omitempty"`
	Risk      string     `json:"risk"`
	Open      bool       `json:"open"`
	Reasons   []string   `json:"reasons,omitempty"`
	Evidence  []string   `json:"evidence,omitempty"`
	LastDrill *time.Time `json:"last_successful_drill,omitempty"`
	DrillID   string     `json:"drill_id,omitempty"`
	MaxAge    string     `json:"drill_max_age"`
	// DeployID is the recorded deploy of ForDeploy (its newest), when the
	// version was already deployed (say, to staging, then promoted).
	DeployID string `json:"deploy_id,omitempty"`
}

// ChangeAdvisory answers whether a deploy of version at risk may ship:
// anything below high risk needs no proof. A version is looked up among
// the service's recorded deploys and the evidence says what was found; a
// version not recorded yet is the usual case (CI asks before it deploys)
// and changes no verdict. The failure is the caller's mistake (unknown
// service or risk); err is a system fault.
func (s *Planner) ChangeAdvisory(ctx context.Context, service, version, risk string) (Advisory, rollback.Words, error) {
	svc, failure := s.service(service)
	if failure != nil {
		return Advisory{}, failure, nil
	}
	if risk == "" || !validRisk(risk) {
		return Advisory{}, rollback.Sayf("risk: unknown value %q (want low, medium or high)", risk), nil
	}
	maxAge := s.cfg.Drills.MaxAgeHighRisk.D()
	a := Advisory{Service: service, ForDeploy: version, Risk: risk, Open: true, MaxAge: human.Duration(maxAge)}
	if version != "" {
		line, id, err := s.history.deployEvidence(ctx, service, version)
		if err != nil {
			return Advisory{}, nil, err
		}
		a.DeployID, a.Evidence = id, append(a.Evidence, line)
	}
	if risk != RiskHigh {
		a.Evidence = append(a.Evidence, fmt.Sprintf("a %s-risk deploy needs no proven rollback path", risk))
		return a, nil, nil
	}
	if err := s.drillEvidence(ctx, svc, maxAge, &a); err != nil {
		return Advisory{}, nil, err
	}
	s.runbookEvidence(svc, &a)
	a.Open = len(a.Reasons) == 0
	return a, nil, nil
}

// drillEvidence looks for a successful environment drill of the service
// within maxAge. A dry-run drill renders the plan and runs nothing, so it
// proves no rollback path, whatever its policy asked for (a runbook may
// force drill.dry_run); it is named in the reason when it is all there is.
func (s *Planner) drillEvidence(ctx context.Context, svc *config.Service, maxAge time.Duration, a *Advisory) error {
	last, dryRun, err := s.lastProvingDrill(ctx, svc.Name)
	if err != nil {
		return fmt.Errorf("drills of %s: %w", svc.Name, err)
	}
	switch {
	case last.ID == "" && dryRun.ID != "":
		a.Reasons = append(a.Reasons, fmt.Sprintf("no fresh drill: the last successful drill of %s (%s) was %s, which runs no step and proves nothing; a high-risk deploy needs an environment drill within %s",
			svc.Name, s.drillWhen(dryRun), dryRunText(dryRun), human.Duration(maxAge)))
	case last.ID == "":
		a.Reasons = append(a.Reasons, fmt.Sprintf("no fresh drill: %s has never been drilled successfully (a high-risk deploy needs one within %s)", svc.Name, human.Duration(maxAge)))
	default:
		at := last.At.UTC()
		a.LastDrill, a.DrillID = &at, last.ID
		age := s.clock.Now().Sub(last.At)
		line := fmt.Sprintf("last successful drill of %s at %s (%s ago, %s)", svc.Name, at.Format(time.RFC3339), human.Duration(age), last.RollbackID)
		if age > maxAge {
			if dryRun.ID != "" {
				line += fmt.Sprintf("; the drill since (%s) was %s, which runs no step and proves nothing", s.drillWhen(dryRun), dryRunText(dryRun))
			}
			a.Reasons = append(a.Reasons, fmt.Sprintf("no fresh drill: %s; a high-risk deploy needs one within %s", line, human.Duration(maxAge)))
		} else {
			a.Evidence = append(a.Evidence, line)
		}
	}
	return nil
}

// drillWhen names a drill for the gate's reasons: "RB-5 on 2026-12-01,
// 2d ago".
func (s *Planner) drillWhen(d rollback.DrillRecord) string {
	return fmt.Sprintf("%s on %s, %s ago", d.RollbackID, d.At.UTC().Format(time.DateOnly), human.Duration(s.clock.Now().Sub(d.At)))
}

// dryRunText says a drill was a dry run, and why when its policy asked for
// more: "a dry run (the policy says environment, but runbook rb forces
// drill.dry_run)".
func dryRunText(d rollback.DrillRecord) string {
	if ran, policy, cause := d.ModeParts(); ran == config.DrillModeDryRun && policy != ran && cause != "" {
		return fmt.Sprintf("a dry run (the policy says %s, but %s)", policy, cause)
	}
	return "a dry run"
}

// lastProvingDrill is the newest successful drill that ran its steps (not
// a dry run, by the mode it ran in), and the newest successful dry run
// seen before it, newest first; an empty ID where there is none.
func (s *Planner) lastProvingDrill(ctx context.Context, service string) (proving, dryRun rollback.DrillRecord, err error) {
	err = s.drills.ScanDrills(ctx, service, func(d rollback.DrillRecord) bool {
		switch {
		case !d.Succeeded:
		case d.DryRun():
			if dryRun.ID == "" {
				dryRun = d
			}
		default:
			proving = d
			return false
		}
		return true
	})
	return proving, dryRun, err
}

// runbookEvidence lints the service's runbook as `bot lint --config` does
// for this service alone: the runbook itself, then what joins it to the
// service (params, every template rendered for it, its constraints).
func (s *Planner) runbookEvidence(svc *config.Service, a *Advisory) {
	rb, ok := s.runbooks[svc.Runbook]
	if !ok {
		a.Reasons = append(a.Reasons, fmt.Sprintf("runbook lint errors: runbook %q of %s is not loaded", svc.Runbook, svc.Name))
		return
	}
	alone := *s.cfg
	alone.Services = []config.Service{*svc}
	var problems []string
	for _, err := range []error{runbook.Lint(rb, s.lintKinds()), runbook.LintCatalog(&alone, runbook.Set{rb.Name: rb})} {
		if err != nil {
			problems = append(problems, strings.Split(err.Error(), "\n")...)
		}
	}
	if len(problems) > 0 {
		a.Reasons = append(a.Reasons, "runbook lint errors: "+strings.Join(problems, "; "))
		return
	}
	a.Evidence = append(a.Evidence, fmt.Sprintf("runbook %s lints (%s)", rb.Name, rb.File))
}

// flagUnproven marks a high-risk deploy that shipped without a proven
// rollback path: it is recorded all the same (it already went out), and
// the weekly report lists it.
func (s *Deploys) flagUnproven(ctx context.Context, d *rollback.Deploy) error {
	if d.Risk != RiskHigh {
		return nil
	}
	// No version: the reasons do not depend on it, and looking this deploy
	// up in the log would only read what is being recorded now.
	a, failure, err := s.advisor.ChangeAdvisory(ctx, d.Service, "", d.Risk)
	if err != nil {
		return err
	}
	if failure != nil { // RecordDeploy checked the service and the risk first
		return fmt.Errorf("change advisory of %s: %s", d.Service, failure)
	}
	d.Unproven = a.Reasons
	return nil
}
