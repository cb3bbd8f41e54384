package plugin

import "github.com/backout/backout/internal/withdoc"

// Describe implements withdoc.Describer: docs/runbooks.md and `bot schema`
// are generated from it.
func (e *Executor) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    e.Name(),
		Summary: "Runs an external program that reads one JSON request on stdin and writes one JSON response (internal/exec/plugin/PROTOCOL.md), in its own process group with a filtered environment. Its stderr lines are shown live under the step.",
		Fields: withdoc.Fields(with{}, map[string]string{
			"name":   "Runs `runbooks/plugins/backout-plugin-NAME`.",
			"path":   "Or a path to the program, relative to the runbook's directory (it may not leave it).",
			"config": "Any YAML, handed to the plugin as `config` (string values may be templates).",
			"env":    "Names of the bot's environment variables the plugin may see, besides PATH and HOME.",
		}),
		Rules: []string{"Set either `name` or `path`."},
	}
}
