package app

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/chat"
	slackchat "github.com/backout/backout/internal/chat/slack"
	"github.com/backout/backout/internal/chat/slack/slackfake"
	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/server"
	"github.com/backout/backout/internal/store"
	boltstore "github.com/backout/backout/internal/store/bolt"
	redisstore "github.com/backout/backout/internal/store/redis"
	"github.com/backout/backout/internal/yamlx"
)

const (
	rigSigningSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	rigAPIToken      = "matrix-api-token-0123456789abcdef"
	rigWebhookSecret = "matrix-webhook-secret-0123456789"
	rigChannel       = "C0OPS"
)

const rigConfig = `listen: "127.0.0.1:0"
slack: {channel: C0OPS, api_url: %q}
runbooks: %q
groups:
  sre-strict: {members: [U0APS]}
  sre-lax: {members: [U0APL]}
approvals:
  strict: {min: 1, groups: [sre-strict], forbid_self: true, expires_after: 1h}
  lax: {min: 1, groups: [sre-lax], forbid_self: true, expires_after: 1h}
releases:
  both: [strict, lax]
services:
  - {name: strict, owners: [U0OWN], channel: C0OPS, runbook: matrix, approval: strict, stable_after: 1h, cooldown: 1h,
     support_channel: C0SUPPORT, support_window: 1h}
  - {name: lax, owners: [U0OWL], channel: C0OPS, runbook: matrix, approval: lax, stable_after: 1h, cooldown: 1h}
`

// The runbook holds its one step until the test ends, so a rollback stays
// running for pause, resume and abort; its readiness check fails when the
// rig says so, for overrides.
const rigRunbook = `name: matrix
steps:
  - {id: hold, uses: latch, timeout: 5m}
readiness:
  - {name: flag, uses: flag, blocking: true}
`

// flagCheck is a readiness check that fails while failing is set.
type flagCheck struct{ failing *atomic.Bool }

func (flagCheck) Name() string              { return "flag" }
func (flagCheck) Validate(yamlx.Node) error { return nil }
func (f flagCheck) Measure(context.Context, check.Request) (check.Measurement, error) {
	if f.failing.Load() {
		return check.Measurement{Outcome: check.Failed, Message: "flag is down"}, nil
	}
	return check.Measurement{Outcome: check.Successful, Message: "flag is up"}, nil
}

// requireRedis fails under CI=true, and skips elsewhere, when no Redis answers.
func requireRedis(t *testing.T) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: redisAddr()})
	defer c.Close()
	if err := c.Ping(t.Context()).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis at %s: %v", redisAddr(), err)
		}
		t.Skipf("redis at %s: %v", redisAddr(), err)
	}
}

func redisAddr() string {
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

func openRigStore(t *testing.T, kind string, now func() time.Time) store.Store {
	t.Helper()
	if kind == "bolt" {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "backout.db"), boltstore.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "authz-matrix-" + hex.EncodeToString(b[:]) + ":"
	s, err := redisstore.Open(t.Context(), redisstore.Options{URL: "redis://" + redisAddr(), Prefix: prefix, Now: now})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("redis: %v", err)
	}
	t.Cleanup(func() {
		c := goredis.NewClient(&goredis.Options{Addr: redisAddr()})
		keys, _ := c.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
		_ = c.Close()
		_ = s.Close()
	})
	return s
}

// rig is one Backout, served over HTTP as `bot serve` mounts it, with
// slackfake as its Slack and a sink for response_url replies.
type rig struct {
	t       *testing.T
	fake    *slackfake.Server
	srv     *httptest.Server
	st      store.Store
	app     *App
	ex      *incidenttest.Executor
	latch   *incidenttest.Latch
	failing *atomic.Bool
	replies *replySink
	clicks  atomic.Int64
}

func newRig(t *testing.T, kind string) *rig { return newRigWith(t, kind, rigTuning{}) }

// rigTuning changes the rig for one test.
type rigTuning struct {
	config  string              // YAML appended to rigConfig (e.g. an engine: line)
	runbook string              // the services' runbook instead of rigRunbook
	clock   *incidenttest.Clock // the lifecycle's and the store's clock; nil: the system's
}

func newRigWith(t *testing.T, kind string, tune rigTuning) *rig {
	t.Helper()
	return newRigOn(t, openRigStore(t, kind, tune.now().Now), tune)
}

// now is the clock the rig's lifecycle and store read.
func (tune rigTuning) now() incident.Clock {
	if tune.clock != nil {
		return tune.clock
	}
	return incident.SystemClock{}
}

// newRigOn serves one Backout on st (which must also report LastID, as
// the stores do, for the store guard).
func newRigOn(t *testing.T, st store.Store, tune rigTuning) *rig {
	t.Helper()
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	rbDir := filepath.Join(dir, "runbooks")
	if err := os.MkdirAll(rbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rbDir, "matrix.yaml"), []byte(cmp.Or(tune.runbook, rigRunbook)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "bot.yaml")
	if err := os.WriteFile(cfgPath, append(fmt.Appendf(nil, rigConfig, fake.APIURL(), rbDir), tune.config...), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLACK_BOT_TOKEN": slackfake.BotToken, "SLACK_SIGNING_SECRET": rigSigningSecret, "BACKOUT_API_TOKEN": rigAPIToken,
		"PAGERDUTY_WEBHOOK_SECRET": rigWebhookSecret}
	cfg, err := config.Load(cfgPath, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	set, err := runbook.LoadDir(cfg.RunbooksDir())
	if err != nil {
		t.Fatal(err)
	}
	latch := incidenttest.NewLatch()
	t.Cleanup(latch.ReleaseAll)
	ex := incidenttest.NewExecutor("latch").On("hold", latch.Block)
	failing := &atomic.Bool{}
	l := &Loaded{Config: cfg, Runbooks: set, Executors: exec.NewRegistry(ex), Checkers: check.NewRegistry(flagCheck{failing: failing})}
	if err := l.Lint(); err != nil {
		t.Fatal(err)
	}

	var clock incident.Clock = tune.now()
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { latch.ReleaseAll(); cancel(); wg.Wait() })

	api := slackchat.NewClient(slackfake.BotToken, fake.APIURL(), fake.Client())
	poster := slackchat.NewPoster(api, slackchat.PosterOptions{Logger: log, UpdateInterval: 10 * time.Millisecond})
	guard, err := startGuard(ctx, cfg, st, poster, cancel, log)
	if err != nil {
		t.Fatal(err)
	}
	p := peers{poster: poster, directory: slackchat.NewDirectory(api, slackchat.DirectoryOptions{}), api: api, slackPost: poster, pager: incident.NoopPager{}}
	a := Build(l, guardedIDs{Store: st, guard: guard}, Options{Logger: log, Poster: p.poster, Directory: p.directory, Pager: p.pager, Clock: clock})
	routes, _, adapter, err := a.routes(st, p, guard, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(guardHTTP(server.New(routes, a.Metrics, log), guard))
	t.Cleanup(srv.Close)
	for _, run := range []func(context.Context) error{a.Svc.Run, adapter.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	r := &rig{t: t, fake: fake, srv: srv, st: st, app: a, ex: ex, latch: latch, failing: failing, replies: newReplySink(t)}
	for _, svc := range []string{"strict", "lax"} {
		r.deploy(svc, "1.0.0", 3*time.Hour)
		r.deploy(svc, "1.1.0", time.Minute)
	}
	return r
}

// api calls the HTTP API; token "" sends none.
func (r *rig) api(method, path, token string, body any) (int, string) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.srv.URL+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// deploy records a deploy through POST /api/v1/deploys, as CI does; the
// API is a service credential: refused without the token, taken with it.
func (r *rig) deploy(service, version string, ago time.Duration) {
	r.t.Helper()
	in := map[string]any{"service": service, "version": version, "deployed_by": "ci",
		"artifact":    "registry.example.com/" + service + "@sha256:" + strings.Repeat(version[2:3], 64),
		"deployed_at": time.Now().Add(-ago).UTC().Format(time.RFC3339)}
	if code, body := r.api(http.MethodPost, "/api/v1/deploys", "", in); code != http.StatusUnauthorized {
		r.t.Fatalf("POST /api/v1/deploys without the token: %d %s, want 401", code, body)
	}
	if code, body := r.api(http.MethodPost, "/api/v1/deploys", rigAPIToken, in); code != http.StatusCreated {
		r.t.Fatalf("POST /api/v1/deploys %s %s: %d %s, want 201", service, version, code, body)
	}
}

// gateOpen asks GET /api/v1/services/{name}/gate with the token (and
// checks it is refused without).
func (r *rig) gateOpen(service string) bool {
	r.t.Helper()
	if code, _ := r.api(http.MethodGet, "/api/v1/services/"+service+"/gate", "", nil); code != http.StatusUnauthorized {
		r.t.Fatalf("gate without the token: %d, want 401", code)
	}
	code, body := r.api(http.MethodGet, "/api/v1/services/"+service+"/gate", rigAPIToken, nil)
	switch code {
	case http.StatusOK:
		return true
	case http.StatusLocked:
		return false
	}
	r.t.Fatalf("gate %s: %d %s", service, code, body)
	return false
}

// reply is what a response_url received.
type reply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

// replySink is the response_url peer: each command gets its own URL.
type replySink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]reply
}

func newReplySink(t *testing.T) *replySink {
	s := &replySink{got: map[string][]reply{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var rep reply
		_ = json.NewDecoder(req.Body).Decode(&rep)
		s.mu.Lock()
		s.got[req.URL.Path] = append(s.got[req.URL.Path], rep)
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *replySink) first(path string) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs := s.got[path]; len(rs) > 0 {
		return rs[0], true
	}
	return reply{}, false
}

var commandSeq atomic.Int64

// command sends /rollback text as user to the commands endpoint, signed,
// and returns the reply posted to its response_url.
func (r *rig) command(user, text string) reply {
	r.t.Helper()
	path := fmt.Sprintf("/r/%d", commandSeq.Add(1))
	body := slackfake.CommandForm(slackfake.Command{UserID: user, ChannelID: rigChannel, Text: text, ResponseURL: r.replies.srv.URL + path})
	r.sendSlack("/slack/commands", body)
	var got reply
	eventually(r.t, 15*time.Second, "a reply to /rollback "+text, func() (bool, string) {
		var ok bool
		got, ok = r.replies.first(path)
		return ok, "none yet"
	})
	return got
}

func (r *rig) sendSlack(path string, body []byte) {
	r.t.Helper()
	req, err := slackfake.SignedRequest(context.Background(), r.srv.URL+path, rigSigningSecret, time.Now(), slackfake.FormContentType, body)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
}

// click presses the button verb on rollback id's message as user, reading
// the button from the message Slack holds (it must be shown). For reject
// and abort it then submits the reason modal Backout opened.
func (r *rig) click(user, id, verb string) {
	r.t.Helper()
	rec := r.rollback(id)
	var value, actionID string
	eventually(r.t, 15*time.Second, "a "+verb+" button on "+id, func() (bool, string) {
		m, ok := r.fake.Message(rec.Channel, rec.MessageTS)
		if !ok {
			return false, "no message " + rec.Channel + "/" + rec.MessageTS
		}
		var blocks []any
		_ = json.Unmarshal(m.Blocks, &blocks)
		for aid, v := range buttonsIn(blocks) {
			if strings.SplitN(aid, "#", 2)[0] == verb {
				actionID, value = aid, v
				return true, ""
			}
		}
		return false, fmt.Sprintf("buttons %v", buttonsIn(blocks))
	})
	views := len(r.fake.Views())
	payload := slackfake.BlockActionsJSON(slackfake.BlockActions{UserID: user, ChannelID: rec.Channel, MessageTS: rec.MessageTS,
		TriggerID: fmt.Sprintf("trigger-%d", r.clicks.Add(1)),
		Actions:   []slackfake.Action{{ActionID: actionID, Value: value, ActionTS: fmt.Sprintf("1700000100.%06d", r.clicks.Add(1))}}})
	r.sendSlack("/slack/interactions", slackfake.InteractionForm(payload))
	if !chat.NeedsReason(verb) {
		return
	}
	var viewID string
	eventually(r.t, 15*time.Second, "the reason modal for "+verb, func() (bool, string) {
		vs := r.fake.Views()
		if len(vs) > views {
			viewID = vs[len(vs)-1]
			return true, ""
		}
		return false, "no views.open"
	})
	sub, err := r.fake.ViewSubmission(viewID, user, map[string]string{"reason": "matrix: " + verb + " by " + user})
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendSlack("/slack/interactions", slackfake.InteractionForm(sub))
}

func buttonsIn(blocks []any) map[string]string {
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

// ephemerals lists the texts privately posted to user (chat.postEphemeral).
func (r *rig) ephemerals(user string) []string {
	var out []string
	for _, c := range r.fake.Calls("chat.postEphemeral") {
		if c.Param("user") == user {
			out = append(out, c.Param("text")+"\n"+c.Param("blocks"))
		}
	}
	return out
}

// public lists the texts of every message posted or updated in channels.
func (r *rig) public() []string {
	var out []string
	for _, c := range r.fake.Calls("chat.postMessage", "chat.update") {
		out = append(out, c.Param("text")+"\n"+c.Param("blocks"))
	}
	return out
}

func (r *rig) rollback(id string) *rollback.Record {
	r.t.Helper()
	rec, err := r.st.GetRollback(context.Background(), id)
	if err != nil {
		r.t.Fatalf("rollback %s: %v", id, err)
	}
	return rec
}

// rollbacksBy lists the rollbacks user requested.
func (r *rig) rollbacksBy(user string) []*rollback.Record {
	r.t.Helper()
	rs, err := r.st.ListRollbacks(context.Background(), store.RollbackQuery{})
	if err != nil {
		r.t.Fatal(err)
	}
	var out []*rollback.Record
	for _, x := range rs {
		if x.Requester == user {
			out = append(out, x)
		}
	}
	return out
}

// refusedAudits lists the authz.refused events of user.
func (r *rig) refusedAudits(user string) []store.AuditEvent {
	r.t.Helper()
	evs, err := r.st.ListAudit(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	var out []store.AuditEvent
	for _, e := range evs {
		if e.Action == "authz.refused" && e.Actor == user {
			out = append(out, e)
		}
	}
	return out
}

// propose has U0REQ propose a rollback of subject and returns its id.
func (r *rig) propose(services string) string {
	r.t.Helper()
	rep := r.command(userRequester, "propose "+services+" matrix: bad deploy")
	if !strings.Contains(rep.Text, "Proposed RB-") {
		r.t.Fatalf("setup: propose %s: %q", services, rep.Text)
	}
	rs := r.rollbacksBy(userRequester)
	if len(rs) != 1 {
		r.t.Fatalf("setup: %d rollbacks by %s, want 1", len(rs), userRequester)
	}
	return rs[0].ID
}

// running proposes subject and has it approved, until its step runs: by
// U0APS, and for a bundle by U0APL too, since each service's own policy
// must be met.
func (r *rig) running(services string) string {
	r.t.Helper()
	id := r.propose(services)
	approvers := []string{userApprover}
	if strings.Contains(services, ",") {
		approvers = append(approvers, userOtherApprover)
	}
	for _, a := range approvers {
		if rep := r.command(a, "approve "+id); strings.Contains(rep.Text, "may not") {
			r.t.Fatalf("setup: approve %s as %s: %q", id, a, rep.Text)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := r.ex.WaitStarted(ctx, "hold"); err != nil {
		r.t.Fatalf("setup: %s never ran its step: %v (state %s)", id, err, r.rollback(id).State)
	}
	eventually(r.t, 15*time.Second, id+" running", func() (bool, string) {
		s := r.rollback(id).State
		return s == rollback.StateRunning, string(s)
	})
	return id
}

func eventually(t testing.TB, bound time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v still waiting for %s; last saw: %s", bound, what, saw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
