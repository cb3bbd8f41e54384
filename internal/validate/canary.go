package validate

import (
	"context"
	"fmt"
	"math"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/yamlx"
)

// Canary is `uses: canary`: a Kayenta-style comparison of a metric after the
// rollback against before the bad deploy.
//
//	with: {query: 'histogram_quantile(0.99, ...)', baseline_window: 1h, window: 10m,
//	       confidence: 0.95, max_effect: 0.1, direction: increase}
//
// It samples the query every step (default 1m) over baseline_window before
// Request.BaselineEnd and over window before now, but only since the service
// settled (Request.SampleStart: validation start + initial_delay) (query_before and
// query_after replace query on either side, e.g. to compare a canary pod
// against the rest), and runs a Mann-Whitney U test of after against before:
// one-sided for direction increase or decrease, two-sided for either. The
// measurement fails only when the difference is significant (p < 1 -
// confidence) AND the relative median difference exceeds max_effect in the
// direction looked for; a significant but small shift passes. Fewer than
// min_samples (default 8) samples on a side is Inconclusive: the test cannot
// tell a difference with so little data.
type Canary struct{ prom prom }

// NewCanary returns the checker; prometheusURL (config prometheus.url) is
// used unless a check sets prometheus_url.
func NewCanary(prometheusURL string) *Canary { return &Canary{prom: newProm(prometheusURL)} }

// Name implements check.Checker.
func (*Canary) Name() string { return "canary" }

type canaryWith struct {
	Pos            yamlx.Pos
	KeyPos         map[string]yamlx.Pos
	Query          string     `yaml:"query"`
	QueryBefore    string     `yaml:"query_before"`
	QueryAfter     string     `yaml:"query_after"`
	BaselineWindow string     `yaml:"baseline_window"`
	Baseline       yamlx.Node `yaml:"baseline"`
	Window         string     `yaml:"window"`
	Step           string     `yaml:"step"`
	Confidence     string     `yaml:"confidence"`
	MaxEffect      string     `yaml:"max_effect"`
	Direction      string     `yaml:"direction"`
	MinSamples     string     `yaml:"min_samples"`
	PrometheusURL  string     `yaml:"prometheus_url"`
}

type canarySpec struct {
	before, after, url    string
	baseline              baselineWindow
	window, step          time.Duration
	confidence, maxEffect float64
	direction             string
	minSamples            int
}

// Canary defaults.
const (
	defaultCanaryBaseline   = time.Hour
	defaultCanaryWindow     = 10 * time.Minute
	defaultCanaryStep       = time.Minute
	defaultCanaryConfidence = 0.95
	defaultCanaryMaxEffect  = 0.1
	defaultCanaryMinSamples = 8
)

func (c *Canary) parse(with yamlx.Node, lint bool) (canarySpec, error) {
	var w canaryWith
	errs := decodeWith(with, &w)
	if len(errs) > 0 {
		return canarySpec{}, errs.Err()
	}
	f := newFields(lint, with.Pos(), w.KeyPos, &errs)
	spec := canarySpec{before: w.QueryBefore, after: w.QueryAfter, url: w.PrometheusURL}
	if spec.before == "" {
		spec.before = w.Query
	}
	if spec.after == "" {
		spec.after = w.Query
	}
	if spec.before == "" || spec.after == "" {
		f.failAt("query is required (or both query_before and query_after)")
	}
	validURL(f, "prometheus_url", w.PrometheusURL)
	spec.baseline = baselineWindow{before: f.duration("baseline_window", w.BaselineWindow, defaultCanaryBaseline)}
	if f.has("baseline") {
		if f.has("baseline_window") {
			f.fail("baseline", "set baseline (a named window) or baseline_window, not both")
		}
		spec.baseline = parseBaselineWindow(f, "baseline", w.Baseline, defaultCanaryBaseline)
	}
	spec.window = f.duration("window", w.Window, defaultCanaryWindow)
	spec.step = f.duration("step", w.Step, defaultCanaryStep)
	spec.confidence = defaultCanaryConfidence
	if v, ok := f.float("confidence", w.Confidence); ok {
		if v <= 0 || v >= 1 {
			f.fail("confidence", "must be between 0 and 1 (e.g. 0.95), got %q", w.Confidence)
		}
		spec.confidence = v
	}
	spec.maxEffect = defaultCanaryMaxEffect
	if v, ok := f.float("max_effect", w.MaxEffect); ok {
		if v < 0 {
			f.fail("max_effect", "must be 0 or more (0.1 allows a 10%% shift), got %q", w.MaxEffect)
		}
		spec.maxEffect = v
	}
	spec.direction = f.oneOf("direction", w.Direction, "either", "increase", "decrease", "either")
	spec.minSamples = f.integer("min_samples", w.MinSamples, defaultCanaryMinSamples, 2)
	return spec, errs.Err()
}

// Validate implements check.Checker.
func (c *Canary) Validate(with yamlx.Node) error {
	_, err := c.parse(with, true)
	return err
}

// Measure implements check.Checker.
func (c *Canary) Measure(ctx context.Context, req check.Request) (check.Measurement, error) {
	spec, err := c.parse(req.With, false)
	if err != nil {
		return check.Measurement{}, err
	}
	from, to, err := spec.baseline.span(req, c.Name())
	if err != nil {
		return check.Measurement{}, err
	}
	now := evalTime(req)
	before, err := c.samples(ctx, spec, spec.before, from, to)
	if err != nil {
		return check.Measurement{}, err
	}
	after, err := c.samples(ctx, spec, spec.after, afterStart(req, now, spec.window), now)
	if err != nil {
		return check.Measurement{}, err
	}
	return judgeCanary(spec, before, after)
}

// afterStart is where the after sample begins: window before now, but never
// before the service settled (Request.SampleStart), so pre-rollback data
// cannot make a good rollback look bad.
func afterStart(req check.Request, now time.Time, window time.Duration) time.Time {
	start := now.Add(-window)
	if req.SampleStart.After(start) {
		return req.SampleStart
	}
	return start
}

// samples returns the non-NaN values of the query's single series.
func (c *Canary) samples(ctx context.Context, spec canarySpec, query string, start, end time.Time) ([]float64, error) {
	m, err := c.prom.series(ctx, spec.url, query, v1.Range{Start: start, End: end, Step: spec.step})
	if err != nil {
		return nil, err
	}
	if len(m) > 1 {
		return nil, fmt.Errorf("canary: query %q returned %d series; aggregate it to one (e.g. sum(...))", query, len(m))
	}
	var out []float64
	for _, s := range m {
		for _, p := range s.Values {
			if v := float64(p.Value); !math.IsNaN(v) {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

func (s canarySpec) alternative() Alternative {
	switch s.direction {
	case "increase":
		return Greater
	case "decrease":
		return Less
	}
	return TwoSided
}

// judgeCanary decides one measurement from the two samples.
func judgeCanary(spec canarySpec, before, after []float64) (check.Measurement, error) {
	alpha := 1 - spec.confidence
	bound := fmt.Sprintf("effect within %s%% or p >= %s", formatNum(spec.maxEffect*100), formatNum(alpha))
	if len(before) == 0 || len(after) == 0 {
		q := spec.before
		if len(before) > 0 {
			q = spec.after
		}
		return noValues(q, bound), nil
	}
	if len(before) < spec.minSamples || len(after) < spec.minSamples {
		return check.Measurement{
			Outcome: check.Inconclusive,
			Bound:   bound,
			Message: fmt.Sprintf("too few samples to compare: %d before, %d after (need %d each)", len(before), len(after), spec.minSamples),
		}, nil
	}
	res, err := MannWhitneyU(after, before, spec.alternative())
	if err != nil {
		return check.Measurement{}, fmt.Errorf("canary: %w", err)
	}
	medBefore, medAfter := median(before), median(after)
	effect := relativeEffect(medBefore, medAfter)
	significant := res.P < alpha
	large := false
	switch spec.direction {
	case "increase":
		large = effect > spec.maxEffect
	case "decrease":
		large = effect < -spec.maxEffect
	default:
		large = math.Abs(effect) > spec.maxEffect
	}
	m := check.Measurement{Outcome: check.Successful, Value: formatEffect(effect), Bound: bound}
	if significant && large {
		m.Outcome = check.Failed
	}
	m.Message = fmt.Sprintf("median %s after vs %s before (effect %s), p=%.3g %s, n=%d/%d",
		formatNum(medAfter), formatNum(medBefore), m.Value, res.P, spec.alternative(), len(after), len(before))
	return m, nil
}

// relativeEffect is (after - before) / |before|; from a zero median any
// change is infinite.
func relativeEffect(before, after float64) float64 {
	if before == 0 {
		switch {
		case after > 0:
			return math.Inf(1)
		case after < 0:
			return math.Inf(-1)
		}
		return 0
	}
	return (after - before) / math.Abs(before)
}

func formatEffect(e float64) string {
	if math.IsInf(e, 0) {
		if e > 0 {
			return "+Inf%"
		}
		return "-Inf%"
	}
	return fmt.Sprintf("%+.1f%%", e*100)
}
