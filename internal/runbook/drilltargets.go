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

// DrillKinds is what LintDrillTargets asks of the registries.
type DrillKinds struct {
	// Inert reports an executor that acts on nothing (exec.Inert).
	Inert func(uses string) bool
	// CheckTarget says what a check with this rendered with: observes
	// (check.Targeter); ok is false when the checker cannot say, and the
	// whole with: is compared instead. "" with ok: nothing an environment
	// owns.
	CheckTarget func(uses string, with yamlx.Node) (target string, ok bool)
}

// LintDrillTargets refuses, for every service whose drills run in mode
// environment, each step (and compensation) that would act on production
// during the drill, and each validation check that would judge the drill
// on production's data.
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
// Validation checks are held to the same test on what they observe (see
// lintDrillChecks).
func LintDrillTargets(cfg *config.Config, set Set, kinds DrillKinds) error {
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
		lintDrillSteps(rb, svc, prod, drill, kinds.Inert, &errs)
		lintDrillChecks(rb, svc, prod, drill, kinds.CheckTarget, &errs)
	}
	return errs.Err()
}

func lintDrillSteps(rb *Runbook, svc *config.Service, prod, drill Context, inert func(string) bool, errs *yamlx.Errors) {
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
		return
	}
	for j, a := range rb.Drill.RollForward.Steps {
		if a.Uses != "" && !inert(a.Uses) && sameInDrill(a.With, prod, drill) {
			errs.Addf(withPos(a.Pos, a.KeyPos), "services.%s: drill.roll_forward.steps[%d]: %s", svc.Name, j, notInDrillEnvironment(svc))
		}
	}
}

// lintDrillChecks refuses each validation check that observes the same
// thing in the drill as in production: rendered both ways, its target
// (check.Targeter: the query, URLs, database; the whole with: for a
// checker that cannot say) is the same, so the drill would pass or fail on
// production's data, whatever the drill did. Exempt are checks of a
// runbook whose drills are dry runs (validation is skipped, never
// measured), checks that observe nothing an environment owns (artifact),
// and checks that state why they must be shared (drill.same_as_production,
// shown on every scorecard).
func lintDrillChecks(rb *Runbook, svc *config.Service, prod, drill Context, target func(string, yamlx.Node) (string, bool), errs *yamlx.Errors) {
	if rb.Validation == nil || (rb.Drill != nil && rb.Drill.DryRun) {
		return
	}
	for j, c := range rb.Validation.Checks {
		if c.Uses == "" || c.SharedWithProduction() != "" || !sameCheckInDrill(c, prod, drill, target) {
			continue
		}
		errs.Addf(withPos(c.Pos, c.KeyPos), "services.%s: validation.checks[%d] (%s): observes the same in the drill (environment %s) as in production,"+
			" so the drill would be judged on production's data; make its with: use the drill's environment or params"+
			" (e.g. {{ .Params.namespace }} with drill params, {{ .Service.Environment }} in a label or host),"+
			" or say why it must be shared: drill: {same_as_production: true, why: \"...\"}", svc.Name, j, c.Name, svc.Drill.Environment)
	}
}

// sameCheckInDrill reports whether the check observes the same target
// rendered for production and for the drill. A check that fails to render
// either way is left to the render lint.
func sameCheckInDrill(c Check, prod, drill Context, target func(string, yamlx.Node) (string, bool)) bool {
	if target == nil {
		return sameInDrill(c.With, prod, drill)
	}
	a, errA := RenderNode(c.With, prod)
	b, errB := RenderNode(c.With, drill)
	if errA != nil || errB != nil {
		return false
	}
	ta, okA := target(c.Uses, a)
	tb, okB := target(c.Uses, b)
	if !okA || !okB {
		return sameInDrill(c.With, prod, drill)
	}
	return ta != "" && ta == tb
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
