package kubectl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/yamlx"
)

func node(t *testing.T, src string) yamlx.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return yamlx.Node{File: "r.yaml", Node: doc.Content[0]}
}

func TestValidate(t *testing.T) {
	tests := []struct{ src, want string }{
		{`{action: set-image, deployment: web, container: app, image: "reg/web@sha256:abc"}`, ""},
		{`{action: rollout-undo, deployment: "{{ .Params.deployment }}", to_revision: "{{ .Params.rev }}", namespace: "{{ .Params.ns }}"}`, ""},
		{`{action: scale, deployment: web, replicas: 0}`, ""},
		{`{action: rollout-status, deployment: web, context: prod-eu, kubeconfig_env: KUBE_PROD}`, ""},
		{`args: [get, pods]`, ""},
		{`{}`, `r.yaml:1:1: missing required field "action" or "args"`},
		{`{action: set-image, deployment: web}`, "r.yaml:1:1: missing required field \"container\" for action \"set-image\"\n" +
			`r.yaml:1:1: missing required field "image" for action "set-image"`},
		{`action: delete-everything`, `r.yaml:1:1: action: unknown action "delete-everything" (want rollout-status, rollout-undo, scale, set-image)`},
		{"action: scale\ndeployment: web\nreplicas: many", `r.yaml:3:1: replicas: expected a whole number of at least 0, got "many"`},
		{"action: scale\ndeployment: web\nreplicas: -1", `r.yaml:3:1: replicas: expected a whole number of at least 0, got "-1"`},
		{"action: scale\ndeployment: web\nreplicas: 2\nimage: x", `r.yaml:4:1: image: not used by action "scale"`},
		{"action: rollout-undo\ndeployment: Web_App", `r.yaml:2:1: deployment: "Web_App" is not a Kubernetes name (lower-case letters, digits and '-')`},
		// The step's timeout is the only one (runbook lint says so first).
		{"action: rollout-status\ndeployment: web\ntimeout: 5m", `r.yaml:3:1: unknown key "timeout"`},
		{"action: set-image\ndeployment: web\ncontainer: app\nimage: \"--help\"", `r.yaml:4:1: image: "--help" is not an image reference`},
		{"args: [get]\naction: scale", `r.yaml:1:1: args: set either action or args, not both`},
		{"args: [kubectl, get, pods]", `r.yaml:1:1: args[0]: leave out "kubectl"; args are what follows it`},
		{"args: []", `r.yaml:1:1: args: must not be empty`},
		{"args: [get]\ndeployment: web", `r.yaml:2:1: deployment: not used with args (only with action)`},
		{"args: [get]\nkubeconfig_env: kube-config", `r.yaml:2:1: kubeconfig_env: "kube-config" is not an environment variable name`},
		{"args: [get]\nnamesapce: x", `r.yaml:2:1: unknown key "namesapce" (did you mean "namespace"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			err := New("").Validate(node(t, tt.src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// fake writes a stand-in kubectl that logs its argv (one per line, then
// "---") and its KUBECONFIG, and denies `auth can-i list replicasets`.
func fake(t *testing.T) (bin, log string) {
	t.Helper()
	dir := t.TempDir()
	bin, log = filepath.Join(dir, "kubectl"), filepath.Join(dir, "argv.log")
	script := `#!/bin/sh
{ printf '%s\n' "$@"; echo ---; } >> '` + log + `'
case "$*" in
  *"auth can-i list replicasets"*) echo no; exit 1 ;;
  *"auth can-i"*) echo yes; exit 0 ;;
esac
echo "ran with KUBECONFIG=$KUBECONFIG SECRET=$SECRET"
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, log
}

func calls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range strings.Split(strings.TrimSuffix(string(b), "---\n"), "---\n") {
		out = append(out, strings.Join(strings.Fields(c), " "))
	}
	return out
}

func request(t *testing.T, src string) exec.Request {
	env := map[string]string{"PATH": os.Getenv("PATH"), "KUBE_PROD": "/etc/kube/prod", "SECRET": "must-not-pass"}
	return exec.Request{With: node(t, src), Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
}

// TestRunArgv also shows rollout-status's --timeout following the step's
// timeout (Request.Timeout), a little shorter so kubectl reports it first.
func TestRunArgv(t *testing.T) {
	const step = 10 * time.Minute
	tests := []struct {
		src     string
		timeout time.Duration
		want    string
	}{
		{`{action: set-image, deployment: web, container: app, image: "reg/web@sha256:abc", namespace: shop, context: prod}`, step,
			"--context=prod --namespace=shop set image deployment/web app=reg/web@sha256:abc"},
		{`{action: rollout-undo, deployment: web, to_revision: "3"}`, step, "rollout undo deployment/web --to-revision=3"},
		{`{action: rollout-undo, deployment: web}`, step, "rollout undo deployment/web"},
		{`{action: rollout-status, deployment: web, namespace: shop}`, 24 * time.Hour, "--namespace=shop rollout status deployment/web --timeout=23h59m30s"},
		{`{action: rollout-status, deployment: web}`, step, "rollout status deployment/web --timeout=9m30s"},
		{`{action: rollout-status, deployment: web}`, time.Minute, "rollout status deployment/web --timeout=54s"},
		{`{action: rollout-status, deployment: web}`, 0, "rollout status deployment/web"},
		{`{action: scale, deployment: web, replicas: 4}`, step, "scale deployment/web --replicas=4"},
		{`{args: [annotate, deploy/web, "note=a b"], namespace: shop}`, step, "--namespace=shop annotate deploy/web note=a b"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			bin, log := fake(t)
			req := request(t, tt.src)
			req.Timeout = tt.timeout
			res, err := New(bin).Run(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if got := calls(t, log); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("argv %q, want %q", got, tt.want)
			}
			if res.Output != "ran with KUBECONFIG= SECRET=\n" {
				t.Fatalf("output %q: environment not filtered", res.Output)
			}
		})
	}
}

func TestRunArgvKeepsArgumentsWhole(t *testing.T) {
	// "note=a b" must arrive as one argument: check the raw log lines.
	bin, log := fake(t)
	if _, err := New(bin).Run(context.Background(), request(t, `args: [annotate, "note=a b"]`)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	if string(b) != "annotate\nnote=a b\n---\n" {
		t.Fatalf("log %q", b)
	}
}

func TestKubeconfigEnv(t *testing.T) {
	bin, _ := fake(t)
	res, err := New(bin).Run(context.Background(), request(t, `{args: [version], kubeconfig_env: KUBE_PROD}`))
	if err != nil || res.Output != "ran with KUBECONFIG=/etc/kube/prod SECRET=\n" {
		t.Fatalf("%q %v", res.Output, err)
	}
	_, err = New(bin).Run(context.Background(), request(t, `{args: [version], kubeconfig_env: KUBE_MISSING}`))
	if err == nil || err.Error() != `kubeconfig_env: environment variable "KUBE_MISSING" is not set` {
		t.Fatalf("err = %v", err)
	}
}

func TestRenderedValuesChecked(t *testing.T) {
	// A parameter rendered into a name cannot smuggle in flags or spaces.
	bin, log := fake(t)
	_, err := New(bin).Run(context.Background(), request(t, `{action: scale, deployment: "web --all", replicas: "1"}`))
	if err == nil || !strings.Contains(err.Error(), `deployment: "web --all" is not a Kubernetes name`) {
		t.Fatalf("err = %v", err)
	}
	if calls(t, log) != nil {
		t.Fatal("kubectl ran")
	}
}

func TestDryRunAndPreview(t *testing.T) {
	bin, log := fake(t)
	req := request(t, `{action: set-image, deployment: web, container: app, image: "img:1", namespace: shop, kubeconfig_env: KUBE_PROD}`)
	want := "$ " + bin + " --namespace=shop set image deployment/web app=img:1\nKUBECONFIG from $KUBE_PROD"
	if got, err := New(bin).Preview(context.Background(), req); err != nil || got != want {
		t.Fatalf("preview %q, %v", got, err)
	}
	req.DryRun = true
	res, err := New(bin).Run(context.Background(), req)
	if err != nil || res.Output != want {
		t.Fatalf("%+v %v", res, err)
	}
	if calls(t, log) != nil {
		t.Fatal("dry run executed kubectl")
	}
}

func TestProbe(t *testing.T) {
	bin, log := fake(t)
	tests := []struct {
		src, failure string
		checks       []string
	}{
		{`{action: set-image, deployment: web, container: app, image: x, namespace: shop}`, "",
			[]string{"--namespace=shop auth can-i patch deployments"}},
		{`{action: rollout-undo, deployment: web, namespace: shop, context: prod}`, `missing permission: cannot list replicasets in namespace "shop"`,
			[]string{"--context=prod --namespace=shop auth can-i patch deployments", "--context=prod --namespace=shop auth can-i list replicasets"}},
		{`{action: scale, deployment: web, replicas: 1}`, "", []string{"auth can-i patch deployments --subresource=scale"}},
		{`args: [get, pods]`, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			os.Remove(log)
			got, err := New(bin).Probe(context.Background(), request(t, tt.src))
			if err != nil || got != tt.failure {
				t.Fatalf("probe %q, %v; want %q", got, err, tt.failure)
			}
			if c := calls(t, log); strings.Join(c, "|") != strings.Join(tt.checks, "|") {
				t.Fatalf("checks %q, want %q", c, tt.checks)
			}
		})
	}
	got, err := New("backout-no-such-kubectl").Probe(context.Background(), request(t, `args: [get]`))
	if err != nil || got != "backout-no-such-kubectl not found on PATH" {
		t.Fatalf("probe %q, %v", got, err)
	}
}
