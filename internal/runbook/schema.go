package runbook

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/withdoc"
	"github.com/backout/backout/internal/yamlx"
)

// descriptions document the runbook fields in the schema, so editors show
// them on hover, and in docs/runbooks.md. A key "Type.field" describes the
// field of that struct only (a step's name is not a runbook's name); a bare
// key describes the field wherever no scoped description exists.
var descriptions = map[string]string{
	"name":                          "Runbook name, which a service in bot.yaml names in its `runbook:`.",
	"params":                        "Typed parameters; templates read them as `{{ .Params.NAME }}`.",
	"approval":                      "Approval policy override for rollbacks using this runbook.",
	"readiness":                     "Checks run at proposal time and again just before execution.",
	"steps":                         "The steps; they run in `needs` order, independent ones in parallel.",
	"id":                            "Step id: lower-case letters, digits, '-' and '_'.",
	"uses":                          "Executor (steps) or check (readiness, validation) to use.",
	"with":                          "Arguments of the executor or check; string values may be Go templates.",
	"needs":                         "Ids of steps that must finish first.",
	"timeout":                       "Duration such as 30s, 5m or 1h.",
	"retries":                       "A retry count, or {max, backoff, max_backoff}; only errors the executor marks retryable are retried.",
	"if":                            "A template; the step is skipped when it renders false, 0, no or empty.",
	"on_failure":                    "abort (default), continue, or compensate (run the compensations of completed steps in reverse).",
	"compensate":                    "The action that undoes this step. An abort runs the compensations of completed steps in reverse; its outcome names what could not be undone and the completed steps without a compensate, which stay done.",
	"gate":                          "Pause before this step until the named group signs off.",
	"idempotent":                    "The step is safe to run twice: a resume may re-run it, and a shutting-down replica stops it at once instead of letting it finish (default false: finished within engine.shutdown_grace).",
	"data":                          "What the rollback reverts and what must stay.",
	"validation":                    "Checks that prove the service healthy after the steps.",
	"postmortem":                    "Path (relative to this file) of a Markdown Go template for the post-mortem (internal/postmortem/default.md.tmpl is the default). Pass text that people or alerts wrote (reasons, outcomes, versions, support notes) through md, which makes it inert Markdown on one line, and fence a code block with fence: {{ fence .OutputTail }}.",
	"drill":                         "How drills of this runbook differ: dry_run, environment, params, roll_forward.",
	"blocking":                      "A failing blocking check stops execution unless a person overrides it.",
	"window":                        "The bound of the whole validation: initial_delay, then every check's count measurements interval apart, must fit in it.",
	"initial_delay":                 "How long the service settles after the last step before validation measures anything (default 0). Baseline and canary checks sample only data after it.",
	"description":                   "What this is for, in a sentence.",
	"Step.name":                     "Shown in the plan and the thread instead of the id.",
	"Step.timeout":                  "The step's only timeout (default 10m; 5m for wait). kubectl rollout-status and helm rollback get a --timeout a tenth shorter (at most 30s).",
	"Action.uses":                   "Executor of the compensation.",
	"Action.timeout":                "The compensation's timeout (default as for a step).",
	"Gate.group":                    "The bot.yaml group whose members sign off.",
	"Gate.min":                      "How many of them must sign off (default 1).",
	"Gate.timeout":                  "How long to wait for the sign-off (default 1h).",
	"Gate.message":                  "What the gate asks, shown with its buttons.",
	"Check.name":                    "Shown in the readiness and validation results.",
	"Check.count":                   "Validation: how many measurements to take, the first right after initial_delay (default 1; errored ones are retried and do not count).",
	"Check.interval":                "Validation: time between measurements (default 30s).",
	"Check.failure_limit":           "Validation: the check fails once Failed measurements exceed this (default 0).",
	"Check.inconclusive_limit":      "Validation: the check is Inconclusive once Inconclusive measurements exceed this (default 0).",
	"Check.consecutive_error_limit": "Validation: the check is an Error once consecutive errors exceed this (default 4).",
	"ParamSpec.type":                "string (default), int, bool or duration.",
	"ParamSpec.required":            "The service's params must set it.",
	"ParamSpec.default":             "Value when the service sets none.",
	"Data.reverts":                  "What going back undoes, as `name (note)` items (e.g. `orders.line_items.discount_code (column added by the bad release)`); refused when it overlaps data.keeps or a service's `never revert` constraint.",
	"Data.keeps":                    "What stays as it is, as `name (note)` items (e.g. `orders.audit_log (7-year retention)`).",
	"Data.loss_window":              "The most data the rollback loses (e.g. 15m for a restore from a 15-minute backup; 0: none), held against the service's max_data_loss.",
	"Check.measures":                "data_loss: the check's value is seconds of data a rollback would lose (e.g. a backup's age), held against the service's max_data_loss. Readiness checks only.",
	"Check.drill":                   "Validation: the audited exception for a check an environment drill must share with production (lint otherwise refuses a check that observes the same in the drill as in production).",
	"CheckDrill.same_as_production": "The check may observe production during an environment drill; needs why.",
	"CheckDrill.why":                "Why the check must observe production; every drill scorecard shows it.",
	"Data.notes":                    "Anything else approvers should know.",
	"Validation.checks":             "The checks, measured over the window.",
	"DrillSettings.dry_run":         "Drills only preview the steps (nothing runs).",
	"DrillSettings.environment":     "Environment a drill runs in (e.g. staging).",
	"DrillSettings.params":          "Params that replace the service's in a drill.",
	"DrillSettings.roll_forward":    "After a successful environment drill, return the drill environment to the version it had: steps, or rerun.",
	"RollForward.steps":             "Actions run in order with .Target the version the environment had before the drill.",
	"RollForward.rerun":             "Run the runbook's own steps again, in file order, with .Target the version the environment had.",
	"ApprovalPolicy.min":            "Approvals needed.",
	"ApprovalPolicy.groups":         "Groups whose members may approve.",
	"ApprovalPolicy.users":          "Users who may approve (Slack user ids).",
	"ApprovalPolicy.roles":          "Roles that must each be represented (e.g. a DBA).",
	"ApprovalPolicy.forbid_self":    "The requester's own vote does not count (default true).",
	"ApprovalPolicy.expires_after":  "An unanswered proposal expires after this.",
	"ApprovalPolicy.override":       "Groups who may override a blocking readiness failure (default: the service's owners and approvers).",
}

// describe is the description of field name of struct t.
func describe(t reflect.Type, name string) string {
	if d, ok := descriptions[t.Name()+"."+name]; ok {
		return d
	}
	if t == policyT {
		return "" // bare keys describe runbook fields, not the policy's
	}
	return descriptions[name]
}

// Catalog is what the binary registers: the executors steps may use and the
// checks readiness and validation may use, each with its `with:` fields.
type Catalog struct {
	Executors []withdoc.Kind
	Checks    []withdoc.Kind
}

// JSONSchema returns a JSON Schema (draft-07) of the runbook format, derived
// from the Go types so it cannot drift from what the loader accepts, and
// from cat: `uses:` is completed from the registered names, and each one's
// `with:` keys are listed with their descriptions.
func JSONSchema(cat Catalog) []byte {
	s := schemaGen{cat}.of(reflect.TypeOf(Runbook{}))
	s["$schema"] = "http://json-schema.org/draft-07/schema#"
	s["$id"] = "https://backout.dev/schemas/runbook.json"
	s["title"] = "Backout runbook"
	s["required"] = []string{"name", "steps"}
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}

var (
	durationT = reflect.TypeOf(yamlx.Duration(0))
	nodeT     = reflect.TypeOf(yamlx.Node{})
	retriesT  = reflect.TypeOf(Retries{})
	policyT   = reflect.TypeOf(config.ApprovalPolicy{})
	stepT     = reflect.TypeOf(Step{})
	actionT   = reflect.TypeOf(Action{})
	checkT    = reflect.TypeOf(Check{})
	dataItemT = reflect.TypeOf(DataItem{})
)

type schemaGen struct{ cat Catalog }

func (g schemaGen) of(t reflect.Type) map[string]any {
	switch t {
	case durationT:
		return map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^[0-9]+d$|^0$`}
	case nodeT:
		return map[string]any{"type": "object"}
	case dataItemT:
		return map[string]any{"type": "string", "description": "name (note): a dotted data name such as orders.audit_log, then any description in parentheses"}
	case retriesT:
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "integer", "minimum": 0},
			map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
				"max": map[string]any{"type": "integer", "minimum": 0}, "backoff": g.of(durationT), "max_backoff": g.of(durationT)}},
		}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Struct:
		return g.object(t)
	}
	return map[string]any{}
}

func (g schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	for _, f := range yamlFields(t) {
		p := g.of(f.Type)
		if d := describe(t, f.Name); d != "" {
			p["description"] = d
		}
		if f.Name == "on_failure" {
			p["enum"] = []string{OnFailureAbort, OnFailureContinue, OnFailureCompensate}
		}
		props[f.Name] = p
	}
	out := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	switch t {
	case stepT, actionT:
		usesWith(out, g.cat.Executors)
	case checkT:
		usesWith(out, g.cat.Checks)
	}
	return out
}

// usesWith completes `uses:` with the registered names and, for each, says
// which `with:` keys it takes: an editor then offers them and flags a typo.
func usesWith(obj map[string]any, kinds []withdoc.Kind) {
	if len(kinds) == 0 {
		return
	}
	props := obj["properties"].(map[string]any)
	uses := props["uses"].(map[string]any)
	var names []string
	var cases []any
	for _, k := range kinds {
		names = append(names, k.Name)
		with := map[string]any{"type": "object", "additionalProperties": false, "properties": withProps(k.Fields, "")}
		if k.Summary != "" {
			with["description"] = k.Summary
		}
		cases = append(cases, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"uses": map[string]any{"const": k.Name}}, "required": []string{"uses"}},
			"then": map[string]any{"properties": map[string]any{"with": with}},
		})
	}
	uses["enum"] = names
	obj["allOf"] = cases
}

// withProps builds the properties of the keys directly under prefix; a
// dotted key (expect_json.path) is a property of its parent mapping.
func withProps(fields []withdoc.Field, prefix string) map[string]any {
	props := map[string]any{}
	for _, f := range fields {
		rest, ok := strings.CutPrefix(f.Key, prefix)
		if !ok || strings.Contains(rest, ".") {
			continue
		}
		p := map[string]any{"description": f.Doc}
		if f.JSONType != "" {
			p["type"] = f.JSONType
		}
		if f.JSONType == "object" && f.Type == "mapping" {
			p["additionalProperties"] = false
			p["properties"] = withProps(fields, f.Key+".")
		}
		props[rest] = p
	}
	return props
}

// field is one YAML key of a struct.
type field struct {
	Name string
	Type reflect.Type
}

// yamlFields lists t's YAML keys in declaration order.
func yamlFields(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, field{name, f.Type})
	}
	return out
}
