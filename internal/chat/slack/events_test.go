package slack

import (
	"net/http"
	"testing"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/chat/slack/slackfake"
	"github.com/backout/backout/internal/commands"
)

func TestURLVerification(t *testing.T) {
	h := newHarness(t, okReply, false, nil)
	code, body := h.post(t, "/slack/events", slackfake.JSONContentType, slackfake.URLVerificationJSON("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"), nil)
	if code != http.StatusOK || body != `{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}` {
		t.Fatalf("answer = %d %s", code, body)
	}
}

func TestAppMentionRepliesInThread(t *testing.T) {
	tests := []struct {
		name, text, thread, wantText, wantThread string
	}{
		{"top level", "<@UBOT> status RB-1", "", "status RB-1", "1700000200.000001"},
		{"in a thread", "<@UBOT|backout>   /rollback abort RB-1", "1700000100.000001", "abort RB-1", "1700000100.000001"},
		{"other mention first", "<@U9> asked me: <@UBOT> rollback status", "", "status", "1700000200.000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, commands.Reply{Message: chat.Message{Text: chat.Plain("RB-1 is running")}}, true, nil)
			ev := slackfake.AppMentionJSON(slackfake.Mention{EventID: "Ev" + tt.name, UserID: "U7", ChannelID: "C1", Text: tt.text, TS: "1700000200.000001", ThreadTS: tt.thread})
			if code, body := h.post(t, "/slack/events", slackfake.JSONContentType, ev, nil); code != http.StatusOK || body != "" {
				t.Fatalf("ack = %d %q", code, body)
			}
			h.handler.waitCalled(t, 1)
			invs, _ := h.handler.snapshot()
			if inv := invs[0]; inv.Text != tt.wantText || inv.User != "U7" || inv.Channel != "C1" || inv.Source != "slack" {
				t.Fatalf("invocation = %+v, want text %q", inv, tt.wantText)
			}
			posts, err := h.fake.WaitCalls(waitCtx(t), "chat.postMessage", 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := posts[0].Param("thread_ts"); got != tt.wantThread {
				t.Fatalf("thread_ts = %q, want %q", got, tt.wantThread)
			}
		})
	}
}

// Slack redelivers an event (X-Slack-Retry-Num) when our answer was slow or
// lost; the event_id claim makes the retry a no-op.
func TestEventRetryDeduplicated(t *testing.T) {
	h := newHarness(t, commands.Reply{Ignore: true}, true, func(c *AdapterConfig) { c.Workers = 1 })
	ev := slackfake.AppMentionJSON(slackfake.Mention{EventID: "Ev0001", UserID: "U7", ChannelID: "C1", Text: "<@UBOT> status", TS: "1.1"})
	h.post(t, "/slack/events", slackfake.JSONContentType, ev, nil)
	for n := range 2 {
		retry := func(r *http.Request) {
			r.Header.Set("X-Slack-Retry-Num", string(rune('1'+n)))
			r.Header.Set("X-Slack-Retry-Reason", "http_timeout")
		}
		if code, _ := h.post(t, "/slack/events", slackfake.JSONContentType, ev, retry); code != http.StatusOK {
			t.Fatalf("retry status = %d, want 200", code)
		}
	}
	next := slackfake.AppMentionJSON(slackfake.Mention{EventID: "Ev0002", UserID: "U7", ChannelID: "C1", Text: "<@UBOT> list", TS: "1.2"})
	h.post(t, "/slack/events", slackfake.JSONContentType, next, nil)
	h.handler.waitCalled(t, 2)
	if invs, _ := h.handler.snapshot(); len(invs) != 2 || invs[0].Text != "status" || invs[1].Text != "list" {
		t.Fatalf("invocations = %+v", invs)
	}
}

func TestEventsIgnoredAndRejected(t *testing.T) {
	h := newHarness(t, commands.Reply{Ignore: true}, true, func(c *AdapterConfig) { c.Workers = 1 })
	ignored := []string{
		`{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention","bot_id":"B1","user":"U1","channel":"C1","text":"<@UBOT> status"}}`,
		`{"type":"event_callback","event_id":"Ev2","event":{"type":"reaction_added","user":"U1"}}`,
		`{"type":"app_rate_limited","minute_rate_limited":1518467820}`,
	}
	for _, e := range ignored {
		if code, body := h.post(t, "/slack/events", slackfake.JSONContentType, []byte(e), nil); code != http.StatusOK || body != "" {
			t.Errorf("%s: %d %q", e, code, body)
		}
	}
	for _, e := range []string{`{`, `{"type":"event_callback"}`, `{"type":"url_verification"}`, `{}`} {
		if code, _ := h.post(t, "/slack/events", slackfake.JSONContentType, []byte(e), nil); code != http.StatusBadRequest {
			t.Errorf("%s: status = %d, want 400", e, code)
		}
	}
	real := slackfake.AppMentionJSON(slackfake.Mention{EventID: "Ev3", UserID: "U7", ChannelID: "C1", Text: "<@UBOT> status", TS: "1.3"})
	h.post(t, "/slack/events", slackfake.JSONContentType, real, nil)
	h.handler.waitCalled(t, 1)
	if invs, _ := h.handler.snapshot(); len(invs) != 1 {
		t.Fatalf("invocations = %+v", invs)
	}
}
