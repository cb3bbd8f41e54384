package validate

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/yamlx"
)

// PromQLBaseline is `uses: promql-baseline`: the query's average since the
// service settled (validation start + initial_delay, Request.SampleStart)
// must not exceed its average over the baseline window before the bad
// deploy by more than max_increase.
//
//	with: {query: 'sum(rate(errors[5m])) / sum(rate(requests[5m]))', max_increase: 10%, baseline: 1h}
//
// max_increase is relative ("10%": now <= baseline * 1.1) or absolute
// ("0.02": now <= baseline + 0.02). A relative bound against a zero baseline
// allows no increase at all; use an absolute bound for ratios that are
// usually zero.
//
// The baseline is a range query over [BaselineEnd - baseline, BaselineEnd]
// (or over the named window baseline: {from, to})
// with about 60 steps (at least 1s apart), averaged per series here, rather
// than an avg_over_time subquery: a range query works for any instant-vector
// expression without rewriting the user's PromQL, and NaN steps (0/0) can be
// skipped instead of poisoning the average. Series are matched between now
// and the baseline by their labels.
type PromQLBaseline struct{ prom prom }

// NewPromQLBaseline returns the checker; prometheusURL (config
// prometheus.url) is used unless a check sets prometheus_url.
func NewPromQLBaseline(prometheusURL string) *PromQLBaseline {
	return &PromQLBaseline{prom: newProm(prometheusURL)}
}

// Name implements check.Checker.
func (*PromQLBaseline) Name() string { return "promql-baseline" }

type baselineWith struct {
	Pos           yamlx.Pos
	KeyPos        map[string]yamlx.Pos
	Query         string     `yaml:"query"`
	MaxIncrease   string     `yaml:"max_increase"`
	Baseline      yamlx.Node `yaml:"baseline"`
	PrometheusURL string     `yaml:"prometheus_url"`
}

type baselineSpec struct {
	query, url string
	increase   float64
	relative   bool
	baseline   baselineWindow
}

const defaultBaselineWindow = time.Hour

func (c *PromQLBaseline) parse(with yamlx.Node, lint bool) (baselineSpec, error) {
	var w baselineWith
	errs := decodeWith(with, &w)
	if len(errs) > 0 {
		return baselineSpec{}, errs.Err()
	}
	f := newFields(lint, with.Pos(), w.KeyPos, &errs)
	f.required("query", w.Query, "a PromQL expression")
	validURL(f, "prometheus_url", w.PrometheusURL)
	spec := baselineSpec{query: w.Query, url: w.PrometheusURL}
	if f.required("max_increase", w.MaxIncrease, `e.g. "10%" or an absolute "0.02"`) {
		spec.increase, spec.relative = parseIncrease(f, w.MaxIncrease)
	}
	spec.baseline = parseBaselineWindow(f, "baseline", w.Baseline, defaultBaselineWindow)
	return spec, errs.Err()
}

// parseIncrease reads "10%" (relative) or "0.02" (absolute).
func parseIncrease(f fields, s string) (float64, bool) {
	num, relative := strings.CutSuffix(strings.TrimSpace(s), "%")
	v, ok := f.float("max_increase", num)
	if !ok {
		return 0, relative
	}
	if v < 0 {
		f.fail("max_increase", "must be 0 or more, got %q", s)
	}
	if relative {
		v /= 100
	}
	return v, relative
}

// Validate implements check.Checker.
func (c *PromQLBaseline) Validate(with yamlx.Node) error {
	_, err := c.parse(with, true)
	return err
}

// Measure implements check.Checker.
func (c *PromQLBaseline) Measure(ctx context.Context, req check.Request) (check.Measurement, error) {
	spec, err := c.parse(req.With, false)
	if err != nil {
		return check.Measurement{}, err
	}
	from, to, err := spec.baseline.span(req, c.Name())
	if err != nil {
		return check.Measurement{}, err
	}
	now, err := c.sample(ctx, spec, req)
	if err != nil {
		return check.Measurement{}, err
	}
	past, err := c.prom.series(ctx, spec.url, spec.query, averagingRange(from, to))
	if err != nil {
		return check.Measurement{}, err
	}
	return compareBaseline(spec, now, baselines(past)), nil
}

// sample is the query's value per series after the rollback: its average
// over [SampleStart, Now], so data from before the service settled (which
// the window before now would mostly be) never counts. Without a
// SampleStart (readiness) it is the instant value at Now.
func (c *PromQLBaseline) sample(ctx context.Context, spec baselineSpec, req check.Request) (model.Vector, error) {
	now := evalTime(req)
	if req.SampleStart.IsZero() || !req.SampleStart.Before(now) {
		return c.prom.instant(ctx, spec.url, spec.query, now)
	}
	m, err := c.prom.series(ctx, spec.url, spec.query, averagingRange(req.SampleStart, now))
	if err != nil {
		return nil, err
	}
	var out model.Vector
	for _, s := range m {
		avg, ok := average(s.Values)
		if !ok {
			avg = math.NaN() // every step NaN: no traffic
		}
		out = append(out, &model.Sample{Metric: s.Metric, Value: model.SampleValue(avg), Timestamp: model.TimeFromUnixNano(now.UnixNano())})
	}
	return out, nil
}

// averagingRange samples [start, end] in about 60 steps, at least 1s apart.
func averagingRange(start, end time.Time) v1.Range {
	return v1.Range{Start: start, End: end, Step: max(end.Sub(start)/60, time.Second).Truncate(time.Second)}
}

// average is the mean of the non-NaN values; ok is false when there are none.
func average(values []model.SamplePair) (float64, bool) {
	var sum float64
	var n int
	for _, p := range values {
		if v := float64(p.Value); !math.IsNaN(v) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// baselines averages each series' non-NaN samples, by label set.
func baselines(m model.Matrix) map[model.Fingerprint]float64 {
	out := map[model.Fingerprint]float64{}
	for _, s := range m {
		if avg, ok := average(s.Values); ok {
			out[s.Metric.Fingerprint()] = avg
		}
	}
	return out
}

func (s baselineSpec) limit(base float64) float64 {
	if s.relative {
		return base + math.Abs(base)*s.increase
	}
	return base + s.increase
}

func (s baselineSpec) boundText(base float64) string {
	if s.relative {
		return fmt.Sprintf("<= %s (baseline %s +%s%%)", formatNum(s.limit(base)), formatNum(base), formatNum(s.increase*100))
	}
	return fmt.Sprintf("<= %s (baseline %s +%s)", formatNum(s.limit(base)), formatNum(base), formatNum(s.increase))
}

// compareBaseline holds every current series against its own baseline and
// reports the one furthest over (or closest to) its limit.
func compareBaseline(spec baselineSpec, now model.Vector, base map[model.Fingerprint]float64) check.Measurement {
	if len(now) == 0 {
		return noValues(spec.query, "")
	}
	if len(base) == 0 {
		m := noValues(spec.query, "")
		m.Message = fmt.Sprintf("baseline %s: %s", spec.baseline, m.Message)
		return m
	}
	worst, worstExcess, matched, nan := -1, math.Inf(-1), 0, false
	for i, s := range now {
		b, ok := base[s.Metric.Fingerprint()]
		if !ok {
			continue
		}
		matched++
		v := float64(s.Value)
		if math.IsNaN(v) {
			nan = true
			continue
		}
		if e := v - spec.limit(b); worst < 0 || e > worstExcess {
			worst, worstExcess = i, e
		}
	}
	if matched == 0 {
		return check.Measurement{Outcome: check.Inconclusive, Message: fmt.Sprintf("query %q: no series now has a baseline (labels changed?): %v", spec.query, check.ErrNoValuesFound)}
	}
	if worst < 0 || (nan && worstExcess <= 0) {
		return check.Measurement{Outcome: check.Inconclusive, Value: "NaN", Message: fmt.Sprintf("query %q is NaN now (a ratio with no traffic?)", spec.query)}
	}
	s := now[worst]
	v, b := float64(s.Value), base[s.Metric.Fingerprint()]
	m := check.Measurement{Outcome: check.Successful, Value: formatNum(v), Bound: spec.boundText(b)}
	verb := "within"
	if worstExcess > 0 {
		m.Outcome, verb = check.Failed, "above"
	}
	m.Message = fmt.Sprintf("%s = %s, %s %s", describeSeries(s.Metric.String(), matched), m.Value, verb, m.Bound)
	return m
}
