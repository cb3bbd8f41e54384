package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/present"
	"github.com/backout/backout/internal/rollback"
)

// Reporter renders registry summaries (internal/report implements it).
type Reporter interface {
	Registry(ctx context.Context, service string, since time.Duration) (chat.Message, error)
}

// Driller starts and describes drills (internal/drill implements it).
type Driller interface {
	Describe(ctx context.Context, service string) (chat.Message, string, error)
	RunNow(ctx context.Context, who incident.Actor, service string) (*rollback.Record, rollback.Words, error)
}

// Dispatcher runs parsed commands (through the verb table) and button
// presses over the lifecycle service.
type Dispatcher struct {
	svc      Lifecycle
	reporter Reporter
	driller  Driller
	log      *slog.Logger
}

// NewDispatcher builds a dispatcher.
func NewDispatcher(svc Lifecycle, reporter Reporter, driller Driller, log *slog.Logger) *Dispatcher {
	return &Dispatcher{svc: svc, reporter: reporter, driller: driller, log: log}
}

// Command handles one slash command.
func (d *Dispatcher) Command(ctx context.Context, inv Invocation) Reply {
	if r, bad := controlInCommand(inv); bad {
		return r
	}
	res := Parse(inv.Text)
	switch {
	case res.Ignore:
		return Reply{Ignore: true}
	case !res.Usage.Empty():
		return privateText(res.Usage)
	}
	who := incident.Actor{User: inv.User, From: inv.Source + ":" + inv.From}
	handle := verbs[res.Command.Verb].handle
	if handle == nil {
		return privateText(Help())
	}
	// Services are checked here, once for every verb that names them, so
	// a typo gets the same answer everywhere and asks the lifecycle nothing.
	if problem := d.unknownService(res.Command.Services); problem != "" {
		return private(problem)
	}
	reply, err := handle(d, ctx, who, res.Command)
	if err != nil {
		return d.fault(ctx, res.Command.Verb, err)
	}
	return reply
}

// Click handles one button press.
func (d *Dispatcher) Click(ctx context.Context, c Click) Reply {
	if r, bad := controlInClick(c); bad {
		return r
	}
	who := incident.Actor{User: c.User, From: c.Source + ":" + c.From}
	id, extra := chat.ParseButtonValue(c.Value)
	if !idPattern.MatchString(id) {
		return private("That button carries no rollback id; it may be from an older version of Backout.")
	}
	var failure rollback.Words
	var err error
	switch c.ActionID {
	case chat.ActionApprove:
		failure, err = d.svc.Vote(ctx, who, incident.VoteRequest{ID: id, Approve: true, PlanHash: extra})
	case chat.ActionReject:
		if strings.TrimSpace(c.Reason) == "" {
			return private("A rejection needs a reason; it is audited.")
		}
		failure, err = d.svc.Vote(ctx, who, incident.VoteRequest{ID: id, Approve: false, PlanHash: extra, Reason: c.Reason})
	case chat.ActionAbort:
		if strings.TrimSpace(c.Reason) == "" {
			return private("An abort needs a reason; it is audited.")
		}
		failure, err = d.svc.Abort(ctx, who, id, c.Reason)
	case chat.ActionResume:
		failure, err = d.svc.Resume(ctx, who, id)
	case chat.ActionPause:
		failure, err = d.svc.Pause(ctx, who, id)
	case chat.ActionGate:
		failure, err = d.svc.SignGate(ctx, who, id, extra)
	case chat.ActionAffected:
		failure, err = d.svc.ReportAffected(ctx, who, id) // always an answer, for the presser alone
	default:
		return private(fmt.Sprintf("Unknown action %q.", c.ActionID))
	}
	if err != nil {
		return d.fault(ctx, c.ActionID, err)
	}
	if failure != nil {
		return privateWords(failure)
	}
	return Reply{Ignore: true} // the thread and the updated message say what happened
}

func private(text string) Reply { return privateText(chat.Plain(text)) }

// privateWords answers with the lifecycle's words, their code as code.
func privateWords(w rollback.Words) Reply { return privateText(present.Words(w)) }

func privateText(t chat.Text) Reply { return Reply{Ephemeral: true, Message: chat.TextMessage(t)} }

func public(msg chat.Message) Reply { return Reply{Message: msg} }

// shuttingDownText answers what a replica draining for a shutdown refuses
// (approve, resume, a new proposal). The drain may last up to
// engine.shutdown_grace while a step finishes, so "a few seconds" would
// not be true; Abort does work meanwhile, on this replica too.
const shuttingDownText = "⚠️ The Backout replica that got this is shutting down: it lets running steps finish and starts nothing new, so nothing was done. " +
	"Try again in a few minutes, once another replica (or this one, restarted) is up. Abort still works meanwhile."

// fault turns a system error into a reply that says what to do.
func (d *Dispatcher) fault(ctx context.Context, verb string, err error) Reply {
	if errors.Is(err, incident.ErrShuttingDown) {
		// Not a fault: a drain refuses what would start something.
		d.log.InfoContext(ctx, "refused: this replica is shutting down", "verb", verb, "err", err)
		return private(shuttingDownText)
	}
	d.log.ErrorContext(ctx, "command failed", "verb", verb, "err", err)
	if errors.Is(err, incident.ErrUnavailable) {
		return private("⚠️ The state store is unavailable, so nothing was changed. Try again in a minute; Backout reconnects by itself.")
	}
	return privateText(chat.Textf("⚠️ Backout hit an internal error while handling %s; nothing more was done. The error is logged for the operators.", chat.Code(verb)))
}

// result converts (failure, err) from the lifecycle into a reply.
func result(failure rollback.Words, err error, ok string) (Reply, error) {
	if err != nil {
		return Reply{}, err
	}
	if failure != nil {
		return privateWords(failure), nil
	}
	return private(ok), nil
}
