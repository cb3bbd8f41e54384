package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/steprequest"
	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/yamlx"
)

// Readiness statuses.
const (
	Pass = rollback.ReadinessPass
	Warn = rollback.ReadinessWarn
	Fail = rollback.ReadinessFail
)

const readinessCheckTimeout = 10 * time.Second

// readiness runs every readiness check for every service in scope.
func (s *Planner) readiness(ctx context.Context, r *rollback.Record) ([]rollback.CheckResult, error) {
	var out []rollback.CheckResult
	for _, c := range r.Services {
		res, err := s.serviceReadiness(ctx, r, c)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}

func (s *Planner) serviceReadiness(ctx context.Context, r *rollback.Record, c rollback.ServiceChange) ([]rollback.CheckResult, error) {
	svc, _ := s.cfg.ServiceByName(c.Service)
	rb := s.runbooks[c.Runbook]
	now := s.clock.Now()
	result := func(name, status, reason string, blocking bool) rollback.CheckResult {
		return rollback.CheckResult{Service: c.Service, Name: name, Status: status, Reason: reason, Blocking: blocking, At: now}
	}
	var out []rollback.CheckResult
	if IsImmutable(c.Target.Artifact) {
		out = append(out, result("artifact pinned", Pass, c.Target.Artifact, true))
	} else {
		out = append(out, result("artifact pinned", Fail, fmt.Sprintf("%q is a mutable reference; pin it by digest (image@sha256:…)", c.Target.Artifact), true))
	}
	if s.cfg.Registry.URL != "" && IsImmutable(c.Target.Artifact) {
		out = append(out, s.measureReadiness(ctx, r, c, runbook.Check{Name: "artifact in registry", Uses: "artifact", Blocking: true,
			With: yamlx.FromValue(map[string]string{"image": c.Target.Artifact, "registry_url": s.cfg.Registry.URL})}))
	}
	if rb != nil {
		if err := runbook.Lint(rb, s.lintKinds()); err != nil {
			first, _, _ := strings.Cut(err.Error(), "\n")
			out = append(out, result("runbook lints", Fail, first, true))
		} else {
			out = append(out, result("runbook lints", Pass, rb.File, true))
		}
		var lossMeasured []rollback.CheckResult
		for _, chk := range rb.Readiness {
			res := s.measureReadiness(ctx, r, c, chk)
			out = append(out, res)
			if chk.Measures == runbook.MeasuresDataLoss {
				lossMeasured = append(lossMeasured, res)
			}
		}
		if row, ok := dataLossReadiness(svc, rb, lossMeasured, r.Drill, now); ok {
			out = append(out, row)
		}
		out = append(out, s.probeExecutors(ctx, r, c, rb)...)
	}
	approvers, err := s.approverReadiness(ctx, r)
	if err != nil {
		return nil, err
	}
	out = append(out, result("approvers resolvable", approvers.Status, approvers.Reason, true))
	out = append(out, s.drillStatus(ctx, svc.Name))
	return out, nil
}

// lintKinds resolves executors and checkers for lint.
func (s *Planner) lintKinds() runbook.Kinds {
	return runbook.Kinds{
		Executor: func(name string) (runbook.WithValidator, error) { return s.executors.Get(name) },
		Checker: func(name string) (runbook.WithValidator, error) {
			if s.checkers == nil {
				return nil, fmt.Errorf("no checks registered")
			}
			return s.checkers.Get(name)
		},
	}
}

// checkRequest builds the request for one check of one service.
func (s *Planner) checkRequest(r *rollback.Record, c rollback.ServiceChange, with yamlx.Node) (check.Request, error) {
	svc, _ := s.cfg.ServiceByName(c.Service)
	tctx := s.templateContext(svc, c, runbook.RollbackInfo{ID: r.ID, Requester: r.Requester, Reason: r.Reason, Trigger: r.Trigger.Kind}, r.Drill, r.DrillMode)
	rendered, err := runbook.RenderNode(with, tctx)
	if err != nil {
		return check.Request{}, err
	}
	return check.Request{Service: c.Service, With: rendered, Now: s.clock.Now(), BaselineEnd: c.Current.DeployedAt,
		TargetVersion: c.Target.Version, Env: s.env}, nil
}

func (s *Planner) measureReadiness(ctx context.Context, r *rollback.Record, c rollback.ServiceChange, chk runbook.Check) rollback.CheckResult {
	res := rollback.CheckResult{Service: c.Service, Name: chk.Name, Blocking: chk.Blocking, At: s.clock.Now()}
	downgrade := func(reason string) rollback.CheckResult {
		res.Status, res.Reason = Warn, reason
		if chk.Blocking {
			res.Status = Fail
		}
		return res
	}
	if s.checkers == nil {
		return downgrade("no checks are registered")
	}
	checker, err := s.checkers.Get(chk.Uses)
	if err != nil {
		return downgrade(err.Error())
	}
	req, err := s.checkRequest(r, c, chk.With)
	if err != nil {
		return downgrade(err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, readinessCheckTimeout)
	defer cancel()
	m, err := checker.Measure(ctx, req)
	res.Value, res.Bound = m.Value, m.Bound
	switch {
	case err != nil:
		return downgrade("could not measure: " + exec.Redact(err.Error(), s.secrets()))
	case m.Outcome == check.Successful:
		res.Status, res.Reason = Pass, m.Message
	case m.Outcome == check.Inconclusive:
		res.Status, res.Reason = Warn, "inconclusive: "+m.Message
	default:
		return downgrade(m.Message)
	}
	return res
}

// probeExecutors asks each executor the plan uses whether it can do its job.
func (s *Planner) probeExecutors(ctx context.Context, r *rollback.Record, c rollback.ServiceChange, rb *runbook.Runbook) []rollback.CheckResult {
	svc, _ := s.cfg.ServiceByName(c.Service)
	tctx := s.templateContext(svc, c, runbook.RollbackInfo{ID: r.ID, Requester: r.Requester, Reason: r.Reason, Trigger: r.Trigger.Kind}, r.Drill, r.DrillMode)
	var problems []string
	var used []string
	for _, st := range rb.Steps {
		if st.Uses == "" {
			continue
		}
		ex, err := s.executors.Get(st.Uses)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if !slices.Contains(used, st.Uses) {
			used = append(used, st.Uses)
		}
		prober, ok := ex.(exec.Prober)
		if !ok {
			continue
		}
		req, err := s.requests.Build(steprequest.Input{Purpose: steprequest.Probe, StepID: st.ID,
			Action: st.Action(), Context: tctx, DryRun: steprequest.DryRun(rb, tctx.Drill)})
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", st.ID, err))
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, readinessCheckTimeout)
		failure, err := prober.Probe(pctx, req)
		cancel()
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", st.ID, err))
		case failure != "":
			problems = append(problems, fmt.Sprintf("%s: %s", st.ID, failure))
		}
	}
	res := rollback.CheckResult{Service: c.Service, Name: "executors usable", Blocking: true, At: s.clock.Now()}
	if len(problems) > 0 {
		res.Status, res.Reason = Fail, strings.Join(problems, "; ")
	} else {
		res.Status, res.Reason = Pass, strings.Join(used, ", ")
	}
	return []rollback.CheckResult{res}
}

// approverReadiness checks that enough eligible people exist to approve.
func (s *Planner) approverReadiness(ctx context.Context, r *rollback.Record) (rollback.CheckResult, error) {
	p := r.Policy
	if p.Waived {
		return rollback.CheckResult{Status: Pass, Reason: "drill policy waives approval"}, nil
	}
	people := map[string]bool{}
	for _, u := range p.Users {
		people[u] = true
	}
	var problems []string
	for _, g := range union(p.Groups, p.Roles) {
		ids, err := s.groups.members(ctx, g)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		eligible := 0
		for _, id := range ids {
			if !(p.ForbidSelf && id == r.Requester) {
				eligible++
			}
			people[id] = true
		}
		if slices.Contains(p.Roles, g) && eligible == 0 {
			problems = append(problems, fmt.Sprintf("role %s has nobody who may approve", g))
		}
	}
	if p.ForbidSelf {
		delete(people, r.Requester)
	}
	noList := len(p.Groups) == 0 && len(p.Users) == 0 && len(p.Roles) == 0
	if !noList && len(people) < p.Min {
		problems = append(problems, fmt.Sprintf("%d approval(s) needed but only %d eligible approver(s) resolve", p.Min, len(people)))
	}
	if len(problems) > 0 {
		return rollback.CheckResult{Status: Fail, Reason: strings.Join(problems, "; ")}, nil
	}
	return rollback.CheckResult{Status: Pass, Reason: fmt.Sprintf("%d eligible approver(s)", len(people))}, nil
}

// drillStatus reports the last successful drill against the drill policy.
func (s *Planner) drillStatus(ctx context.Context, service string) rollback.CheckResult {
	res := rollback.CheckResult{Service: service, Name: "drill recent", At: s.clock.Now()}
	maxAge := s.DrillMaxAge(service)
	last, err := s.LastSuccessfulDrill(ctx, service)
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		res.Status, res.Reason = Warn, "could not read drills: "+err.Error()
	case err != nil:
		res.Status, res.Reason = Warn, fmt.Sprintf("overdue: no successful drill recorded (policy: every %s)", human.Duration(maxAge))
	case s.clock.Now().Sub(last.At) > maxAge:
		res.Status, res.Reason = Warn, fmt.Sprintf("overdue: last successful drill %s (policy: every %s)", last.At.UTC().Format("2006-01-02"), human.Duration(maxAge))
	default:
		res.Status, res.Reason = Pass, fmt.Sprintf("last successful drill %s", last.At.UTC().Format("2006-01-02"))
	}
	return res
}

// DrillMaxAge is how recent a successful drill must be.
func (s *Planner) DrillMaxAge(service string) time.Duration {
	if svc, ok := s.cfg.ServiceByName(service); ok && svc.Drill != nil && svc.Drill.MaxAge > 0 {
		return svc.Drill.MaxAge.D()
	}
	return s.cfg.Drills.MaxAge.D()
}

// LastSuccessfulDrill finds the newest successful drill of a service,
// reading the service's drill index back only as far as it.
func (s *Planner) LastSuccessfulDrill(ctx context.Context, service string) (rollback.DrillRecord, error) {
	var last rollback.DrillRecord
	err := s.drills.ScanDrills(ctx, service, func(d rollback.DrillRecord) bool {
		if d.Succeeded {
			last = d
		}
		return !d.Succeeded
	})
	if err != nil {
		return rollback.DrillRecord{}, err
	}
	if last.ID == "" {
		return rollback.DrillRecord{}, store.ErrNotFound
	}
	return last, nil
}

// blockers lists failing blocking checks nobody has overridden.
func blockers(r *rollback.Record) []rollback.CheckResult {
	var out []rollback.CheckResult
	for _, c := range r.Readiness {
		if c.Status != Fail || !c.Blocking {
			continue
		}
		overridden := slices.ContainsFunc(r.Overrides, func(o rollback.Override) bool {
			return strings.EqualFold(o.Check, c.Name) || strings.EqualFold(o.Check, checkSlug(c.Name))
		})
		if !overridden {
			out = append(out, c)
		}
	}
	return out
}

// checkSlug is the check name as typed in a command: "artifact pinned" -> "artifact-pinned".
func checkSlug(name string) string { return strings.ReplaceAll(strings.ToLower(name), " ", "-") }

// ServiceReadiness runs readiness for a service against its last known-good
// release, on demand (a pipeline or change board asks before a risky release).
func (s *Planner) ServiceReadiness(ctx context.Context, service string) ([]rollback.CheckResult, rollback.Words, error) {
	changes, _, failure, err := s.Plan(ctx, PlanRequest{Services: []string{service}})
	if err != nil || failure != nil {
		return nil, failure, err
	}
	r := &rollback.Record{ID: "readiness", Services: changes, Policy: s.policyFor(changes, false), Requester: ""}
	res, err := s.readiness(ctx, r)
	return res, nil, err
}
