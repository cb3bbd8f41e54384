package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/chat/slack/slackfake"
)

func runSocket(t *testing.T, h *harness, token string) <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.adapter.RunSocketMode(ctx, token) }()
	t.Cleanup(func() { cancel(); <-done })
	return done
}

func TestSocketModeRoutesLikeHTTP(t *testing.T) {
	h := newHarness(t, okReply, true, nil)
	runSocket(t, h, slackfake.AppToken)
	ctx := waitCtx(t)
	if err := h.fake.WaitSocket(ctx); err != nil {
		t.Fatal(err)
	}

	// Slash command: acknowledged, handled, answered via response_url.
	catcher := newResponseCatcher(t, http.StatusOK)
	id, err := h.fake.SendEnvelope("slash_commands", slackfake.CommandJSON(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "status", ResponseURL: catcher.srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.fake.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.handler.waitCalled(t, 1)
	if invs, _ := h.handler.snapshot(); invs[0].Text != "status" || invs[0].From != socketFrom {
		t.Fatalf("invocation = %+v", invs[0])
	}
	catcher.next(t)

	// Reject click: modal opened; an empty reason is refused in the ack.
	rej := slackfake.BlockActionsJSON(slackfake.BlockActions{UserID: "U2", ChannelID: "C1", MessageTS: "1.1", Actions: []slackfake.Action{{ActionID: "reject", Value: "RB-1|h"}}})
	if id, err = h.fake.SendEnvelope("interactive", rej); err != nil {
		t.Fatal(err)
	}
	if ack, err := h.fake.WaitAck(ctx, id); err != nil || string(ack) != "null" {
		t.Fatalf("click ack = %s, %v; want an empty ack", ack, err)
	}
	if _, err := h.fake.WaitCalls(ctx, "views.open", 1); err != nil {
		t.Fatal(err)
	}
	viewID := h.fake.Views()[0]
	empty, _ := h.fake.ViewSubmission(viewID, "U2", nil)
	if id, err = h.fake.SendEnvelope("interactive", empty); err != nil {
		t.Fatal(err)
	}
	ack, err := h.fake.WaitAck(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		ResponseAction string `json:"response_action"`
	}
	if err := json.Unmarshal(ack, &resp); err != nil || resp.ResponseAction != "errors" {
		t.Fatalf("ack payload = %s", ack)
	}
	sub, _ := h.fake.ViewSubmission(viewID, "U2", map[string]string{"reason": "false alarm"})
	if _, err = h.fake.SendEnvelope("interactive", sub); err != nil {
		t.Fatal(err)
	}
	h.handler.waitCalled(t, 1)
	if _, clicks := h.handler.snapshot(); clicks[0].Reason != "false alarm" || clicks[0].ActionID != chat.ActionReject {
		t.Fatalf("click = %+v", clicks[0])
	}

	// Events: an app_mention, redelivered, is handled once.
	ev := slackfake.AppMentionJSON(slackfake.Mention{EventID: "EvS1", UserID: "U3", ChannelID: "C1", Text: "<@UBOT> list", TS: "2.1"})
	for range 2 {
		if id, err = h.fake.SendEnvelope("events_api", ev); err != nil {
			t.Fatal(err)
		}
		if _, err := h.fake.WaitAck(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	h.handler.waitCalled(t, 1)
	posts, err := h.fake.WaitCalls(ctx, "chat.postMessage", 2) // click reply + mention reply
	if err != nil {
		t.Fatal(err)
	}
	threads := map[string]bool{posts[0].Param("thread_ts"): true, posts[1].Param("thread_ts"): true}
	if !threads["2.1"] || !threads["1.1"] {
		t.Fatalf("replies not in threads: %v", threads)
	}
	if invs, _ := h.handler.snapshot(); len(invs) != 2 {
		t.Fatalf("invocations = %+v, want the redelivery ignored", invs)
	}
}

func TestSocketModeBadTokenFails(t *testing.T) {
	h := newHarness(t, okReply, false, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.adapter.RunSocketMode(ctx, "xapp-wrong") }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("RunSocketMode succeeded with a bad token")
		}
	case <-waitCtx(t).Done():
		t.Fatal("RunSocketMode kept running with a bad token")
	}
}
