package kubectl

import "github.com/backout/backout/internal/withdoc"

// Describe implements withdoc.Describer: docs/runbooks.md and `bot schema`
// are generated from it.
func (e *Executor) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    e.Name(),
		Summary: "Runs kubectl with an argv built from typed fields, or raw `args`. Readiness runs `kubectl auth can-i` for each verb the action needs. Needs the kubectl binary: use the `tools` image.",
		Fields: withdoc.Fields(with{}, map[string]string{
			"action":         "set-image (deployment, container, image), rollout-undo (deployment, optional to_revision), rollout-status (deployment; `--timeout` derived from the step's timeout) or scale (deployment, replicas).",
			"args":           "Raw kubectl arguments (without `kubectl`), instead of an action.",
			"deployment":     "The Deployment's name.",
			"container":      "set-image: the container to change.",
			"image":          "set-image: the image, usually `{{ .Target.Artifact }}` (pinned by digest).",
			"to_revision":    "rollout-undo: the revision to go back to (default: the previous one).",
			"replicas":       "scale: the replica count.",
			"context":        "kubeconfig context (`--context`).",
			"namespace":      "Namespace (`--namespace`).",
			"kubeconfig_env": "Name of an environment variable holding the kubeconfig path, passed as KUBECONFIG (default: the bot's own KUBECONFIG, or the pod's service account).",
		}),
		Rules: []string{"Set either `action` (with its fields) or `args`, not both."},
	}
}
