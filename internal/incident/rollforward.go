package incident

import (
	"context"
	"fmt"
	"slices"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/steprequest"
)

// rollForward returns a service's drill environment to the version it had
// before an environment drill: the runbook's drill.roll_forward, run in
// order with the releases swapped (.Target is the service's current
// release, which the drill environment mirrored; .Current what the drill
// installed). It is nil for what is not an environment drill; otherwise it
// says whether anything ran, and how it went. The first failing action
// stops it.
func (e *Engine) rollForward(ctx context.Context, r *rollback.Record, service string) *rollback.RollForward {
	i := slices.IndexFunc(r.Services, func(c rollback.ServiceChange) bool { return c.Service == service })
	if i < 0 {
		return nil
	}
	c := r.Services[i]
	rb := e.runbooks[c.Runbook]
	drill := drillInfo(r)
	if rb == nil || !r.Drill || r.DrillMode != runbook.DrillModeEnvironment || steprequest.DryRun(rb, drill) {
		return nil
	}
	out := &rollback.RollForward{Version: c.Current.Version}
	switch {
	case rb.Drill == nil || rb.Drill.RollForward == nil:
		out.Detail = fmt.Sprintf("runbook %s has no drill.roll_forward; the drill environment stays on %s", rb.Name, c.Target.Version)
		return out
	case r.State != rollback.StateSucceeded:
		out.Detail = "the drill did not succeed, so nothing rolled forward"
		return out
	}
	svc, _ := e.cfg.ServiceByName(service)
	back := c
	back.Target, back.Current = c.Current, c.Target
	tctx := e.planner.templateContext(svc, back, runbook.RollbackInfo{ID: r.ID, Requester: r.Requester, Reason: r.Reason, Trigger: r.Trigger.Kind},
		true, r.DrillMode)
	out.Ran = true
	for i, a := range rb.Drill.RollForward.Actions(rb) {
		id := fmt.Sprintf("roll-forward-%d", i+1)
		if err := e.runAction(ctx, id, a, tctx); err != nil {
			out.Detail = fmt.Sprintf("%s (%s): %s", id, a.Uses, exec.Redact(err.Error(), e.secrets()))
			return out
		}
	}
	out.Succeeded = true
	return out
}

// runAction runs one action once, within its timeout.
func (e *Engine) runAction(ctx context.Context, id string, a runbook.Action, tctx runbook.Context) error {
	ex, err := e.executors.Get(a.Uses)
	if err != nil {
		return err
	}
	req, err := e.requests.Build(steprequest.Input{Purpose: steprequest.Run, StepID: id, Action: a, Context: tctx, Attempt: 1})
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	_, err = ex.Run(actx, req)
	return err
}
