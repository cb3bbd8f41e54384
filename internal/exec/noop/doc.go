package noop

import "github.com/backout/backout/internal/withdoc"

// Describe implements withdoc.Describer: docs/runbooks.md and `bot schema`
// are generated from it.
func (e *Executor) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    e.Name(),
		Summary: "Does nothing and says so: for runbook skeletons, drills and tests. `with:` may be left out.",
		Fields: withdoc.Fields(with{}, map[string]string{
			"message": "What the step reports (default `noop`).",
		}),
	}
}
