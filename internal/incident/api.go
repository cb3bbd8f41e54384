package incident

import (
	"context"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// The lifecycle's entry points. Each hands over to the part that owns it;
// none holds logic of its own.

// Propose plans, checks and announces a rollback.
func (s *Service) Propose(ctx context.Context, who Actor, req ProposeRequest) (*rollback.Record, rollback.Words, error) {
	return s.proposals.Propose(ctx, who, req)
}

// Plan renders what a rollback would do, without proposing it.
func (s *Service) Plan(ctx context.Context, req PlanRequest) ([]rollback.ServiceChange, string, rollback.Words, error) {
	return s.planner.Plan(ctx, req)
}

// ServiceReadiness runs a service's readiness checks against its last known-good release.
func (s *Service) ServiceReadiness(ctx context.Context, service string) ([]rollback.CheckResult, rollback.Words, error) {
	return s.planner.ServiceReadiness(ctx, service)
}

// ChangeAdvisory is the change advisory gate: may a deploy at this risk ship?
func (s *Service) ChangeAdvisory(ctx context.Context, service, version, risk string) (Advisory, rollback.Words, error) {
	return s.planner.ChangeAdvisory(ctx, service, version, risk)
}

// DrillMaxAge is how old a service's last successful drill may be.
func (s *Service) DrillMaxAge(service string) time.Duration { return s.planner.DrillMaxAge(service) }

// LastSuccessfulDrill is a service's newest successful drill.
func (s *Service) LastSuccessfulDrill(ctx context.Context, service string) (rollback.DrillRecord, error) {
	return s.planner.LastSuccessfulDrill(ctx, service)
}

// DrillRunMode is the mode a drill ran in for one service, and why it
// differs from its policy's mode.
func (s *Service) DrillRunMode(r *rollback.Record, service string) (mode, cause string) {
	return s.planner.DrillRunMode(r, service)
}

// Vote records an approval or a rejection.
func (s *Service) Vote(ctx context.Context, who Actor, req VoteRequest) (rollback.Words, error) {
	return s.approvals.Vote(ctx, who, req)
}

// SignGate signs off an open mid-run gate.
func (s *Service) SignGate(ctx context.Context, who Actor, id, key string) (rollback.Words, error) {
	return s.approvals.SignGate(ctx, who, id, key)
}

// Override sets aside a failing blocking readiness check.
func (s *Service) Override(ctx context.Context, who Actor, id, checkName, reason string) (rollback.Words, error) {
	return s.control.Override(ctx, who, id, checkName, reason)
}

// Abort stops a rollback.
func (s *Service) Abort(ctx context.Context, who Actor, id, reason string) (rollback.Words, error) {
	return s.control.Abort(ctx, who, id, reason)
}

// Resume continues an interrupted or paused rollback.
func (s *Service) Resume(ctx context.Context, who Actor, id string) (rollback.Words, error) {
	return s.control.Resume(ctx, who, id)
}

// Pause holds a running rollback at the next step boundary.
func (s *Service) Pause(ctx context.Context, who Actor, id string) (rollback.Words, error) {
	return s.control.Pause(ctx, who, id)
}

// SetFreeze closes a service's pipeline gate.
func (s *Service) SetFreeze(ctx context.Context, who Actor, service, reason string) (rollback.Words, error) {
	return s.control.SetFreeze(ctx, who, service, reason)
}

// ClearFreeze opens a service's pipeline gate again.
func (s *Service) ClearFreeze(ctx context.Context, who Actor, service string) (rollback.Words, error) {
	return s.control.ClearFreeze(ctx, who, service)
}

// RecordDeploy records a deploy reported by CI.
func (s *Service) RecordDeploy(ctx context.Context, who Actor, in DeployInput) (*rollback.Deploy, rollback.Words, error) {
	return s.deploys.RecordDeploy(ctx, who, in)
}

// MarkGood marks a deploy known-good.
func (s *Service) MarkGood(ctx context.Context, who Actor, id string) (*rollback.Deploy, rollback.Words, error) {
	return s.deploys.MarkGood(ctx, who, id)
}

// Deploys lists a service's deploys, newest first.
func (s *Service) Deploys(ctx context.Context, service string, limit int) ([]*rollback.Deploy, error) {
	return s.deploys.log.Deploys(ctx, service, limit)
}

// DeployPage lists one page of a service's deploys, newest first, from its
// index (the API's paged listing).
func (s *Service) DeployPage(ctx context.Context, q store.DeployQuery) ([]*rollback.Deploy, error) {
	return s.deploys.log.Page(ctx, q)
}

// KnownGood reports whether deploys[i] counts as known-good.
func (s *Service) KnownGood(deploys []*rollback.Deploy, i int, stableAfter time.Duration) bool {
	return s.deploys.log.KnownGood(deploys, i, stableAfter)
}

// PipelineGate says whether a service may be deployed now.
func (s *Service) PipelineGate(ctx context.Context, service string) (GateResult, rollback.Words, error) {
	return s.guard.PipelineGate(ctx, service)
}

// OnAlert takes one normalized alert.
func (s *Service) OnAlert(ctx context.Context, a Alert) error { return s.alerts.OnAlert(ctx, a) }

// ReportAffected counts a support report that users are still affected
// after a successful rollback (the support channel's button, `affected`).
func (s *Service) ReportAffected(ctx context.Context, who Actor, id string) (rollback.Words, error) {
	return s.control.ReportAffected(ctx, who, id)
}

// RollForward returns a service's drill environment to its version after
// an environment drill (the runbook's drill.roll_forward); nil when r is
// not an environment drill.
func (s *Service) RollForward(ctx context.Context, r *rollback.Record, service string) *rollback.RollForward {
	return s.engine.rollForward(ctx, r, service)
}

// AddEndHook registers a hook told when a rollback ends; call before serving.
func (s *Service) AddEndHook(h EndHook) { s.closer.AddEndHook(h) }
