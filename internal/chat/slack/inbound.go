package slack

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/commands"
)

// commandWork turns a slash command into a job: run the handler, answer
// through response_url.
func (a *Adapter) commandWork(c commandPayload, key, from string) work {
	inv := commands.Invocation{
		User:    c.UserID,
		Channel: c.ChannelID,
		Source:  Source,
		From:    from,
		Text:    strings.TrimSpace(c.Text),
	}
	return work{items: []item{{key: key, run: func(ctx context.Context) {
		reply := a.cfg.Handler.Command(ctx, inv)
		if reply.Ignore {
			return
		}
		if c.ResponseURL == "" {
			a.deliver(ctx, reply, c.ChannelID, c.UserID, "")
			return
		}
		if err := a.respond(ctx, c.ResponseURL, reply); err != nil {
			a.log.Error("slack: answering slash command failed", "user", c.UserID, "err", err)
		}
	}}}, unavailable: ephemeralAck(storeDownText), refuseReplay: true, responseURL: c.ResponseURL}
}

const (
	storeDownText = "⚠️ State store unavailable: nothing was done. Try again in a minute; Backout reconnects by itself."
	busyText      = "⚠️ Backout is too busy to take this command right now, so nothing was done. Try again in a few seconds."
)

// ephemeralAck is an immediate slash-command answer only the sender sees.
func ephemeralAck(text string) any {
	return map[string]string{"response_type": "ephemeral", "text": text}
}

// interactionWork handles block_actions (button clicks) and the reason
// modal's view_submission; other interaction types are acknowledged and
// ignored.
func (a *Adapter) interactionWork(p interactionPayload, from string) work {
	switch p.Type {
	case "block_actions":
		w := work{responseURL: p.ResponseURL}
		for _, act := range p.Actions {
			w.items = append(w.items, a.actionItem(p, act, from))
		}
		return w
	case "view_submission":
		if p.View.CallbackID != reasonCallbackID {
			return work{}
		}
		return a.reasonSubmitted(p, from)
	default:
		return work{}
	}
}

func (a *Adapter) actionItem(p interactionPayload, act blockAction, from string) item {
	c := commands.Click{
		User:      p.User.ID,
		Channel:   p.channel(),
		Source:    Source,
		From:      from,
		ActionID:  actionVerb(act.ActionID),
		Value:     act.Value,
		MessageTS: p.messageTS(),
	}
	// action_ts is unique per click; Slack reuses it when it retries.
	key := "slack:action:" + firstNonEmpty(act.ActionTS, "trigger-"+p.TriggerID) + ":" + p.User.ID + ":" + act.ActionID
	thread := p.thread()
	if chat.NeedsReason(c.ActionID) {
		meta := reasonMeta{Action: c.ActionID, Value: c.Value, Channel: c.Channel, MessageTS: c.MessageTS, Thread: thread}
		return item{key: key, urgent: true, run: func(ctx context.Context) { a.askReason(ctx, p.TriggerID, c.User, meta) }}
	}
	return item{key: key, run: a.clickJob(c, thread)}
}

func (a *Adapter) clickJob(c commands.Click, thread string) job {
	return func(ctx context.Context) {
		a.deliver(ctx, a.cfg.Handler.Click(ctx, c), c.Channel, c.User, thread)
	}
}

// reasonSubmitted validates the modal synchronously (Slack shows errors only
// from the immediate answer) and queues the click with its reason.
func (a *Adapter) reasonSubmitted(p interactionPayload, from string) work {
	var meta reasonMeta
	if err := json.Unmarshal([]byte(p.View.PrivateMetadata), &meta); err != nil || meta.Action == "" {
		a.log.Warn("slack: reason modal without usable metadata", "user", p.User.ID)
		return work{}
	}
	reason := strings.TrimSpace(p.View.State.Values[reasonBlockID][reasonActionID].Value)
	if reason == "" {
		return work{ack: reasonRequired()}
	}
	c := commands.Click{
		User:      p.User.ID,
		Channel:   meta.Channel,
		Source:    Source,
		From:      from,
		ActionID:  meta.Action,
		Value:     meta.Value,
		Reason:    reason,
		MessageTS: meta.MessageTS,
	}
	// A view is submitted successfully once; its ID names the submission.
	key := "slack:view:" + firstNonEmpty(p.View.ID, "trigger-"+p.TriggerID)
	return work{items: []item{{key: key, run: a.clickJob(c, meta.Thread)}}}
}

// eventWork answers url_verification and turns app_mention into a command
// replied to in thread. Other events are acknowledged and ignored.
func (a *Adapter) eventWork(e eventEnvelope, from string) work {
	switch e.Type {
	case "url_verification":
		return work{ack: map[string]string{"challenge": e.Challenge}}
	case "event_callback":
	default:
		return work{}
	}
	ev := e.Event
	// Messages from bots (including our own replies) never drive commands.
	if ev.Type != "app_mention" || ev.BotID != "" || ev.User == "" || ev.Channel == "" {
		return work{}
	}
	inv := commands.Invocation{
		User:    ev.User,
		Channel: ev.Channel,
		Source:  Source,
		From:    from,
		Text:    mentionCommand(ev.Text, e.botUserID(), a.cfg.Command),
	}
	thread := ev.ThreadTS
	if thread == "" {
		thread = ev.TS
	}
	// event_id is stable across Slack's retries (X-Slack-Retry-Num).
	return work{items: []item{{key: "slack:event:" + e.EventID, run: func(ctx context.Context) {
		a.deliver(ctx, a.cfg.Handler.Command(ctx, inv), ev.Channel, ev.User, thread)
	}}}}
}

// firstNonEmpty keeps a claim key specific when Slack leaves a field out:
// an empty ID would otherwise make unrelated requests look like retries.
func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// tellUnavailable queues the store-unavailable answer to a response_url,
// ahead of queued work: the person is waiting for it.
func (a *Adapter) tellUnavailable(responseURL string) error {
	if err := a.pool.tryReserve(); err != nil {
		return err
	}
	a.pool.submitUrgent(func(ctx context.Context) {
		reply := commands.Reply{Ephemeral: true, Message: chat.TextMessage(chat.Plain(storeDownText))}
		if err := a.respond(ctx, responseURL, reply); err != nil {
			a.log.Error("slack: telling the user the store is unavailable failed", "err", err)
		}
	})
	return nil
}
