package slack

import (
	"context"
	"errors"
	"fmt"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// socketFrom is the Invocation/Click From for Socket Mode traffic, which has
// no remote address of its own.
const socketFrom = "slack-socket-mode"

// RunSocketMode receives commands, clicks and events over Socket Mode with
// an app-level token (xapp-...) until ctx ends. Each envelope is
// acknowledged first, then routed through the same code as HTTP; since an
// acknowledged envelope is never redelivered, routing waits for room in the
// queue instead of refusing. Run must be running to work the queue.
func (a *Adapter) RunSocketMode(ctx context.Context, appToken string) error {
	if appToken == "" {
		return errors.New("slack socket mode: no app token")
	}
	// Socket Mode needs the app token on its own client; copying keeps the
	// API URL and HTTP client configured for the bot.
	api := *a.cfg.API
	slackgo.OptionAppLevelToken(appToken)(&api)
	smc := socketmode.New(&api)

	errc := make(chan error, 1)
	go func() { errc <- smc.RunContext(ctx) }()
	for {
		select {
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt := <-smc.Events:
			a.onSocketEvent(ctx, smc, evt)
		}
	}
}

func (a *Adapter) onSocketEvent(ctx context.Context, smc *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive, socketmode.EventTypeEventsAPI:
	case socketmode.EventTypeConnected:
		a.log.Info("slack: socket mode connected")
		return
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError,
		socketmode.EventTypeErrorBadMessage, socketmode.EventTypeErrorWriteFailed, socketmode.EventTypeInvalidAuth:
		a.log.Warn("slack: socket mode trouble", "type", string(evt.Type))
		return
	default:
		return
	}
	if evt.Request == nil {
		return
	}
	req := evt.Request
	w, err := a.socketWork(req)
	if err != nil {
		a.log.Warn("slack: undecodable socket mode envelope", "type", req.Type, "err", err)
	}
	var ack []any
	if w.ack != nil {
		ack = append(ack, w.ack)
	}
	if err := smc.Ack(*req, ack...); err != nil {
		a.log.Error("slack: socket mode ack failed", "type", req.Type, "err", err)
	}
	if _, err := a.accept(ctx, w, true); err != nil {
		// Acknowledged already, so Slack will not redeliver: say so loudly.
		a.log.Error("slack: socket mode envelope dropped after ack", "type", req.Type, "err", err)
	}
}

// socketWork decodes an envelope's payload with the HTTP decoders.
func (a *Adapter) socketWork(req *socketmode.Request) (work, error) {
	switch req.Type {
	case socketmode.RequestTypeSlashCommands:
		c, err := parseCommandJSON(req.Payload)
		if err != nil {
			return work{}, err
		}
		return a.commandWork(c, "slack:cmd:envelope:"+req.EnvelopeID, socketFrom), nil
	case socketmode.RequestTypeInteractive:
		p, err := parseInteractionJSON(req.Payload)
		if err != nil {
			return work{}, err
		}
		return a.interactionWork(p, socketFrom), nil
	case socketmode.RequestTypeEventsAPI:
		e, err := parseEvent(req.Payload)
		if err != nil {
			return work{}, err
		}
		return a.eventWork(e, socketFrom), nil
	}
	return work{}, nil
}
