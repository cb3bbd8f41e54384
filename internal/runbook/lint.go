package runbook

import (
	"fmt"
	"github.com/backout/backout/internal/suggest"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/yamlx"
)

// WithValidator checks a `with:` tree strictly.
type WithValidator interface {
	Validate(with yamlx.Node) error
}

// Kinds resolves `uses:` names for lint: executors for steps and
// compensations, checkers for readiness and validation checks.
type Kinds struct {
	Executor func(name string) (WithValidator, error)
	Checker  func(name string) (WithValidator, error)
}

var (
	stepID     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	paramTypes = map[string]bool{"": true, "string": true, "int": true, "bool": true, "duration": true}
)

// Lint checks a runbook's meaning: references, executors, templates, cycles.
func Lint(rb *Runbook, kinds Kinds) error {
	var errs yamlx.Errors
	at := func(key string) yamlx.Pos { return yamlx.KeyAt(rb.Pos, rb.KeyPos, key) }
	if rb.Name == "" {
		errs.Addf(rb.Pos, "name is required")
	}
	for name, p := range rb.Params {
		if !paramTypes[p.Type] {
			errs.Addf(yamlx.KeyAt(p.Pos, p.KeyPos, "type"), "params.%s.type: unknown type %q (want string, int, bool or duration)", name, p.Type)
		} else if p.Default != nil {
			if err := CheckParamValue(p.Type, *p.Default); err != nil {
				errs.Addf(yamlx.KeyAt(p.Pos, p.KeyPos, "default"), "params.%s.default: %v", name, err)
			}
		}
	}
	if d := rb.Drill; d != nil {
		lintParamValues(rb, d.Params, "drill.params", func(name string) yamlx.Pos { return yamlx.KeyAt(d.Pos, d.KeyPos, "params."+name) }, &errs)
	}
	if len(rb.Steps) == 0 {
		errs.Addf(at("steps"), "steps: a runbook needs at least one step")
	}
	ids := map[string]int{}
	for i, s := range rb.Steps {
		where := fmt.Sprintf("steps[%d]", i)
		if s.ID == "" {
			errs.Addf(s.Pos, "%s: id is required", where)
		} else {
			where = fmt.Sprintf("steps[%d] (%s)", i, s.ID)
			if !stepID.MatchString(s.ID) {
				errs.Addf(yamlx.KeyAt(s.Pos, s.KeyPos, "id"), "%s: id must be lower-case letters, digits, '-' and '_'", where)
			}
			if j, dup := ids[s.ID]; dup {
				errs.Addf(yamlx.KeyAt(s.Pos, s.KeyPos, "id"), "%s: duplicate step id %q (first at steps[%d])", where, s.ID, j)
			} else {
				ids[s.ID] = i
			}
		}
	}
	for i, s := range rb.Steps {
		where := fmt.Sprintf("steps[%d] (%s)", i, s.ID)
		lintStep(rb, s, where, ids, kinds, &errs)
	}
	lintStepCycles(rb, &errs)
	lintData(rb, &errs)
	for i, c := range rb.Readiness {
		lintCheck(rb, c, fmt.Sprintf("readiness[%d]", i), kinds, &errs)
		if c.Drill != nil {
			errs.Addf(yamlx.KeyAt(c.Pos, c.KeyPos, "drill"), "readiness[%d] (%s): drill: only validation checks take drill: (readiness gates the start; it does not judge the drill)", i, c.Name)
		}
	}
	if v := rb.Validation; v != nil {
		if len(v.Checks) > 0 && v.Window <= 0 {
			errs.Addf(yamlx.KeyAt(v.Pos, v.KeyPos, "window"), "validation.window: set how long to validate (e.g. 10m)")
		}
		if v.InitialDelay < 0 {
			errs.Addf(yamlx.KeyAt(v.Pos, v.KeyPos, "initial_delay"), "validation.initial_delay must be 0 or more")
		}
		for i, c := range v.Checks {
			lintCheck(rb, c, fmt.Sprintf("validation.checks[%d]", i), kinds, &errs)
			lintMeasuringTime(v, c, i, &errs)
			lintCheckDrill(c, i, &errs)
		}
	}
	if d := rb.Drill; d != nil && d.RollForward != nil {
		lintRollForward(rb, d.RollForward, kinds, &errs)
	}
	if rb.Postmortem != "" {
		if _, err := os.Stat(resolve(rb, rb.Postmortem)); err != nil {
			errs.Addf(at("postmortem"), "postmortem: template %q not found", rb.Postmortem)
		}
	}
	return errs.Err()
}

// CheckParamValue says whether value is one of a param's type: templates
// render it as it is written, so "ten" for an int would reach a command.
// A value holding a template is left to render.
func CheckParamValue(typ, value string) error {
	if strings.Contains(value, "{{") {
		return nil
	}
	var err error
	switch typ {
	case "int":
		_, err = strconv.Atoi(strings.TrimSpace(value))
		if err != nil {
			return fmt.Errorf("expected an integer (the param's type), got %q", value)
		}
	case "bool":
		if _, err = strconv.ParseBool(strings.TrimSpace(value)); err != nil {
			return fmt.Errorf("expected true or false (the param's type), got %q", value)
		}
	case "duration":
		if _, err = yamlx.ParseDuration(value); err != nil {
			return fmt.Errorf("expected a duration such as 5m (the param's type), got %q", value)
		}
	}
	return nil
}

// lintParamValues checks values given for rb's params (a service's, a
// drill's) against each param's type, each at its key.
func lintParamValues(rb *Runbook, values map[string]string, where string, at func(string) yamlx.Pos, errs *yamlx.Errors) {
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if p, ok := rb.Params[name]; ok && paramTypes[p.Type] {
			if err := CheckParamValue(p.Type, values[name]); err != nil {
				errs.Addf(at(name), "%s.%s: %v", where, name, err)
			}
		}
	}
}

// resolve makes a path relative to the runbook's directory.
func resolve(rb *Runbook, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(rb.File), p)
}

// PostmortemPath is the runbook's post-mortem template path, resolved.
func (rb *Runbook) PostmortemPath() string {
	if rb.Postmortem == "" {
		return ""
	}
	return resolve(rb, rb.Postmortem)
}

func lintStep(rb *Runbook, s Step, where string, ids map[string]int, kinds Kinds, errs *yamlx.Errors) {
	key := func(k string) yamlx.Pos { return yamlx.KeyAt(s.Pos, s.KeyPos, k) }
	switch {
	case s.Uses == "" && s.Gate == nil:
		errs.Addf(s.Pos, "%s: uses is required (or make it a gate)", where)
	case s.Uses != "":
		with := lintWithTimeout(s.With, where, `the step's own "timeout:"`, errs)
		lintUses(rb, s.Uses, with, key("uses"), where, kinds.Executor, errs)
	}
	for j, n := range s.Needs {
		if n == s.ID {
			errs.Addf(key(fmt.Sprintf("needs[%d]", j)), "%s: needs itself", where)
		} else if _, ok := ids[n]; !ok {
			errs.Addf(key(fmt.Sprintf("needs[%d]", j)), "%s: needs unknown step %q%s", where, n, suggest.Hint(n, slices.Sorted(maps.Keys(ids))))
		}
	}
	switch s.OnFailure {
	case "", OnFailureAbort, OnFailureContinue, OnFailureCompensate:
	default:
		errs.Addf(key("on_failure"), "%s: on_failure: unknown policy %q (want abort, continue or compensate)", where, s.OnFailure)
	}
	if s.Timeout < 0 {
		errs.Addf(key("timeout"), "%s: timeout must be positive", where)
	}
	if s.If != "" {
		for _, p := range CheckTemplate(s.If, rb.Params) {
			errs.Addf(key("if"), "%s: if: %s", where, p)
		}
	}
	if c := s.Compensate; c != nil {
		if c.Uses == "" {
			errs.Addf(c.Pos, "%s: compensate: uses is required", where)
		} else {
			with := lintWithTimeout(c.With, where+": compensate", `"timeout:" on compensate itself`, errs)
			lintUses(rb, c.Uses, with, yamlx.KeyAt(c.Pos, c.KeyPos, "uses"), where+": compensate", kinds.Executor, errs)
		}
	}
	if g := s.Gate; g != nil {
		if g.Group == "" {
			errs.Addf(g.Pos, "%s: gate: group is required (the group that must sign off, e.g. dba)", where)
		}
		if g.Min < 0 {
			errs.Addf(yamlx.KeyAt(g.Pos, g.KeyPos, "min"), "%s: gate: min must be 1 or more", where)
		}
	}
}

func lintUses(rb *Runbook, uses string, with yamlx.Node, pos yamlx.Pos, where string, lookup func(string) (WithValidator, error), errs *yamlx.Errors) {
	lintTemplates(rb, with, where, errs)
	if lookup == nil {
		return
	}
	v, err := lookup(uses)
	if err != nil {
		errs.Addf(pos, "%s: %v", where, err)
		return
	}
	if err := v.Validate(with); err != nil {
		var list yamlx.Errors
		list.Add(with.Pos(), err)
		for _, e := range list {
			e.Msg = where + ": with: " + e.Msg
			if e.Pos.Line == 0 { // no `with:` at all: point at `uses:`
				e.Pos = pos
			}
		}
		*errs = append(*errs, list...)
	}
}

// lintWithTimeout reports a `timeout` in an executor's `with:`: executors
// once had their own, which raced the step's; now the step's is the only
// one. It returns `with:` without it, so the executor's strict decoding
// does not report the same key a second time as unknown.
func lintWithTimeout(with yamlx.Node, where, instead string, errs *yamlx.Errors) yamlx.Node {
	n := with.Node
	if n == nil || n.Kind != yaml.MappingNode {
		return with
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value == "timeout" {
			errs.Addf(yamlx.Pos{File: with.File, Line: k.Line, Col: k.Column},
				"%s: with.timeout is gone; set %s (one timeout per step)", where, instead)
			cp := *n
			cp.Content = append(append([]*yaml.Node{}, n.Content[:i]...), n.Content[i+2:]...)
			return yamlx.Node{File: with.File, Node: &cp}
		}
	}
	return with
}

func lintTemplates(rb *Runbook, with yamlx.Node, where string, errs *yamlx.Errors) {
	ScalarStrings(with, func(pos yamlx.Pos, value string) {
		for _, p := range CheckTemplate(value, rb.Params) {
			errs.Addf(pos, "%s: %s", where, p)
		}
	})
}

func lintCheck(rb *Runbook, c Check, where string, kinds Kinds, errs *yamlx.Errors) {
	if c.Name == "" {
		errs.Addf(c.Pos, "%s: name is required", where)
	} else {
		where = fmt.Sprintf("%s (%s)", where, c.Name)
	}
	if c.Uses == "" {
		errs.Addf(c.Pos, "%s: uses is required", where)
		return
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"count", c.Count}, {"failure_limit", c.FailureLimit}, {"inconclusive_limit", c.InconclusiveLimit}, {"consecutive_error_limit", c.ConsecutiveErrorLimit}} {
		if n.v < 0 {
			errs.Addf(yamlx.KeyAt(c.Pos, c.KeyPos, n.name), "%s: %s must be 0 or more", where, n.name)
		}
	}
	lintUses(rb, c.Uses, c.With, yamlx.KeyAt(c.Pos, c.KeyPos, "uses"), where, kinds.Checker, errs)
}

// lintMeasuringTime: every measurement of a check must be due inside the
// window, after the settling delay; otherwise the window would cut the check
// short and it would end in Error however healthy the service is.
func lintMeasuringTime(v *Validation, c Check, i int, errs *yamlx.Errors) {
	if v.Window <= 0 {
		return // reported once, on the window
	}
	need := v.InitialDelay.D() + c.MeasuringTime()
	if need <= v.Window.D() {
		return
	}
	count, interval := c.Measurements()
	key := "count"
	if _, ok := c.KeyPos[key]; !ok {
		key = "interval"
	}
	errs.Addf(yamlx.KeyAt(c.Pos, c.KeyPos, key), "validation.checks[%d] (%s): initial_delay %s + (count %d - 1) x interval %s = %s does not fit in window %s",
		i, c.Name, v.InitialDelay.D(), count, interval, need, v.Window.D())
}

func lintStepCycles(rb *Runbook, errs *yamlx.Errors) {
	edges := map[string][]string{}
	var order []string
	byID := map[string]Step{}
	for _, s := range rb.Steps {
		if s.ID == "" {
			continue
		}
		if _, dup := edges[s.ID]; dup {
			continue
		}
		edges[s.ID] = s.Needs
		order = append(order, s.ID)
		byID[s.ID] = s
	}
	for _, cyc := range config.FindCycles(order, edges) {
		// at the first edge of the cycle: cyc[0]'s needs item naming cyc[1]
		s := byID[cyc[0]]
		at := yamlx.KeyAt(s.Pos, s.KeyPos, fmt.Sprintf("needs[%d]", slices.Index(s.Needs, cyc[1])))
		errs.Addf(at, "steps: needs cycle %s", strings.Join(cyc, " -> "))
	}
}

// LintCatalog checks what joins the config and the runbooks: each service's
// runbook exists, its params satisfy the runbook, every template of the
// runbook renders for it (lintServices), and groups named by policies and
// gates are defined.
func LintCatalog(cfg *config.Config, set Set) error {
	var errs yamlx.Errors
	lintServices(cfg, set, &errs)
	lintDataConstraints(cfg, set, &errs)
	for _, s := range cfg.Services {
		if s.Runbook == "" {
			continue
		}
		key := func(k string) yamlx.Pos { return yamlx.KeyAt(s.Pos, s.KeyPos, k) }
		rb, ok := set[s.Runbook]
		if !ok {
			errs.Addf(key("runbook"), "services.%s.runbook: unknown runbook %q%s", s.Name, s.Runbook, suggest.HintOrList(s.Runbook, set.Names()))
			continue
		}
		lintParamValues(rb, s.Params, "services."+s.Name+".params", func(name string) yamlx.Pos { return key("params." + name) }, &errs)
		if d := s.Drill; d != nil {
			lintParamValues(rb, d.Params, "services."+s.Name+".drill.params", func(name string) yamlx.Pos { return yamlx.KeyAt(d.Pos, d.KeyPos, "params."+name) }, &errs)
		}
		for name := range s.Params {
			if _, ok := rb.Params[name]; !ok {
				errs.Addf(key("params."+name), "services.%s.params: runbook %q has no param %q%s", s.Name, rb.Name, name, suggest.HintOrList(name, slices.Sorted(maps.Keys(rb.Params))))
			}
		}
	}
	for _, name := range set.Names() {
		rb := set[name]
		if a := rb.Approval; a != nil {
			if a.Min < 0 {
				errs.Addf(yamlx.KeyAt(a.Pos, a.KeyPos, "min"), "approval.min: must be 0 or more")
			}
			for at, g := range cfg.UnknownGroups(*a) {
				errs.Addf(at, "approval: unknown group %q%s", g, cfg.GroupHint(g, " (define it under groups: in "+cfg.File+")"))
			}
		}
		for i, s := range rb.Steps {
			if s.Gate != nil && s.Gate.Group != "" && !cfg.KnownGroup(s.Gate.Group) {
				errs.Addf(yamlx.KeyAt(s.Gate.Pos, s.Gate.KeyPos, "group"), "steps[%d] (%s): gate: unknown group %q%s", i, s.ID, s.Gate.Group, cfg.GroupHint(s.Gate.Group, " (define it under groups: in "+cfg.File+")"))
			}
		}
	}
	return errs.Err()
}

func lintRollForward(rb *Runbook, rf *RollForward, kinds Kinds, errs *yamlx.Errors) {
	if rf.Rerun == (len(rf.Steps) > 0) {
		errs.Addf(rf.Pos, "drill.roll_forward: give either steps or rerun: true")
	}
	for i, a := range rf.Steps {
		where := fmt.Sprintf("drill.roll_forward.steps[%d]", i)
		if a.Uses == "" {
			errs.Addf(a.Pos, "%s: uses is required", where)
			continue
		}
		with := lintWithTimeout(a.With, where, `"timeout:" on the action itself`, errs)
		lintUses(rb, a.Uses, with, yamlx.KeyAt(a.Pos, a.KeyPos, "uses"), where, kinds.Executor, errs)
	}
}

// lintCheckDrill: the exception that lets a drill share a check with
// production is written out in full, or not at all: same_as_production
// with the reason people will read on every scorecard.
func lintCheckDrill(c Check, i int, errs *yamlx.Errors) {
	d := c.Drill
	if d == nil {
		return
	}
	where := fmt.Sprintf("validation.checks[%d] (%s): drill", i, c.Name)
	flag := yamlx.KeyAt(d.Pos, d.KeyPos, "same_as_production")
	switch {
	case !d.SameAsProduction: // at same_as_production: false, else at drill:
		errs.Addf(flag, "%s: set same_as_production: true with why: \"...\", or remove drill: (a check needs it only to observe production during an environment drill)", where)
	case strings.TrimSpace(d.Why) == "": // at a blank why, else at the flag that needs one
		errs.Addf(yamlx.KeyAt(flag, d.KeyPos, "why"), "%s.why: say why this check must observe production during an environment drill (every drill scorecard shows it)", where)
	}
}
