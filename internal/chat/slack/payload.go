package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The decoders below read only the fields Backout acts on, straight from
// Slack's wire format, so HTTP and Socket Mode share them and they can be
// fuzzed without the rest of the adapter.

// commandPayload is a slash command, as Slack posts it (form fields) or
// sends it over Socket Mode (a JSON object with the same names).
type commandPayload struct {
	TeamID      string `json:"team_id"`
	ChannelID   string `json:"channel_id"`
	UserID      string `json:"user_id"`
	UserName    string `json:"user_name"`
	Command     string `json:"command"`
	Text        string `json:"text"`
	ResponseURL string `json:"response_url"`
	TriggerID   string `json:"trigger_id"`
}

func parseCommandForm(body []byte) (commandPayload, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return commandPayload{}, fmt.Errorf("slash command form: %w", err)
	}
	c := commandPayload{
		TeamID:      v.Get("team_id"),
		ChannelID:   v.Get("channel_id"),
		UserID:      v.Get("user_id"),
		UserName:    v.Get("user_name"),
		Command:     v.Get("command"),
		Text:        v.Get("text"),
		ResponseURL: v.Get("response_url"),
		TriggerID:   v.Get("trigger_id"),
	}
	return c, c.validate()
}

func parseCommandJSON(raw []byte) (commandPayload, error) {
	var c commandPayload
	if err := json.Unmarshal(raw, &c); err != nil {
		return commandPayload{}, fmt.Errorf("slash command: %w", err)
	}
	return c, c.validate()
}

func (c commandPayload) validate() error {
	if c.UserID == "" || c.ChannelID == "" {
		return errors.New("slash command: user_id and channel_id are required")
	}
	if c.ResponseURL != "" {
		u, err := url.Parse(c.ResponseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return errors.New("slash command: response_url is not an http(s) URL")
		}
	}
	return nil
}

// interactionPayload is a block_actions or view_submission payload.
type interactionPayload struct {
	Type        string `json:"type"`
	TriggerID   string `json:"trigger_id"`
	ResponseURL string `json:"response_url"`
	User        struct {
		ID string `json:"id"`
	} `json:"user"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		MessageTS string `json:"message_ts"`
		ThreadTS  string `json:"thread_ts"`
		ChannelID string `json:"channel_id"`
	} `json:"container"`
	Message struct {
		TS       string `json:"ts"`
		ThreadTS string `json:"thread_ts"`
	} `json:"message"`
	Actions []blockAction `json:"actions"`
	View    viewPayload   `json:"view"`
}

type blockAction struct {
	ActionID string `json:"action_id"`
	BlockID  string `json:"block_id"`
	Type     string `json:"type"`
	Value    string `json:"value"`
	ActionTS string `json:"action_ts"`
}

type viewPayload struct {
	ID              string `json:"id"`
	CallbackID      string `json:"callback_id"`
	PrivateMetadata string `json:"private_metadata"`
	State           struct {
		Values map[string]map[string]struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"values"`
	} `json:"state"`
}

// parseInteractionForm reads the form field "payload" Slack posts to the
// interactivity URL.
func parseInteractionForm(body []byte) (interactionPayload, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return interactionPayload{}, fmt.Errorf("interaction form: %w", err)
	}
	p := v.Get("payload")
	if p == "" {
		return interactionPayload{}, errors.New("interaction form: no payload field")
	}
	return parseInteractionJSON([]byte(p))
}

func parseInteractionJSON(raw []byte) (interactionPayload, error) {
	var p interactionPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return interactionPayload{}, fmt.Errorf("interaction payload: %w", err)
	}
	if p.Type == "" || p.User.ID == "" {
		return interactionPayload{}, errors.New("interaction payload: type and user.id are required")
	}
	return p, nil
}

// channel is where the clicked message lives.
func (p interactionPayload) channel() string {
	if p.Channel.ID != "" {
		return p.Channel.ID
	}
	return p.Container.ChannelID
}

func (p interactionPayload) messageTS() string {
	if p.Container.MessageTS != "" {
		return p.Container.MessageTS
	}
	return p.Message.TS
}

// thread is the parent a reply to the clicked message goes under: the
// message's own thread when it is a reply, else the message itself.
func (p interactionPayload) thread() string {
	for _, ts := range []string{p.Container.ThreadTS, p.Message.ThreadTS} {
		if ts != "" {
			return ts
		}
	}
	return p.messageTS()
}

// eventEnvelope is an Events API request (or a Socket Mode events_api
// payload, which is the same object).
type eventEnvelope struct {
	Type           string `json:"type"`
	Challenge      string `json:"challenge"`
	EventID        string `json:"event_id"`
	Authorizations []struct {
		UserID string `json:"user_id"`
		IsBot  bool   `json:"is_bot"`
	} `json:"authorizations"`
	Event struct {
		Type     string `json:"type"`
		Subtype  string `json:"subtype"`
		User     string `json:"user"`
		BotID    string `json:"bot_id"`
		Text     string `json:"text"`
		Channel  string `json:"channel"`
		TS       string `json:"ts"`
		ThreadTS string `json:"thread_ts"`
	} `json:"event"`
}

func parseEvent(raw []byte) (eventEnvelope, error) {
	var e eventEnvelope
	if err := json.Unmarshal(raw, &e); err != nil {
		return eventEnvelope{}, fmt.Errorf("event: %w", err)
	}
	switch e.Type {
	case "url_verification":
		if e.Challenge == "" {
			return eventEnvelope{}, errors.New("event: url_verification without challenge")
		}
	case "event_callback":
		if e.EventID == "" {
			return eventEnvelope{}, errors.New("event: event_callback without event_id")
		}
	case "":
		return eventEnvelope{}, errors.New("event: no type")
	}
	return e, nil
}

// botUserID is the bot's own user ID when Slack says which authorization
// the event was delivered for.
func (e eventEnvelope) botUserID() string {
	for _, a := range e.Authorizations {
		if a.IsBot {
			return a.UserID
		}
	}
	return ""
}

// mentionCommand is the command text of an app_mention: what follows the
// mention of the bot (or the first mention when the bot's ID is unknown),
// with a repeated slash-command name dropped ("@backout /rollback status").
func mentionCommand(text, botID, command string) string {
	rest := text
	if i := mentionEnd(text, botID); i >= 0 {
		rest = text[i:]
	}
	rest = strings.TrimSpace(rest)
	for _, name := range []string{command, strings.TrimPrefix(command, "/")} {
		if name == "" {
			continue
		}
		if r, ok := strings.CutPrefix(rest, name); ok && (r == "" || r[0] == ' ') {
			return strings.TrimSpace(r)
		}
	}
	return rest
}

// mentionEnd finds the end of "<@BOT>" or "<@BOT|name>" in text; -1 if absent.
func mentionEnd(text, botID string) int {
	from := 0
	for {
		i := strings.Index(text[from:], "<@")
		if i < 0 {
			return -1
		}
		i += from
		j := strings.IndexByte(text[i:], '>')
		if j < 0 {
			return -1
		}
		id, _, _ := strings.Cut(text[i+2:i+j], "|")
		if botID == "" || id == botID {
			return i + j + 1
		}
		from = i + j + 1
	}
}
