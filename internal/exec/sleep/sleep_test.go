package sleep

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/yamlx"
)

func node(t *testing.T, src string) yamlx.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return yamlx.Node{File: "r.yaml", Node: doc.Content[0]}
}

func TestValidate(t *testing.T) {
	tests := []struct{ src, want string }{
		{`duration: 30s`, ""},
		{`duration: "{{ .Params.pause }}"`, ""},
		{`{}`, `r.yaml:1:1: missing required field "duration"`},
		{"message: x\nduration: 1s", `r.yaml:1:1: unknown key "message"`},
		{`duration: [1s]`, `r.yaml:1:11: duration: expected a string, got a list`},
		{"duration: soon", `r.yaml:1:1: duration: invalid duration "soon" (examples: 30s, 5m, 1h, 7d)`},
		{"\nduration: 0s", `r.yaml:2:1: duration: must be more than 0`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			err := New().Validate(node(t, tt.src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRun(t *testing.T) {
	res, err := New().Run(context.Background(), exec.Request{With: node(t, `duration: 10ms`)})
	if err != nil || res.Output != "slept 10ms" {
		t.Fatalf("%+v %v", res, err)
	}
	res, err = New().Run(context.Background(), exec.Request{With: node(t, `duration: 1h`), DryRun: true})
	if err != nil || res.Output != "sleep 1h" {
		t.Fatalf("dry run %+v %v", res, err)
	}
}

func TestRunHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := New().Run(ctx, exec.Request{With: node(t, `duration: 1h`)})
	if !errors.Is(err, context.Canceled) || err.Error() != "sleep 1h interrupted: context canceled" {
		t.Fatalf("err = %v", err)
	}
}
