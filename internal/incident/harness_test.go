package incident_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/present"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/store/bolt"
	"github.com/backout/backout/internal/store/redis"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	if spec := os.Getenv(rssChildEnv); spec != "" {
		os.Exit(rssChild(spec))
	}
	code := m.Run()
	closeScaleStores()
	os.Exit(code)
}

// T0 is when every test starts, on the fake clock.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// waitLimit bounds every wait: a broken engine fails the test, never hangs it.
const waitLimit = 15 * time.Second

// backend opens one store kind for a test.
type backend struct {
	name string
	open func(t testing.TB, now func() time.Time) store.Store
	// freeLease makes a lease free for another holder, as if its holder had
	// died and its time to live passed.
	freeLease func(t testing.TB, s store.Store, clk *incidenttest.Clock, name string, ttl time.Duration)
}

var backends = []backend{
	{name: "bolt", open: openBolt, freeLease: func(t testing.TB, _ store.Store, clk *incidenttest.Clock, _ string, ttl time.Duration) {
		// bolt reads lease expiry from the injected clock; another holder
		// may take it once engine.kill_grace (5s by default) has passed too.
		clk.Advance(ttl + 5*time.Second + time.Second)
	}},
	{name: "redis", open: openRedis, freeLease: func(t testing.TB, s store.Store, _ *incidenttest.Clock, name string, _ time.Duration) {
		// Redis expires leases by its server clock, which the fake clock
		// cannot move; releasing in the holder's name has the same effect
		// on the next holder (free lease, higher token).
		l, err := s.GetLease(context.Background(), name)
		if err != nil {
			t.Fatalf("get lease %s: %v", name, err)
		}
		if err := s.ReleaseLease(context.Background(), l); err != nil && !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("release lease %s: %v", name, err)
		}
	}},
}

// forEachBackend runs fn as a subtest per store kind.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

func openBolt(t testing.TB, now func() time.Time) store.Store {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func redisAddr() string {
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// openRedis opens the shared server under a fresh prefix and deletes the
// prefix's keys afterwards. Without a server it skips, except in CI.
func openRedis(t testing.TB, now func() time.Time) store.Store {
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "backout-incident-test-" + hex.EncodeToString(b[:]) + ":"
	url := "redis://" + redisAddr()
	s, err := redis.Open(context.Background(), redis.Options{URL: url, Password: os.Getenv("REDIS_PASSWORD"), Prefix: prefix, Now: now})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis at %s: %v", redisAddr(), err)
		}
		t.Skipf("redis at %s unreachable (set CI=true to fail instead): %v", redisAddr(), err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		c := goredis.NewClient(&goredis.Options{Addr: redisAddr(), Password: os.Getenv("REDIS_PASSWORD")})
		defer c.Close()
		ctx := context.Background()
		var keys []string
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scan %s*: %v", prefix, err)
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("delete %s*: %v", prefix, err)
			}
		}
	})
	return s
}

// setup varies the world a test runs in.
type setup struct {
	runbook       string // YAML of runbook "steps"; defaultRunbook when empty
	parallelism   int
	leaseTTL      string
	renewDeadline string // engine.renew_deadline; the default when empty
	autoResume    string // engine.auto_resume; the default when empty
	outputEvery   string // engine.output_every; the default when empty
	shutdownGrace string // engine.shutdown_grace; the default (10m) when empty
	dir           string // where bot.yaml "is"; runbooks resolve against it
	replica       string
	env           func(string) (string, bool)
	executors     []exec.Executor // besides the fake
	services      string          // more services: YAML list items appended to the catalog
	checkers      []check.Checker // readiness and validation checks runbooks may use
}

const defaultRunbook = `
name: steps
steps:
  - {id: apply, uses: fake}
`

const configYAML = `
slack: {channel: C-OPS}
runbooks: runbooks
engine: {parallelism: %d, lease_ttl: %s%s}
groups:
  sre-leads: {members: [alice, bob, carol, req]}
  dba: {members: [dan, req]}
approvals:
  default: {min: 2, groups: [sre-leads], forbid_self: true, expires_after: 30m}
  with-dba: {min: 2, groups: [sre-leads], roles: [dba], forbid_self: true, expires_after: 30m}
  dba-only: {min: 1, groups: [dba], forbid_self: true, expires_after: 30m}
releases:
  shop: [frontend, backend]
services:
  - {name: checkout, owners: [owen], runbook: steps, cooldown: 30m}
  - {name: payments, owners: [owen], runbook: steps, approval: with-dba}
  - {name: backend, owners: [owen], runbook: steps}
  - {name: vault, owners: [vera], runbook: steps, approval: dba-only}
  - name: frontend
    owners: [owen]
    runbook: steps
    depends_on: [backend]
    compatible_with: {backend: ">=1.5.0"}
`

// env is one Service over one store, with fakes all round.
type env struct {
	t      testing.TB
	ctx    context.Context
	b      backend
	st     *spyStore
	svc    *incident.Service
	clock  *incidenttest.Clock
	poster *incidenttest.Poster
	pager  *incidenttest.Pager
	ex     *incidenttest.Executor
	cfg    *config.Config
}

func newEnv(t *testing.T, b backend, su setup) *env {
	t.Helper()
	clk := incidenttest.NewClock(T0)
	return newEnvOn(t, b, b.open(t, clk.Now), clk, su)
}

// newEnvOn builds a Service over an already open store.
func newEnvOn(t testing.TB, b backend, st store.Store, clk *incidenttest.Clock, su setup) *env {
	t.Helper()
	if su.dir == "" {
		su.dir = t.TempDir()
	}
	e := &env{t: t, ctx: context.Background(), b: b, st: &spyStore{Store: st}, clock: clk,
		poster: &incidenttest.Poster{}, pager: &incidenttest.Pager{}, ex: incidenttest.NewExecutor("fake")}
	var err error
	e.svc, e.cfg, err = build(su, e.st, clk, e.poster, e.pager, e.ex)
	if err != nil {
		t.Fatal(err)
	}
	// A run still going when the test ends would write to a closed store.
	t.Cleanup(func() { waitEngine(t, e.svc) })
	return e
}

// build wires a Service the way every test (and the crash child) needs it.
func build(su setup, st store.Store, clk incident.Clock, poster chat.Poster, pager incident.Pager, ex *incidenttest.Executor) (*incident.Service, *config.Config, error) {
	if su.runbook == "" {
		su.runbook = defaultRunbook
	}
	if su.parallelism == 0 {
		su.parallelism = 4
	}
	if su.leaseTTL == "" {
		su.leaseTTL = "15s"
	}
	if su.replica == "" {
		su.replica = "replica-test"
	}
	var engineExtra string
	if su.autoResume != "" {
		engineExtra += ", auto_resume: " + su.autoResume
	}
	if su.outputEvery != "" {
		engineExtra += ", output_every: " + su.outputEvery
	}
	if su.renewDeadline != "" {
		engineExtra += ", renew_deadline: " + su.renewDeadline
	}
	if su.shutdownGrace != "" {
		engineExtra += ", shutdown_grace: " + su.shutdownGrace
	}
	cfg, err := config.Parse(filepath.Join(su.dir, "bot.yaml"), append(fmt.Appendf(nil, configYAML, su.parallelism, su.leaseTTL, engineExtra), su.services...), func(string) string { return "" })
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	rb, err := runbook.Parse(filepath.Join(su.dir, "runbooks", "steps.yaml"), []byte(su.runbook))
	if err != nil {
		return nil, nil, fmt.Errorf("runbook: %w", err)
	}
	svc := incident.New(incident.Deps{
		Config: cfg, Runbooks: runbook.Set{rb.Name: rb}, Store: st,
		Executors: exec.NewRegistry(append([]exec.Executor{ex}, su.executors...)...),
		Notifier:  present.NewNotifier(poster), Pager: pager, Clock: clk, ReplicaID: su.replica, Env: su.env,
		Checkers: check.NewRegistry(su.checkers...),
	})
	return svc, cfg, nil
}

// spyStore counts step-log writes, and those refused for a stale fencing
// token.
type spyStore struct {
	store.Store
	stale  atomic.Int64
	writes atomic.Int64
	// failUpdates makes UpdateRollback fail as a store outage would.
	failUpdates atomic.Bool
	// failAudit makes AppendAudit fail, as a full disk or a lost audit
	// backend would.
	failAudit atomic.Bool
	// renewFault, when set, replaces every lease renewal: a store that
	// hangs, or one that cannot be reached.
	renewFault atomic.Pointer[renewFault]
	// beforeAudit, when set, runs before each audit append: a test holds
	// a writer there to open a race's window.
	beforeAudit atomic.Pointer[func(store.AuditEvent)]
}

// renewFault is what a RenewLease does instead of renewing.
type renewFault func(ctx context.Context) error

func (s *spyStore) RenewLease(ctx context.Context, l store.Lease, ttl time.Duration) (store.Lease, error) {
	if f := s.renewFault.Load(); f != nil {
		return store.Lease{}, (*f)(ctx)
	}
	return s.Store.RenewLease(ctx, l, ttl)
}

func (s *spyStore) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	if f := s.beforeAudit.Load(); f != nil {
		(*f)(e)
	}
	if s.failAudit.Load() {
		return store.AuditEvent{}, fmt.Errorf("append audit: %w", store.ErrUnavailable)
	}
	return s.Store.AppendAudit(ctx, e)
}

func (s *spyStore) UpdateRollback(ctx context.Context, r *rollback.Record) error {
	if s.failUpdates.Load() {
		return fmt.Errorf("update %s: %w", r.ID, store.ErrUnavailable)
	}
	return s.Store.UpdateRollback(ctx, r)
}

func (s *spyStore) AppendSteps(ctx context.Context, id string, token int64, evs ...rollback.StepEvent) ([]rollback.StepEvent, error) {
	out, err := s.Store.AppendSteps(ctx, id, token, evs...)
	if errors.Is(err, store.ErrStaleToken) {
		s.stale.Add(1)
	}
	if err == nil {
		s.writes.Add(1)
	}
	return out, err
}

func within(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// serve runs e's Service.Run until cancel; stopped carries what it returns
// (see waitRunReturned).
func (e *env) serve() (cancel context.CancelFunc, stopped <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan error, 1)
	go func() { out <- e.svc.Run(ctx) }()
	return cancel, out
}

// waitRunReturned waits, within waitLimit, for Service.Run (whose error
// stopped carries) to return nil after its context ended.
func waitRunReturned(t testing.TB, stopped <-chan error) {
	t.Helper()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after its context ended")
	}
}

// waitEngine waits for every run of svc to stop, within waitLimit.
func waitEngine(t testing.TB, svc *incident.Service) {
	t.Helper()
	done := make(chan struct{})
	go func() { svc.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("engine runs did not stop within %s", waitLimit)
	}
}

func artifact(service, version string) string {
	sum := sha256.Sum256([]byte(service + version))
	return "registry.example/" + service + "@sha256:" + hex.EncodeToString(sum[:])
}

// deploy records versions of a service, oldest first, each an hour and a
// half after the previous and the last ten minutes ago, so every earlier
// one is known-good by age.
func (e *env) deploy(service string, versions ...string) []*rollback.Deploy {
	e.t.Helper()
	var out []*rollback.Deploy
	for i, v := range versions {
		at := e.clock.Now().Add(-10*time.Minute - time.Duration(len(versions)-1-i)*90*time.Minute)
		d, failure, err := e.svc.RecordDeploy(e.ctx, incident.Actor{User: "ci", From: "api"},
			incident.DeployInput{Service: service, Version: v, Artifact: artifact(service, v), DeployedAt: at})
		if err != nil || failure != nil {
			e.t.Fatalf("deploy %s %s: %q %v", service, v, failure, err)
		}
		out = append(out, d)
	}
	return out
}

func person(user string) incident.Actor { return incident.Actor{User: user, From: "test"} }

// propose asks for a rollback as req and expects a proposal.
func (e *env) propose(req incident.ProposeRequest) *rollback.Record {
	e.t.Helper()
	r, failure, err := e.svc.Propose(e.ctx, person("req"), req)
	if err != nil || failure != nil || r == nil {
		e.t.Fatalf("propose %+v: %q %v", req, failure, err)
	}
	return r
}

// vote casts a vote and returns the private answer.
func (e *env) vote(user, id string, approve bool) string {
	e.t.Helper()
	failure, err := e.svc.Vote(e.ctx, person(user), incident.VoteRequest{ID: id, Approve: approve, Reason: "test"})
	if err != nil {
		e.t.Fatalf("vote by %s: %v", user, err)
	}
	return failure.String()
}

// approve votes yes as each user, expecting every vote to be taken.
func (e *env) approve(id string, users ...string) {
	e.t.Helper()
	for _, u := range users {
		if failure := e.vote(u, id, true); failure != "" {
			e.t.Fatalf("approve by %s refused: %s", u, failure)
		}
	}
}

func (e *env) get(id string) *rollback.Record {
	e.t.Helper()
	r, err := e.st.GetRollback(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// finish waits for the engine and expects the rollback to end in state.
func (e *env) finish(id string, state rollback.State) *rollback.Record {
	e.t.Helper()
	waitEngine(e.t, e.svc)
	r := e.get(id)
	if r.State != state {
		e.t.Fatalf("%s ended %s (%s), want %s", id, r.State, r.Outcome, state)
	}
	return r
}

// stepKinds lists the recorded event kinds of one step, in order.
func (e *env) stepKinds(id, service, step string) []string {
	e.t.Helper()
	events, err := e.st.ListSteps(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range events {
		if ev.Service == service && ev.StepID == step {
			out = append(out, ev.Kind)
		}
	}
	return out
}

// audited returns the audit events with action.
func (e *env) audited(action string) []store.AuditEvent {
	e.t.Helper()
	events, err := e.st.ListAudit(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []store.AuditEvent
	for _, a := range events {
		if a.Action == action {
			out = append(out, a)
		}
	}
	return out
}

// wantPosted fails unless some post contains substr.
func (e *env) wantPosted(substr string) {
	e.t.Helper()
	if len(e.poster.Find(substr)) == 0 {
		e.t.Fatalf("no post contains %q; posts:\n%s", substr, strings.Join(e.poster.Texts(), "\n---\n"))
	}
}

// startedOrder lists the steps the fake executor started, in order.
func startedOrder(log []string) []string {
	var out []string
	for _, l := range log {
		if s, ok := strings.CutPrefix(l, "start "); ok {
			out = append(out, s)
		}
	}
	return out
}

// index is the position of entry in log, or -1.
func index(log []string, entry string) int { return slices.Index(log, entry) }
