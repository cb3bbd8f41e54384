package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/backout/backout/internal/alerts/pagerduty"
	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/chat/slack/slackfake"
)

// Kinds of traffic.
const (
	kindSlackCommand = "slack-command"
	kindSlackClick   = "slack-click"
	kindPagerDuty    = "pagerduty"
	kindBare         = "bare"
	// Alertmanager's webhook on Backout, and Alertmanager's own intake.
	kindAlertmanagerWebhook = "alertmanager-webhook"
	kindAlertmanagerAPI     = "alertmanager"
)

// request is one prepared delivery. Bodies are built by the scheduler (one
// goroutine) ahead of the send, so generating them costs the sender nothing
// that a real Slack or PagerDuty would not also pay.
type request struct {
	path   string
	header http.Header
	body   []byte
}

// generator makes the i-th request of a run. It is called from one
// goroutine only.
type generator interface {
	next(i int, now time.Time) request
}

// pathFor is where each kind of traffic goes on the bot.
func pathFor(kind string) string {
	switch kind {
	case kindSlackCommand:
		return "/slack/commands"
	case kindSlackClick:
		return "/slack/interactions"
	case kindPagerDuty:
		return "/webhooks/pagerduty"
	case kindAlertmanagerWebhook:
		return "/webhooks/alertmanager"
	}
	return "/"
}

type genConfig struct {
	kind        string
	slackSecret string
	pdSecret    string
	amToken     string // Backout's ALERTMANAGER_TOKEN
	dupFraction float64
	responseURL string // where slash command replies go (the fake Slack)
	runID       string // makes ids unique across runs against the same store
	seed        uint64
}

func newGenerator(c genConfig) (generator, error) {
	switch c.kind {
	case kindSlackCommand, kindSlackClick:
		if c.slackSecret == "" {
			return nil, fmt.Errorf("%s needs --slack-secret or SLACK_SIGNING_SECRET", c.kind)
		}
		return &slackGen{cfg: c}, nil
	case kindPagerDuty:
		if c.pdSecret == "" {
			return nil, fmt.Errorf("pagerduty needs --pd-secret or PAGERDUTY_WEBHOOK_SECRET")
		}
		if c.dupFraction < 0 || c.dupFraction >= 1 {
			return nil, fmt.Errorf("--dup must be in [0, 1), got %v", c.dupFraction)
		}
		return &pdGen{cfg: c, rng: rand.New(rand.NewPCG(c.seed, 0x10ad))}, nil
	case kindBare:
		return bareGen{}, nil
	case kindAlertmanagerWebhook:
		if c.amToken == "" {
			return nil, fmt.Errorf("%s needs --am-token or ALERTMANAGER_TOKEN", c.kind)
		}
		return amGen{cfg: c}, nil
	case kindAlertmanagerAPI:
		return amGen{cfg: c}, nil
	}
	return nil, fmt.Errorf("unknown --kind %q (want %s, %s, %s, %s, %s or %s)", c.kind, kindSlackCommand, kindSlackClick, kindPagerDuty,
		kindAlertmanagerWebhook, kindAlertmanagerAPI, kindBare)
}

// slackGen signs every request exactly as Slack does, at send time, with a
// body unique per request (trigger id, action_ts) so that dedup claims them
// all as fresh work.
type slackGen struct{ cfg genConfig }

func (g *slackGen) next(i int, now time.Time) request {
	var body []byte
	contentType := slackfake.FormContentType
	if g.cfg.kind == kindSlackCommand {
		body = slackfake.CommandForm(slackfake.Command{
			ChannelID: "C0LOAD", UserID: "ULOAD" + strconv.Itoa(i%50), Text: "status",
			ResponseURL: g.cfg.responseURL, TriggerID: fmt.Sprintf("%s.%d", g.cfg.runID, i),
		})
	} else {
		payload := slackfake.BlockActionsJSON(slackfake.BlockActions{
			UserID: "ULOAD" + strconv.Itoa(i%50), ChannelID: "C0LOAD", MessageTS: "1700000000.000100",
			Actions: []slackfake.Action{{ActionID: chat.ActionApprove, Value: chat.ButtonValue("RB-999999", "loadgen"),
				ActionTS: fmt.Sprintf("%s.%09d", g.cfg.runID, i)}},
		})
		body = slackfake.InteractionForm(payload)
	}
	ts := now.Unix()
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("X-Slack-Signature", slackfake.Sign(g.cfg.slackSecret, ts, body))
	return request{path: pathFor(g.cfg.kind), header: h, body: body}
}

// pdTemplate is a v3 incident.triggered delivery; %s are the event id, the
// incident id twice, and the time.
const pdTemplate = `{"event":{"id":"%s","event_type":"incident.triggered","resource_type":"incident",` +
	`"occurred_at":"%s","agent":{"id":"PLOADGEN","type":"service_reference","summary":"loadgen"},` +
	`"client":{"name":"loadgen"},"data":{"id":"%s","type":"incident",` +
	`"self":"https://api.pagerduty.com/incidents/%s","number":1,"status":"triggered",` +
	`"title":"loadgen: synthetic incident","service":{"id":"PLOADGEN","type":"service_reference","summary":"Load generator"},` +
	`"assignees":[],"escalation_policy":{"id":"PLOADEP","type":"escalation_policy_reference"},"teams":[],` +
	`"priority":null,"urgency":"high","resolve_reason":null}}}`

// pdGen makes each event unique (event and incident ids), and resends an
// earlier delivery byte for byte with probability dupFraction, as PagerDuty
// does when it did not see a 2xx.
type pdGen struct {
	cfg    genConfig
	rng    *rand.Rand
	recent [][]byte // ring of recent unique bodies, the pool duplicates come from
	unique int
}

const recentBodies = 1024

func (g *pdGen) next(_ int, now time.Time) request {
	var body []byte
	if len(g.recent) > 0 && g.rng.Float64() < g.cfg.dupFraction {
		body = g.recent[g.rng.IntN(len(g.recent))]
	} else {
		n := g.unique
		g.unique++
		id := fmt.Sprintf("LG%s%08d", g.cfg.runID, n)
		inc := fmt.Sprintf("Q%s%08d", g.cfg.runID, n)
		body = fmt.Appendf(nil, pdTemplate, id, now.UTC().Format(time.RFC3339Nano), inc, inc)
		if len(g.recent) < recentBodies {
			g.recent = append(g.recent, body)
		} else {
			g.recent[n%recentBodies] = body
		}
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(pagerduty.SignatureHeader, pagerduty.Sign(body, g.cfg.pdSecret))
	return request{path: pathFor(kindPagerDuty), header: h, body: body}
}

// bareGen is an unsigned small POST, for a plain HTTP handler.
type bareGen struct{}

var bareBody = []byte(`{"ping":true}`)

func (bareGen) next(int, time.Time) request {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return request{path: "/", header: h, body: bareBody}
}
