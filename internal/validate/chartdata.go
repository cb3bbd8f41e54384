package validate

import (
	"context"
	"fmt"
	"math"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/rollback"
)

// Charts keep a few series of about chartSteps points each: enough to see
// the shape, small enough to store on the rollback record.
const (
	chartSteps     = 200
	maxChartSeries = 5
)

var (
	_ check.Charter = (*PromQL)(nil)
	_ check.Charter = (*PromQLBaseline)(nil)
	_ check.Charter = (*Canary)(nil)
)

// chartOf queries [from, to] and turns the matrix into a chart with band.
func chartOf(ctx context.Context, p prom, url, query string, from, to time.Time, band *rollback.ChartBand) (rollback.Chart, error) {
	step := max(to.Sub(from)/chartSteps, time.Second).Truncate(time.Second)
	m, err := p.series(ctx, url, query, v1.Range{Start: from, End: to, Step: step})
	if err != nil {
		return rollback.Chart{}, fmt.Errorf("chart: %w", err)
	}
	c := rollback.Chart{Query: query, From: from, To: to, Band: band}
	for i, s := range m {
		if i == maxChartSeries {
			break
		}
		cs := rollback.ChartSeries{Name: s.Metric.String()}
		for _, pt := range s.Values {
			if v := float64(pt.Value); !math.IsNaN(v) && !math.IsInf(v, 0) {
				cs.Points = append(cs.Points, rollback.ChartPoint{At: pt.Timestamp.Time().UTC(), Value: v})
			}
		}
		c.Series = append(c.Series, cs)
	}
	return c, nil
}

func ptr(v float64) *float64 { return &v }

// Chart implements check.Charter: the query and its threshold.
func (c *PromQL) Chart(ctx context.Context, req check.Request, from, to time.Time) (rollback.Chart, error) {
	spec, err := c.parse(req.With, false)
	if err != nil {
		return rollback.Chart{}, err
	}
	band := &rollback.ChartBand{Label: "threshold " + spec.bound.String()}
	switch spec.bound.kind {
	case "below":
		band.High = ptr(spec.bound.hi)
	case "above":
		band.Low = ptr(spec.bound.lo)
	default:
		band.Low, band.High = ptr(spec.bound.lo), ptr(spec.bound.hi)
	}
	return chartOf(ctx, c.prom, spec.url, spec.query, from, to, band)
}

// Chart implements check.Charter: the query and the highest limit its
// baseline allows (of every series).
func (c *PromQLBaseline) Chart(ctx context.Context, req check.Request, from, to time.Time) (rollback.Chart, error) {
	spec, err := c.parse(req.With, false)
	if err != nil {
		return rollback.Chart{}, err
	}
	var band *rollback.ChartBand
	bFrom, bTo, err := spec.baseline.span(req, c.Name())
	if err != nil {
		return rollback.Chart{}, fmt.Errorf("chart: %w", err)
	}
	past, err := c.prom.series(ctx, spec.url, spec.query, averagingRange(bFrom, bTo))
	if err != nil {
		return rollback.Chart{}, fmt.Errorf("chart: %w", err)
	}
	limit, found := math.Inf(-1), false
	for _, b := range baselines(past) {
		limit, found = math.Max(limit, spec.limit(b)), true
	}
	if found {
		band = &rollback.ChartBand{Label: fmt.Sprintf("allowed by the baseline %s (<= %s)", spec.baseline, formatNum(limit)), High: ptr(limit)}
	}
	return chartOf(ctx, c.prom, spec.url, spec.query, from, to, band)
}

// Chart implements check.Charter: the after query and the baseline's
// median widened by max_effect in the direction looked for.
func (c *Canary) Chart(ctx context.Context, req check.Request, from, to time.Time) (rollback.Chart, error) {
	spec, err := c.parse(req.With, false)
	if err != nil {
		return rollback.Chart{}, err
	}
	bFrom, bTo, err := spec.baseline.span(req, c.Name())
	if err != nil {
		return rollback.Chart{}, fmt.Errorf("chart: %w", err)
	}
	before, err := c.samples(ctx, spec, spec.before, bFrom, bTo)
	if err != nil {
		return rollback.Chart{}, fmt.Errorf("chart: %w", err)
	}
	var band *rollback.ChartBand
	if len(before) > 0 {
		med := median(before)
		lo, hi := med-math.Abs(med)*spec.maxEffect, med+math.Abs(med)*spec.maxEffect
		band = &rollback.ChartBand{Label: fmt.Sprintf("baseline median %s ±%s%%", formatNum(med), formatNum(spec.maxEffect*100))}
		switch spec.direction {
		case "increase":
			band.High = ptr(hi)
		case "decrease":
			band.Low = ptr(lo)
		default:
			band.Low, band.High = ptr(lo), ptr(hi)
		}
	}
	return chartOf(ctx, c.prom, spec.url, spec.after, from, to, band)
}
