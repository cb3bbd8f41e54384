package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Tests run in deploy/, so the repository root is one level up.
const repoRoot = ".."

// readFile reads a file relative to deploy/.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return data
}

// yamlDocs decodes every document of a YAML stream into generic values.
func yamlDocs(t *testing.T, name string, data []byte) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// yamlToJSON converts one YAML document to JSON, as Slack's manifest API and a
// JSON Schema validator see it.
func yamlToJSON(data []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	return out, nil
}

// strictYAML decodes one YAML document, refusing keys v has no field for.
func strictYAML(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// dig walks nested maps and lists: a string key indexes a map, an int a list.
func dig(v any, path ...any) (any, bool) {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil, false
			}
			v = l[k]
		}
	}
	return v, true
}

func digString(v any, path ...any) string {
	got, _ := dig(v, path...)
	s, _ := got.(string)
	return s
}

func digList(v any, path ...any) []any {
	got, _ := dig(v, path...)
	l, _ := got.([]any)
	return l
}

// metricKind is the collector constructor a metric is declared with.
type metricKind string

// metricDecl matches declarations such as
// prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "backout_x", ...
var metricDecl = regexp.MustCompile(`prometheus\.New(Counter|Gauge|Histogram|Summary)(?:Vec)?\(\s*prometheus\.\w+Opts\{\s*Name:\s*"([^"]+)"`)

// definedMetrics reads internal/metrics/metrics.go and returns the metric
// names it declares with their kind, so dashboards and alerts cannot drift
// from the code.
func definedMetrics(t *testing.T) map[string]metricKind {
	t.Helper()
	src := readFile(t, filepath.Join(repoRoot, "internal", "metrics", "metrics.go"))
	got := map[string]metricKind{}
	for _, m := range metricDecl.FindAllSubmatch(src, -1) {
		got[string(m[2])] = metricKind(m[1])
	}
	// A regexp that silently stops matching would make every check pass.
	if len(got) < 10 || bytes.Count(src, []byte(`Name: "`)) != len(got) {
		t.Fatalf("parsed %d metric declarations from metrics.go but it has %d `Name: \"` fields: update metricDecl",
			len(got), bytes.Count(src, []byte(`Name: "`)))
	}
	return got
}

// metricRef matches a Backout metric name in a PromQL expression.
var metricRef = regexp.MustCompile(`\bbackout_[a-z0-9_]*[a-z0-9]`)

// metricRefs lists the distinct Backout metric names an expression uses.
func metricRefs(expr string) []string {
	seen := map[string]bool{}
	for _, m := range metricRef.FindAllString(expr, -1) {
		seen[m] = true
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// resolveMetric maps a referenced series name to the declared metric it
// belongs to (histograms expose _bucket, _sum and _count series; summaries
// _sum and _count), or "" when none declares it.
func resolveMetric(name string, defined map[string]metricKind) string {
	if _, ok := defined[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch defined[base] {
		case "Histogram":
			return base
		case "Summary":
			if suffix != "_bucket" {
				return base
			}
		}
	}
	return ""
}

// checkMetricRefs reports each expression that references an undeclared
// metric, and returns the declared metrics used.
func checkMetricRefs(t *testing.T, where string, exprs []string, defined map[string]metricKind) map[string]bool {
	t.Helper()
	used := map[string]bool{}
	for _, e := range exprs {
		for _, ref := range metricRefs(e) {
			base := resolveMetric(ref, defined)
			if base == "" {
				t.Errorf("%s: %q is not a metric declared in internal/metrics/metrics.go (expr: %s)", where, ref, e)
				continue
			}
			used[base] = true
		}
	}
	return used
}

// TestYAMLFilesParse parses every YAML file under deploy/ except the Helm
// templates (Go templates, not YAML until rendered).
func TestYAMLFilesParse(t *testing.T) {
	templates := filepath.Join(chartDir, "templates")
	n := 0
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == templates {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml") && !strings.HasSuffix(p, ".yaml.example") {
			return nil
		}
		n++
		dec := yaml.NewDecoder(bytes.NewReader(readFile(t, p)))
		for {
			var v any
			err := dec.Decode(&v)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("%s: %v", p, err)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("parsed only %d YAML files under deploy/", n)
	}
}

// FuzzMetricRefs: whatever the expression, metricRefs returns sorted,
// distinct, well-formed Backout metric names that occur in it.
func FuzzMetricRefs(f *testing.F) {
	f.Add(`histogram_quantile(0.9, sum by (le) (rate(backout_approval_latency_seconds_bucket[5m])))`)
	f.Add(`up{job="backout"} == 0`)
	f.Fuzz(func(t *testing.T, expr string) {
		refs := metricRefs(expr)
		whole := regexp.MustCompile(`^backout_[a-z0-9_]*[a-z0-9]$`)
		for i, r := range refs {
			if !whole.MatchString(r) || !strings.Contains(expr, r) {
				t.Errorf("metricRefs(%q) returned %q", expr, r)
			}
			if i > 0 && refs[i-1] >= r {
				t.Errorf("metricRefs(%q) = %q: not sorted and distinct", expr, refs)
			}
		}
	})
}
