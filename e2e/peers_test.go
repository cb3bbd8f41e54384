package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	pdhook "github.com/backout/backout/internal/alerts/pagerduty"
	"github.com/backout/backout/internal/chat/slack/slackfake"
)

// slackReq is an inbound Slack request, kept whole so that the very same
// bytes can be sent again (a replay) or to several replicas.
type slackReq struct {
	path, contentType string
	body              []byte
	header            http.Header
}

func signSlack(path, contentType string, body []byte, secret string, at time.Time) slackReq {
	h := http.Header{}
	h.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("X-Slack-Signature", slackfake.Sign(secret, at.Unix(), body))
	return slackReq{path: path, contentType: contentType, body: body, header: h}
}

func (b *bot) send(r slackReq) (int, string) {
	b.t.Helper()
	return b.post(r.path, r.contentType, r.body, r.header.Clone())
}

// command is /rollback <text> typed by user in channel; its replies go to
// the response sink under respID.
func (w *world) command(user, channel, text, respID string) slackReq {
	body := slackfake.CommandForm(slackfake.Command{UserID: user, ChannelID: channel, Text: text, ResponseURL: w.resp.URL(respID)})
	return signSlack("/slack/commands", slackfake.FormContentType, body, w.secrets.SigningSecret, time.Now())
}

// click is user pressing the button actionID on a proposal message.
func (w *world) click(user string, p proposal, actionID, value string) slackReq {
	payload := slackfake.BlockActionsJSON(slackfake.BlockActions{UserID: user, ChannelID: p.Channel, MessageTS: p.TS,
		Actions: []slackfake.Action{{ActionID: actionID, Value: value, ActionTS: w.nextClickTS()}}})
	return signSlack("/slack/interactions", slackfake.FormContentType, slackfake.InteractionForm(payload), w.secrets.SigningSecret, time.Now())
}

// proposal is a rollback's main message as Slack received it.
type proposal struct {
	ID, Channel, TS, Value string
	Text                   string // every text in its blocks
	Buttons                map[string]string
}

// blockTexts collects every "text" string in a Block Kit tree.
func blockTexts(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if s, ok := child.(string); ok && k == "text" {
				*out = append(*out, s)
				continue
			}
			blockTexts(child, out)
		}
	case []any:
		for _, child := range x {
			blockTexts(child, out)
		}
	}
}

// buttonsOf maps action_id to value for every button in blocks.
func buttonsOf(blocks []any) map[string]string {
	out := map[string]string{}
	for _, b := range blocks {
		block, _ := b.(map[string]any)
		if block["type"] != "actions" {
			continue
		}
		els, _ := block["elements"].([]any)
		for _, e := range els {
			el, _ := e.(map[string]any)
			id, _ := el["action_id"].(string)
			val, _ := el["value"].(string)
			out[id] = val
		}
	}
	return out
}

func decodeBlocks(t testing.TB, c slackfake.Call) []any {
	t.Helper()
	var blocks []any
	if c.Param("blocks") == "" {
		return nil
	}
	if err := c.Decode("blocks", &blocks); err != nil {
		t.Fatalf("%s blocks: %v", c.Method, err)
	}
	return blocks
}

// proposals are the top-level messages in channel that carry an Approve
// button: one per rollback proposed there. Their ts comes from the API's
// record of the rollback (message_ts), asked of b.
func (w *world) proposals(b *bot, channel string) []proposal {
	var out []proposal
	for _, c := range w.slack.Calls("chat.postMessage") {
		if c.Param("channel") != channel || c.Param("thread_ts") != "" || c.Error != "" {
			continue
		}
		blocks := decodeBlocks(w.t, c)
		btn := buttonsOf(blocks)
		val, ok := btn["approve"]
		if !ok {
			continue
		}
		var texts []string
		blockTexts(blocks, &texts)
		id, _, _ := strings.Cut(val, "|")
		p := proposal{ID: id, Channel: channel, Value: val, Text: strings.Join(texts, "\n"), Buttons: btn}
		if r, code := w.rollback(b, id); code == http.StatusOK && r.Channel == channel {
			p.TS = r.MessageTS
		}
		out = append(out, p)
	}
	return out
}

// waitProposals waits until channel holds n proposals and returns them.
func (w *world) waitProposals(b *bot, channel string, n int) []proposal {
	w.t.Helper()
	var got []proposal
	eventually(w.t, 15*time.Second, fmt.Sprintf("%d proposal(s) in %s", n, channel), func() (bool, string) {
		got = w.proposals(b, channel)
		for _, p := range got {
			if p.TS == "" {
				return false, p.ID + " has no message_ts yet"
			}
		}
		return len(got) >= n, fmt.Sprintf("%d proposals; %d chat.postMessage calls", len(got), len(w.slack.Calls("chat.postMessage")))
	})
	return got
}

// threadTexts are the fallback texts of messages posted in a thread.
func (w *world) threadTexts(channel, ts string) []string {
	var out []string
	for _, c := range w.slack.Calls("chat.postMessage") {
		if c.Param("channel") == channel && c.Param("thread_ts") == ts {
			out = append(out, c.Param("text"))
		}
	}
	return out
}

func countContaining(list []string, sub string) int {
	n := 0
	for _, s := range list {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// ephemerals are chat.postEphemeral texts shown to user.
func (w *world) ephemerals(user string) []string {
	var out []string
	for _, c := range w.slack.Calls("chat.postEphemeral") {
		if c.Param("user") == user {
			out = append(out, c.Param("text"))
		}
	}
	return out
}

// --- the HTTP API ---

func (w *world) api(b *bot, method, path string, body any) (int, []byte) {
	w.t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			w.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, b.url(path), bytes.NewReader(raw))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+w.secrets.APIToken)
	req.Header.Set("Content-Type", "application/json")
	code, resp := b.do(req)
	return code, []byte(resp)
}

// digest is a valid-looking immutable artifact reference for version.
func digest(service, version string) string {
	h := fmt.Sprintf("%x", []byte(service+"@"+version))
	for len(h) < 64 {
		h += "0"
	}
	return fmt.Sprintf("registry.example/%s@sha256:%s", service, h[:64])
}

// deploy records service version, deployed ago before now.
func (w *world) deploy(b *bot, service, version string, ago time.Duration) {
	w.t.Helper()
	in := map[string]any{"service": service, "version": version, "artifact": digest(service, version), "deployed_by": "ci"}
	if ago > 0 {
		in["deployed_at"] = time.Now().Add(-ago).UTC().Format(time.RFC3339)
	}
	if code, body := w.api(b, http.MethodPost, "/api/v1/deploys", in); code != http.StatusCreated {
		w.t.Fatalf("POST /api/v1/deploys %s %s: %d %s", service, version, code, body)
	}
}

// rollbackRecord is the part of GET /api/v1/rollbacks/{id} the tests read.
type rollbackRecord struct {
	ID        string   `json:"id"`
	State     string   `json:"state"`
	Approvers []string `json:"approvers"`
	MessageTS string   `json:"message_ts"`
	Channel   string   `json:"channel"`
	Outcome   string   `json:"outcome"`
}

func (w *world) rollback(b *bot, id string) (rollbackRecord, int) {
	w.t.Helper()
	code, body := w.api(b, http.MethodGet, "/api/v1/rollbacks/"+id, nil)
	var r rollbackRecord
	if code == http.StatusOK {
		if err := json.Unmarshal(body, &r); err != nil {
			w.t.Fatalf("GET rollback %s: %v: %s", id, err, body)
		}
	}
	return r, code
}

// waitState polls the API until rollback id is in state.
func (w *world) waitState(b *bot, id, state string, bound time.Duration) rollbackRecord {
	w.t.Helper()
	var r rollbackRecord
	eventually(w.t, bound, id+" "+state, func() (bool, string) {
		var code int
		r, code = w.rollback(b, id)
		return code == http.StatusOK && r.State == state, fmt.Sprintf("HTTP %d state %q outcome %q", code, r.State, r.Outcome)
	})
	return r
}

// rollbackIDs lists every rollback id in the registry.
func (w *world) rollbackIDs(b *bot) []string {
	w.t.Helper()
	code, body := w.api(b, http.MethodGet, "/api/v1/rollbacks", nil)
	if code != http.StatusOK {
		w.t.Fatalf("GET /api/v1/rollbacks: %d %s", code, body)
	}
	var out struct {
		Rollbacks []struct {
			ID string `json:"id"`
		} `json:"rollbacks"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		w.t.Fatal(err)
	}
	var ids []string
	for _, r := range out.Rollbacks {
		ids = append(ids, r.ID)
	}
	return ids
}

// --- PagerDuty ---

// pdEvent is a v3 webhook body built from the pagerduty package's
// fixtures, re-aimed at one PagerDuty service, incident and time.
func pdEvent(t testing.TB, eventType, eventID, incidentID, pdService string, at time.Time) []byte {
	t.Helper()
	fixture := map[string]string{"incident.triggered": "incident_triggered.json", "incident.resolved": "incident_resolved.json"}[eventType]
	raw, err := os.ReadFile(filepath.Join(repoRoot, "internal", "alerts", "pagerduty", "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	ev := env["event"].(map[string]any)
	data := ev["data"].(map[string]any)
	ev["id"] = eventID
	ev["occurred_at"] = at.UTC().Format(time.RFC3339Nano)
	data["id"] = incidentID
	data["title"] = "demo-api: 5xx ratio above 5% for 5 minutes"
	data["html_url"] = "https://acme.pagerduty.com/incidents/" + incidentID
	data["created_at"] = at.UTC().Format(time.RFC3339)
	svc := data["service"].(map[string]any)
	svc["id"] = pdService
	svc["summary"] = "Demo API"
	out, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pagerDuty posts a webhook body signed with secret.
func (b *bot) pagerDuty(body []byte, secret string) (int, string) {
	b.t.Helper()
	return b.post("/webhooks/pagerduty", "application/json", body, pdHeaders(body, secret))
}

// pdHeaders are the headers PagerDuty sends with body, signed with secret.
func pdHeaders(body []byte, secret string) http.Header {
	h := http.Header{}
	h.Set(pdhook.SignatureHeader, pdhook.Sign(body, secret))
	h.Set("User-Agent", "PagerDuty-Webhook/V3.0")
	return h
}
