package slack

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/chat/slack/slackfake"
	"github.com/backout/backout/internal/commands"
)

// responseCatcher is a response_url endpoint recording what it receives.
type responseCatcher struct {
	srv    *httptest.Server
	bodies chan []byte
	status int
}

func newResponseCatcher(t *testing.T, status int) *responseCatcher {
	c := &responseCatcher{bodies: make(chan []byte, 10), status: status}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("response_url content type = %q", r.Header.Get("Content-Type"))
		}
		c.bodies <- b
		w.WriteHeader(c.status)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *responseCatcher) next(t *testing.T) responseMessage {
	t.Helper()
	select {
	case b := <-c.bodies:
		var m struct {
			ResponseType string            `json:"response_type"`
			Text         string            `json:"text"`
			Blocks       []json.RawMessage `json:"blocks"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("response_url body %s: %v", b, err)
		}
		if len(m.Blocks) == 0 {
			t.Fatalf("response_url body has no blocks: %s", b)
		}
		return responseMessage{ResponseType: m.ResponseType, Text: m.Text}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing posted to response_url")
		return responseMessage{}
	}
}

func TestCommandFlow(t *testing.T) {
	tests := []struct {
		name      string
		reply     commands.Reply
		wantType  string
		wantPosts int
	}{
		{"ephemeral", commands.Reply{Ephemeral: true, Message: chat.Message{Text: chat.Plain("usage: /rollback status")}}, "ephemeral", 1},
		{"in channel", commands.Reply{Message: chat.Message{Text: chat.Plain("RB-1 proposed"), Header: "Rollback RB-1"}}, "in_channel", 1},
		{"ignore", commands.Reply{Ignore: true}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One worker: jobs finish in order, so the ignore case can tell.
			h := newHarness(t, tt.reply, true, func(c *AdapterConfig) { c.Workers = 1 })
			catcher := newResponseCatcher(t, http.StatusOK)
			body := slackfake.CommandForm(slackfake.Command{
				ChannelID: "C123", UserID: "U42", Text: "  propose checkout v1.2.3 ", ResponseURL: catcher.srv.URL + "/commands/T0FAKE/1/abc",
			})
			code, resp := h.post(t, "/slack/commands", slackfake.FormContentType, body, nil)
			if code != http.StatusOK || resp != "" {
				t.Fatalf("ack = %d %q, want 200 with empty body", code, resp)
			}
			h.handler.waitCalled(t, 1)
			invs, _ := h.handler.snapshot()
			want := commands.Invocation{User: "U42", Channel: "C123", Source: "slack", Text: "propose checkout v1.2.3"}
			got := invs[0]
			got.From = ""
			if got != want {
				t.Fatalf("invocation = %+v, want %+v", got, want)
			}
			if invs[0].From == "" {
				t.Error("invocation has no From for the audit trail")
			}
			if tt.wantPosts == 0 {
				// The reply is delivered after the handler returns; a second
				// command proves the worker moved on without posting.
				h.post(t, "/slack/commands", slackfake.FormContentType, slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "x", ResponseURL: catcher.srv.URL}), nil)
				h.handler.waitCalled(t, 1)
				if len(catcher.bodies) != 0 {
					t.Fatal("an ignored reply was posted")
				}
				return
			}
			if m := catcher.next(t); m.ResponseType != tt.wantType || m.Text == "" {
				t.Fatalf("response = %+v, want type %s", m, tt.wantType)
			}
		})
	}
}

// A replayed request (same signature, same timestamp) inside the window is
// claimed once, acted on once, and the replay is refused with 401.
func TestCommandReplayActsOnce(t *testing.T) {
	h := newHarness(t, okReply, true, nil)
	catcher := newResponseCatcher(t, http.StatusOK)
	body := slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "approve RB-1", ResponseURL: catcher.srv.URL})
	for i, want := range []int{http.StatusOK, http.StatusUnauthorized} {
		if code, _ := h.post(t, "/slack/commands", slackfake.FormContentType, body, nil); code != want {
			t.Fatalf("delivery %d: status = %d, want %d", i+1, code, want)
		}
	}
	catcher.next(t)
	// A different command afterwards is still handled: the replay was
	// skipped, not the queue stuck.
	other := slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "status", ResponseURL: catcher.srv.URL})
	h.post(t, "/slack/commands", slackfake.FormContentType, other, nil)
	catcher.next(t)
	if invs, _ := h.handler.snapshot(); len(invs) != 2 || invs[1].Text != "status" {
		t.Fatalf("invocations = %+v, want the replay skipped", invs)
	}
}

func TestCommandResponseURLRetried(t *testing.T) {
	h := newHarness(t, okReply, true, nil)
	catcher := newResponseCatcher(t, http.StatusServiceUnavailable)
	body := slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "status", ResponseURL: catcher.srv.URL})
	h.post(t, "/slack/commands", slackfake.FormContentType, body, nil)
	for range respondAttempts {
		catcher.next(t)
	}
}

func TestCommandWithoutResponseURLPostsViaAPI(t *testing.T) {
	h := newHarness(t, commands.Reply{Ephemeral: true, Message: chat.Message{Text: chat.Plain("hi")}}, true, nil)
	body := slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "status"})
	h.post(t, "/slack/commands", slackfake.FormContentType, body, nil)
	calls, err := h.fake.WaitCalls(waitCtx(t), "chat.postEphemeral", 1)
	if err != nil {
		t.Fatal(err)
	}
	if c := calls[0]; c.Param("channel") != "C1" || c.Param("user") != "U1" {
		t.Fatalf("postEphemeral params = %v", c.Form)
	}
}

func TestCommandBadRequests(t *testing.T) {
	h := newHarness(t, okReply, true, nil)
	tests := map[string][]byte{
		"no user":          []byte("channel_id=C1&text=status"),
		"bad form":         []byte("channel_id=%zz"),
		"bad response url": slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", ResponseURL: "file:///etc/passwd"}),
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			if code, _ := h.post(t, "/slack/commands", slackfake.FormContentType, body, nil); code != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", code)
			}
		})
	}
}

// When the store cannot claim, nothing runs. A slash command or a click
// (which Slack never retries) is acknowledged at once and the person is
// told why through response_url; without a response_url the command is
// told in the acknowledgement; an event is refused so Slack retries it.
func TestDedupDownTellsTheUser(t *testing.T) {
	catcher := newResponseCatcher(t, http.StatusOK)
	click := slackfake.BlockActionsJSON(slackfake.BlockActions{UserID: "U1", ChannelID: "C1", MessageTS: "1.1",
		ResponseURL: catcher.srv.URL + "/actions/1", Actions: []slackfake.Action{{ActionID: "approve", Value: "RB-1"}}})
	cases := map[string]struct {
		path, contentType string
		body              []byte
		wantStatus        int
		wantAck           string // substring of the acknowledgement
		wantResponse      bool   // the store-unavailable answer reaches response_url
	}{
		"command with response_url": {path: "/slack/commands", contentType: slackfake.FormContentType,
			body:       slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "status", ResponseURL: catcher.srv.URL + "/commands/1"}),
			wantStatus: http.StatusOK, wantResponse: true},
		"click": {path: "/slack/interactions", contentType: slackfake.FormContentType, body: slackfake.InteractionForm(click),
			wantStatus: http.StatusOK, wantResponse: true},
		"command without response_url": {path: "/slack/commands", contentType: slackfake.FormContentType,
			body:       slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "status"}),
			wantStatus: http.StatusOK, wantAck: "State store unavailable: nothing was done"},
		"event": {path: "/slack/events", contentType: slackfake.JSONContentType,
			body:       slackfake.AppMentionJSON(slackfake.Mention{EventID: "Ev1", UserID: "U1", ChannelID: "C1", Text: "<@UBOT> status", TS: "1.1"}),
			wantStatus: http.StatusServiceUnavailable},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, okReply, true, func(c *AdapterConfig) { c.Dedup = failingDedup{} })
			code, ack := h.post(t, tc.path, tc.contentType, tc.body, nil)
			if code != tc.wantStatus || !strings.Contains(ack, tc.wantAck) {
				t.Fatalf("answer %d %q, want %d containing %q", code, ack, tc.wantStatus, tc.wantAck)
			}
			if tc.wantResponse {
				if ack != "" {
					t.Errorf("acknowledgement %q, want empty (the answer goes to response_url)", ack)
				}
				got := catcher.next(t)
				if got.ResponseType != "ephemeral" || !strings.HasPrefix(got.Text, "⚠️ State store unavailable: nothing was done. Try again") {
					t.Fatalf("response_url got %+v, want the ephemeral store-unavailable answer", got)
				}
			}
			if invs, clicks := h.handler.snapshot(); len(invs)+len(clicks) != 0 {
				t.Fatalf("handler ran with no claim: %v %v", invs, clicks)
			}
			if n := h.adapter.pool.reserved(); n != 0 {
				t.Fatalf("reservations leaked: %d", n)
			}
		})
	}
}

// A full queue refuses before claiming (telling the person to retry), so
// the retry is accepted later rather than dropped as a duplicate.
func TestQueueFullAnswers503ThenRetrySucceeds(t *testing.T) {
	h := newHarness(t, okReply, false, func(c *AdapterConfig) { c.QueueSize = 1; c.Workers = 1 })
	first := slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "one"})
	second := slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "two"})
	if code, _ := h.post(t, "/slack/commands", slackfake.FormContentType, first, nil); code != http.StatusOK {
		t.Fatalf("first status = %d", code)
	}
	if code, resp := h.post(t, "/slack/commands", slackfake.FormContentType, second, nil); code != http.StatusOK || !strings.Contains(resp, "too busy") {
		t.Fatalf("second status = %d %q, want 200 saying Backout is busy while the queue is full", code, resp)
	}
	h.run(t)
	h.handler.waitCalled(t, 1)
	if code, _ := h.post(t, "/slack/commands", slackfake.FormContentType, second, nil); code != http.StatusOK {
		t.Fatalf("retry status = %d, want 200", code)
	}
	h.handler.waitCalled(t, 1)
	if invs, _ := h.handler.snapshot(); len(invs) != 2 || invs[1].Text != "two" {
		t.Fatalf("invocations = %+v", invs)
	}
}
