// Package kubectl is the `uses: kubectl` executor: typed actions for the
// usual rollback moves (set-image, rollout-undo, rollout-status, scale) and
// a raw args form, all run as argv with a filtered environment.
package kubectl

import (
	"context"
	"errors"
	"fmt"
	osexec "os/exec"
	"strings"
	"time"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/exec/proc"
	"github.com/backout/backout/internal/yamlx"
)

// passEnv is what kubectl needs from the bot's environment: its config,
// in-cluster service discovery, and proxies.
var passEnv = []string{
	"KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
	"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy",
}

// probeTimeout bounds each `kubectl auth can-i` at readiness time.
const probeTimeout = 15 * time.Second

// Executor is the `uses: kubectl` executor.
type Executor struct{ bin string }

// New returns the executor running bin: "kubectl" (looked up on PATH) when
// empty, or a path (tests pass a fake).
func New(bin string) *Executor {
	if bin == "" {
		bin = "kubectl"
	}
	return &Executor{bin: bin}
}

// Name implements exec.Executor.
func (*Executor) Name() string { return "kubectl" }

// Validate implements exec.Executor.
func (*Executor) Validate(with yamlx.Node) error {
	_, err := decode(with, false)
	return err
}

// argv is the exact command: global flags first, so they also apply to
// raw args that end in "--". rollout-status waits, for a little less than
// the step's timeout (proc.ToolTimeout).
func (e *Executor) argv(s *spec, timeout time.Duration) []string {
	argv := []string{e.bin}
	argv = append(argv, globalFlags(s)...)
	deploy := "deployment/" + s.Deployment
	switch s.Action {
	case "":
		argv = append(argv, s.Args...)
	case "set-image":
		argv = append(argv, "set", "image", deploy, s.Container+"="+s.Image)
	case "rollout-undo":
		argv = append(argv, "rollout", "undo", deploy)
		if s.ToRevision != "" {
			argv = append(argv, "--to-revision="+s.ToRevision)
		}
	case "rollout-status":
		argv = append(argv, "rollout", "status", deploy)
		if t := proc.ToolTimeout(timeout); t != "" {
			argv = append(argv, "--timeout="+t)
		}
	case "scale":
		argv = append(argv, "scale", deploy, "--replicas="+s.Replicas)
	}
	return argv
}

func globalFlags(s *spec) []string {
	var flags []string
	if s.Context != "" {
		flags = append(flags, "--context="+s.Context)
	}
	if s.Namespace != "" {
		flags = append(flags, "--namespace="+s.Namespace)
	}
	return flags
}

// env is the child's environment; kubeconfig_env names the variable that
// holds this step's kubeconfig path.
func env(s *spec, lookup proc.Lookup) ([]string, error) {
	return proc.KubeEnv(lookup, passEnv, s.KubeconfigEnv)
}

// Preview implements exec.Executor: the exact argv.
func (e *Executor) Preview(_ context.Context, req exec.Request) (string, error) {
	s, err := decode(req.With, true)
	if err != nil {
		return "", err
	}
	return e.preview(s, req), nil
}

func (e *Executor) preview(s *spec, req exec.Request) string {
	return proc.CLIPreview(e.argv(s, req.Timeout), s.KubeconfigEnv, req.Redact)
}

// Run implements exec.Executor. A dry run executes nothing and returns the
// preview.
func (e *Executor) Run(ctx context.Context, req exec.Request) (exec.Result, error) {
	s, err := decode(req.With, true)
	if err != nil {
		return exec.Result{}, err
	}
	return proc.RunKubeCLI(ctx, req, e.argv(s, req.Timeout), passEnv, s.KubeconfigEnv)
}

// Probe implements exec.Prober: the binary is on PATH and, for typed
// actions, `kubectl auth can-i` grants every permission the action needs.
func (e *Executor) Probe(ctx context.Context, req exec.Request) (string, error) {
	s, err := decode(req.With, true)
	if err != nil {
		return "", err
	}
	if _, err := osexec.LookPath(e.bin); err != nil {
		return fmt.Sprintf("%s not found on PATH", e.bin), nil
	}
	childEnv, err := env(s, req.Env)
	if err != nil {
		return err.Error(), nil
	}
	var missing []string
	for _, p := range s.action.perms {
		if why := e.canI(ctx, s, p, childEnv, req.Redact); why != "" {
			missing = append(missing, why)
		}
	}
	return strings.Join(missing, "; "), nil
}

// canI asks the API server about one permission; "" means granted.
func (e *Executor) canI(ctx context.Context, s *spec, p perm, childEnv, redact []string) string {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	argv := append([]string{e.bin}, globalFlags(s)...)
	argv = append(argv, "auth", "can-i", p.verb, p.resource)
	if p.subresource != "" {
		argv = append(argv, "--subresource="+p.subresource)
	}
	o, err := proc.Run(ctx, proc.Spec{Argv: argv, Env: childEnv, OutputLimit: 4 << 10, KillGrace: time.Second, Redact: redact})
	where := ""
	if s.Namespace != "" {
		where = fmt.Sprintf(" in namespace %q", s.Namespace)
	}
	var ee *proc.ExitError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ee) && strings.HasPrefix(strings.TrimSpace(o.Stdout), "no"):
		return fmt.Sprintf("missing permission: cannot %s%s", p, where)
	default:
		return fmt.Sprintf("could not check permission to %s%s: %v", p, where, err)
	}
}
