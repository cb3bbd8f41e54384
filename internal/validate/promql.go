package validate

import (
	"context"
	"fmt"
	"math"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/yamlx"
)

// PromQL is `uses: promql`: an instant query held against a threshold.
//
//	with: {query: 'time() - backup_last_success_timestamp', below: 3600}
//
// Exactly one of below (strict), above (strict) or between: [lo, hi]
// (inclusive). When the query returns several series every one must pass;
// the measurement reports the worst. A NaN sample (0/0: no traffic) makes the
// measurement Inconclusive unless another series fails.
type PromQL struct{ prom prom }

// NewPromQL returns the checker; prometheusURL (config prometheus.url) is
// used unless a check sets prometheus_url.
func NewPromQL(prometheusURL string) *PromQL { return &PromQL{prom: newProm(prometheusURL)} }

// Name implements check.Checker.
func (*PromQL) Name() string { return "promql" }

type promqlWith struct {
	Pos           yamlx.Pos
	KeyPos        map[string]yamlx.Pos
	Query         string   `yaml:"query"`
	Below         string   `yaml:"below"`
	Above         string   `yaml:"above"`
	Between       []string `yaml:"between"`
	PrometheusURL string   `yaml:"prometheus_url"`
}

type promqlSpec struct {
	query, url string
	bound      threshold
}

func (c *PromQL) parse(with yamlx.Node, lint bool) (promqlSpec, error) {
	var w promqlWith
	errs := decodeWith(with, &w)
	if len(errs) > 0 {
		return promqlSpec{}, errs.Err()
	}
	f := newFields(lint, with.Pos(), w.KeyPos, &errs)
	f.required("query", w.Query, "a PromQL expression")
	validURL(f, "prometheus_url", w.PrometheusURL)
	spec := promqlSpec{query: w.Query, url: w.PrometheusURL}
	spec.bound = parseThreshold(f, w.Below, w.Above, w.Between)
	return spec, errs.Err()
}

// Validate implements check.Checker.
func (c *PromQL) Validate(with yamlx.Node) error {
	_, err := c.parse(with, true)
	return err
}

// Measure implements check.Checker.
func (c *PromQL) Measure(ctx context.Context, req check.Request) (check.Measurement, error) {
	spec, err := c.parse(req.With, false)
	if err != nil {
		return check.Measurement{}, err
	}
	vec, err := c.prom.instant(ctx, spec.url, spec.query, evalTime(req))
	if err != nil {
		return check.Measurement{}, err
	}
	bound := spec.bound.String()
	if len(vec) == 0 {
		return noValues(spec.query, bound), nil
	}
	worst, nan := -1, -1
	for i, s := range vec {
		v := float64(s.Value)
		if math.IsNaN(v) {
			nan = i
			continue
		}
		if worst < 0 || spec.bound.excess(v) > spec.bound.excess(float64(vec[worst].Value)) {
			worst = i
		}
	}
	if worst >= 0 && !spec.bound.ok(float64(vec[worst].Value)) {
		return thresholdResult(check.Failed, vec[worst].Metric.String(), float64(vec[worst].Value), bound, len(vec)), nil
	}
	if nan >= 0 {
		name := describeSeries(vec[nan].Metric.String(), 1)
		if len(vec) > 1 {
			name = fmt.Sprintf("%s (of %d series)", name, len(vec))
		}
		return check.Measurement{
			Outcome: check.Inconclusive,
			Value:   "NaN",
			Bound:   bound,
			Message: name + " is NaN (a ratio with no traffic?)",
		}, nil
	}
	return thresholdResult(check.Successful, vec[worst].Metric.String(), float64(vec[worst].Value), bound, len(vec)), nil
}

func thresholdResult(o check.Outcome, series string, v float64, bound string, n int) check.Measurement {
	verb := "within"
	if o == check.Failed {
		verb = "outside"
	}
	return check.Measurement{
		Outcome: o,
		Value:   formatNum(v),
		Bound:   bound,
		Message: fmt.Sprintf("%s = %s, %s %s", describeSeries(series, n), formatNum(v), verb, bound),
	}
}

// describeSeries names the reported series; with several, it is the worst.
func describeSeries(labels string, n int) string {
	if labels == "{}" {
		labels = "value"
	}
	if n > 1 {
		return fmt.Sprintf("worst of %d series %s", n, labels)
	}
	return labels
}
