package proc

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/backout/backout/internal/exec"
)

// KubeEnv builds the environment of a Kubernetes CLI (kubectl, helm): the
// allow-listed variables, plus KUBECONFIG taken from the variable that
// kubeconfigEnv names, when the step sets one.
func KubeEnv(lookup Lookup, pass []string, kubeconfigEnv string) ([]string, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var set map[string]string
	if kubeconfigEnv != "" {
		v, ok := lookup(kubeconfigEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("kubeconfig_env: environment variable %q is not set", kubeconfigEnv)
		}
		set = map[string]string{"KUBECONFIG": v}
	}
	return Env(lookup, pass, set), nil
}

// ToolTimeout is the --timeout value of a CLI that waits (kubectl rollout
// status, helm rollback), derived from the step's timeout: a tenth less,
// at most 30s less, so the tool gives up first and says what it was
// waiting for, rather than being stopped at the step's deadline with
// nothing to show. "" when the step has no timeout.
func ToolTimeout(step time.Duration) string {
	if step <= 0 {
		return ""
	}
	d := step - min(step/10, 30*time.Second)
	if d >= time.Second {
		d = d.Truncate(time.Second)
	}
	// Written as people write it: 9m30s, 5m, 1h rather than 5m0s, 1h0m0s.
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// CLIPreview shows people the exact argv of a CLI step.
func CLIPreview(argv []string, kubeconfigEnv string, redact []string) string {
	out := "$ " + Quote(argv)
	if kubeconfigEnv != "" {
		out += "\nKUBECONFIG from $" + kubeconfigEnv
	}
	return exec.Redact(out, redact)
}

// RunKubeCLI is the Run of a Kubernetes CLI step (kubectl, helm): a dry
// run returns the preview; otherwise argv runs with the allow-listed
// environment and the step's kubeconfig.
func RunKubeCLI(ctx context.Context, req exec.Request, argv, pass []string, kubeconfigEnv string) (exec.Result, error) {
	if req.DryRun {
		return exec.Result{Output: CLIPreview(argv, kubeconfigEnv, req.Redact)}, nil
	}
	env, err := KubeEnv(req.Env, pass, kubeconfigEnv)
	if err != nil {
		return exec.Result{}, err
	}
	return RunCLI(ctx, argv, env, req)
}

// RunCLI runs a CLI step's argv with the request's limits and redaction.
func RunCLI(ctx context.Context, argv, env []string, req exec.Request) (exec.Result, error) {
	o, err := Run(ctx, Spec{Argv: argv, Env: env, OutputLimit: req.OutputLimit, KillGrace: req.KillGrace, FrozenParentLimit: req.FrozenLimit, StartBy: req.StartBy, Redact: req.Redact,
		Progress: StreamProgress(req.Progress)})
	return exec.Result{
		Output:   o.Text(),
		ExitCode: o.ExitCode,
		Detail:   map[string]string{"exit_code": strconv.Itoa(o.ExitCode)},
	}, err
}

// StreamProgress adapts a request's Progress to a Spec's; nil stays nil.
func StreamProgress(progress func(line string)) func(stream, line string) {
	if progress == nil {
		return nil
	}
	return func(_, line string) { progress(line) }
}
