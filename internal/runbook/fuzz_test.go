package runbook_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/yamlx"
)

// positioned is every error line's shape: file:line:col: message, or
// file: message for a problem of the whole file. The file is named
// exactly, so a message split over lines cannot pass for one.
var positioned = regexp.MustCompile(`^` + regexp.QuoteMeta(fuzzFile) + `(?::\d+:\d+)?: .+`)

const fuzzFile = "rb.yaml"

// fakeWith decodes a `with:` tree strictly into a small struct, as real
// executors and checkers do, so their errors flow through Lint too.
type fakeWith struct{}

func (fakeWith) Validate(with yamlx.Node) error {
	var w struct {
		URL    string            `yaml:"url"`
		Args   []string          `yaml:"args"`
		Env    map[string]string `yaml:"env"`
		Wait   yamlx.Duration    `yaml:"wait"`
		Expect int               `yaml:"expect_status"`
	}
	return with.Decode(&w)
}

func fakeLookup(kind string, known ...string) func(string) (runbook.WithValidator, error) {
	return func(name string) (runbook.WithValidator, error) {
		for _, k := range known {
			if k == name {
				return fakeWith{}, nil
			}
		}
		return nil, fmt.Errorf("unknown %s %q", kind, name)
	}
}

var fakeKinds = runbook.Kinds{
	Executor: fakeLookup("executor", "http", "shell", "kubectl"),
	Checker:  fakeLookup("checker", "promql", "http-smoke"),
}

// FuzzParseAndLint: Parse and Lint never panic on any bytes, and every
// problem they report is positioned in the file.
func FuzzParseAndLint(f *testing.F) {
	f.Add([]byte("name: x\nsteps:\n  - id: a\n    uses: http\n    with: {url: \"{{ .Service.Name }}\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rb, err := runbook.Parse(fuzzFile, data)
		if err != nil {
			checkPositioned(t, data, err)
		}
		if rb == nil {
			if err == nil {
				t.Fatalf("no runbook and no error for %q", data)
			}
			return
		}
		if err := runbook.Lint(rb, fakeKinds); err != nil {
			checkPositioned(t, data, err)
		}
	})
}

func checkPositioned(t *testing.T, data []byte, err error) {
	t.Helper()
	var list yamlx.Errors
	if !errors.As(err, &list) {
		t.Fatalf("error is not yamlx.Errors (%T): %v\ninput: %q", err, err, data)
	}
	for _, e := range list {
		if e.Pos.File != fuzzFile {
			t.Fatalf("error names file %q, want %q: %v\ninput: %q", e.Pos.File, fuzzFile, e, data)
		}
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !positioned.MatchString(line) {
			t.Fatalf("error line %q is not file:line:col: message\nwhole error: %v\ninput: %q", line, err, data)
		}
	}
}

var fuzzCtx = runbook.Context{
	Service:  runbook.ServiceInfo{Name: "checkout", Environment: "production", Channel: "C1"},
	Target:   runbook.Release{Version: "1.2.3", Artifact: "registry/checkout@sha256:abc"},
	Current:  runbook.Release{Version: "1.3.0"},
	Params:   map[string]string{"namespace": "shop", "flag": ""},
	Rollback: runbook.RollbackInfo{ID: "RB-1", Requester: "alice", Reason: "{{ .Params.namespace }}"},
}

var fuzzParams = map[string]runbook.ParamSpec{"namespace": {}, "flag": {}}

// FuzzRender: CheckTemplate and Render never panic on any template text,
// and a template lint finds nothing wrong with renders without a missing
// key error. Text that ranges is only linted: `range 1e9` is a valid
// template whose output is as large as its author asks.
func FuzzRender(f *testing.F) {
	f.Add("deployment/{{ .Params.namespace }}")
	f.Fuzz(func(t *testing.T, text string) {
		problems := runbook.CheckTemplate(text, fuzzParams)
		if strings.Contains(text, "range") || strings.Contains(text, "template") {
			return
		}
		out, err := runbook.Render(text, fuzzCtx)
		if err == nil && !strings.Contains(text, "{{") && out != text {
			t.Fatalf("Render changed plain text %q to %q", text, out)
		}
		if err != nil && len(problems) == 0 && strings.Contains(err.Error(), "map has no entry for key") {
			t.Fatalf("CheckTemplate passed %q but Render failed on a missing key: %v", text, err)
		}
	})
}
