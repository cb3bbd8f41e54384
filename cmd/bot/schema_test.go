package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// compiledSchema compiles what `bot schema` prints.
func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	code, out, errOut := runBot(t, env(), "schema")
	if code != exitOK {
		t.Fatalf("bot schema: exit %d: %s", code, errOut)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("runbook.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("runbook.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return sch
}

func validateYAML(sch *jsonschema.Schema, src []byte) error {
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		return err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// TestSchemaAcceptsShippedRunbooks: an editor using the schema must not
// flag a runbook that lints, so every shipped one validates.
func TestSchemaAcceptsShippedRunbooks(t *testing.T) {
	sch := compiledSchema(t)
	files, _ := filepath.Glob("../../runbooks/*.yaml")
	if len(files) < 6 {
		t.Fatalf("found %d shipped runbooks, want at least 6", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateYAML(sch, src); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestSchemaKnowsWithKeys: the schema carries each executor's and check's
// `with:` keys, so a typo under `with:` is flagged in the editor.
func TestSchemaKnowsWithKeys(t *testing.T) {
	sch := compiledSchema(t)
	tests := []struct {
		name, runbook string
		ok            bool
	}{
		{"kubectl keys", "name: a\nsteps:\n  - {id: s, uses: kubectl, with: {action: scale, deployment: d, replicas: '3'}}\n", true},
		{"kubectl typo", "name: a\nsteps:\n  - {id: s, uses: kubectl, with: {action: scale, deploymnet: d}}\n", false},
		{"http nested", "name: a\nsteps:\n  - {id: s, uses: http, with: {url: 'http://x', expect_json: {path: $.v, equals: '1'}}}\n", true},
		{"http nested typo", "name: a\nsteps:\n  - {id: s, uses: http, with: {url: 'http://x', expect_json: {pth: $.v}}}\n", false},
		{"compensation typo", "name: a\nsteps:\n  - {id: s, uses: noop, compensate: {uses: sleep, with: {duraton: 1s}}}\n", false},
		{"unknown executor", "name: a\nsteps:\n  - {id: s, uses: kubctl}\n", false},
		{"check keys", "name: a\nsteps: [{id: s, uses: noop}]\nreadiness:\n  - {name: c, uses: promql, with: {query: up, below: 1}}\n", true},
		{"check typo", "name: a\nsteps: [{id: s, uses: noop}]\nreadiness:\n  - {name: c, uses: promql, with: {qeury: up}}\n", false},
		{"check is not an executor", "name: a\nsteps:\n  - {id: s, uses: promql}\n", false},
	}
	for _, tt := range tests {
		err := validateYAML(sch, []byte(tt.runbook))
		if (err == nil) != tt.ok {
			t.Errorf("%s: validation error %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestCatalogDescribesEveryKind: every registered executor and check
// documents its `with:` (catalog fails otherwise, and withdoc.Fields
// panics on an undocumented key).
func TestCatalogDescribesEveryKind(t *testing.T) {
	cat, err := catalog()
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Executors) != 8 || len(cat.Checks) != 7 {
		t.Errorf("catalog has %d executors and %d checks, want 8 and 7 (registry.go)", len(cat.Executors), len(cat.Checks))
	}
	for _, k := range append(cat.Executors, cat.Checks...) {
		if k.Name == "" || k.Summary == "" || len(k.Fields) == 0 {
			t.Errorf("%q: name, summary and fields are required: %+v", k.Name, k)
		}
	}
}
