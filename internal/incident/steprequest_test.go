package incident_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/yamlx"
)

// requestRecorder is an executor (and prober) that keeps every request it
// is given, by what it was asked to do.
type requestRecorder struct {
	mu   sync.Mutex
	reqs map[string][]exec.Request
}

func (r *requestRecorder) keep(purpose string, req exec.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reqs == nil {
		r.reqs = map[string][]exec.Request{}
	}
	r.reqs[purpose] = append(r.reqs[purpose], req)
}

func (r *requestRecorder) last(t *testing.T, purpose string) exec.Request {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs[purpose]) == 0 {
		t.Fatalf("no %s request", purpose)
	}
	return r.reqs[purpose][len(r.reqs[purpose])-1]
}

func (*requestRecorder) Name() string              { return "rec" }
func (*requestRecorder) Validate(yamlx.Node) error { return nil }

func (r *requestRecorder) Preview(_ context.Context, req exec.Request) (string, error) {
	r.keep("preview", req)
	return "rec", nil
}

func (r *requestRecorder) Run(_ context.Context, req exec.Request) (exec.Result, error) {
	r.keep("run", req)
	return exec.Result{Output: "ok"}, nil
}

func (r *requestRecorder) Probe(_ context.Context, req exec.Request) (string, error) {
	r.keep("probe", req)
	return "", nil
}

// TestOneRequestForRunPreviewAndProbe: the plan's preview, the readiness
// probe and the run ask about a step with the same request, rendered
// against the same template context (Reason and Trigger included); they
// differ only in the attempt and live output a run has.
func TestOneRequestForRunPreviewAndProbe(t *testing.T) {
	rec := &requestRecorder{}
	e := newEnv(t, backends[0], setup{executors: []exec.Executor{rec}, runbook: `
name: steps
steps:
  - id: tell
    uses: rec
    with: {msg: "{{ .Rollback.ID }} {{ .Service.Name }} to {{ .Target.Version }}: {{ .Rollback.Reason }} ({{ .Rollback.Trigger }}) by {{ .Rollback.Requester }}"}
    timeout: 90s
`})
	e.deploy("checkout", "1.0.0", "1.1.0")
	r := e.propose(incident.ProposeRequest{Services: []string{"checkout"}, Reason: "errors up", Trigger: rollback.Trigger{Kind: "person", Source: "test"}})
	e.approve(r.ID, "alice", "bob")
	e.finish(r.ID, rollback.StateSucceeded)

	wantMsg := r.ID + " checkout to 1.0.0: errors up (person) by req"
	for _, purpose := range []string{"preview", "probe", "run"} {
		req := rec.last(t, purpose)
		var with struct {
			Msg string `yaml:"msg"`
		}
		if err := req.With.Decode(&with); err != nil {
			t.Fatalf("%s: %v", purpose, err)
		}
		if with.Msg != wantMsg {
			t.Errorf("%s: with.msg %q, want %q", purpose, with.Msg, wantMsg)
		}
		if req.Timeout != 90*time.Second || req.RollbackID != r.ID || req.Service != "checkout" || req.StepID != "tell" ||
			req.BaseDir != e.cfg.RunbooksDir() || req.Env == nil || req.DryRun {
			t.Errorf("%s: request %+v", purpose, req)
		}
		if req.OutputLimit != e.cfg.Engine.OutputLimit || req.KillGrace != e.cfg.Engine.KillGrace.D() {
			t.Errorf("%s: limits %d, %s", purpose, req.OutputLimit, req.KillGrace)
		}
		runs := purpose == "run"
		if (req.Attempt == 1) != runs || (req.Progress != nil) != runs {
			t.Errorf("%s: attempt %d, progress %v", purpose, req.Attempt, req.Progress != nil)
		}
	}
}
