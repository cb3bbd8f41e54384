package validate

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/yamlx"
)

// FuzzBaselineWindow: any `baseline:` value lints without panicking, and
// every error it reports is positioned (file:line:col: message).
func FuzzBaselineWindow(f *testing.F) {
	for _, seed := range []string{"1h", "0", "{from: 2026-12-01T10:00:00Z, to: 2026-12-01T11:00:00Z}", "{from: x}", "[1, 2]", "{to: '{{ .P }}', from: y, z: 1}", "~"} {
		f.Add(seed)
	}
	c := NewPromQLBaseline("")
	f.Fuzz(func(t *testing.T, baseline string) {
		if strings.ContainsAny(baseline, "\n\r\t") {
			return
		}
		var doc yaml.Node
		src := "{query: q, max_increase: 10%, baseline: " + baseline + "}"
		if yaml.Unmarshal([]byte(src), &doc) != nil || len(doc.Content) == 0 {
			return
		}
		err := c.Validate(yamlx.Node{File: "runbook.yaml", Node: doc.Content[0]})
		if err == nil {
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "runbook.yaml:") {
				t.Fatalf("unpositioned error %q for %q", line, baseline)
			}
		}
	})
}
