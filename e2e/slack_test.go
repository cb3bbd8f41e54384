package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat/slack/slackfake"
)

// TestSlackOverHTTP walks a person-proposed rollback through Slack's HTTP
// endpoints: slash command, buttons, reason modal, and every request Slack
// must refuse (issue 5.7).
func TestSlackOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	b := w.boot("slack")
	w.deploy(b, "demo-api", "1.4.0", 3*time.Hour)
	w.deploy(b, "demo-api", "1.5.0", 0)
	w.deploy(b, "demo-web", "2.0.0", 3*time.Hour)
	w.deploy(b, "demo-web", "2.1.0", 0)

	propose := w.command("UALICE", "C0DEMO", "propose demo-api bad deploy", "propose")
	if code, body := b.send(propose); code != http.StatusOK {
		t.Fatalf("signed slash command: %d %s, want 200", code, body)
	}
	p := w.waitProposals(b, "C0DEMO", 1)[0]
	if p.ID != "RB-1" {
		t.Fatalf("first proposal is %s, want RB-1", p.ID)
	}
	for _, want := range []string{"RB-1", "demo-api", "1.5.0", "*1.4.0*", digest("demo-api", "1.4.0"),
		"Drain traffic", "Install the known-good version", "Send traffic back", "bad deploy"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("proposal blocks lack %q:\n%s", want, p.Text)
		}
	}
	if _, ok := p.Buttons["reject"]; !ok {
		t.Errorf("proposal has buttons %v, want approve and reject", p.Buttons)
	}
	rep := w.waitReply("propose")
	if rep.ResponseType != "ephemeral" || !strings.Contains(rep.Text, "Proposed RB-1") {
		t.Errorf("response_url got %s, want an ephemeral \"Proposed RB-1\"", rep.Raw)
	}

	t.Run("refused requests change nothing", func(t *testing.T) {
		refusedRequestsChangeNothing(t, w, b, propose)
	})
	t.Run("ineligible approvers are told why", func(t *testing.T) {
		for _, user := range []string{"UALICE", "UMALLORY"} {
			if code, body := b.send(w.click(user, p, "approve", p.Value)); code != http.StatusOK {
				t.Fatalf("%s clicks Approve: %d %s", user, code, body)
			}
			eventually(t, 10*time.Second, "an ephemeral reason for "+user, func() (bool, string) {
				return len(w.ephemerals(user)) > 0, "none yet"
			})
			t.Logf("%s was told: %q", user, w.ephemerals(user))
		}
		if r, _ := w.rollback(b, "RB-1"); r.State != "proposed" || len(r.Approvers) != 0 {
			t.Fatalf("after refused votes RB-1 is %s approved by %v, want proposed with none", r.State, r.Approvers)
		}
		if n := countContaining(w.threadTexts("C0DEMO", p.TS), "approved"); n != 0 {
			t.Fatalf("%d approval notes in the thread after refused votes", n)
		}
	})
	t.Run("approve runs the rollback to the end", func(t *testing.T) {
		approveRunsToTheEnd(t, w, b, p)
	})
	t.Run("reject asks for a reason in a modal", func(t *testing.T) {
		rejectWithReason(t, w, b)
	})
	t.Run("url_verification", func(t *testing.T) {
		body := slackfake.URLVerificationJSON("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
		code, resp := b.send(signSlack("/slack/events", slackfake.JSONContentType, body, w.secrets.SigningSecret, time.Now()))
		var got map[string]string
		_ = json.Unmarshal([]byte(resp), &got)
		if code != http.StatusOK || got["challenge"] != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
			t.Fatalf("url_verification: %d %s", code, resp)
		}
	})
	t.Run("body too large", func(t *testing.T) {
		big := append(slackfake.CommandForm(slackfake.Command{UserID: "UALICE", ChannelID: "C0DEMO", Text: "status"}),
			[]byte("&pad="+strings.Repeat("x", 70<<10))...)
		if code, body := b.send(signSlack("/slack/commands", slackfake.FormContentType, big, w.secrets.SigningSecret, time.Now())); code != http.StatusRequestEntityTooLarge {
			t.Errorf("70 KiB slash command: %d %s, want 413", code, body)
		}
		huge := bytes.Repeat([]byte(" "), 2<<20)
		if code, body := b.pagerDuty(huge, w.secrets.PDSecret); code != http.StatusRequestEntityTooLarge {
			t.Errorf("2 MiB PagerDuty webhook: %d %.200s, want 413", code, body)
		}
	})
}

// refusedRequestsChangeNothing sends forged, stale, tampered and replayed
// requests and checks that none had any effect: no rollback, no Slack
// call, no reply. A signed status command afterwards is the barrier.
func refusedRequestsChangeNothing(t *testing.T, w *world, b *bot, accepted slackReq) {
	callsBefore, idsBefore, repliesBefore := len(w.slack.Calls()), w.rollbackIDs(b), w.resp.Count()
	forgedBody := slackfake.CommandForm(slackfake.Command{UserID: "UALICE", ChannelID: "C0WEB", Text: "propose demo-web forged",
		ResponseURL: w.resp.URL("forged")})
	tampered := w.command("UALICE", "C0WEB", "propose demo-web tampered", "tampered")
	tampered.body = bytes.Replace(tampered.body, []byte("tampered"), []byte("tampereD"), 1)
	unsigned := signSlack("/slack/commands", slackfake.FormContentType, forgedBody, w.secrets.SigningSecret, time.Now())
	unsigned.header.Del("X-Slack-Signature")
	cases := []struct {
		name string
		req  slackReq
	}{
		{"forged signature", signSlack("/slack/commands", slackfake.FormContentType, forgedBody, "not-the-signing-secret", time.Now())},
		{"stale timestamp", signSlack("/slack/commands", slackfake.FormContentType, forgedBody, w.secrets.SigningSecret, time.Now().Add(-6*time.Minute))},
		{"future timestamp", signSlack("/slack/commands", slackfake.FormContentType, forgedBody, w.secrets.SigningSecret, time.Now().Add(6*time.Minute))},
		{"tampered body", tampered},
		{"no signature", unsigned},
		{"forged click", signSlack("/slack/interactions", slackfake.FormContentType,
			slackfake.InteractionForm(slackfake.BlockActionsJSON(slackfake.BlockActions{UserID: "UBOB", ChannelID: "C0DEMO",
				Actions: []slackfake.Action{{ActionID: "approve", Value: "RB-1"}}})), "not-the-signing-secret", time.Now())},
		// The very bytes Slack sent for the proposal, sent again.
		{"replayed request", accepted},
	}
	for _, c := range cases {
		if code, body := b.send(c.req); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %q, want 401", c.name, code, body)
		}
	}
	if code, body := b.send(w.command("UALICE", "C0DEMO", "status", "barrier")); code != http.StatusOK {
		t.Fatalf("barrier status command: %d %s", code, body)
	}
	w.waitReply("barrier")
	if after := w.slack.Calls(); len(after) != callsBefore {
		var methods []string
		for _, c := range after[callsBefore:] {
			methods = append(methods, c.Method+" "+c.Param("channel")+" "+c.Param("text"))
		}
		t.Errorf("refused requests caused Slack calls: %q", methods)
	}
	if ids := w.rollbackIDs(b); len(ids) != len(idsBefore) {
		t.Errorf("rollbacks %v after refused requests, before %v", ids, idsBefore)
	}
	if n := w.resp.Count(); n != repliesBefore+1 {
		t.Errorf("%d response_url replies after refused requests and the barrier, want %d (propose: %d)",
			n, repliesBefore+1, len(w.resp.For("propose")))
	}
}

func approveRunsToTheEnd(t *testing.T, w *world, b *bot, p proposal) {
	if code, body := b.send(w.click("UBOB", p, "approve", p.Value)); code != http.StatusOK {
		t.Fatalf("UBOB clicks Approve: %d %s", code, body)
	}
	r := w.waitState(b, "RB-1", "succeeded", 30*time.Second)
	if len(r.Approvers) != 1 || r.Approvers[0] != "UBOB" {
		t.Errorf("approvers %v, want [UBOB]", r.Approvers)
	}
	installed, err := os.ReadFile(filepath.Join(w.demoDir, "demo-api", "installed"))
	if want := "1.4.0 " + digest("demo-api", "1.4.0") + "\n"; err != nil || string(installed) != want {
		t.Errorf("demo install file %q (%v), want %q", installed, err, want)
	}
	eventually(t, 10*time.Second, "the proposal message updated to succeeded", func() (bool, string) {
		m, _ := w.slack.Message("C0DEMO", p.TS)
		return m.Updates > 0 && strings.Contains(m.Text, "succeeded"), m.Text
	})
	updates := 0
	for _, c := range w.slack.Calls("chat.update") {
		if c.Param("channel") == "C0DEMO" && c.Param("ts") == p.TS {
			updates++
		}
	}
	if updates == 0 {
		t.Errorf("no chat.update of the proposal message %s", p.TS)
	}
	var thread []string
	eventually(t, 10*time.Second, "the outcome summary in the thread", func() (bool, string) {
		thread = w.threadTexts("C0DEMO", p.TS)
		return countContaining(thread, "RB-1 succeeded") == 1, strings.Join(thread, " | ")
	})
	for _, want := range []string{"<@UBOB> approved RB-1", "RB-1 started"} {
		if countContaining(thread, want) != 1 {
			t.Errorf("thread %q: want exactly one message containing %q", thread, want)
		}
	}
	// The summary names the state once: "RB-1 succeeded: demo-api 1.5.0 → 1.4.0".
	if n := countContaining(thread, "succeeded: succeeded"); n != 0 {
		t.Errorf("the outcome summary repeats the state: %q", thread)
	}
	fileID := ""
	eventually(t, 10*time.Second, "the post-mortem uploaded in the thread", func() (bool, string) {
		for _, c := range w.slack.Calls("files.completeUploadExternal") {
			var files []struct{ ID string }
			if c.Param("channel_id") == "C0DEMO" && c.Param("thread_ts") == p.TS && c.Decode("files", &files) == nil && len(files) == 1 {
				fileID = files[0].ID
				return true, ""
			}
		}
		var seen []string
		for _, c := range w.slack.Calls("files.getUploadURLExternal", "upload", "files.completeUploadExternal") {
			seen = append(seen, fmt.Sprintf("%s %v %s", c.Method, c.Form, c.Error))
		}
		return false, fmt.Sprintf("no completed upload in the thread; upload calls: %q", seen)
	})
	if name, content, ok := w.slack.Upload(fileID); !ok || name != "postmortem-RB-1.md" || !strings.Contains(string(content), "RB-1") {
		t.Errorf("uploaded file %s: %q ok=%v, content:\n%.300s", fileID, name, ok, content)
	}
	code, md := w.api(b, http.MethodGet, "/api/v1/rollbacks/RB-1/postmortem", nil)
	if code != http.StatusOK || !strings.Contains(string(md), "RB-1") || !strings.Contains(string(md), "demo-api") {
		t.Errorf("GET postmortem: %d\n%.400s", code, md)
	}
}

func rejectWithReason(t *testing.T, w *world, b *bot) {
	if code, body := b.send(w.command("UCAROL", "C0WEB", "propose demo-web buttons vanished", "propose-web")); code != http.StatusOK {
		t.Fatalf("propose demo-web: %d %s", code, body)
	}
	p := w.waitProposals(b, "C0WEB", 1)[0]
	viewsBefore := len(w.slack.Views())
	if code, body := b.send(w.click("UBOB", p, "reject", p.Buttons["reject"])); code != http.StatusOK {
		t.Fatalf("UBOB clicks Reject: %d %s", code, body)
	}
	eventually(t, 10*time.Second, "views.open for the reason modal", func() (bool, string) {
		return len(w.slack.Views()) > viewsBefore, "no view opened"
	})
	viewID := w.slack.Views()[viewsBefore]
	if r, _ := w.rollback(b, p.ID); r.State != "proposed" {
		t.Fatalf("%s is %s before the reason was given, want proposed", p.ID, r.State)
	}
	empty, err := w.slack.ViewSubmission(viewID, "UBOB", map[string]string{"reason": "  "})
	if err != nil {
		t.Fatal(err)
	}
	code, body := b.send(signSlack("/slack/interactions", slackfake.FormContentType, slackfake.InteractionForm(empty), w.secrets.SigningSecret, time.Now()))
	if code != http.StatusOK || !strings.Contains(body, `"response_action":"errors"`) {
		t.Errorf("empty reason: %d %s, want 200 with response_action errors", code, body)
	}
	sub, err := w.slack.ViewSubmission(viewID, "UBOB", map[string]string{"reason": "the alert is from a different service"})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := b.send(signSlack("/slack/interactions", slackfake.FormContentType, slackfake.InteractionForm(sub), w.secrets.SigningSecret, time.Now())); code != http.StatusOK {
		t.Fatalf("view_submission: %d %s", code, body)
	}
	r := w.waitState(b, p.ID, "rejected", 10*time.Second)
	if !strings.Contains(r.Outcome+strings.Join(w.threadTexts("C0WEB", p.TS), "\n"), "the alert is from a different service") {
		t.Errorf("the reason shows neither in the outcome %q nor in the thread", r.Outcome)
	}
}
