package runbook

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/yamlx"
)

// DrillModeEnvironment is the drill mode that runs the real steps, against
// the service's drill environment instead of production.
const DrillModeEnvironment = "environment"

// LintDrillTargets refuses, for every service whose drills run in mode
// environment, each step (and compensation) that would act on production
// during the drill.
//
// A step uses the drill environment when its `with:`, rendered as the
// service's drill renders it, differs from its `with:` rendered as a
// production rollback of the same service renders it. Both renders use the
// same stand-in releases and rollback (trialContext), so only what a drill
// changes can make them differ: .Service.Environment (the drill's
// environment replaces the service's), .Drill.*, and the runbook's and the
// service's drill params. A step renders the same both ways only when
// nothing in it depends on the drill: the drill would run it against the
// production target. Exempt are steps whose executor acts on nothing
// (inert: sleep, noop) and steps whose `if:` is false in the drill.
func LintDrillTargets(cfg *config.Config, set Set, inert func(uses string) bool) error {
	var errs yamlx.Errors
	for i := range cfg.Services {
		svc := &cfg.Services[i]
		rb, ok := set[svc.Runbook]
		if !ok || svc.Drill == nil || svc.Drill.Mode != DrillModeEnvironment {
			continue
		}
		params, missing := ResolveParams(rb, svc, false)
		if len(missing) > 0 {
			continue // LintCatalog reports the missing params
		}
		drillParams, _ := ResolveParams(rb, svc, true)
		prod, drill := trialContext(svc, params, false), trialContext(svc, drillParams, true)
		for j, st := range rb.Steps {
			if st.Uses == "" || inert(st.Uses) || skippedInDrill(st, drill) {
				continue
			}
			where := fmt.Sprintf("services.%s: steps[%d] (%s)", svc.Name, j, st.ID)
			if sameInDrill(st.With, prod, drill) {
				errs.Addf(withPos(st.Pos, st.KeyPos), "%s: %s", where, notInDrillEnvironment(svc))
			}
			if c := st.Compensate; c != nil && c.Uses != "" && !inert(c.Uses) && sameInDrill(c.With, prod, drill) {
				errs.Addf(withPos(c.Pos, c.KeyPos), "%s: compensate: %s", where, notInDrillEnvironment(svc))
			}
		}
		if rb.Drill == nil || rb.Drill.RollForward == nil {
			continue
		}
		for j, a := range rb.Drill.RollForward.Steps {
			if a.Uses != "" && !inert(a.Uses) && sameInDrill(a.With, prod, drill) {
				errs.Addf(withPos(a.Pos, a.KeyPos), "services.%s: drill.roll_forward.steps[%d]: %s", svc.Name, j, notInDrillEnvironment(svc))
			}
		}
	}
	return errs.Err()
}

func notInDrillEnvironment(svc *config.Service) string {
	return fmt.Sprintf("renders the same in the drill (environment %s) as in production, so the drill would act on production;"+
		" make its with: use .Service.Environment, .Drill.Environment or a drill param", svc.Drill.Environment)
}

// withPos is where a step's `with:` is, or the step itself without one.
func withPos(pos yamlx.Pos, keys map[string]yamlx.Pos) yamlx.Pos {
	return yamlx.KeyAt(pos, keys, "with")
}

// skippedInDrill reports whether the step's `if:` renders false in the
// drill: the drill never runs it. One that fails to render is left to the
// render lint.
func skippedInDrill(st Step, drill Context) bool {
	if st.If == "" {
		return false
	}
	v, err := Render(st.If, drill)
	return err == nil && !Truthy(v)
}

// sameInDrill reports whether with renders identically for production and
// the drill. A tree that fails to render either way is left to the render
// lint (it reports it at the template).
func sameInDrill(with yamlx.Node, prod, drill Context) bool {
	a, errA := RenderNode(with, prod)
	b, errB := RenderNode(with, drill)
	if errA != nil || errB != nil {
		return false
	}
	if a.Node == nil || b.Node == nil {
		return a.Node == nil && b.Node == nil
	}
	// Two renders of one tree differ only in scalar values; their YAML
	// compares them by value. A tree that cannot be written back is not
	// called the same: lint reports only what it has shown.
	ya, errA := yaml.Marshal(a.Node)
	yb, errB := yaml.Marshal(b.Node)
	return errA == nil && errB == nil && bytes.Equal(ya, yb)
}
