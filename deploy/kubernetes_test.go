package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/config"
)

func loadManifests(t *testing.T, files ...string) manifests {
	t.Helper()
	var ms manifests
	for _, f := range files {
		ms = append(ms, yamlDocs(t, f, readFile(t, f))...)
	}
	return ms
}

func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under kubernetes/: %v", err)
	}
	ms := loadManifests(t, files...)
	for _, m := range ms {
		if ns := digString(m, "metadata", "namespace"); ns != "" {
			t.Errorf("%s/%s sets namespace %q; the manifests are namespace-less", m["kind"], digString(m, "metadata", "name"), ns)
		}
	}
	secretVars := checkWorkload(t, "kubernetes", ms, 2)
	if ms.find("Secret", "backout-secrets") != nil {
		t.Error("a Secret is among the *.yaml manifests: `kubectl apply -f deploy/kubernetes/` would overwrite the real one")
	}

	// The Secret template must define every key the Deployment reads, and
	// nothing but placeholders.
	tmpl := loadManifests(t, filepath.Join("kubernetes", "secret.yaml.example"))
	if len(tmpl) != 1 || tmpl[0]["kind"] != "Secret" {
		t.Fatalf("secret.yaml.example: want one Secret")
	}
	data := stringMap(tmpl[0]["stringData"])
	for _, v := range secretVars {
		if _, ok := data[v]; !ok {
			t.Errorf("secret.yaml.example lacks %s, which deployment.yaml reads", v)
		}
	}
	for k, v := range data {
		if v != "REPLACE_ME" {
			t.Errorf("secret.yaml.example: %s = %q, want the placeholder REPLACE_ME", k, v)
		}
	}
	dep := ms.ofKind("Deployment")[0]
	ref := digString(dep, "spec", "template", "spec", "containers", 0, "env", 0, "valueFrom", "secretKeyRef", "name")
	if name := digString(tmpl[0], "metadata", "name"); ref != name {
		t.Errorf("deployment reads Secret %q but the template creates %q", ref, name)
	}
}

const chartDir = "helm/backout"

type chartValues struct {
	ReplicaCount int `yaml:"replicaCount"`
	Store        struct {
		Kind  string `yaml:"kind"`
		Redis struct {
			URL    string `yaml:"url"`
			Prefix string `yaml:"prefix"`
		} `yaml:"redis"`
	} `yaml:"store"`
	Secrets struct {
		Values       map[string]string `yaml:"values"`
		ExtraEnvVars []string          `yaml:"extraEnvVars"`
	} `yaml:"secrets"`
	Image struct {
		Flavor    string            `yaml:"flavor"`
		TagSuffix map[string]string `yaml:"tagSuffix"`
	} `yaml:"image"`
	ContainerPort int               `yaml:"containerPort"`
	Config        map[string]any    `yaml:"config"`
	Runbooks      map[string]string `yaml:"runbooks"`
}

// TestHelmValues checks the chart's defaults without Helm: the config block,
// completed with the keys the chart sets, loads, and the runbooks lint.
// check.sh runs the real render through TestHelmRendered when Helm exists.
func TestHelmValues(t *testing.T) {
	var v chartValues
	if err := yaml.Unmarshal(readFile(t, filepath.Join(chartDir, "values.yaml")), &v); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	if v.ReplicaCount != 2 || v.Store.Kind != "redis" {
		t.Errorf("defaults: replicaCount=%d store.kind=%q, want 2 replicas on redis", v.ReplicaCount, v.Store.Kind)
	}
	for _, k := range []string{"store", "listen", "runbooks"} {
		if _, ok := v.Config[k]; ok {
			t.Errorf("values.yaml config.%s is set, but the chart owns it (and fails the render)", k)
		}
	}
	cfg := map[string]any{}
	for k, val := range v.Config {
		cfg[k] = val
	}
	cfg["listen"] = fmt.Sprintf(":%d", v.ContainerPort)
	cfg["runbooks"] = runbooksPath
	cfg["store"] = map[string]any{"kind": "redis", "url": v.Store.Redis.URL, "prefix": v.Store.Redis.Prefix}
	bot, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v.Image.Flavor != "auto" || v.Image.TagSuffix["tools"] != "-tools" || v.Image.TagSuffix["minimal"] != "" {
		t.Errorf("image: flavor %q, tagSuffix %v; want auto, minimal \"\" and tools -tools (the Dockerfile's targets)", v.Image.Flavor, v.Image.TagSuffix)
	}
	// auto picks minimal for these runbooks, so they must lint as the
	// minimal image runs them.
	checkBotConfig(t, "values.yaml", autoFlavor(v.Runbooks), string(bot), v.Runbooks)
	for _, name := range config.SecretEnvVars {
		if _, ok := v.Secrets.Values[name]; !ok {
			t.Errorf("values.yaml secrets.values lacks %s, so users do not see it can be set", name)
		}
	}
	for name, val := range v.Secrets.Values {
		if val != "" {
			t.Errorf("values.yaml ships a value for secret %s", name)
		}
	}
}

// flavorRule is the chart's image.flavor auto rule, copied from
// _helpers.tpl (TestHelmAutoFlavorRule keeps the two equal).
var flavorRule = regexp.MustCompile(`uses:[ \t]*["']?(kubectl|helm|shell|plugin)\b`)

// autoFlavor is what image.flavor auto picks for these runbooks.
func autoFlavor(runbooks map[string]string) string {
	for _, text := range runbooks {
		if flavorRule.MatchString(text) {
			return "tools"
		}
	}
	return "minimal"
}

// TestHelmAutoFlavorRule: the chart's rule is the one above, and it picks
// tools for every shipped runbook that needs a program (block and flow
// style), and minimal for the HTTP-only one.
func TestHelmAutoFlavorRule(t *testing.T) {
	tpl := string(readFile(t, filepath.Join(chartDir, "templates", "_helpers.tpl")))
	if !strings.Contains(tpl, "regexMatch `"+flavorRule.String()+"` $text") {
		t.Fatalf("_helpers.tpl's auto rule differs from flavorRule %s", flavorRule)
	}
	tests := []struct {
		file, want string
	}{
		{"k8s-deployment.yaml", "tools"},
		{"helm-release.yaml", "tools"},
		{"db-down-migration.yaml", "tools"},
		{"local-demo.yaml", "tools"},
		{"feature-flag-revert.yaml", "minimal"},
	}
	for _, tt := range tests {
		text := string(readFile(t, filepath.Join(repoRoot, "runbooks", tt.file)))
		if got := autoFlavor(map[string]string{tt.file: text}); got != tt.want {
			t.Errorf("%s: auto picks %s, want %s", tt.file, got, tt.want)
		}
	}
	if got := autoFlavor(map[string]string{"a.yaml": "steps:\n  - {id: a, uses: \"shell\", with: {args: [true]}}\n"}); got != "tools" {
		t.Errorf("quoted flow-style uses: auto picks %s, want tools", got)
	}
}

// helperVars matches the list of credential variables in _helpers.tpl.
var helperVars = regexp.MustCompile(`(?m)^\{\{- \$vars := list ((?:"[A-Z_]+" ?)+)\}\}$`)

// TestHelmSecretVarsMatchConfig keeps the chart's credential list equal to
// internal/config.SecretEnvVars.
func TestHelmSecretVarsMatchConfig(t *testing.T) {
	m := helperVars.FindSubmatch(readFile(t, filepath.Join(chartDir, "templates", "_helpers.tpl")))
	if m == nil {
		t.Fatal(`_helpers.tpl: no "$vars := list ..." line in backout.secretEnvVars`)
	}
	got := strings.Fields(strings.ReplaceAll(string(m[1]), `"`, ""))
	want := slices.Clone(config.SecretEnvVars)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("_helpers.tpl passes %v, internal/config reads %v", got, want)
	}
}

// TestHelmRendered checks `helm template` output written by check.sh:
// BACKOUT_HELM_RENDERED lists files as path=replicas, comma-separated. Helm
// is not a Go test dependency, so without it this test skips.
func TestHelmRendered(t *testing.T) {
	spec := os.Getenv("BACKOUT_HELM_RENDERED")
	if spec == "" {
		t.Skip("BACKOUT_HELM_RENDERED not set (deploy/check.sh sets it after helm template)")
	}
	for _, item := range strings.Split(spec, ",") {
		file, replicas, ok := strings.Cut(item, "=")
		var n int
		if _, err := fmt.Sscan(replicas, &n); !ok || err != nil {
			t.Fatalf("BACKOUT_HELM_RENDERED item %q: want path=replicas", item)
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			ms := loadManifests(t, file)
			checkWorkload(t, file, ms, n)
			for _, sm := range ms.ofKind("ServiceMonitor") {
				if got := digString(sm, "spec", "jobLabel"); got != "app.kubernetes.io/name" {
					t.Errorf("ServiceMonitor jobLabel = %q; prometheus-rules.yaml expects job=\"backout\"", got)
				}
			}
		})
	}
}
