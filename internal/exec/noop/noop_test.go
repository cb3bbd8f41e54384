package noop

import (
	"context"
	"errors"
	"testing"

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
		{`message: hello`, ""},
		{`{}`, ""},
		{`mesage: hi`, `r.yaml:1:1: unknown key "mesage" (did you mean "message"?)`},
	}
	for _, tt := range tests {
		err := New().Validate(node(t, tt.src))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.src, got, tt.want)
		}
	}
	if err := New().Validate(yamlx.Node{}); err != nil {
		t.Fatalf("absent with: %v", err)
	}
}

func TestRun(t *testing.T) {
	res, err := New().Run(context.Background(), exec.Request{With: node(t, `message: "pretend to drain web"`)})
	if err != nil || res.Output != "pretend to drain web" {
		t.Fatalf("%+v %v", res, err)
	}
	res, err = New().Run(context.Background(), exec.Request{})
	if err != nil || res.Output != "noop" {
		t.Fatalf("%+v %v", res, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New().Run(ctx, exec.Request{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
