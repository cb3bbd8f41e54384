// Package helm is the `uses: helm` executor: `helm rollback` and
// `helm history`, built as argv from typed fields.
package helm

import (
	"context"
	"fmt"
	osexec "os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/exec/proc"
	"github.com/backout/backout/internal/yamlx"
)

// passEnv is what helm needs from the bot's environment.
var passEnv = []string{
	"KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
	"HELM_DRIVER", "HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME",
	"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy",
}

const probeTimeout = 15 * time.Second

// Executor is the `uses: helm` executor.
type Executor struct{ bin string }

// New returns the executor running bin: "helm" (looked up on PATH) when
// empty, or a path (tests pass a fake).
func New(bin string) *Executor {
	if bin == "" {
		bin = "helm"
	}
	return &Executor{bin: bin}
}

// Name implements exec.Executor.
func (*Executor) Name() string { return "helm" }

// with is the `with:` of a helm step. Fields a template may fill are
// strings, parsed once rendered.
type with struct {
	KeyPos        map[string]yamlx.Pos
	Action        string `yaml:"action"`
	Release       string `yaml:"release"`
	Revision      string `yaml:"revision"`
	Namespace     string `yaml:"namespace"`
	Wait          string `yaml:"wait"`
	KubeContext   string `yaml:"kube_context"`
	KubeconfigEnv string `yaml:"kubeconfig_env"`
}

// rollbackOnly are the keys `history` does not take.
var rollbackOnly = []string{"revision", "wait"}

var (
	releaseName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	dnsLabel    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

func templated(s string) bool { return strings.Contains(s, "{{") }

// decode reads `with:` strictly; at lint time (final false) values holding a
// template are accepted unparsed.
func decode(n yamlx.Node, final bool) (*with, error) {
	var w with
	if err := n.Decode(&w); err != nil {
		return nil, err
	}
	var errs yamlx.Errors
	at := func(key string) yamlx.Pos { return yamlx.KeyAt(n.Pos(), w.KeyPos, key) }
	switch w.Action {
	case "":
		errs.Addf(n.Pos(), `missing required field "action"`)
	case "rollback":
	case "history":
		for _, k := range rollbackOnly {
			if _, ok := w.KeyPos[k]; ok {
				errs.Addf(at(k), "%s: not used by action %q", k, w.Action)
			}
		}
	default:
		errs.Addf(at("action"), "action: unknown action %q (want rollback or history)", w.Action)
	}
	if w.Release == "" {
		errs.Addf(n.Pos(), `missing required field "release"`)
	}
	check := func(key, v string, f func(string) error) {
		if v == "" || (!final && templated(v)) {
			return
		}
		if err := f(v); err != nil {
			errs.Addf(at(key), "%s: %v", key, err)
		}
	}
	check("release", w.Release, func(v string) error {
		if len(v) > 53 || !releaseName.MatchString(v) {
			return fmt.Errorf("%q is not a release name (lower-case letters, digits, '-' and '.')", v)
		}
		return nil
	})
	check("namespace", w.Namespace, func(v string) error {
		if !dnsLabel.MatchString(v) {
			return fmt.Errorf("%q is not a namespace name", v)
		}
		return nil
	})
	check("revision", w.Revision, func(v string) error {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return fmt.Errorf("expected a revision number, got %q", v)
		}
		return nil
	})
	check("wait", w.Wait, func(v string) error {
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("expected true or false, got %q", v)
		}
		return nil
	})
	check("kube_context", w.KubeContext, func(v string) error {
		if strings.HasPrefix(v, "-") || strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("%q is not a context name", v)
		}
		return nil
	})
	check("kubeconfig_env", w.KubeconfigEnv, func(v string) error {
		if !proc.ValidEnvName(v) {
			return fmt.Errorf("%q is not an environment variable name", v)
		}
		return nil
	})
	return &w, errs.Err()
}

// Validate implements exec.Executor.
func (*Executor) Validate(with yamlx.Node) error {
	_, err := decode(with, false)
	return err
}

// argv is the exact command, e.g.
// helm rollback web 3 -n shop --wait --timeout 9m30s. A rollback's
// --timeout is a little less than the step's (proc.ToolTimeout).
func (e *Executor) argv(w *with, timeout time.Duration) []string {
	argv := []string{e.bin, w.Action, w.Release}
	if w.Action == "rollback" && w.Revision != "" {
		argv = append(argv, w.Revision)
	}
	return append(argv, e.flags(w, timeout)...)
}

func (e *Executor) flags(w *with, timeout time.Duration) []string {
	var f []string
	if w.Namespace != "" {
		f = append(f, "-n", w.Namespace)
	}
	if wait, _ := strconv.ParseBool(w.Wait); wait {
		f = append(f, "--wait")
	}
	if t := proc.ToolTimeout(timeout); t != "" && w.Action == "rollback" {
		f = append(f, "--timeout", t)
	}
	if w.KubeContext != "" {
		f = append(f, "--kube-context", w.KubeContext)
	}
	return f
}

func env(w *with, lookup proc.Lookup) ([]string, error) {
	return proc.KubeEnv(lookup, passEnv, w.KubeconfigEnv)
}

// Preview implements exec.Executor: the exact argv.
func (e *Executor) Preview(_ context.Context, req exec.Request) (string, error) {
	w, err := decode(req.With, true)
	if err != nil {
		return "", err
	}
	return e.preview(w, req), nil
}

func (e *Executor) preview(w *with, req exec.Request) string {
	return proc.CLIPreview(e.argv(w, req.Timeout), w.KubeconfigEnv, req.Redact)
}

// Run implements exec.Executor; a dry run returns the preview.
func (e *Executor) Run(ctx context.Context, req exec.Request) (exec.Result, error) {
	w, err := decode(req.With, true)
	if err != nil {
		return exec.Result{}, err
	}
	return proc.RunKubeCLI(ctx, req, e.argv(w, req.Timeout), passEnv, w.KubeconfigEnv)
}

// Probe implements exec.Prober: helm is on PATH and the release's history
// is readable (which proves cluster access and the release's existence; it
// cannot prove the right to roll back).
func (e *Executor) Probe(ctx context.Context, req exec.Request) (string, error) {
	w, err := decode(req.With, true)
	if err != nil {
		return "", err
	}
	if _, err := osexec.LookPath(e.bin); err != nil {
		return fmt.Sprintf("%s not found on PATH", e.bin), nil
	}
	childEnv, err := env(w, req.Env)
	if err != nil {
		return err.Error(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	hist := &with{Action: "history", Release: w.Release, Namespace: w.Namespace, KubeContext: w.KubeContext}
	argv := append([]string{e.bin, "history", w.Release, "--max", "1"}, e.flags(hist, 0)...)
	_, err = proc.Run(ctx, proc.Spec{Argv: argv, Env: childEnv, OutputLimit: 4 << 10, KillGrace: time.Second, Redact: req.Redact})
	if err != nil {
		where := ""
		if w.Namespace != "" {
			where = fmt.Sprintf(" in namespace %q", w.Namespace)
		}
		return fmt.Sprintf("cannot read history of release %q%s: %v", w.Release, where, err), nil
	}
	return "", nil
}
