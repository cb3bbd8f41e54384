package e2e_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/backout/backout/internal/app"
	"github.com/backout/backout/internal/chat/slack/slackfake"
)

// world is what surrounds the processes of one test: Slack, a catcher for
// response_url posts, the secrets, and the demo runbook's directory with
// the demo HTTP service its validation checks ask.
type world struct {
	t       *testing.T
	dir     string
	slack   *slackfake.Server
	resp    *responseSink
	secrets secrets
	demoDir string
	demo    *app.DemoService
	clicks  int // numbers action_ts so every click is a new one
	procs   []*bot
	mu      sync.Mutex
}

// secrets are distinctive per test so that a grep of the logs finds any
// that leaked.
type secrets struct {
	BotToken, SigningSecret, APIToken, PDSecret string
}

func (s secrets) all() map[string]string {
	return map[string]string{"SLACK_BOT_TOKEN": s.BotToken, "SLACK_SIGNING_SECRET": s.SigningSecret,
		"BACKOUT_API_TOKEN": s.APIToken, "PAGERDUTY_WEBHOOK_SECRET": s.PDSecret}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir(), slack: slackfake.New(), resp: newResponseSink(),
		secrets: secrets{
			// slackfake accepts only its own bot token; the others are ours.
			BotToken:      slackfake.BotToken,
			SigningSecret: "e2e-slack-signing-" + randHex(12),
			APIToken:      "e2e-api-token-" + randHex(12),
			PDSecret:      "e2e-pd-webhook-" + randHex(12),
		}}
	w.demoDir = filepath.Join(w.dir, "demo")
	if err := os.MkdirAll(w.demoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// bot serve starts no demo service (only the console does), so the
	// world runs the same one and the config points demo_url at it.
	demo, err := app.StartDemoService(w.demoDir)
	if err != nil {
		t.Fatal(err)
	}
	w.demo = demo
	t.Cleanup(func() { _ = demo.Close() })
	t.Cleanup(w.slack.Close)
	t.Cleanup(w.resp.Close)
	// Registered before any process starts, so it runs after they are gone.
	t.Cleanup(w.checkSecretsNotLeaked)
	for id, name := range map[string]string{"UALICE": "alice", "UBOB": "bob", "UCAROL": "carol", "UMALLORY": "mallory"} {
		w.slack.SetUser(id, name)
	}
	return w
}

// env is the process environment: secrets and the demo directory.
func (w *world) env() []string {
	var env []string
	for k, v := range w.secrets.all() {
		env = append(env, k+"="+v)
	}
	return append(env, "BACKOUT_DEMO_DIR="+w.demoDir)
}

// cfg is what varies between the configurations the tests write.
type cfg struct {
	Listen   string
	SlackAPI string
	Store    string // the YAML body of store:, indented by 2
	Runbooks string
	LeaseTTL string // "" keeps the default
	// Engine is the flow-style body of engine: ({lease_ttl: 3s, ...});
	// it replaces LeaseTTL's line when set.
	Engine string
	// SlowRunbook names a runbook for the service slow-api ("" leaves it out).
	SlowRunbook string
	// DemoURL is the world's demo service (set by writeConfig).
	DemoURL string
}

var cfgTemplate = template.Must(template.New("bot.yaml").Parse(`# written by the e2e tests
listen: "{{.Listen}}"
public_url: "http://{{.Listen}}"
store:
{{.Store}}
slack:
  api_url: "{{.SlackAPI}}"
  channel: C0ROLLBACK
pagerduty:
  from_email: backout@example.com
  suspect_window: 2h
# The shipped runbooks need a Prometheus URL and a dba group to lint; the
# demo runbooks never query it (nothing listens on the discard port).
prometheus:
  url: "http://127.0.0.1:9"
runbooks: "{{.Runbooks}}"
groups:
  sre-leads: {members: [UALICE, UBOB, UCAROL]}
  dba: {members: [UDANA]}
approvals:
  default: {min: 1, groups: [sre-leads], forbid_self: true, expires_after: 30m}
{{- if .Engine}}
engine: {{.Engine}}
{{- else if .LeaseTTL}}
engine: {lease_ttl: {{.LeaseTTL}}, output_every: 200ms}
{{- end}}
services:
  - name: demo-api
    owners: [UALICE]
    channel: C0DEMO
    runbook: local-demo
    params: {demo_url: "{{.DemoURL}}/demo-api"}
    approval: default
    recovery_target: 5m
    stable_after: 1h
    environment: demo
    support_channel: C0SUPPORT
    constraints: "never revert demo.access_log (append-only); demo only"
    pagerduty_services: [PDEMOAPI]
  - name: demo-web
    owners: [UCAROL]
    channel: C0WEB
    runbook: local-demo
    params: {demo_url: "{{.DemoURL}}/demo-web"}
    approval: default
    recovery_target: 5m
    stable_after: 1h
{{- if .SlowRunbook}}
  - name: slow-api
    owners: [UALICE]
    channel: C0SLOW
    runbook: {{.SlowRunbook}}
    approval: default
    stable_after: 1h
{{- end}}
`))

// writeConfig writes bot.yaml (named name) into the world's directory.
func (w *world) writeConfig(name string, c cfg) string {
	w.t.Helper()
	if c.SlackAPI == "" {
		c.SlackAPI = w.slack.APIURL()
	}
	if c.Runbooks == "" {
		c.Runbooks = filepath.Join(repoRoot, "runbooks")
	}
	c.DemoURL = w.demo.URL
	if c.Store == "" {
		c.Store = "  kind: bolt\n  path: " + filepath.Join(w.dir, name+".db")
	}
	var b strings.Builder
	if err := cfgTemplate.Execute(&b, c); err != nil {
		w.t.Fatal(err)
	}
	path := filepath.Join(w.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// redisStore is the store: section for a Redis URL and key prefix.
func redisStore(addr, prefix string) string {
	return fmt.Sprintf("  kind: redis\n  url: \"redis://%s/0\"\n  prefix: %q", addr, prefix)
}

// boot writes a bolt config and starts one process on it.
func (w *world) boot(name string, extraArgs ...string) *bot {
	w.t.Helper()
	addr := freeAddr(w.t)
	path := w.writeConfig(name, cfg{Listen: addr})
	return w.start(name, path, addr, extraArgs...)
}

// start runs a process with the world's environment and waits until it is ready.
func (w *world) start(name, cfgPath, addr string, extraArgs ...string) *bot {
	w.t.Helper()
	b := w.launch(name, cfgPath, addr, extraArgs...)
	b.waitReady(20 * time.Second)
	return b
}

// launch runs a process with the world's environment.
func (w *world) launch(name, cfgPath, addr string, extraArgs ...string) *bot {
	w.t.Helper()
	b := launchBot(w.t, name, cfgPath, addr, w.env(), extraArgs...)
	w.mu.Lock()
	w.procs = append(w.procs, b)
	w.mu.Unlock()
	return b
}

// checkSecretsNotLeaked (issue 8.3) greps everything each process wrote,
// and everything sent to Slack and to response_url, for the secret values.
func (w *world) checkSecretsNotLeaked() {
	w.mu.Lock()
	procs := append([]*bot(nil), w.procs...)
	w.mu.Unlock()
	for _, b := range procs {
		out := b.output()
		for name, value := range w.secrets.all() {
			if strings.Contains(string(out), value) {
				w.t.Errorf("%s's log or stderr contains the value of %s", b.name, name)
			}
		}
	}
	var sent []string
	for _, c := range w.slack.Calls() {
		sent = append(sent, string(c.Body), fmt.Sprint(c.Form), fmt.Sprint(c.JSON))
	}
	w.resp.mu.Lock()
	for _, r := range w.resp.replies {
		sent = append(sent, r.Raw)
	}
	w.resp.mu.Unlock()
	all := strings.Join(sent, "\n")
	for name, value := range w.secrets.all() {
		if name != "SLACK_BOT_TOKEN" && strings.Contains(all, value) {
			w.t.Errorf("a message sent to Slack contains the value of %s", name)
		}
	}
}

// nextClickTS is a fresh action_ts: Slack gives every click its own.
func (w *world) nextClickTS() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.clicks++
	return fmt.Sprintf("%d.%06d", time.Now().Unix(), w.clicks)
}

// responseSink stands in for Slack's response_url endpoint.
type responseSink struct {
	srv     *httptest.Server
	mu      sync.Mutex
	replies []reply
}

type reply struct {
	Path         string
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
	Raw          string
}

func newResponseSink() *responseSink {
	s := &responseSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var rep reply
		_ = json.Unmarshal(body, &rep)
		rep.Path, rep.Raw = r.URL.Path, string(body)
		s.mu.Lock()
		s.replies = append(s.replies, rep)
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	return s
}

func (s *responseSink) Close() { s.srv.Close() }

// URL is a response_url for one command; id tells the replies apart.
func (s *responseSink) URL(id string) string { return s.srv.URL + "/commands/" + id }

// For returns the replies posted to the response_url named id.
func (s *responseSink) For(id string) []reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []reply
	for _, r := range s.replies {
		if r.Path == "/commands/"+id {
			out = append(out, r)
		}
	}
	return out
}

// Count is the number of replies so far, to any command.
func (s *responseSink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.replies)
}

// waitReply waits for the first reply to command id.
func (w *world) waitReply(id string) reply {
	w.t.Helper()
	var got reply
	eventually(w.t, 10*time.Second, "a response_url reply to "+id, func() (bool, string) {
		rs := w.resp.For(id)
		if len(rs) == 0 {
			return false, fmt.Sprintf("%d replies to other commands", w.resp.Count())
		}
		got = rs[0]
		return true, ""
	})
	return got
}

// storeDownAnswered reports whether the response_url named id was told,
// privately, that the state store is unavailable (the answer to a command
// whose claim the store could not take).
func (w *world) storeDownAnswered(id string) (bool, string) {
	var got []string
	for _, r := range w.resp.For(id) {
		if r.ResponseType == "ephemeral" && strings.Contains(r.Text, "State store unavailable: nothing was done") {
			return true, r.Text
		}
		got = append(got, r.ResponseType+" "+r.Text)
	}
	return false, fmt.Sprint(got)
}
