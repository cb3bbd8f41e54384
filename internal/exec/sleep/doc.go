package sleep

import "github.com/backout/backout/internal/withdoc"

// Describe implements withdoc.Describer: docs/runbooks.md and `bot schema`
// are generated from it.
func (e *Executor) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    e.Name(),
		Summary: "Waits a fixed time, to let a change settle, or in drills and tests. Stops early when the run is aborted.",
		Fields: withdoc.Fields(with{}, map[string]string{
			"duration": "Required: how long, such as 30s or 2m; keep it under the step's timeout.",
		}),
	}
}
