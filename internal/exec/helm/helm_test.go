package helm

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
		{`{action: rollback, release: web, revision: 3, namespace: shop, wait: true}`, ""},
		{`{action: rollback, release: "{{ .Service.Name }}", revision: "{{ .Params.rev }}", wait: "{{ .Params.wait }}"}`, ""},
		{`{action: history, release: web}`, ""},
		{`{}`, "r.yaml:1:1: missing required field \"action\"\nr.yaml:1:1: missing required field \"release\""},
		{`{action: undo, release: web}`, `r.yaml:1:2: action: unknown action "undo" (want rollback or history)`},
		{"action: history\nrelease: web\nrevision: 2", `r.yaml:3:1: revision: not used by action "history"`},
		{"action: rollback\nrelease: Web_1", `r.yaml:2:1: release: "Web_1" is not a release name (lower-case letters, digits, '-' and '.')`},
		{"action: rollback\nrelease: web\nrevision: latest", `r.yaml:3:1: revision: expected a revision number, got "latest"`},
		{"action: rollback\nrelease: web\nwait: sometimes", `r.yaml:3:1: wait: expected true or false, got "sometimes"`},
		// The step's timeout is the only one (runbook lint says so first).
		{"action: rollback\nrelease: web\ntimeout: 5m", `r.yaml:3:1: unknown key "timeout"`},
		{"action: rollback\nrelease: web\nkube_context: --all", `r.yaml:3:1: kube_context: "--all" is not a context name`},
		{"action: rollback\nrelease: web\nnamespce: x", `r.yaml:3:1: unknown key "namespce" (did you mean "namespace"?)`},
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

// fake writes a stand-in helm that logs its argv and fails `history` for
// the release "gone".
func fake(t *testing.T) (bin, log string) {
	t.Helper()
	dir := t.TempDir()
	bin, log = filepath.Join(dir, "helm"), filepath.Join(dir, "argv.log")
	script := `#!/bin/sh
{ printf '%s\n' "$@"; echo ---; } >> '` + log + `'
if [ "$1 $2" = "history gone" ]; then echo 'Error: release: not found' >&2; exit 1; fi
echo "Rollback was a success! KUBECONFIG=$KUBECONFIG"
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
		out = append(out, strings.Join(strings.Split(strings.TrimSuffix(c, "\n"), "\n"), " "))
	}
	return out
}

func request(t *testing.T, src string) exec.Request {
	env := map[string]string{"PATH": os.Getenv("PATH"), "KUBE_STAGING": "/kube/staging"}
	return exec.Request{With: node(t, src), Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
}

// TestRunArgv also shows a rollback's --timeout following the step's
// timeout (Request.Timeout), a little shorter so helm reports it first.
func TestRunArgv(t *testing.T) {
	tests := []struct {
		src     string
		timeout time.Duration
		want    string
	}{
		{`{action: rollback, release: web, revision: 3, namespace: shop, wait: true}`, 5 * time.Minute, "rollback web 3 -n shop --wait --timeout 4m30s"},
		{`{action: rollback, release: web, wait: false, kube_context: prod}`, 24 * time.Hour, "rollback web --timeout 23h59m30s --kube-context prod"},
		{`{action: rollback, release: web}`, 0, "rollback web"},
		{`{action: history, release: web, namespace: shop}`, 10 * time.Minute, "history web -n shop"},
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
			if res.Output != "Rollback was a success! KUBECONFIG=\n" {
				t.Fatalf("output %q", res.Output)
			}
		})
	}
}

func TestKubeconfigEnvAndDryRun(t *testing.T) {
	bin, log := fake(t)
	req := request(t, `{action: rollback, release: web, revision: 2, kubeconfig_env: KUBE_STAGING}`)
	res, err := New(bin).Run(context.Background(), req)
	if err != nil || res.Output != "Rollback was a success! KUBECONFIG=/kube/staging\n" {
		t.Fatalf("%q %v", res.Output, err)
	}
	os.Remove(log)
	req.DryRun = true
	res, err = New(bin).Run(context.Background(), req)
	if want := "$ " + bin + " rollback web 2\nKUBECONFIG from $KUBE_STAGING"; err != nil || res.Output != want {
		t.Fatalf("dry run %q, %v; want %q", res.Output, err, want)
	}
	if calls(t, log) != nil {
		t.Fatal("dry run executed helm")
	}
}

func TestProbe(t *testing.T) {
	bin, log := fake(t)
	got, err := New(bin).Probe(context.Background(), request(t, `{action: rollback, release: web, revision: 2, namespace: shop, wait: true}`))
	if err != nil || got != "" {
		t.Fatalf("probe %q, %v", got, err)
	}
	if c := calls(t, log); len(c) != 1 || c[0] != "history web --max 1 -n shop" {
		t.Fatalf("probe ran %q", c)
	}
	got, err = New(bin).Probe(context.Background(), request(t, `{action: rollback, release: gone, namespace: shop}`))
	if want := `cannot read history of release "gone" in namespace "shop": helm exited with status 1: Error: release: not found`; err != nil || got != want {
		t.Fatalf("probe %q, %v; want %q", got, err, want)
	}
	got, _ = New("backout-no-such-helm").Probe(context.Background(), request(t, `{action: history, release: web}`))
	if got != "backout-no-such-helm not found on PATH" {
		t.Fatalf("probe %q", got)
	}
}
