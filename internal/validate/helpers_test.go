package validate

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/yamlx"
)

// with parses a `with:` snippet as if it came from runbook.yaml.
func with(t testing.TB, src string) yamlx.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	if len(doc.Content) == 0 {
		return yamlx.Node{File: "runbook.yaml"}
	}
	return yamlx.Node{File: "runbook.yaml", Node: doc.Content[0]}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
