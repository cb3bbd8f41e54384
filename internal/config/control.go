package config

import (
	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/edge"
	"github.com/backout/backout/internal/yamlx"
)

// checkNoControl refuses control characters in any value of the file (a
// double-quoted "\0" or "\e" is valid YAML): service params become step
// arguments, where a NUL fails only when a rollback runs. Tabs and line
// breaks stay allowed, for block scalars.
func checkNoControl(file string, data []byte, errs *yamlx.Errors) {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return // the decoder reports syntax errors
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			if p := edge.Problem("value", n.Value, true); p != "" {
				errs.Addf(yamlx.Pos{File: file, Line: n.Line, Col: n.Column}, "%s", p)
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
}
