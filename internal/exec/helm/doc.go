package helm

import "github.com/backout/backout/internal/withdoc"

// Describe implements withdoc.Describer: docs/runbooks.md and `bot schema`
// are generated from it.
func (e *Executor) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    e.Name(),
		Summary: "Runs `helm rollback` or `helm history` with an argv built from typed fields. Needs the helm binary: use the `tools` image.",
		Fields: withdoc.Fields(with{}, map[string]string{
			"action":         "Required: rollback or history.",
			"release":        "Required: the release name.",
			"revision":       "rollback: the revision to go back to (default: the previous one).",
			"namespace":      "Namespace (`--namespace`).",
			"wait":           "rollback: true to wait for the resources to be ready (`--wait`, with `--timeout` derived from the step's timeout).",
			"kube_context":   "kubeconfig context (`--kube-context`).",
			"kubeconfig_env": "Name of an environment variable holding the kubeconfig path, passed as KUBECONFIG.",
		}),
	}
}
