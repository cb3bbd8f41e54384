package runbook_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/runbook"
)

// paramsRunbook declares every kind of param: with a default, with an
// empty default (a value: the bug was dropping it), with no default at
// all, and required.
const paramsRunbook = `name: p
params:
  namespace: {required: true}
  container: {default: app}
  context: {default: ""}
  deployment: {default: ~}
  region: {}
  sandbox: {required: true, default: ""}
steps:
  - {id: only, uses: noop}
drill:
  params: {container: drill-app, region: drill-region}
`

func TestResolveParams(t *testing.T) {
	rb, err := runbook.Parse("p.yaml", []byte(paramsRunbook))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		svc     config.Service
		drill   bool
		want    map[string]string
		missing []string
	}{
		{"defaults, empty ones included", config.Service{Params: map[string]string{"namespace": "shop"}}, false,
			map[string]string{"namespace": "shop", "container": "app", "context": "", "sandbox": ""}, nil},
		{"the service's params win", config.Service{Params: map[string]string{"namespace": "shop", "context": "prod", "region": "eu"}}, false,
			map[string]string{"namespace": "shop", "container": "app", "context": "prod", "region": "eu", "sandbox": ""}, nil},
		{"a required param unset", config.Service{}, false,
			map[string]string{"container": "app", "context": "", "sandbox": ""}, []string{"namespace"}},
		{"drill params only in drills", config.Service{Params: map[string]string{"namespace": "shop"},
			Drill: &config.DrillPolicy{Params: map[string]string{"region": "svc-drill"}}}, false,
			map[string]string{"namespace": "shop", "container": "app", "context": "", "sandbox": ""}, nil},
		{"in a drill, the runbook's then the service's drill params", config.Service{Params: map[string]string{"namespace": "shop"},
			Drill: &config.DrillPolicy{Params: map[string]string{"region": "svc-drill"}}}, true,
			map[string]string{"namespace": "shop", "container": "drill-app", "context": "", "region": "svc-drill", "sandbox": ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, missing := runbook.ResolveParams(rb, &tt.svc, tt.drill)
			if !maps.Equal(got, tt.want) || !slices.Equal(missing, tt.missing) {
				t.Errorf("got %v, missing %v; want %v, missing %v", got, missing, tt.want, tt.missing)
			}
		})
	}
}

// TestLintCatalogRendersPerService: a runbook that lints on its own can
// still fail for a service that leaves a param unset; LintCatalog renders
// each template for each service and reports where it fails and for whom.
func TestLintCatalogRendersPerService(t *testing.T) {
	rb, err := runbook.Parse("rb.yaml", []byte(`name: rb
params:
  namespace: {required: true}
  context: {default: ""}
  region: {}
steps:
  - id: go
    uses: shell
    with: {args: ["{{ .Params.namespace }}", "{{ .Params.context }}", "{{ .Params.region }}"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"every param set", map[string]string{"namespace": "shop", "region": "eu"}, ""},
		{"a param with no default unset", map[string]string{"namespace": "shop"},
			`rb.yaml:9:71: service api: template: map has no entry for key "region"`},
		{"a required param unset", map[string]string{"region": "eu"},
			`bot.yaml:3:5: services.api.params: runbook "rb" requires param "namespace"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{File: "bot.yaml", Services: []config.Service{{
				Pos: config.Pos{File: "bot.yaml", Line: 2, Col: 5}, KeyPos: map[string]config.Pos{"params": {File: "bot.yaml", Line: 3, Col: 5}},
				Name: "api", Runbook: "rb", Params: tt.params,
			}}}
			var got string
			if err := runbook.LintCatalog(cfg, runbook.Set{"rb": rb}); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestDefaultDecoding: `default: ""` is a default (the empty string), and
// an absent or null one is none.
func TestDefaultDecoding(t *testing.T) {
	rb, err := runbook.Parse("p.yaml", []byte(paramsRunbook))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"container": "app", "context": "", "deployment": "<none>", "region": "<none>", "namespace": "<none>"} {
		got := "<none>"
		if d := rb.Params[name].Default; d != nil {
			got = *d
		}
		if got != want {
			t.Errorf("params.%s.default = %q, want %q", name, got, want)
		}
	}
}
