package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backout/backout/internal/authz"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
)

// proposeClaimTTL bounds how long one automatic proposal of a service
// holds off concurrent ones while it is being created (readiness checks
// included); after that the thrash guard sees the stored proposal.
const proposeClaimTTL = time.Minute

// thrashGuardFailure starts the failure of an automatic proposal the
// thrash guard held back.
const thrashGuardFailure = "suppressed by the thrash guard: "

// ProposeRequest asks for a rollback.
type ProposeRequest struct {
	Services  []string
	Release   string
	Version   string
	Reason    string
	Trigger   rollback.Trigger
	Drill     bool
	DrillMode string
}

// automatic reports whether a machine, not a person, asked.
func (r ProposeRequest) automatic() bool {
	return r.Trigger.Kind == "alert" || r.Trigger.Kind == "watcher"
}

// Propose creates a proposal and posts it. The failure is for the person who
// asked (or, for alerts, the reason it was suppressed); err is a system fault.
func (s *Proposals) Propose(ctx context.Context, who Actor, req ProposeRequest) (*rollback.Record, rollback.Words, error) {
	// A replica draining for a shutdown starts nothing new, proposals
	// included (their readiness probes run, and no vote could start them
	// here): the person is told to ask again once a replica is up.
	if err := s.approvals.engine.refuseWhenStopping("a new proposal"); err != nil {
		return nil, nil, err
	}
	if req.Trigger.Kind == "" {
		req.Trigger = rollback.Trigger{Kind: "person", Source: who.From}
	}
	if req.Trigger.At.IsZero() {
		req.Trigger.At = s.clock.Now()
	}
	names, _, failure := s.planner.scopeServices(PlanRequest{Services: req.Services, Release: req.Release, Version: req.Version})
	if failure != nil {
		return nil, failure, nil
	}
	if refusal, err := s.mayPropose(ctx, who, names, req); err != nil || refusal != nil {
		return nil, refusal, err
	}
	guardOverride, failure, err := s.checkGuard(ctx, names, req)
	if err != nil || failure != nil {
		return nil, failure, err
	}
	if guardOverride != "" {
		if refusal, err := s.authorize(ctx, who, authz.OverrideGuard, onServices(names...)); err != nil || refusal != nil {
			return nil, refusal, err
		}
	}
	// A plan that cannot stand fails before the claim: a claim held by it
	// would turn the service's next alert away, for proposeClaimTTL, as
	// "being turned into a proposal" when none is.
	if failure, err := s.tryPlan(ctx, who, req); err != nil || failure != nil {
		return nil, failure, err
	}
	if failure, err := s.claim(ctx, names, req); err != nil || failure != nil {
		return nil, failure, err
	}
	r, failure, err := s.build(ctx, who, req)
	if err != nil || failure != nil {
		return nil, failure, err
	}
	if guardOverride != "" {
		r.Overrides = append(r.Overrides, rollback.Override{Check: rollback.OverrideThrashGuard, By: who.User, Reason: req.Reason, At: s.clock.Now()})
	}
	if r.Readiness, err = s.planner.readiness(ctx, r); err != nil {
		return nil, nil, err
	}
	r.Policy.UnansweredAt = s.approvals.unansweredAt(r)
	detail := map[string]string{"services": strings.Join(r.ServiceNames(), ","), "plan_hash": r.PlanHash, "trigger": r.Trigger.Kind, "reason": req.Reason}
	if refusal := s.auditFirst(ctx, who, "rollback.proposed", r.ID, detail); refusal != nil {
		return nil, refusal, nil
	}
	if guardOverride != "" {
		if refusal := s.auditFirst(ctx, who, "override.thrash_guard", r.ID, map[string]string{"guard": guardOverride, "reason": req.Reason}); refusal != nil {
			return nil, refusal, nil
		}
	}
	if err := s.store.CreateRollback(ctx, r); err != nil {
		return nil, nil, fmt.Errorf("store proposal: %w", err)
	}
	if !r.Drill {
		for _, c := range r.Services {
			s.history.markBad(ctx, c.Current.DeployID)
		}
	}
	if r, err = s.publish(ctx, r); err != nil {
		return nil, nil, err
	}
	// The record returned is the one after any automatic approval, so the
	// caller's answer ("proposed" or "started") says what really happened.
	r, err = s.approvals.autoApprove(ctx, r)
	return r, nil, err
}

// mayPropose asks the permission model when a person asks: to propose, or
// to start a drill now. Alerts, watchers and the drill schedule act under
// the catalog's own say-so.
func (s *Proposals) mayPropose(ctx context.Context, who Actor, names []string, req ProposeRequest) (rollback.Words, error) {
	if req.Trigger.Kind != "person" && !(req.Drill && req.Trigger.Source != "cron") {
		return nil, nil
	}
	action := authz.Propose
	if req.Drill {
		action = authz.DrillNow
	}
	return s.authorize(ctx, who, action, onServices(names...))
}

// checkGuard asks the thrash guard about each service. An automatic request
// it holds is folded into the open rollback; a person's is refused unless
// it gives a reason, which then overrides the guard (the returned text).
func (s *Proposals) checkGuard(ctx context.Context, names []string, req ProposeRequest) (override string, failure rollback.Words, err error) {
	if req.Drill {
		return "", nil, nil
	}
	for _, name := range names {
		why, err := s.guard.thrashGuard(ctx, name)
		if err != nil {
			return "", nil, err
		}
		if why == "" {
			continue
		}
		open, _ := s.guard.openRollback(ctx, name)
		switch {
		case req.automatic():
			s.metrics.ProposalSuppressed("thrash_guard")
			if open != nil {
				s.tell(ctx, rollback.AlertFolded{About: rollback.About{Rollback: open}, Service: name, Source: req.Trigger.Source, Summary: req.Trigger.Summary})
			}
			return "", rollback.Say(thrashGuardFailure + why), nil
		case open != nil:
			return "", rollback.Say(fmt.Sprintf("%s already covers %s (%s); act on it (", open.ID, name, open.State),
				rollback.Code("/rollback status "+open.ID), ") or abort it first."), nil
		case strings.TrimSpace(req.Reason) == "":
			return "", rollback.Say(fmt.Sprintf("The thrash guard holds %s: %s. To propose anyway, give a reason (it is audited): ", name, why),
				rollback.Code("/rollback propose "+name+" <reason>"), "."), nil
		default:
			override = why
		}
	}
	return override, nil, nil
}

// claim lets one automatic request per service go on. The guard read the
// store; alerts for one service can arrive together (several replicas,
// watchers), so only one of them may go on to create a proposal. Once it
// exists, the guard holds the rest.
func (s *Proposals) claim(ctx context.Context, names []string, req ProposeRequest) (rollback.Words, error) {
	if !req.automatic() || req.Drill {
		return nil, nil
	}
	for _, name := range names {
		ok, err := s.store.Claim(ctx, "propose/"+name, proposeClaimTTL)
		if err != nil {
			return nil, fmt.Errorf("claim proposal of %s: %w", name, err)
		}
		if !ok {
			s.metrics.ProposalSuppressed("thrash_guard")
			return rollback.Say(thrashGuardFailure + "another alert for " + name + " is being turned into a proposal"), nil
		}
	}
	return nil, nil
}

// plan plans req as rollback id.
func (s *Proposals) plan(ctx context.Context, who Actor, req ProposeRequest, id string) ([]rollback.ServiceChange, string, rollback.Words, error) {
	info := runbook.RollbackInfo{ID: id, Requester: who.User, Reason: req.Reason, Trigger: req.Trigger.Kind}
	return s.planner.Plan(ctx, PlanRequest{Services: req.Services, Release: req.Release, Version: req.Version,
		Drill: req.Drill, DrillMode: req.DrillMode, Rollback: info})
}

// tryPlan plans req without an id: an id is allocated only for a plan that
// stands, so that every id names a stored rollback.
func (s *Proposals) tryPlan(ctx context.Context, who Actor, req ProposeRequest) (rollback.Words, error) {
	_, _, failure, err := s.plan(ctx, who, req, "RB-0")
	return failure, err
}

// build plans the record, not yet stored, once tryPlan found the plan
// stands: with its id now (a template may use it).
func (s *Proposals) build(ctx context.Context, who Actor, req ProposeRequest) (*rollback.Record, rollback.Words, error) {
	id, err := s.store.NextID(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("allocate id: %w", err)
	}
	changes, scope, failure, err := s.plan(ctx, who, req, id)
	if err != nil || failure != nil {
		return nil, failure, err
	}
	r := &rollback.Record{
		ID: id, State: rollback.StateProposed, Drill: req.Drill, DrillMode: req.DrillMode, Trigger: req.Trigger,
		Requester: who.User, Reason: req.Reason, Scope: scope, Release: req.Release, Services: changes,
		PlanHash: PlanHash(changes), Policy: s.planner.policyFor(changes, req.Drill), Urgency: req.Trigger.Urgency,
		DetectedAt: req.Trigger.At, CreatedAt: s.clock.Now(),
	}
	s.planner.describe(r)
	return r, nil, nil
}

// publish announces a stored proposal and tells PagerDuty.
func (s *Proposals) publish(ctx context.Context, r *rollback.Record) (*rollback.Record, error) {
	r, err := s.announce(ctx, r)
	if err != nil {
		return nil, err
	}
	s.notePagerDuty(ctx, r, fmt.Sprintf("Backout proposed rollback %s: %s.", r.ID, summaryLine(r)))
	if r.Trigger.IncidentID != "" && s.cfg.PagerDuty.AckOnPropose && r.Trigger.Source == "pagerduty" {
		if err := s.pager.Acknowledge(ctx, r.Trigger.IncidentID); err != nil {
			s.log.WarnContext(ctx, "pagerduty acknowledge failed", "incident", r.Trigger.IncidentID, "err", err)
		}
	}
	return r, nil
}

// describe copies what people must see on every proposal from the catalog
// and the runbooks: constraints, data boundaries, targets.
func (s *Planner) describe(r *rollback.Record) {
	for _, c := range r.Services {
		svc, _ := s.cfg.ServiceByName(c.Service)
		if svc.Constraints != "" {
			r.Constraints = append(r.Constraints, fmt.Sprintf("%s: %s", svc.Name, strings.TrimSpace(svc.Constraints)))
		}
		if rb, ok := s.runbooks[c.Runbook]; ok && rb.Data != nil {
			for _, d := range rb.Data.Reverts {
				r.DataReverts = append(r.DataReverts, fmt.Sprintf("%s: %s", svc.Name, d))
			}
			for _, d := range rb.Data.Keeps {
				r.DataKeeps = append(r.DataKeeps, fmt.Sprintf("%s: %s", svc.Name, d))
			}
		}
		if t := svc.RecoveryTarget.D(); t > 0 && (r.RecoveryTarget == 0 || t < r.RecoveryTarget) {
			r.RecoveryTarget = t
		}
		if svc.MaxDataLoss != nil {
			if l := svc.MaxDataLoss.D(); r.MaxDataLoss == nil || l < *r.MaxDataLoss {
				r.MaxDataLoss = &l
			}
		}
		if r.Channel == "" {
			r.Channel = svc.Channel
		}
	}
	r.DrillDryRunCause = s.drillDryRunCause(r)
}

// autoApprove applies drill waivers and the auto_execute: always policy. It
// returns the record as approved, or r unchanged when nothing approved it.
func (s *Approvals) autoApprove(ctx context.Context, r *rollback.Record) (*rollback.Record, error) {
	why := ""
	switch {
	case r.Drill && r.Policy.Waived:
		why = "drill policy waives approval"
	case !r.Drill && r.Trigger.Kind != "person" && s.autoMode(r) == config.AutoAlways:
		why = "auto_execute: always"
	}
	if why == "" {
		return r, nil
	}
	approved, err := s.approve(ctx, r, why)
	if approved == nil {
		return r, err
	}
	return approved, err
}

// approve moves a proposal to approved on Backout's own say-so and starts
// it. It returns the approved record, or nil when it approved nothing.
func (s *Approvals) approve(ctx context.Context, r *rollback.Record, why string) (*rollback.Record, error) {
	if err := s.engine.refuseWhenStopping(r.ID); err != nil {
		return nil, err // left proposed rather than approved and never started
	}
	r, err := s.transition(ctx, r.ID, rollback.StateApproved, []rollback.State{rollback.StateProposed}, func(r *rollback.Record) {
		r.Auto = !r.Drill
		r.Approvers = []string{"backout (" + why + ")"}
	})
	if errors.Is(err, rollback.ErrBadTransition) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.audit(ctx, Actor{User: "backout", From: "engine"}, "rollback.auto_approved", r.ID, map[string]string{"why": why})
	s.tell(ctx, rollback.AutoApproved{About: rollback.About{Rollback: r}, Why: why})
	s.notePagerDuty(ctx, r, fmt.Sprintf("🤖 Backout is executing %s automatically (%s). Anyone eligible can stop it with Abort or `/rollback abort %s`.", r.ID, why, r.ID))
	return r, s.engine.start(ctx, r)
}

// unansweredAt is when an unanswered proposal is approved on Backout's own
// say-so (auto_execute: when_unanswered, the longest wait of the services in
// scope, counted from the proposal), or zero when it never is: a drill, a
// person's proposal, a service in scope that says never or always, or a
// proposal that expires before then.
func (s *Approvals) unansweredAt(r *rollback.Record) time.Time {
	if r.Drill || r.Trigger.Kind == "person" || s.autoMode(r) != config.AutoWhenUnanswered {
		return time.Time{}
	}
	var after time.Duration
	for _, c := range r.Services {
		if svc, ok := s.cfg.ServiceByName(c.Service); ok && svc.AutoExecute.After > after {
			after = svc.AutoExecute.After
		}
	}
	at := r.CreatedAt.Add(after)
	if !r.Policy.ExpiresAt.IsZero() && at.After(r.Policy.ExpiresAt) {
		return time.Time{} // it expires first (tickProposals)
	}
	return at
}

// autoMode is the strictest auto_execute setting of the services in scope,
// and never when a service's release went out after the alert began: that
// deploy did not start the trouble and may be the fix for it, so rolling it
// back is for a person to decide, not for Backout on its own.
func (s *Approvals) autoMode(r *rollback.Record) config.AutoMode {
	if deployedAfterAlert(r) {
		return config.AutoNever
	}
	mode := config.AutoAlways
	for _, c := range r.Services {
		svc, _ := s.cfg.ServiceByName(c.Service)
		switch svc.AutoExecute.Mode {
		case config.AutoNever:
			return config.AutoNever
		case config.AutoWhenUnanswered:
			mode = config.AutoWhenUnanswered
		}
	}
	return mode
}

// deployedAfterAlert reports whether an alert's or watcher's proposal
// rolls back a release deployed after the alert began (suspect_window
// reaches past the alert, for deploys that CI reports late).
func deployedAfterAlert(r *rollback.Record) bool {
	if (r.Trigger.Kind != "alert" && r.Trigger.Kind != "watcher") || r.Trigger.At.IsZero() {
		return false
	}
	for _, c := range r.Services {
		if !c.Current.DeployedAt.IsZero() && deployedAfter(c.Current.DeployedAt, r.Trigger.At) {
			return true
		}
	}
	return false
}

// summaryLine is "checkout 2.4.1 → 2.4.0, cart 1.9 → 1.8".
func summaryLine(r *rollback.Record) string { return rollback.SummaryLine(r) }
