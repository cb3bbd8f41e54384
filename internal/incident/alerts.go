package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// OnAlert turns an alert into a proposal, or into a note on an open one.
// It is idempotent per (incident, kind) thanks to dedup upstream and the
// thrash guard here.
func (s *Alerts) OnAlert(ctx context.Context, a Alert) error {
	if _, failure := s.service(a.Service); failure != nil {
		return nil // adapters only send catalog services; a config reload may drop one
	}
	who := Actor{User: a.Source, From: a.Source}
	if a.At.IsZero() {
		a.At = s.clock.Now()
	}
	s.audit(ctx, who, "alert."+a.Kind, a.Service, map[string]string{"incident": a.IncidentID, "summary": a.Summary})
	switch a.Kind {
	case AlertTriggered:
		return s.alertTriggered(ctx, who, a)
	case AlertResolved:
		return s.alertResolved(ctx, a)
	case AlertEscalated, AlertPriorityUpdated, AlertAcknowledged:
		return s.alertUpdated(ctx, a)
	}
	return nil
}

func (s *Alerts) alertTriggered(ctx context.Context, who Actor, a Alert) error {
	b, _ := json.Marshal(openIncident{Source: a.Source, IncidentID: a.IncidentID, Summary: a.Summary})
	if err := s.store.PutBlob(ctx, blobIncident, a.Service, b); err != nil {
		return fmt.Errorf("record open incident: %w", err)
	}
	svc, _ := s.cfg.ServiceByName(a.Service)
	window := s.cfg.PagerDuty.SuspectWindow.D()
	if a.Source == "watcher" && svc.WatchFor > 0 {
		window = svc.WatchFor.D()
	}
	deploys, err := s.store.ListDeploys(ctx, a.Service, 1)
	if err != nil {
		return fmt.Errorf("list deploys: %w", err)
	}
	if len(deploys) == 0 || a.At.Sub(deploys[0].At) > window || deploys[0].At.After(a.At.Add(window)) {
		s.metrics.ProposalSuppressed("no_suspect_deploy")
		s.suppressed(ctx, who, a, fmt.Sprintf("no deploy in the last %s", human.Duration(window)), rollback.AlertIgnored{Channel: svc.Channel,
			Service: a.Service, Source: a.Source, Kind: a.Kind, Summary: a.Summary, Window: window})
		return nil
	}
	trigger := rollback.Trigger{Kind: "alert", Source: a.Source, AlertID: a.IncidentID, IncidentID: a.IncidentID,
		URL: a.URL, Summary: a.Summary, Urgency: a.Urgency, At: a.At}
	if a.Source == "watcher" {
		trigger.Kind = "watcher"
	}
	if a.Source != "pagerduty" {
		trigger.IncidentID = ""
	}
	reason := suspectReason(deploys[0], a.At)
	_, failure, err := s.proposals.Propose(ctx, who, ProposeRequest{Services: []string{a.Service}, Reason: reason, Trigger: trigger})
	if err != nil {
		return err
	}
	if failure == nil {
		return nil
	}
	open, err := s.guard.openRollback(ctx, a.Service)
	if err != nil {
		return err
	}
	n := rollback.AlertNotProposed{Channel: svc.Channel, Service: a.Service, Source: a.Source, Kind: a.Kind,
		Summary: a.Summary, Why: failure, Guarded: strings.HasPrefix(failure.String(), thrashGuardFailure)}
	if !n.Guarded {
		s.metrics.ProposalSuppressed("plan_failed") // the guard counts its own
	}
	if open != nil {
		// Folded into the open rollback's thread by the thrash guard: people
		// see it there, so the channel hears nothing more.
		s.suppressed(ctx, who, a, failure.String(), nil)
		return nil
	}
	s.suppressed(ctx, who, a, failure.String(), n)
	return nil
}

// suspectReason says when the suspect deploy went out, measured from when
// the alert opened (not from now: an alert may arrive long after it opened).
// The suspect window reaches past the alert too, so a deploy made after the
// alert opened is said to be so: it cannot be what set the alert off, and the
// people voting must not read it as the cause.
func suspectReason(d *rollback.Deploy, alertAt time.Time) string {
	gap := alertAt.Sub(d.At).Round(time.Second)
	switch {
	case gap >= time.Second:
		return fmt.Sprintf("%s deployed %s before this alert", d.Version, human.Duration(gap))
	case !deployedAfter(d.At, alertAt):
		return d.Version + " deployed moments before this alert"
	}
	return fmt.Sprintf("%s deployed %s after this alert opened: the alert began before it, so only a person may approve this rollback", d.Version, human.Duration(-gap))
}

// deployedAfter reports whether a deploy at deployAt went out after an
// alert that began at alertAt, to the second the proposal's text shows:
// within half a second either way is "moments before", as it says.
func deployedAfter(deployAt, alertAt time.Time) bool {
	return alertAt.Sub(deployAt).Round(time.Second) <= -time.Second
}

// alertNoticeTTL is how long one incident's "not proposed" notice holds off
// repeats: an alert source re-sends a firing alert (Alertmanager's
// repeat_interval), and people need to hear why once, not every time.
const alertNoticeTTL = 24 * time.Hour

// suppressed records an alert that raised no proposal: in the audit trail
// every time, and in the service's channel once per incident (n nil: the
// people concerned heard elsewhere).
func (s *Alerts) suppressed(ctx context.Context, who Actor, a Alert, why string, n rollback.Notice) {
	s.log.InfoContext(ctx, "alert did not produce a proposal", "service", a.Service, "incident", a.IncidentID, "why", why)
	s.audit(ctx, who, "alert.suppressed", a.Service, map[string]string{"incident": a.IncidentID, "why": why})
	if n == nil {
		return
	}
	first, err := s.store.Claim(ctx, "alert-notice/"+a.Service+"/"+a.Source+"/"+a.IncidentID, alertNoticeTTL)
	if err != nil {
		s.log.WarnContext(ctx, "claim alert notice", "service", a.Service, "err", err)
		first = true // better said twice than never
	}
	if first {
		s.tell(ctx, n)
	}
}

// rollbackForIncident finds the open rollback an alert is about.
func (s *Alerts) rollbackForIncident(ctx context.Context, a Alert) (*rollback.Record, error) {
	rs, err := s.store.ListRollbacks(ctx, store.RollbackQuery{Service: a.Service, States: openStates})
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if !r.Drill && triggeredBy(r, a) {
			return r, nil
		}
	}
	for _, r := range rs {
		if !r.Drill {
			return r, nil
		}
	}
	return nil, nil
}

// triggeredBy reports whether alert a's incident is what proposed r.
func triggeredBy(r *rollback.Record, a Alert) bool {
	return a.IncidentID != "" && (r.Trigger.IncidentID == a.IncidentID || r.Trigger.AlertID == a.IncidentID)
}

func (s *Alerts) alertUpdated(ctx context.Context, a Alert) error {
	r, err := s.rollbackForIncident(ctx, a)
	if err != nil || r == nil {
		return err
	}
	text := fmt.Sprintf("%s incident %s %s", a.Source, a.IncidentID, a.Kind)
	if a.Priority != "" {
		text += " (priority " + a.Priority + ")"
	}
	r, err = s.update(ctx, r.ID, func(r *rollback.Record) error {
		r.Notes = append(r.Notes, rollback.Note{At: s.clock.Now(), Text: text})
		if a.Kind == AlertEscalated || a.Kind == AlertPriorityUpdated {
			r.Urgency = "high"
		}
		return nil
	})
	if err != nil {
		return err
	}
	n := rollback.AlertUpdated{About: rollback.About{Rollback: r}, Text: text}
	if a.Kind != AlertAcknowledged && r.State == rollback.StateProposed {
		n.StillNeeds, n.Stakeholders = true, s.stakeholders(ctx, r)
	}
	s.tell(ctx, n)
	s.refresh(ctx, r.ID)
	return nil
}

func (s *Alerts) alertResolved(ctx context.Context, a Alert) error {
	if err := s.store.DeleteBlob(ctx, blobIncident, a.Service); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("clear open incident: %w", err)
	}
	r, err := s.rollbackForIncident(ctx, a)
	if err != nil || r == nil {
		return err
	}
	text := fmt.Sprintf("%s incident %s resolved", a.Source, a.IncidentID)
	// Only the proposal this incident raised goes stale: one a person made,
	// or another incident raised, still stands on its own reasons.
	if r.State == rollback.StateProposed && triggeredBy(r, a) {
		r, err = s.transition(ctx, r.ID, rollback.StateStale, []rollback.State{rollback.StateProposed}, func(r *rollback.Record) {
			r.Notes = append(r.Notes, rollback.Note{At: s.clock.Now(), Text: text})
			r.Outcome = "stale: the incident resolved before approval; not executed"
		})
		if errors.Is(err, rollback.ErrBadTransition) {
			return nil
		}
		if err != nil {
			return err
		}
		s.tell(ctx, rollback.IncidentResolved{About: rollback.About{Rollback: r}, Text: text, Stale: true})
		s.finish(ctx, r)
		return nil
	}
	r, err = s.update(ctx, r.ID, func(r *rollback.Record) error {
		r.Notes = append(r.Notes, rollback.Note{At: s.clock.Now(), Text: text})
		return nil
	})
	if err != nil {
		return err
	}
	s.tell(ctx, rollback.IncidentResolved{About: rollback.About{Rollback: r}, Text: text})
	return nil
}
