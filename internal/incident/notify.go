package incident

import (
	"context"
	"fmt"
	"time"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/rollback"
)

// EndHook is told when a rollback reaches a final state (post-mortems,
// drill scorecards). Hooks must not block for long.
type EndHook interface {
	RollbackEnded(ctx context.Context, r *rollback.Record)
}

// AddEndHook registers a hook; call before serving.
func (s *closer) AddEndHook(h EndHook) { s.endHooks = append(s.endHooks, h) }

// announce posts the proposal and remembers where.
func (s *notifier) announce(ctx context.Context, r *rollback.Record) (*rollback.Record, error) {
	channel, ts, err := s.port.Announce(ctx, rollback.View{Rollback: r}, s.stakeholders(ctx, r))
	if err != nil {
		// The proposal is stored and visible through status; a chat outage
		// must not lose it.
		s.log.ErrorContext(ctx, "post proposal", "rollback", r.ID, "err", err)
		return r, nil
	}
	return s.update(ctx, r.ID, func(r *rollback.Record) error {
		r.Channel, r.MessageTS = channel, ts
		return nil
	})
}

// stakeholders are the owners of every service and who is on call.
func (s *notifier) stakeholders(ctx context.Context, r *rollback.Record) []string {
	var out []string
	for _, c := range r.Services {
		svc, _ := s.cfg.ServiceByName(c.Service)
		out = union(out, svc.Owners)
		for _, pd := range svc.PagerDutyServices {
			people, err := s.pager.OnCall(ctx, pd)
			if err != nil {
				s.log.WarnContext(ctx, "on-call lookup failed", "pagerduty_service", pd, "err", err)
				continue
			}
			for _, p := range people {
				if id := s.slackID(ctx, p); id != "" {
					out = union(out, []string{id})
				}
			}
		}
	}
	return out
}

// refresh re-renders the proposal message in place, and looks again after
// drawing: if the rollback changed meanwhile it draws again. A refresh that
// read the record just before a pause could otherwise reach chat after the
// pause's own and leave a paused rollback offering Pause, not Resume, until
// its next change, which for a held step may be never. Every refresh thus
// ends on a draw that was still current after it was drawn, whichever
// goroutine or replica drew in between.
func (s *notifier) refresh(ctx context.Context, id string) {
	var shown viewMark
	for range maxRedraws {
		v, mark, err := s.view(ctx, id)
		if err != nil || v.Rollback.MessageTS == "" || mark == shown {
			return
		}
		if err := s.port.Show(ctx, v); err != nil {
			s.log.WarnContext(ctx, "update proposal message", "rollback", id, "err", err)
			return
		}
		shown = mark
	}
}

// maxRedraws bounds the draws of one refresh: a rollback that keeps
// changing is drawn again by whoever changes it, since every change
// refreshes.
const maxRedraws = 3

// view reads what the proposal message shows, and a mark that changes
// whenever any of it does.
func (s *notifier) view(ctx context.Context, id string) (rollback.View, viewMark, error) {
	r, err := s.rollbacks.GetRollback(ctx, id)
	if err != nil {
		return rollback.View{}, viewMark{}, err
	}
	votes, _ := s.views.ListVotes(ctx, r.ID)
	steps, _ := s.views.ListSteps(ctx, r.ID)
	mark := viewMark{version: r.Version, votes: len(votes), steps: len(steps)}
	for _, v := range votes {
		if v.At.After(mark.lastVote) {
			mark.lastVote = v.At
		}
	}
	return rollback.View{Rollback: r, Votes: votes, Steps: steps}, mark, nil
}

// viewMark tells two reads of a rollback's view apart: the record's
// compare-and-set version, and its votes and step events (stored beside
// the record, so they do not bump the version). Step events are only ever
// appended; a vote changed in place carries a new time.
type viewMark struct {
	version      int64
	votes, steps int
	lastVote     time.Time
}

// tell hands one notice to the people's side. Telling is best effort: the
// record is already stored, and a chat outage must not undo it.
func (s *notifier) tell(ctx context.Context, n rollback.Notice) {
	if err := s.port.Tell(ctx, n); err != nil {
		s.log.WarnContext(ctx, "tell people", "notice", fmt.Sprintf("%T", n), "err", err)
	}
}

// notePagerDuty adds a note to the triggering incident, best effort.
func (s *notifier) notePagerDuty(ctx context.Context, r *rollback.Record, text string) {
	if r.Trigger.Source != "pagerduty" || r.Trigger.IncidentID == "" {
		return
	}
	if err := s.pager.Note(ctx, r.Trigger.IncidentID, text); err != nil {
		s.log.WarnContext(ctx, "pagerduty note failed", "incident", r.Trigger.IncidentID, "err", err)
	}
}

// finish closes the loop once a rollback reached a final state.
func (s *closer) finish(ctx context.Context, r *rollback.Record) {
	if r.State == rollback.StateSucceeded && !r.Drill {
		s.deploys.recordRollbackDeploys(ctx, r)
	}
	s.refresh(ctx, r.ID)
	trigger := r.Trigger.Kind
	if r.Drill {
		trigger = "drill"
	}
	for _, c := range r.Services {
		s.metrics.RollbackEnded(c.Service, trigger, string(r.State))
	}
	for _, p := range phases(r) {
		s.metrics.Phase(p.Name, p.Duration)
	}
	ended := rollback.Ended{About: rollback.About{Rollback: r}}
	if !r.Drill {
		for _, c := range r.Services {
			if svc, ok := s.cfg.ServiceByName(c.Service); ok && svc.SupportChannel != "" {
				ended.SupportChannels = append(ended.SupportChannels, svc.SupportChannel)
			}
		}
	}
	s.tell(ctx, ended)
	s.notePagerDuty(ctx, r, fmt.Sprintf("Rollback %s ended: %s.", r.ID, r.State))
	if r.State == rollback.StateSucceeded && s.cfg.PagerDuty.ResolveOnSuccess && r.Trigger.Source == "pagerduty" && r.Trigger.IncidentID != "" {
		if err := s.pager.Resolve(ctx, r.Trigger.IncidentID); err != nil {
			s.log.WarnContext(ctx, "pagerduty resolve failed", "incident", r.Trigger.IncidentID, "err", err)
		}
	}
	if r.State == rollback.StateFailed && !r.Drill && len(r.Validation) > 0 {
		details := map[string]string{"rollback": r.ID, "outcome": r.Outcome}
		if err := s.pager.Page(ctx, "backout-"+r.ID+"-validation", fmt.Sprintf("Rollback %s failed validation: %s", r.ID, summaryLine(r)), "critical", details); err != nil {
			s.log.WarnContext(ctx, "pagerduty page failed", "rollback", r.ID, "err", err)
		}
	}
	for _, h := range s.endHooks {
		h.RollbackEnded(ctx, r)
	}
}

// Phase is how long one part of a rollback took.
type Phase = rollback.Phase

// phases measures detect, approve, execute and validate.
func phases(r *rollback.Record) []Phase { return rollback.Phases(r) }

// Phases exposes phase durations for reports and post-mortems.
func Phases(r *rollback.Record) []Phase { return phases(r) }

func (s *base) checkRequestBase(c rollback.ServiceChange) check.Request {
	return check.Request{Service: c.Service, Now: s.clock.Now(), BaselineEnd: c.Current.DeployedAt, TargetVersion: c.Target.Version, Env: s.env}
}

// emailDirectory is implemented by directories that can find a chat user
// by email (Slack's users.lookupByEmail).
type emailDirectory interface {
	UserIDByEmail(ctx context.Context, email string) (string, error)
}

// slackID finds the chat ID of an on-call person, by email when needed.
func (s *notifier) slackID(ctx context.Context, p Person) string {
	if p.SlackID != "" {
		return p.SlackID
	}
	d, ok := s.directory.(emailDirectory)
	if !ok || p.Email == "" {
		return ""
	}
	id, err := d.UserIDByEmail(ctx, p.Email)
	if err != nil {
		s.log.WarnContext(ctx, "on-call person not found in chat", "name", p.Name, "err", err)
		return ""
	}
	return id
}

// recordRollbackDeploys records what a successful rollback installed, so
// "current" is right for the next proposal and the pipeline sees it.
func (s *deployLog) recordRollbackDeploys(ctx context.Context, r *rollback.Record) {
	now := s.clock.Now()
	for _, c := range r.Services {
		env := ""
		if svc, ok := s.cfg.ServiceByName(c.Service); ok {
			env = svc.Environment
		}
		d := &rollback.Deploy{Service: c.Service, Version: c.Target.Version, Artifact: c.Target.Artifact,
			ConfigVersion: c.Target.ConfigVersion, Commit: c.Target.Commit, Environment: env,
			DeployedBy: "backout " + r.ID, At: now, Good: true, GoodAt: now, Mutable: !IsImmutable(c.Target.Artifact)}
		if err := s.store.AddDeploy(ctx, d); err != nil {
			s.log.ErrorContext(ctx, "record rollback deploy", "rollback", r.ID, "service", c.Service, "err", err)
			continue
		}
		s.audit(ctx, Actor{User: "backout", From: "engine:" + s.replica}, "deploy.recorded", c.Service,
			map[string]string{"version": d.Version, "artifact": d.Artifact, "id": d.ID, "by": r.ID})
	}
}
