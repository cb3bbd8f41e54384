package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/present"
	"github.com/backout/backout/internal/rollback"
)

func (d *Dispatcher) propose(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	r, failure, err := d.svc.Propose(ctx, who, incident.ProposeRequest{Services: cmd.Services, Release: cmd.Release,
		Version: cmd.Version, Reason: cmd.Reason})
	if err != nil || failure != nil {
		return result(failure, err, "")
	}
	return privateText(chat.Textf("Proposed %s in %s: %s.", r.ID, chat.Channel(r.Channel), summary(r))), nil
}

func summary(r *rollback.Record) string {
	parts := make([]string, len(r.Services))
	for i, c := range r.Services {
		parts[i] = fmt.Sprintf("%s %s → %s", c.Service, c.Current.Version, c.Target.Version)
	}
	return strings.Join(parts, ", ")
}

func (d *Dispatcher) plan(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	changes, _, failure, err := d.svc.Plan(ctx, incident.PlanRequest{Services: cmd.Services, Version: cmd.Version})
	if err != nil || failure != nil {
		return result(failure, err, "")
	}
	return Reply{Ephemeral: true, Message: present.PlanView(changes)}, nil
}

func (d *Dispatcher) status(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	if cmd.ID != "" {
		r, failure, err := d.svc.Rollback(ctx, cmd.ID)
		if err != nil {
			return Reply{}, err
		}
		if failure != nil {
			return privateText(present.Words(failure).Add(d.openHint(ctx))), nil
		}
		votes, err := d.svc.Votes(ctx, r.ID)
		if err != nil {
			return Reply{}, err
		}
		steps, err := d.svc.StepLog(ctx, r.ID)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Ephemeral: true, Message: present.ProposalView(r, votes, steps)}, nil
	}
	rs, err := d.svc.OpenRollbacks(ctx)
	if err != nil {
		return Reply{}, err
	}
	if len(rs) == 0 {
		return private("No rollback is open."), nil
	}
	t := &chat.Table{Header: []string{"id", "state", "what", "requested by", "since"}}
	for _, r := range rs {
		t.Rows = append(t.Rows, []string{r.ID, present.StateLabel(r), summary(r), r.Requester, chat.Stamp(r.CreatedAt)})
	}
	return Reply{Ephemeral: true, Message: chat.Message{Text: chat.Plain(fmt.Sprintf("%d open rollback(s)", len(rs))),
		Sections: []chat.Section{{Title: "Open rollbacks", Table: t}}}}, nil
}

// approve votes for the plan the person saw. A button carries its plan;
// a typed approve names it, or, when the plan changed since the proposal
// was posted, is refused with the new plan and a fresh button: nobody
// approves a plan they have not been shown.
func (d *Dispatcher) approve(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	if cmd.Plan == "" {
		r, failure, err := d.svc.Rollback(ctx, cmd.ID)
		if err != nil {
			return Reply{}, err
		}
		if failure == nil && r.State == rollback.StateProposed && r.Replans > 0 {
			msg := chat.TextMessage(chat.Textf("The plan of %s changed since it was proposed; it is now %s. Review it in the proposal's message, then approve with this button or %s.",
				r.ID, r.PlanHash, chat.Code("/rollback approve "+r.ID+" "+r.PlanHash)))
			msg.Buttons = []chat.Button{{ActionID: chat.ActionApprove, Text: "Approve plan " + r.PlanHash,
				Value: chat.ButtonValue(r.ID, r.PlanHash), Style: chat.StylePrimary}}
			return Reply{Ephemeral: true, Message: msg}, nil
		}
	}
	failure, err := d.svc.Vote(ctx, who, incident.VoteRequest{ID: cmd.ID, Approve: true, PlanHash: cmd.Plan})
	return d.idResult(ctx, cmd.ID, failure, err, "Your approval of "+cmd.ID+" is recorded.")
}

func (d *Dispatcher) reject(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	if strings.TrimSpace(cmd.Reason) == "" {
		return privateText(chat.Plain("A rejection needs a reason; it is audited.\n").Add(Usage("reject"))), nil
	}
	failure, err := d.svc.Vote(ctx, who, incident.VoteRequest{ID: cmd.ID, Approve: false, Reason: cmd.Reason})
	return d.idResult(ctx, cmd.ID, failure, err, cmd.ID+" is rejected.")
}

func (d *Dispatcher) abort(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	if strings.TrimSpace(cmd.Reason) == "" {
		return privateText(chat.Plain("An abort needs a reason; it is audited.\n").Add(Usage("abort"))), nil
	}
	failure, err := d.svc.Abort(ctx, who, cmd.ID, cmd.Reason)
	return d.idResult(ctx, cmd.ID, failure, err, "Abort of "+cmd.ID+" requested.")
}

func (d *Dispatcher) resume(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	failure, err := d.svc.Resume(ctx, who, cmd.ID)
	return d.idResult(ctx, cmd.ID, failure, err, cmd.ID+" resumes.")
}

func (d *Dispatcher) pause(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	failure, err := d.svc.Pause(ctx, who, cmd.ID)
	return d.idResult(ctx, cmd.ID, failure, err, cmd.ID+" pauses before its next step.")
}

// affected is the support channel's button, typed: the answer (counted,
// already counted, or the window closed) is for the person alone.
func (d *Dispatcher) affected(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	answer, err := d.svc.ReportAffected(ctx, who, cmd.ID)
	if err != nil {
		return Reply{}, err
	}
	return privateWords(answer), nil
}

func (d *Dispatcher) override(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	failure, err := d.svc.Override(ctx, who, cmd.ID, cmd.Check, cmd.Reason)
	return d.idResult(ctx, cmd.ID, failure, err, "Override of "+cmd.Check+" on "+cmd.ID+" recorded.")
}

func (d *Dispatcher) history(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	rs, err := d.svc.History(ctx, cmd.Service(), 15)
	if err != nil {
		return Reply{}, err
	}
	if len(rs) == 0 {
		return private("No rollbacks of " + cmd.Service() + " yet."), nil
	}
	t := &chat.Table{Header: []string{"id", "state", "versions", "trigger", "when"}}
	for _, r := range rs {
		kind := r.Trigger.Kind
		if r.Drill {
			kind = "drill"
		}
		t.Rows = append(t.Rows, []string{r.ID, string(r.State), summary(r), kind, chat.Stamp(r.CreatedAt)})
	}
	return Reply{Ephemeral: true, Message: chat.Message{Text: chat.Plain("Rollbacks of " + cmd.Service()),
		Sections: []chat.Section{{Title: "Rollbacks of " + cmd.Service(), Table: t}}}}, nil
}

func (d *Dispatcher) deploys(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	name := cmd.Service()
	stableAfter, ok := d.svc.StableAfter(name)
	if !ok {
		return private(d.unknownService([]string{name})), nil
	}
	ds, err := d.svc.Deploys(ctx, name, 15)
	if err != nil {
		return Reply{}, err
	}
	if len(ds) == 0 {
		return private("No deploys of " + name + " are recorded."), nil
	}
	t := &chat.Table{Header: []string{"id", "version", "artifact", "when", "status"}}
	for i, dep := range ds {
		status := ""
		switch {
		case i == 0:
			status = "current"
		case d.svc.KnownGood(ds, i, stableAfter):
			status = "known-good"
		case dep.Bad:
			status = "rolled back"
		}
		if dep.Mutable {
			status += " (mutable artifact!)"
		}
		t.Rows = append(t.Rows, []string{dep.ID, dep.Version, dep.Artifact, chat.Stamp(dep.At), strings.TrimSpace(status)})
	}
	return Reply{Ephemeral: true, Message: chat.Message{Text: chat.Plain("Deploys of " + name),
		Sections: []chat.Section{{Title: "Deploys of " + name, Table: t}}}}, nil
}

func (d *Dispatcher) registry(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	msg, err := d.reporter.Registry(ctx, cmd.Service(), cmd.Since)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Ephemeral: true, Message: msg}, nil
}

func (d *Dispatcher) readiness(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	res, failure, err := d.svc.ServiceReadiness(ctx, cmd.Service())
	if err != nil || failure != nil {
		return result(failure, err, "")
	}
	t := &chat.Table{Header: []string{"result", "check", "reason"}}
	for _, c := range res {
		name := c.Name
		if c.Blocking {
			name += " (blocking)"
		}
		t.Rows = append(t.Rows, []string{c.Status, name, c.Reason})
	}
	return Reply{Ephemeral: true, Message: chat.Message{Text: chat.Plain("Readiness of " + cmd.Service()),
		Sections: []chat.Section{{Title: "Readiness of " + cmd.Service() + " (against its last known-good release)", Table: t}}}}, nil
}

func (d *Dispatcher) drill(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	if !cmd.Now {
		msg, failure, err := d.driller.Describe(ctx, cmd.Service())
		if err != nil || failure != "" {
			return result(rollback.Say(failure), err, "")
		}
		return Reply{Ephemeral: true, Message: msg}, nil
	}
	r, failure, err := d.driller.RunNow(ctx, who, cmd.Service())
	if err != nil || failure != nil {
		return result(failure, err, "")
	}
	if r.State == rollback.StateProposed {
		// Say what is true: a drill that needs approval has only been proposed.
		return privateText(chat.Textf("Drill %s of %s proposed in %s; it starts once approved.", r.ID, cmd.Service(), chat.Channel(r.Channel))), nil
	}
	return privateText(chat.Textf("Drill %s of %s started in %s.", r.ID, cmd.Service(), chat.Channel(r.Channel))), nil
}

func (d *Dispatcher) freeze(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	reason := cmd.Reason
	if reason == "" {
		reason = "no reason given"
	}
	failure, err := d.svc.SetFreeze(ctx, who, cmd.Service(), reason)
	if err != nil || failure != nil {
		return result(failure, err, "")
	}
	return public(chat.TextMessage(chat.Textf("🧊 %s froze %s: %s. Its pipeline gate is closed until %s.", chat.User(who.User), cmd.Service(), reason, chat.Code("/rollback unfreeze "+cmd.Service())))), nil
}

func (d *Dispatcher) unfreeze(ctx context.Context, who incident.Actor, cmd *Command) (Reply, error) {
	failure, err := d.svc.ClearFreeze(ctx, who, cmd.Service())
	if err != nil || failure != nil {
		return result(failure, err, "")
	}
	return public(chat.TextMessage(chat.Textf("🌤️ %s unfroze %s.", chat.User(who.User), cmd.Service()))), nil
}
