package slack

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/chat/slack/slackfake"
	"github.com/backout/backout/internal/commands"
)

func click(user, action, value, actionTS string) []byte {
	return slackfake.InteractionForm(slackfake.BlockActionsJSON(slackfake.BlockActions{
		UserID: user, ChannelID: "C1", MessageTS: "1700000000.000001", TriggerID: "trig-1",
		Actions: []slackfake.Action{{ActionID: action, Value: value, ActionTS: actionTS}},
	}))
}

func TestApproveClick(t *testing.T) {
	tests := []struct {
		name      string
		reply     commands.Reply
		wantCall  string
		wantParam map[string]string
	}{
		{"reply in thread", commands.Reply{Message: chat.Message{Text: chat.Plain("U7 approved RB-1")}}, "chat.postMessage",
			map[string]string{"channel": "C1", "thread_ts": "1700000000.000001"}},
		{"ephemeral reply", commands.Reply{Ephemeral: true, Message: chat.Message{Text: chat.Plain("you cannot approve your own rollback")}}, "chat.postEphemeral",
			map[string]string{"channel": "C1", "user": "U7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.reply, true, nil)
			code, body := h.post(t, "/slack/interactions", slackfake.FormContentType, click("U7", "approve", "RB-1|abc123", "1700000100.000001"), nil)
			if code != http.StatusOK || body != "" {
				t.Fatalf("ack = %d %q", code, body)
			}
			h.handler.waitCalled(t, 1)
			_, clicks := h.handler.snapshot()
			got := clicks[0]
			got.From = ""
			want := commands.Click{User: "U7", Channel: "C1", Source: "slack", ActionID: "approve", Value: "RB-1|abc123", MessageTS: "1700000000.000001"}
			if got != want {
				t.Fatalf("click = %+v, want %+v", got, want)
			}
			calls, err := h.fake.WaitCalls(waitCtx(t), tt.wantCall, 1)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.wantParam {
				if got := calls[0].Param(k); got != v {
					t.Errorf("%s %s = %q, want %q", tt.wantCall, k, got, v)
				}
			}
		})
	}
}

// Slack retries an interaction with the same action_ts; it must act once.
func TestClickRetryActsOnce(t *testing.T) {
	h := newHarness(t, commands.Reply{Ignore: true}, true, func(c *AdapterConfig) { c.Workers = 1 })
	body := click("U7", "approve", "RB-1|abc", "1700000100.000009")
	for range 3 {
		if code, _ := h.post(t, "/slack/interactions", slackfake.FormContentType, body, nil); code != http.StatusOK {
			t.Fatalf("status = %d", code)
		}
	}
	// Another person's click at the same instant is a different click.
	h.post(t, "/slack/interactions", slackfake.FormContentType, click("U8", "approve", "RB-1|abc", "1700000100.000009"), nil)
	h.handler.waitCalled(t, 2)
	_, clicks := h.handler.snapshot()
	if len(clicks) != 2 || clicks[0].User != "U7" || clicks[1].User != "U8" {
		t.Fatalf("clicks = %+v", clicks)
	}
}

func TestRejectOpensModalThenSubmissionClicks(t *testing.T) {
	h := newHarness(t, commands.Reply{Message: chat.Message{Text: chat.Plain("rejected")}}, true, nil)
	code, _ := h.post(t, "/slack/interactions", slackfake.FormContentType, click("U7", "reject", "RB-1|abc", "1700000100.000002"), nil)
	if code != http.StatusOK {
		t.Fatalf("status = %d", code)
	}
	calls, err := h.fake.WaitCalls(waitCtx(t), "views.open", 1)
	if err != nil {
		t.Fatal(err)
	}
	if calls[0].Error != "" || calls[0].Param("trigger_id") != "trig-1" {
		t.Fatalf("views.open = %+v", calls[0])
	}
	var view struct {
		Type   string `json:"type"`
		Blocks []struct {
			Type    string `json:"type"`
			Element struct {
				Type      string `json:"type"`
				Multiline bool   `json:"multiline"`
			} `json:"element"`
		} `json:"blocks"`
	}
	if err := calls[0].Decode("view", &view); err != nil {
		t.Fatal(err)
	}
	if view.Type != "modal" || len(view.Blocks) != 1 || view.Blocks[0].Element.Type != "plain_text_input" || !view.Blocks[0].Element.Multiline {
		t.Fatalf("modal = %+v", view)
	}
	if _, clicks := h.handler.snapshot(); len(clicks) != 0 {
		t.Fatalf("reject reached the handler before a reason: %+v", clicks)
	}

	viewID := h.fake.Views()[0]
	empty, err := h.fake.ViewSubmission(viewID, "U7", map[string]string{"reason": "   "})
	if err != nil {
		t.Fatal(err)
	}
	code, body := h.post(t, "/slack/interactions", slackfake.FormContentType, slackfake.InteractionForm(empty), nil)
	var errs struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &errs); code != http.StatusOK || err != nil || errs.ResponseAction != "errors" || errs.Errors[reasonBlockID] == "" {
		t.Fatalf("empty reason answer = %d %s", code, body)
	}

	sub, err := h.fake.ViewSubmission(viewID, "U7", map[string]string{"reason": "canary is healthy, the alert was noise"})
	if err != nil {
		t.Fatal(err)
	}
	code, body = h.post(t, "/slack/interactions", slackfake.FormContentType, slackfake.InteractionForm(sub), nil)
	if code != http.StatusOK || body != "" {
		t.Fatalf("submission answer = %d %q, want 200 empty (closes the modal)", code, body)
	}
	h.handler.waitCalled(t, 1)
	_, clicks := h.handler.snapshot()
	got := clicks[0]
	got.From = ""
	want := commands.Click{User: "U7", Channel: "C1", Source: "slack", ActionID: "reject", Value: "RB-1|abc",
		Reason: "canary is healthy, the alert was noise", MessageTS: "1700000000.000001"}
	if got != want {
		t.Fatalf("click = %+v, want %+v", got, want)
	}
	posts, err := h.fake.WaitCalls(waitCtx(t), "chat.postMessage", 1)
	if err != nil {
		t.Fatal(err)
	}
	if posts[0].Param("thread_ts") != "1700000000.000001" {
		t.Fatalf("reply not in thread: %v", posts[0].Form)
	}
}

func TestModalOpenFailureTellsUser(t *testing.T) {
	h := newHarness(t, okReply, true, nil)
	h.fake.FailError("views.open", 1, "expired_trigger_id")
	h.post(t, "/slack/interactions", slackfake.FormContentType, click("U7", "abort", "RB-1|abc", "1700000100.000003"), nil)
	calls, err := h.fake.WaitCalls(waitCtx(t), "chat.postEphemeral", 1)
	if err != nil {
		t.Fatal(err)
	}
	if calls[0].Param("user") != "U7" || !strings.Contains(calls[0].Param("text"), "click the button again") {
		t.Fatalf("ephemeral = %v", calls[0].Form)
	}
}

// Duplicated action IDs get a suffix in the rendered message; a click on
// one must reach the handler as the plain verb.
func TestSuffixedActionIDIsPlainVerb(t *testing.T) {
	h := newHarness(t, commands.Reply{Ignore: true}, true, nil)
	h.post(t, "/slack/interactions", slackfake.FormContentType, click("U7", "approve#2", "RB-2|h", "1700000100.000004"), nil)
	h.handler.waitCalled(t, 1)
	if _, clicks := h.handler.snapshot(); clicks[0].ActionID != "approve" {
		t.Fatalf("action = %q", clicks[0].ActionID)
	}
}

func TestOtherInteractionsIgnored(t *testing.T) {
	h := newHarness(t, commands.Reply{Ignore: true}, true, func(c *AdapterConfig) { c.Workers = 1 })
	for _, p := range []string{
		`{"type":"view_closed","user":{"id":"U1"},"view":{"id":"V1","callback_id":"backout_reason"}}`,
		`{"type":"view_submission","user":{"id":"U1"},"view":{"id":"V1","callback_id":"someone_else"}}`,
		`{"type":"view_submission","user":{"id":"U1"},"view":{"id":"V1","callback_id":"backout_reason","private_metadata":"not json"}}`,
		`{"type":"shortcut","user":{"id":"U1"}}`,
	} {
		if code, body := h.post(t, "/slack/interactions", slackfake.FormContentType, slackfake.InteractionForm([]byte(p)), nil); code != http.StatusOK || body != "" {
			t.Errorf("%s: %d %q", p, code, body)
		}
	}
	if code, _ := h.post(t, "/slack/interactions", slackfake.FormContentType, []byte("nopayload=1"), nil); code != http.StatusBadRequest {
		t.Errorf("missing payload: status = %d, want 400", code)
	}
	// A real click afterwards is the only thing the handler sees.
	h.post(t, "/slack/interactions", slackfake.FormContentType, click("U7", "approve", "RB-1|h", "1700000100.000005"), nil)
	h.handler.waitCalled(t, 1)
	if invs, clicks := h.handler.snapshot(); len(invs) != 0 || len(clicks) != 1 {
		t.Fatalf("handler called: %v %v", invs, clicks)
	}
}

// Without action_ts the claim falls back to the trigger, so two distinct
// clicks are not mistaken for a retry.
func TestClickWithoutActionTS(t *testing.T) {
	h := newHarness(t, commands.Reply{Ignore: true}, true, nil)
	for _, trig := range []string{"trig-a", "trig-b"} {
		p := `{"type":"block_actions","user":{"id":"U7"},"channel":{"id":"C1"},"trigger_id":"` + trig +
			`","container":{"message_ts":"1.1"},"actions":[{"action_id":"approve","value":"RB-1|h"}]}`
		h.post(t, "/slack/interactions", slackfake.FormContentType, slackfake.InteractionForm([]byte(p)), nil)
	}
	h.handler.waitCalled(t, 2)
}
