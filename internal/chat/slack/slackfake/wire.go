package slackfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sign computes X-Slack-Signature for a raw body sent at Unix time ts,
// exactly as Slack does: "v0=" + hex(HMAC-SHA256(secret, "v0:ts:body")).
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:", ts)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// Content types Slack sends.
const (
	FormContentType = "application/x-www-form-urlencoded"
	JSONContentType = "application/json"
)

// SignedRequest builds a POST to target as Slack would send it at time at:
// the body, its content type, and the two signature headers.
func SignedRequest(ctx context.Context, target, secret string, at time.Time, contentType string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("slackfake: %w", err)
	}
	ts := at.Unix()
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Slack-Signature", Sign(secret, ts, body))
	return req, nil
}

// Command is a slash command invocation. Empty fields get plausible
// defaults (team, names, trigger id, command "/rollback").
type Command struct {
	TeamID, TeamDomain, ChannelID, ChannelName string
	UserID, UserName, Command, Text            string
	ResponseURL, TriggerID, APIAppID           string
}

func (c Command) fields() [][2]string {
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	// Slack's own field order.
	return [][2]string{
		{"token", "deprecated-verification-token"},
		{"team_id", def(c.TeamID, TeamID)},
		{"team_domain", def(c.TeamDomain, "fake")},
		{"channel_id", c.ChannelID},
		{"channel_name", def(c.ChannelName, "ops")},
		{"user_id", c.UserID},
		{"user_name", def(c.UserName, strings.ToLower(c.UserID))},
		{"command", def(c.Command, "/rollback")},
		{"text", c.Text},
		{"api_app_id", def(c.APIAppID, "AFAKE")},
		{"is_enterprise_install", "false"},
		{"response_url", c.ResponseURL},
		{"trigger_id", def(c.TriggerID, "13345224609.738474920.8088930838d88f008e0")},
	}
}

// CommandForm encodes a slash command as the form body Slack posts.
func CommandForm(c Command) []byte {
	var b strings.Builder
	for i, f := range c.fields() {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(f[0]) + "=" + url.QueryEscape(f[1]))
	}
	return []byte(b.String())
}

// CommandJSON encodes a slash command as the Socket Mode payload.
func CommandJSON(c Command) json.RawMessage {
	m := map[string]string{}
	for _, f := range c.fields() {
		m[f[0]] = f[1]
	}
	return mustJSON(m)
}

// InteractionForm wraps an interaction payload as the form body Slack posts
// to the interactivity URL: payload=<url-encoded JSON>.
func InteractionForm(payload []byte) []byte {
	return []byte("payload=" + url.QueryEscape(string(payload)))
}

// Action is one button press within a block_actions payload.
type Action struct {
	ActionID, BlockID, Value, Text, ActionTS string
}

// BlockActions is a button click on a message.
type BlockActions struct {
	UserID, ChannelID, MessageTS, ThreadTS string
	TriggerID, ResponseURL                 string
	Actions                                []Action
}

// BlockActionsJSON encodes a block_actions payload as Slack sends it.
func BlockActionsJSON(b BlockActions) json.RawMessage {
	acts := make([]any, 0, len(b.Actions))
	for i, a := range b.Actions {
		ts := a.ActionTS
		if ts == "" {
			ts = fmt.Sprintf("1700000100.%06d", i+1)
		}
		acts = append(acts, map[string]any{
			"action_id": a.ActionID, "block_id": orDefault(a.BlockID, "actions"),
			"text":  map[string]any{"type": "plain_text", "text": orDefault(a.Text, a.ActionID), "emoji": true},
			"value": a.Value, "type": "button", "action_ts": ts,
		})
	}
	container := map[string]any{"type": "message", "message_ts": b.MessageTS, "channel_id": b.ChannelID, "is_ephemeral": false}
	message := map[string]any{"type": "message", "ts": b.MessageTS, "bot_id": "BFAKE", "text": "…"}
	if b.ThreadTS != "" {
		container["thread_ts"] = b.ThreadTS
		message["thread_ts"] = b.ThreadTS
	}
	return mustJSON(map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": b.UserID, "username": strings.ToLower(b.UserID), "team_id": TeamID},
		"api_app_id": "AFAKE", "token": "deprecated-verification-token",
		"container":             container,
		"trigger_id":            orDefault(b.TriggerID, "13345224609.738474920.8088930838d88f008e0"),
		"team":                  map[string]any{"id": TeamID, "domain": "fake"},
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": b.ChannelID, "name": "ops"},
		"message":               message,
		"state":                 map[string]any{"values": map[string]any{}},
		"response_url":          orDefault(b.ResponseURL, "https://hooks.slack.com/actions/T0FAKE/1/x"),
		"actions":               acts,
	})
}

// ViewSubmission builds the view_submission payload for a modal the fake
// opened (views.open), as if userID typed inputs (keyed by action_id) and
// pressed Submit.
func (s *Server) ViewSubmission(viewID, userID string, inputs map[string]string) (json.RawMessage, error) {
	s.mu.Lock()
	view, ok := s.views[viewID]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("slackfake: no opened view %s", viewID)
	}
	values := map[string]any{}
	blocks, _ := view["blocks"].([]any)
	for _, b := range blocks {
		block, _ := b.(map[string]any)
		el, _ := block["element"].(map[string]any)
		if block["type"] != "input" || el == nil {
			continue
		}
		aid, _ := el["action_id"].(string)
		var v any // Slack sends null for an untouched input
		if in, ok := inputs[aid]; ok {
			v = in
		}
		values[block["block_id"].(string)] = map[string]any{aid: map[string]any{"type": el["type"], "value": v}}
	}
	submitted := map[string]any{}
	for k, v := range view {
		submitted[k] = v
	}
	submitted["state"] = map[string]any{"values": values}
	return mustJSON(map[string]any{
		"type":                  "view_submission",
		"team":                  map[string]any{"id": TeamID, "domain": "fake"},
		"user":                  map[string]any{"id": userID, "username": strings.ToLower(userID), "team_id": TeamID},
		"api_app_id":            "AFAKE",
		"token":                 "deprecated-verification-token",
		"trigger_id":            "13345224609.738474920.8088930838d88f008e1",
		"view":                  submitted,
		"response_urls":         []any{},
		"is_enterprise_install": false,
	}), nil
}

// Views lists the IDs of views opened with views.open, oldest first.
func (s *Server) Views() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.viewIDs...)
}

// Mention is an app_mention event.
type Mention struct {
	EventID, UserID, ChannelID, Text, TS, ThreadTS string
}

// AppMentionJSON encodes an event_callback carrying an app_mention, as
// Slack posts it to the events URL (and as the Socket Mode payload).
func AppMentionJSON(m Mention) json.RawMessage {
	ev := map[string]any{"type": "app_mention", "user": m.UserID, "text": m.Text, "ts": m.TS,
		"channel": m.ChannelID, "event_ts": m.TS}
	if m.ThreadTS != "" {
		ev["thread_ts"] = m.ThreadTS
	}
	return mustJSON(map[string]any{
		"token": "deprecated-verification-token", "team_id": TeamID, "api_app_id": "AFAKE",
		"event": ev, "type": "event_callback", "event_id": m.EventID, "event_time": 1700000000,
		"authorizations":        []any{map[string]any{"team_id": TeamID, "user_id": BotUser, "is_bot": true, "is_enterprise_install": false}},
		"is_ext_shared_channel": false, "event_context": "4-fake",
	})
}

// URLVerificationJSON is the handshake Slack sends when the events URL is set.
func URLVerificationJSON(challenge string) json.RawMessage {
	return mustJSON(map[string]any{"token": "deprecated-verification-token", "challenge": challenge, "type": "url_verification"})
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("slackfake: encoding fixture: %v", err)) // only plain maps: cannot happen
	}
	return b
}
