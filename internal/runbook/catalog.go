package runbook

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"text/template"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/yamlx"
)

// ResolveParams is the params a service's runbook templates see: the
// runbook's defaults, then the service's params, then, in a drill, the
// runbook's and the service's drill params. Planning and lint both resolve
// params here and nowhere else, so lint renders exactly what a rollback
// would and cannot pass a catalog that planning then refuses. missing lists,
// sorted, the required params still without a value.
func ResolveParams(rb *Runbook, svc *config.Service, drill bool) (params map[string]string, missing []string) {
	params = map[string]string{}
	for name, p := range rb.Params {
		if p.Default != nil {
			params[name] = *p.Default
		}
	}
	maps.Copy(params, svc.Params)
	if drill {
		if rb.Drill != nil {
			maps.Copy(params, rb.Drill.Params)
		}
		if svc.Drill != nil {
			maps.Copy(params, svc.Drill.Params)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rb.Params)) {
		if _, ok := params[name]; rb.Params[name].Required && !ok {
			missing = append(missing, name)
		}
	}
	return params, missing
}

// ServiceContext is the part of a template context that the catalog
// decides: the service, its params and drill mode. In a drill the service's
// drill environment, when it has one, replaces its environment. The
// rollback's releases and identity are the caller's to add.
func ServiceContext(svc *config.Service, params map[string]string, drill bool, drillMode string) Context {
	env := svc.Environment
	if drill && svc.Drill != nil && svc.Drill.Environment != "" {
		env = svc.Drill.Environment
	}
	return Context{
		Service: ServiceInfo{Name: svc.Name, Environment: env, Channel: svc.Channel},
		Params:  params,
		Drill:   DrillInfo{Enabled: drill, Mode: drillMode, Environment: env},
	}
}

// drillMode is the mode a drill of svc runs in: its policy's, or dry-run
// for a service without one (as `/rollback drill <service> now` does).
func drillMode(svc *config.Service) string {
	if svc.Drill != nil && svc.Drill.Mode != "" {
		return svc.Drill.Mode
	}
	return "dry-run"
}

// lintServices renders, for every service of the catalog, every template
// its runbook holds: each step's `if:` and `with:`, each compensation's
// `with:`, and each readiness and validation check's `with:`, with the
// service's params resolved as planning resolves them, once as a rollback
// and once as a drill. A template that cannot render for one service (a
// param it leaves unset, say) fails that service's rollback at planning
// while every other service is fine, which no check of the runbook alone
// can see. A release plans each of its services with the same context as a
// rollback of that service alone, so rendering per service covers every
// release too.
func lintServices(cfg *config.Config, set Set, errs *yamlx.Errors) {
	for i := range cfg.Services {
		svc := &cfg.Services[i]
		rb, ok := set[svc.Runbook]
		if !ok {
			continue // LintCatalog reports an unknown runbook
		}
		params, missing := ResolveParams(rb, svc, false)
		for _, name := range missing {
			errs.Addf(yamlx.KeyAt(svc.Pos, svc.KeyPos, "params"), "services.%s.params: runbook %q requires param %q", svc.Name, rb.Name, name)
		}
		if len(missing) > 0 {
			continue // planning refuses before rendering; so does lint
		}
		seen := map[string]bool{}
		lintRenders(rb, trialContext(svc, params, false), "service "+svc.Name, seen, errs)
		drillParams, _ := ResolveParams(rb, svc, true)
		lintRenders(rb, trialContext(svc, drillParams, true), "service "+svc.Name+" (drill)", seen, errs)
	}
}

// trialContext is a service's template context with stand-in releases and
// rollback: lint has no deploy history, and every field is set, so only
// what the catalog decides can make a render fail.
func trialContext(svc *config.Service, params map[string]string, drill bool) Context {
	mode := ""
	if drill {
		mode = drillMode(svc)
	}
	ctx := ServiceContext(svc, params, drill, mode)
	ctx.Target = Release{Version: "1.0.0", Artifact: "registry.invalid/" + svc.Name + "@sha256:" + strings.Repeat("0", 64),
		ConfigVersion: "cfg-1.0.0", Commit: "0000000"}
	ctx.Current = Release{Version: "1.1.0", Artifact: "registry.invalid/" + svc.Name + "@sha256:" + strings.Repeat("1", 64),
		ConfigVersion: "cfg-1.1.0", Commit: "1111111"}
	ctx.Rollback = RollbackInfo{ID: "RB-0", Requester: "lint", Reason: "bot lint", Trigger: "person"}
	return ctx
}

// lintRenders renders every template of rb against ctx and reports each
// failure as who (the service). seen holds the failures already reported
// for this service, so the drill pass adds only what fails in drills alone.
func lintRenders(rb *Runbook, ctx Context, who string, seen map[string]bool, errs *yamlx.Errors) {
	report := func(pos yamlx.Pos, text string) {
		msg, ok := renderFailure(text, rb.Params, ctx)
		if !ok {
			return
		}
		if key := pos.String() + " " + msg; !seen[key] {
			seen[key] = true
			errs.Addf(pos, "%s: %s", who, msg)
		}
	}
	tree := func(with yamlx.Node) { ScalarStrings(with, report) }
	for _, st := range rb.Steps {
		if st.If != "" {
			report(yamlx.KeyAt(st.Pos, st.KeyPos, "if"), st.If)
		}
		tree(st.With)
		if st.Compensate != nil {
			tree(st.Compensate.With)
		}
	}
	for _, c := range rb.Readiness {
		tree(c.With)
	}
	if rb.Validation != nil {
		for _, c := range rb.Validation.Checks {
			tree(c.With)
		}
	}
}

// renderFailure renders text as a rollback would and says why it failed.
// A template lint already reports without a service (bad syntax, an
// undeclared param, a field the context lacks) is left to that report: it
// would fail for every service alike. The message drops text/template's
// location (`:1:32: executing "" at <.Params.x>`), since the report is
// placed at the template's own line and column.
func renderFailure(text string, params map[string]ParamSpec, ctx Context) (string, bool) {
	if !strings.Contains(text, "{{") || len(CheckTemplate(text, params)) > 0 {
		return "", false
	}
	_, err := Render(text, ctx)
	var exec template.ExecError
	if err == nil || !errors.As(err, &exec) {
		return "", false
	}
	msg := exec.Err.Error()
	if i := strings.Index(msg, ">: "); strings.HasPrefix(msg, "template: ") && i >= 0 {
		msg = "template: " + msg[i+len(">: "):]
	}
	return msg, true
}
