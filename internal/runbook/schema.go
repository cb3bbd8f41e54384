package runbook

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/yamlx"
)

// descriptions document the runbook fields in the schema, so editors show
// them on hover.
var descriptions = map[string]string{
	"name":        "Runbook name, referenced by services.<name>.runbook in bot.yaml.",
	"params":      "Typed parameters; templates read them as {{ .Params.<name> }}.",
	"approval":    "Approval policy override for rollbacks using this runbook.",
	"readiness":   "Checks run at proposal time and again just before execution.",
	"steps":       "The steps; they run in `needs` order, independent ones in parallel.",
	"id":          "Step id: lower-case letters, digits, '-' and '_'.",
	"uses":        "Executor (steps) or check (readiness, validation) to use.",
	"with":        "Arguments of the executor or check; string values may be Go templates.",
	"needs":       "Ids of steps that must finish first.",
	"timeout":     "Duration such as 30s, 5m or 1h.",
	"retries":     "A retry count, or {max, backoff, max_backoff}; only errors the executor marks retryable are retried.",
	"if":          "A template; the step is skipped when it renders false, 0, no or empty.",
	"on_failure":  "abort (default), continue, or compensate (run the compensations of completed steps in reverse).",
	"compensate":  "The action that undoes this step.",
	"gate":        "Pause before this step until the named group signs off.",
	"idempotent":  "The step is safe to run twice; declares that a resume may re-run it.",
	"data":        "What the rollback reverts and what must stay.",
	"validation":  "Checks that prove the service healthy after the steps.",
	"postmortem":  "Path (relative to this file) of a Markdown Go template for the post-mortem.",
	"drill":       "How drills of this runbook differ: dry_run, environment, params.",
	"blocking":    "A failing blocking check stops execution unless a person overrides it.",
	"window":      "How long validation runs.",
	"description": "What this is for, in a sentence.",
}

// JSONSchema returns a JSON Schema (draft-07) of the runbook format, derived
// from the Go types so it cannot drift from what the loader accepts.
func JSONSchema() []byte {
	s := schemaOf(reflect.TypeOf(Runbook{}))
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
)

func schemaOf(t reflect.Type) map[string]any {
	switch t {
	case durationT:
		return map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^[0-9]+d$|^0$`}
	case nodeT:
		return map[string]any{"type": "object"}
	case retriesT:
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "integer", "minimum": 0},
			map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
				"max": map[string]any{"type": "integer", "minimum": 0}, "backoff": schemaOf(durationT), "max_backoff": schemaOf(durationT)}},
		}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			p := schemaOf(f.Type)
			if d, ok := descriptions[name]; ok && t != policyT {
				p["description"] = d
			}
			if name == "on_failure" {
				p["enum"] = []string{"abort", "continue", "compensate"}
			}
			props[name] = p
		}
		return map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	}
	return map[string]any{}
}
