package promtest

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// target serves the samples the test set, in the text exposition format.
type target struct {
	mu      sync.Mutex
	samples map[string]map[string]float64 // name -> rendered labels -> value
}

func newTarget() *target { return &target{samples: map[string]map[string]float64{}} }

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

func (tg *target) set(name string, labels map[string]string, value float64) {
	key := renderLabels(name, labels)
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.samples[name] == nil {
		tg.samples[name] = map[string]float64{}
	}
	tg.samples[name][key] = value
}

func (tg *target) delete(name string, labels map[string]string) {
	key := renderLabels(name, labels)
	tg.mu.Lock()
	defer tg.mu.Unlock()
	delete(tg.samples[name], key)
}

func renderLabels(name string, labels map[string]string) string {
	if !metricName.MatchString(name) {
		panic(fmt.Sprintf("promtest: invalid metric name %q", name))
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if !labelName.MatchString(k) || strings.HasPrefix(k, "__") {
			panic(fmt.Sprintf("promtest: invalid label name %q", k))
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	for i, k := range keys {
		parts[i] = fmt.Sprintf(`%s="%s"`, k, r.Replace(labels[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func (tg *target) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	names := make([]string, 0, len(tg.samples))
	for n := range tg.samples {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		if len(tg.samples[n]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "# TYPE %s gauge\n", n)
		keys := make([]string, 0, len(tg.samples[n]))
		for k := range tg.samples[n] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s%s %s\n", n, k, formatValue(tg.samples[n][k]))
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write(b.Bytes())
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// openMetrics renders samples with each family and series contiguous and
// in time order, as the format requires.
func openMetrics(samples []Sample) []byte {
	type line struct {
		name, labels string
		ts           time.Time
		v            float64
	}
	lines := make([]line, len(samples))
	for i, s := range samples {
		lines[i] = line{s.Name, renderLabels(s.Name, s.Labels), s.Time, s.Value}
	}
	sort.SliceStable(lines, func(i, j int) bool {
		a, b := lines[i], lines[j]
		if a.name != b.name {
			return a.name < b.name
		}
		if a.labels != b.labels {
			return a.labels < b.labels
		}
		return a.ts.Before(b.ts)
	})
	var b bytes.Buffer
	for i, l := range lines {
		if i == 0 || lines[i-1].name != l.name {
			fmt.Fprintf(&b, "# TYPE %s gauge\n", l.name)
		}
		fmt.Fprintf(&b, "%s%s %s %s\n", l.name, l.labels, formatValue(l.v), strconv.FormatFloat(float64(l.ts.UnixMilli())/1000, 'f', 3, 64))
	}
	b.WriteString("# EOF\n")
	return b.Bytes()
}
