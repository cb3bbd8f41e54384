package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
)

// proposeClaimTTL bounds how long one automatic proposal of a service
// holds off concurrent ones while it is being created (readiness checks
// included); after that the thrash guard sees the stored proposal.
const proposeClaimTTL = time.Minute

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
func (s *Service) Propose(ctx context.Context, who Actor, req ProposeRequest) (*rollback.Record, string, error) {
	if req.Trigger.Kind == "" {
		req.Trigger = rollback.Trigger{Kind: "person", Source: who.From}
	}
	if req.Trigger.At.IsZero() {
		req.Trigger.At = s.clock.Now()
	}
	names, _, failure := s.scopeServices(PlanRequest{Services: req.Services, Release: req.Release, Version: req.Version})
	if failure != "" {
		return nil, failure, nil
	}
	var guardOverride string
	if !req.Drill {
		for _, name := range names {
			why, err := s.thrashGuard(ctx, name)
			if err != nil {
				return nil, "", err
			}
			if why == "" {
				continue
			}
			open, _ := s.openRollback(ctx, name)
			switch {
			case req.automatic():
				s.metrics.ProposalSuppressed("thrash_guard")
				if open != nil {
					s.thread(ctx, open, textMessage(fmt.Sprintf("🔁 Another alert for %s (%s) was folded into %s: %s", name, req.Trigger.Source, open.ID, req.Trigger.Summary)))
				}
				return nil, "suppressed by the thrash guard: " + why, nil
			case open != nil:
				return nil, fmt.Sprintf("%s already covers %s (%s); act on it (`/rollback status %s`) or abort it first.", open.ID, name, open.State, open.ID), nil
			case strings.TrimSpace(req.Reason) == "":
				return nil, fmt.Sprintf("The thrash guard holds %s: %s. To propose anyway, give a reason (it is audited): `/rollback propose %s <reason>`.", name, why, name), nil
			default:
				guardOverride = why
			}
		}
	}
	if req.automatic() && !req.Drill {
		// The guard above read the store; alerts for one service can arrive
		// together (several replicas, watchers), so only one of them may go
		// on to create a proposal. Once it exists, the guard holds the rest.
		for _, name := range names {
			ok, err := s.store.Claim(ctx, "propose/"+name, proposeClaimTTL)
			if err != nil {
				return nil, "", fmt.Errorf("claim proposal of %s: %w", name, err)
			}
			if !ok {
				s.metrics.ProposalSuppressed("thrash_guard")
				return nil, "suppressed by the thrash guard: another alert for " + name + " is being turned into a proposal", nil
			}
		}
	}
	id, err := s.store.NextID(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("allocate id: %w", err)
	}
	info := runbook.RollbackInfo{ID: id, Requester: who.User, Reason: req.Reason, Trigger: req.Trigger.Kind}
	changes, scope, failure, err := s.Plan(ctx, PlanRequest{Services: req.Services, Release: req.Release, Version: req.Version,
		Drill: req.Drill, DrillMode: req.DrillMode, Rollback: info})
	if err != nil || failure != "" {
		return nil, failure, err
	}
	r := &rollback.Record{
		ID: id, State: rollback.StateProposed, Drill: req.Drill, DrillMode: req.DrillMode, Trigger: req.Trigger,
		Requester: who.User, Reason: req.Reason, Scope: scope, Release: req.Release, Services: changes,
		PlanHash: PlanHash(changes), Policy: s.policyFor(changes, req.Drill), Urgency: req.Trigger.Urgency,
		DetectedAt: req.Trigger.At, CreatedAt: s.clock.Now(),
	}
	s.describe(r)
	if guardOverride != "" {
		r.Overrides = append(r.Overrides, rollback.Override{Check: "thrash-guard", By: who.User, Reason: req.Reason, At: s.clock.Now()})
	}
	r.Readiness, err = s.readiness(ctx, r)
	if err != nil {
		return nil, "", err
	}
	if err := s.store.CreateRollback(ctx, r); err != nil {
		return nil, "", fmt.Errorf("store proposal: %w", err)
	}
	if !r.Drill {
		for _, c := range r.Services {
			s.markBad(ctx, c.Current.DeployID)
		}
	}
	detail := map[string]string{"services": strings.Join(r.ServiceNames(), ","), "plan_hash": r.PlanHash, "trigger": r.Trigger.Kind, "reason": req.Reason}
	s.audit(ctx, who, "rollback.proposed", r.ID, detail)
	if guardOverride != "" {
		s.audit(ctx, who, "override.thrash_guard", r.ID, map[string]string{"guard": guardOverride, "reason": req.Reason})
	}
	r, err = s.announce(ctx, r)
	if err != nil {
		return nil, "", err
	}
	s.notePagerDuty(ctx, r, fmt.Sprintf("Backout proposed rollback %s: %s.", r.ID, summaryLine(r)))
	if r.Trigger.IncidentID != "" && s.cfg.PagerDuty.AckOnPropose && r.Trigger.Source == "pagerduty" {
		if err := s.pager.Acknowledge(ctx, r.Trigger.IncidentID); err != nil {
			s.log.WarnContext(ctx, "pagerduty acknowledge failed", "incident", r.Trigger.IncidentID, "err", err)
		}
	}
	return r, "", s.autoApprove(ctx, r)
}

// describe copies what people must see on every proposal from the catalog
// and the runbooks: constraints, data boundaries, targets.
func (s *Service) describe(r *rollback.Record) {
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
		if l := svc.MaxDataLoss.D(); r.MaxDataLoss == 0 || l < r.MaxDataLoss {
			r.MaxDataLoss = l
		}
		if r.Channel == "" {
			r.Channel = svc.Channel
		}
	}
}

// autoApprove applies drill waivers and the auto_execute: always policy.
func (s *Service) autoApprove(ctx context.Context, r *rollback.Record) error {
	why := ""
	switch {
	case r.Drill && r.Policy.Waived:
		why = "drill policy waives approval"
	case !r.Drill && r.Trigger.Kind != "person" && s.autoMode(r) == config.AutoAlways:
		why = "auto_execute: always"
	}
	if why == "" {
		return nil
	}
	return s.approveAutomatically(ctx, r, why)
}

func (s *Service) approveAutomatically(ctx context.Context, r *rollback.Record, why string) error {
	r, err := s.transition(ctx, r.ID, rollback.StateApproved, []rollback.State{rollback.StateProposed}, func(r *rollback.Record) {
		r.Auto = !r.Drill
		r.Approvers = []string{"backout (" + why + ")"}
	})
	if errors.Is(err, rollback.ErrBadTransition) {
		return nil
	}
	if err != nil {
		return err
	}
	s.audit(ctx, Actor{User: "backout", From: "engine"}, "rollback.auto_approved", r.ID, map[string]string{"why": why})
	text := fmt.Sprintf("🤖 Backout is executing %s automatically (%s). Anyone eligible can stop it with Abort or `/rollback abort %s`.", r.ID, why, r.ID)
	s.thread(ctx, r, textMessage(text))
	s.notePagerDuty(ctx, r, text)
	return s.start(ctx, r)
}

// autoMode is the strictest auto_execute setting of the services in scope.
func (s *Service) autoMode(r *rollback.Record) config.AutoMode {
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

// summaryLine is "checkout 2.4.1 → 2.4.0, cart 1.9 → 1.8".
func summaryLine(r *rollback.Record) string { return rollback.SummaryLine(r) }
