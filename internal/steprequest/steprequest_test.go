package steprequest_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/steprequest"
)

const src = `name: demo
drill: {dry_run: true}
steps:
  - id: notify
    uses: shell
    with:
      args: [notify, "{{ .Service.Name }}", "{{ .Rollback.Reason }}", "{{ .Rollback.Trigger }}", "{{ .Params.namespace }}"]
    timeout: 90s
    compensate:
      uses: shell
      with: {args: [undo, "{{ .Target.Version }}"]}
  - id: settle
    uses: wait
    with: {url: "https://{{ .Service.Name }}/healthz"}
`

func load(t *testing.T) *runbook.Runbook {
	t.Helper()
	rb, err := runbook.Parse("/etc/backout/runbooks/demo.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return rb
}

func builder() steprequest.Builder {
	cfg := &config.Config{
		File:     "/etc/backout/bot.yaml",
		Runbooks: "runbooks",
		Engine:   config.EngineConfig{OutputLimit: 4096, KillGrace: config.Duration(3 * time.Second)},
		Secrets:  config.Secrets{SlackBotToken: "xoxb-secret", APIToken: "api-secret"},
	}
	return steprequest.New(cfg, env)
}

func env(name string) (string, bool) { return "from-env-" + name, true }

var tctx = runbook.Context{
	Service:  runbook.ServiceInfo{Name: "checkout", Environment: "production"},
	Target:   runbook.Release{Version: "1.4.0"},
	Params:   map[string]string{"namespace": "shop"},
	Rollback: runbook.RollbackInfo{ID: "RB-7", Requester: "alice", Reason: "errors up", Trigger: "pagerduty"},
}

// rendered is the `with:` of a request as plain data.
func rendered(t *testing.T, req exec.Request) any {
	t.Helper()
	var v any
	if err := req.With.Node.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBuildPerPurpose: run, preview and probe get the same request for
// the same step, rendered against the same context, and differ only in
// the inputs that say so.
func TestBuildPerPurpose(t *testing.T) {
	rb := load(t)
	notify, settle := rb.Steps[0], rb.Steps[1]
	progress := func(string) {}
	args := []any{"notify", "checkout", "errors up", "pagerduty", "shop"}
	tests := []struct {
		name  string
		in    steprequest.Input
		want  exec.Request // With, Env and Progress are compared apart
		with  any
		progr bool
	}{
		{"run", steprequest.Input{Purpose: steprequest.Run, StepID: "notify", Action: notify.Action(), Context: tctx, Attempt: 2, Progress: progress},
			exec.Request{Attempt: 2, Timeout: 90 * time.Second}, map[string]any{"args": args}, true},
		{"run dry", steprequest.Input{Purpose: steprequest.Run, StepID: "notify", Action: notify.Action(), Context: tctx, DryRun: true, Attempt: 1},
			exec.Request{Attempt: 1, DryRun: true, Timeout: 90 * time.Second}, map[string]any{"args": args}, false},
		{"preview", steprequest.Input{Purpose: steprequest.Preview, StepID: "notify", Action: notify.Action(), Context: tctx},
			exec.Request{Timeout: 90 * time.Second}, map[string]any{"args": args}, false},
		{"probe", steprequest.Input{Purpose: steprequest.Probe, StepID: "notify", Action: notify.Action(), Context: tctx, DryRun: true},
			exec.Request{DryRun: true, Timeout: 90 * time.Second}, map[string]any{"args": args}, false},
		{"wait step: its default from load", steprequest.Input{Purpose: steprequest.Preview, StepID: "settle", Action: settle.Action(), Context: tctx},
			exec.Request{Timeout: runbook.DefaultWaitTimeout}, map[string]any{"url": "https://checkout/healthz"}, false},
		{"compensation", steprequest.Input{Purpose: steprequest.Run, StepID: "notify.compensate", Action: *notify.Compensate, Context: tctx, Attempt: 1},
			exec.Request{Attempt: 1, Timeout: runbook.DefaultStepTimeout}, map[string]any{"args": []any{"undo", "1.4.0"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := builder().Build(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			// What every purpose resolves the same way.
			want := tt.want
			want.RollbackID, want.Service, want.StepID = "RB-7", "checkout", tt.in.StepID
			want.Redact = []string{"xoxb-secret", "api-secret"}
			want.OutputLimit, want.KillGrace = 4096, 3*time.Second
			want.BaseDir = "/etc/backout/runbooks"
			want.Params = map[string]string{"namespace": "shop"}
			if got := rendered(t, req); !reflect.DeepEqual(got, tt.with) {
				t.Errorf("with = %#v, want %#v", got, tt.with)
			}
			if v, _ := req.Env("X"); v != "from-env-X" {
				t.Errorf("env not passed: %q", v)
			}
			if (req.Progress != nil) != tt.progr {
				t.Errorf("progress set = %v, want %v", req.Progress != nil, tt.progr)
			}
			req.With, req.Env, req.Progress = want.With, nil, nil
			if !reflect.DeepEqual(req, want) {
				t.Errorf("request\n%+v\nwant\n%+v", req, want)
			}
		})
	}
}

func TestBuildRefuses(t *testing.T) {
	rb := load(t)
	act := rb.Steps[0].Action()
	unloaded := runbook.Step{ID: "x", Uses: "shell"}.Action() // not through Parse: no timeout
	bad := act
	bad.With.Node = &yaml.Node{Kind: yaml.ScalarNode, Value: "{{ .Params.nope }}", Line: 3, Column: 9}
	tests := []struct {
		name string
		in   steprequest.Input
		is   error
		msg  string
	}{
		{"no purpose", steprequest.Input{StepID: "notify", Action: act, Context: tctx}, steprequest.ErrPurpose, "Purpose(0)"},
		{"run without attempt", steprequest.Input{Purpose: steprequest.Run, StepID: "notify", Action: act, Context: tctx}, steprequest.ErrPurpose, "counts from 1"},
		{"preview with attempt", steprequest.Input{Purpose: steprequest.Preview, StepID: "notify", Action: act, Context: tctx, Attempt: 1}, steprequest.ErrPurpose, "a preview runs nothing"},
		{"probe with progress", steprequest.Input{Purpose: steprequest.Probe, StepID: "notify", Action: act, Context: tctx, Progress: func(string) {}}, steprequest.ErrPurpose, "a probe runs nothing"},
		{"no timeout", steprequest.Input{Purpose: steprequest.Run, StepID: "x", Action: unloaded, Context: tctx, Attempt: 1}, steprequest.ErrTimeout, "runbook.Parse"},
		{"render", steprequest.Input{Purpose: steprequest.Preview, StepID: "notify", Action: bad, Context: tctx}, nil, `demo.yaml:3:9: template "{{ .Params.nope }}"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := builder().Build(tt.in)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.is, tt.msg)
			}
		})
	}
}

func TestDryRun(t *testing.T) {
	rb := load(t) // drill: {dry_run: true}
	plain := &runbook.Runbook{}
	tests := []struct {
		rb   *runbook.Runbook
		d    runbook.DrillInfo
		want bool
	}{
		{plain, runbook.DrillInfo{}, false},
		{rb, runbook.DrillInfo{}, false}, // not a drill: the runbook's drill settings do not apply
		{plain, runbook.DrillInfo{Enabled: true, Mode: "dry-run"}, true},
		{plain, runbook.DrillInfo{Enabled: true, Mode: "environment"}, false},
		{rb, runbook.DrillInfo{Enabled: true, Mode: "environment"}, true},
		{nil, runbook.DrillInfo{Enabled: true, Mode: "environment"}, false},
	}
	for i, tt := range tests {
		if got := steprequest.DryRun(tt.rb, tt.d); got != tt.want {
			t.Errorf("%d: DryRun = %v, want %v", i, got, tt.want)
		}
	}
}

// TestDrillRunMode: the mode a drill runs in is dry-run whenever its steps
// only describe themselves, and the forced case says why.
func TestDrillRunMode(t *testing.T) {
	rb := load(t) // drill: {dry_run: true}
	plain := &runbook.Runbook{Name: "plain"}
	env := runbook.DrillInfo{Enabled: true, Mode: "environment"}
	tests := []struct {
		name        string
		rb          *runbook.Runbook
		d           runbook.DrillInfo
		mode, cause string
	}{
		{"not a drill", rb, runbook.DrillInfo{}, "", ""},
		{"environment", plain, env, "environment", ""},
		{"dry-run policy", rb, runbook.DrillInfo{Enabled: true, Mode: "dry-run"}, "dry-run", ""},
		{"runbook forces it", rb, env, "dry-run", "runbook " + rb.Name + " forces drill.dry_run"},
		{"no runbook", nil, env, "environment", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := steprequest.DrillRunMode(tt.rb, tt.d); got != tt.mode {
				t.Errorf("DrillRunMode = %q, want %q", got, tt.mode)
			}
			if got := steprequest.ForcedDryRun(tt.rb, tt.d); got != tt.cause {
				t.Errorf("ForcedDryRun = %q, want %q", got, tt.cause)
			}
		})
	}
}

// TestFrozenLimit: a step's supervisor stops it once the bot has been
// stopped for the limit, noticing the freeze and its length by polling
// every 50ms. However late before renew_deadline the freeze began, SIGTERM
// must come by the lease's expiry: limit plus two polls within the margin
// lease_ttl - renew_deadline. Nine tenths of the margin leave that only
// from 1s up; a lease_ttl of 2s set alone (renew_deadline 1.33s) did not.
func TestFrozenLimit(t *testing.T) {
	tests := []struct {
		ttl, renew, want time.Duration
	}{
		{15 * time.Second, 10 * time.Second, 4500 * time.Millisecond}, // the defaults: nine tenths
		{6 * time.Second, 4 * time.Second, 1800 * time.Millisecond},
		{2 * time.Second, 2 * time.Second * 2 / 3, 2*time.Second - 2*time.Second*2/3 - 100*time.Millisecond},
		{time.Second, 950 * time.Millisecond, time.Millisecond}, // below two polls: the least that still watches
	}
	for _, tt := range tests {
		cfg := &config.Config{File: "/etc/backout/bot.yaml", Runbooks: "runbooks",
			Engine: config.EngineConfig{LeaseTTL: config.Duration(tt.ttl), RenewDeadline: config.Duration(tt.renew)}}
		req, err := steprequest.New(cfg, env).Build(steprequest.Input{Purpose: steprequest.Run, StepID: "notify",
			Action: load(t).Steps[0].Action(), Context: tctx, Attempt: 1})
		if err != nil {
			t.Fatal(err)
		}
		if req.FrozenLimit != tt.want {
			t.Errorf("lease_ttl %s, renew_deadline %s: frozen limit %s, want %s", tt.ttl, tt.renew, req.FrozenLimit, tt.want)
		}
		if margin := tt.ttl - tt.renew; margin >= 150*time.Millisecond && req.FrozenLimit+100*time.Millisecond > margin {
			t.Errorf("lease_ttl %s, renew_deadline %s: limit %s plus two polls passes the margin %s", tt.ttl, tt.renew, req.FrozenLimit, margin)
		}
	}
}
