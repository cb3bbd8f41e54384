package deploy_test

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec/helm"
	httpexec "github.com/backout/backout/internal/exec/http"
	"github.com/backout/backout/internal/exec/kubectl"
	"github.com/backout/backout/internal/exec/noop"
	"github.com/backout/backout/internal/exec/plugin"
	"github.com/backout/backout/internal/exec/shell"
	"github.com/backout/backout/internal/exec/sleep"
	"github.com/backout/backout/internal/exec/wait"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/validate"
)

// The paths the image and every manifest agree on.
const (
	configPath   = "/etc/backout/bot.yaml"
	runbooksPath = "/etc/backout/runbooks"
)

// imageKinds resolves `uses:` for lint the way an image flavour can run
// them: the minimal (distroless) image has no kubectl, helm or shell, so an
// example runbook using one there would fail at run time; the tools image
// has them.
func imageKinds(cfg *config.Config, flavor string) runbook.Kinds {
	executors := map[string]runbook.WithValidator{
		"http":  httpexec.New(),
		"wait":  wait.New(wait.Config{PrometheusURL: cfg.Prometheus.URL}),
		"sleep": sleep.New(),
		"noop":  noop.New(),
	}
	if flavor == "tools" {
		executors["shell"] = shell.New()
		executors["kubectl"] = kubectl.New("kubectl")
		executors["helm"] = helm.New("helm")
		executors["plugin"] = plugin.New(filepath.Join(runbooksPath, "plugins"))
	}
	// Checks are built into the bot: both images run every one.
	checkers := map[string]runbook.WithValidator{
		"promql":          validate.NewPromQL(cfg.Prometheus.URL),
		"promql-baseline": validate.NewPromQLBaseline(cfg.Prometheus.URL),
		"canary":          validate.NewCanary(cfg.Prometheus.URL),
		"http-smoke":      validate.NewHTTPSmoke(nil),
		"version":         validate.NewVersion(nil, cfg.Prometheus.URL),
		"sql":             validate.NewSQL(),
		"artifact":        validate.NewArtifact(nil, cfg.Registry.URL),
	}
	lookup := func(kinds map[string]runbook.WithValidator, what string) func(string) (runbook.WithValidator, error) {
		return func(name string) (runbook.WithValidator, error) {
			if v, ok := kinds[name]; ok {
				return v, nil
			}
			return nil, fmt.Errorf("%s %q is not one the %s image can run (or the deploy examples may use)", what, name, flavor)
		}
	}
	return runbook.Kinds{Executor: lookup(executors, "executor"), Checker: lookup(checkers, "checker")}
}

// checkBotConfig loads bot.yaml and the runbooks with Backout's own loaders
// and lints them together, as `bot lint` does, so a deploy example cannot
// drift from the config and runbook formats.
func checkBotConfig(t *testing.T, where, flavor, botYAML string, runbooks map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(where+"/bot.yaml", []byte(botYAML), func(string) string { return "" })
	if err != nil {
		t.Fatalf("%s: bot.yaml does not load:\n%v", where, err)
	}
	if len(runbooks) == 0 {
		t.Errorf("%s: no runbooks", where)
	}
	set := runbook.Set{}
	for file, src := range runbooks {
		if ext := path.Ext(file); ext != ".yaml" && ext != ".yml" {
			t.Errorf("%s: runbook %s is not .yaml or .yml, so Backout would ignore it", where, file)
		}
		rb, err := runbook.Parse(where+"/runbooks/"+file, []byte(src))
		if err != nil {
			t.Errorf("%s: runbook %s does not load:\n%v", where, file, err)
			continue
		}
		if err := runbook.Lint(rb, imageKinds(cfg, flavor)); err != nil {
			t.Errorf("%s: runbook %s fails lint:\n%v", where, file, err)
		}
		set[rb.Name] = rb
	}
	if err := runbook.LintCatalog(cfg, set); err != nil {
		t.Errorf("%s: config and runbooks disagree:\n%v", where, err)
	}
	return cfg
}

// manifests is a set of Kubernetes objects.
type manifests []map[string]any

func (ms manifests) ofKind(kind string) []map[string]any {
	var out []map[string]any
	for _, m := range ms {
		if m["kind"] == kind {
			out = append(out, m)
		}
	}
	return out
}

func (ms manifests) find(kind, name string) map[string]any {
	for _, m := range ms.ofKind(kind) {
		if digString(m, "metadata", "name") == name {
			return m
		}
	}
	return nil
}

// stringMap converts a decoded map of strings (ConfigMap data, labels).
func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// checkWorkload checks a complete deployment of Backout — the plain manifests
// or a Helm render — and returns the container's secret env var names.
func checkWorkload(t *testing.T, where string, ms manifests, wantReplicas int) []string {
	t.Helper()
	deps := ms.ofKind("Deployment")
	if len(deps) != 1 {
		t.Fatalf("%s: want one Deployment, got %d", where, len(deps))
	}
	dep := deps[0]
	if r, _ := dig(dep, "spec", "replicas"); fmt.Sprint(r) != strconv.Itoa(wantReplicas) {
		t.Errorf("%s: replicas = %v, want %d", where, r, wantReplicas)
	}
	pod, _ := dig(dep, "spec", "template")
	c, _ := dig(pod, "spec", "containers", 0)
	if got := fmt.Sprint(digList(c, "args")); got != fmt.Sprint([]any{"serve", "--config", configPath}) {
		t.Errorf("%s: container args %s, want [serve --config %s]", where, got, configPath)
	}
	checkSecurity(t, where, pod, c)
	checkProbes(t, where, c)

	volumes := map[string]map[string]any{}
	for _, v := range digList(pod, "spec", "volumes") {
		volumes[digString(v, "name")] = v.(map[string]any)
	}
	configMapAt := func(mountPath string) (map[string]string, string) {
		for _, m := range digList(c, "volumeMounts") {
			if digString(m, "mountPath") != mountPath {
				continue
			}
			name := digString(volumes[digString(m, "name")], "configMap", "name")
			cm := ms.find("ConfigMap", name)
			if cm == nil {
				t.Fatalf("%s: %s is mounted from ConfigMap %q, which is not defined", where, mountPath, name)
			}
			return stringMap(cm["data"]), digString(m, "subPath")
		}
		t.Fatalf("%s: nothing is mounted at %s", where, mountPath)
		return nil, ""
	}
	cfgData, sub := configMapAt(configPath)
	if sub != "bot.yaml" || cfgData["bot.yaml"] == "" {
		t.Fatalf("%s: %s must be the ConfigMap key bot.yaml (subPath %q)", where, configPath, sub)
	}
	runbooks, _ := configMapAt(runbooksPath)
	flavor := checkFlavor(t, where, pod, c)
	cfg := checkBotConfig(t, where, flavor, cfgData["bot.yaml"], runbooks)
	checkTerminationGrace(t, where, pod, cfg)
	if cfg.Runbooks != runbooksPath {
		t.Errorf("%s: bot.yaml runbooks = %q, want %s where they are mounted", where, cfg.Runbooks, runbooksPath)
	}
	if wantReplicas > 1 && cfg.Store.Kind != "redis" {
		t.Errorf("%s: %d replicas need store.kind redis, got %q", where, wantReplicas, cfg.Store.Kind)
	}
	port, _ := dig(c, "ports", 0, "containerPort")
	if want := ":" + fmt.Sprint(port); cfg.Listen != want {
		t.Errorf("%s: bot.yaml listen = %q, but the container port is %v", where, cfg.Listen, port)
	}
	checkService(t, where, ms, stringMap(digMap(pod, "metadata", "labels")))
	return checkSecretEnv(t, where, c)
}

// checkFlavor returns the image flavour a workload runs: the Helm chart
// labels its pods with it; the plain manifests run the minimal image. The
// image reference must agree with the label.
func checkFlavor(t *testing.T, where string, pod, c any) string {
	t.Helper()
	image := digString(c, "image")
	flavor := digString(pod, "metadata", "labels", "backout.dev/image-flavor")
	switch flavor {
	case "":
		flavor = "minimal"
		if strings.HasSuffix(image, "-tools") {
			flavor = "tools"
		}
	case "minimal", "tools":
		if strings.HasSuffix(image, "-tools") != (flavor == "tools") {
			t.Errorf("%s: pod labelled image-flavor %s runs image %s", where, flavor, image)
		}
	default:
		t.Errorf("%s: image-flavor label %q, want minimal or tools", where, flavor)
	}
	return flavor
}

func digMap(v any, p ...any) map[string]any {
	got, _ := dig(v, p...)
	m, _ := got.(map[string]any)
	return m
}

func checkSecurity(t *testing.T, where string, pod, c any) {
	t.Helper()
	want := map[string]any{
		"runAsNonRoot":             true,
		"readOnlyRootFilesystem":   true,
		"allowPrivilegeEscalation": false,
	}
	for k, v := range want {
		if got, _ := dig(c, "securityContext", k); got != v {
			t.Errorf("%s: container securityContext.%s = %v, want %v", where, k, got, v)
		}
	}
	if drop := digList(c, "securityContext", "capabilities", "drop"); !slices.Contains(drop, any("ALL")) {
		t.Errorf("%s: container must drop ALL capabilities, drops %v", where, drop)
	}
	if uid, _ := dig(pod, "spec", "securityContext", "runAsUser"); fmt.Sprint(uid) != "65532" {
		t.Errorf("%s: pod runAsUser = %v, want 65532 (distroless nonroot)", where, uid)
	}
}

func checkProbes(t *testing.T, where string, c any) {
	t.Helper()
	for probe, want := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if got := digString(c, probe, "httpGet", "path"); got != want {
			t.Errorf("%s: %s path = %q, want %s", where, probe, got, want)
		}
		if got := digString(c, probe, "httpGet", "port"); got != "http" {
			t.Errorf("%s: %s port = %q, want the named port http", where, probe, got)
		}
	}
}

func checkService(t *testing.T, where string, ms manifests, podLabels map[string]string) {
	t.Helper()
	svcs := ms.ofKind("Service")
	if len(svcs) != 1 {
		t.Fatalf("%s: want one Service, got %d", where, len(svcs))
	}
	sel := stringMap(digMap(svcs[0], "spec", "selector"))
	if len(sel) == 0 {
		t.Errorf("%s: Service has no selector", where)
	}
	for k, v := range sel {
		if podLabels[k] != v {
			t.Errorf("%s: Service selects %s=%s, which the pods lack (pod labels %v)", where, k, v, podLabels)
		}
	}
	if got := digString(svcs[0], "spec", "ports", 0, "targetPort"); got != "http" {
		t.Errorf("%s: Service targetPort = %q, want http", where, got)
	}
}

// checkSecretEnv checks that every credential Backout reads comes from a
// Secret, never a literal, and returns the variables set from Secrets.
func checkSecretEnv(t *testing.T, where string, c any) []string {
	t.Helper()
	fromSecret := map[string]bool{}
	var names []string
	for _, e := range digList(c, "env") {
		name := digString(e, "name")
		if key := digString(e, "valueFrom", "secretKeyRef", "key"); key != "" {
			fromSecret[name] = true
			names = append(names, name)
			if key != name {
				t.Errorf("%s: env %s reads Secret key %s; keys are named after the variable", where, name, key)
			}
		} else if slices.Contains(config.SecretEnvVars, name) {
			t.Errorf("%s: env %s is set without a secretKeyRef", where, name)
		}
	}
	for _, v := range config.SecretEnvVars {
		if !fromSecret[v] {
			t.Errorf("%s: %s (internal/config.SecretEnvVars) is not passed from the Secret", where, v)
		}
	}
	return names
}

// httpDrain is how long `bot serve` may take, once its engine has drained,
// to stop: requests in flight (10 s), the Slack adapter's accepted work
// (10 s) and the last chat updates (10 s); see internal/app httpStopGrace
// and flushGrace.
const httpDrain = 30 * time.Second

// checkTerminationGrace: the pod is not killed before Backout has let its
// non-idempotent steps finish (engine.shutdown_grace), stopped the rest
// (engine.kill_grace) and flushed its last chat updates.
func checkTerminationGrace(t *testing.T, where string, pod any, cfg *config.Config) {
	t.Helper()
	want := cfg.Engine.ShutdownGrace.D() + cfg.Engine.KillGrace.D() + httpDrain
	v, ok := dig(pod, "spec", "terminationGracePeriodSeconds")
	secs, err := strconv.Atoi(fmt.Sprint(v))
	if !ok || err != nil {
		t.Errorf("%s: terminationGracePeriodSeconds is %v; want at least %s (engine.shutdown_grace + kill_grace + %s)", where, v, want, httpDrain)
		return
	}
	if got := time.Duration(secs) * time.Second; got < want {
		t.Errorf("%s: terminationGracePeriodSeconds %s is less than engine.shutdown_grace %s + kill_grace %s + %s: a rolling update would kill running steps",
			where, got, cfg.Engine.ShutdownGrace.D(), cfg.Engine.KillGrace.D(), httpDrain)
	}
}
