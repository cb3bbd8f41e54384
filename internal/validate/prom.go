package validate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/backout/backout/internal/check"
)

// promQuerier is the part of the Prometheus HTTP API the checkers use; tests
// may hand in a fake.
type promQuerier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// prom picks the Prometheus a check queries: its own prometheus_url, or the
// bot's configured one.
type prom struct {
	defaultURL string
	// connect builds a client for a base URL; replaced in tests.
	connect func(baseURL string) (promQuerier, error)
}

func newProm(defaultURL string) prom {
	return prom{defaultURL: defaultURL, connect: connectProm}
}

func connectProm(baseURL string) (promQuerier, error) {
	c, err := api.NewClient(api.Config{Address: baseURL})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", baseURL, err)
	}
	return v1.NewAPI(c), nil
}

// client returns the querier for a check's prometheus_url (empty: default).
func (p prom) client(checkURL string) (promQuerier, error) {
	u := checkURL
	if u == "" {
		u = p.defaultURL
	}
	if u == "" {
		return nil, errors.New("no Prometheus configured: set prometheus.url in the bot config or prometheus_url in the check")
	}
	return p.connect(u)
}

// validURL checks an http(s) URL at lint time.
func validURL(f fields, key, s string) {
	if s == "" || f.templated(s) {
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		f.fail(key, "expected an http(s) URL, got %q", s)
	}
}

// instant runs an instant query and returns its samples; a scalar result is
// one sample without labels.
func (p prom) instant(ctx context.Context, checkURL, query string, at time.Time) (model.Vector, error) {
	q, err := p.client(checkURL)
	if err != nil {
		return nil, err
	}
	val, _, _, err := q.Query(ctx, query, at)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	switch v := val.(type) {
	case model.Vector:
		return v, nil
	case *model.Scalar:
		return model.Vector{{Metric: model.Metric{}, Value: v.Value, Timestamp: v.Timestamp}}, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("query %q returned a %s; write an instant vector or scalar expression", query, val.Type())
	}
}

// series runs a range query and returns one series per label set.
func (p prom) series(ctx context.Context, checkURL, query string, r v1.Range) (model.Matrix, error) {
	q, err := p.client(checkURL)
	if err != nil {
		return nil, err
	}
	val, _, _, err := q.QueryRange(ctx, query, r)
	if err != nil {
		return nil, fmt.Errorf("query %q over %s: %w", query, r.End.Sub(r.Start), err)
	}
	switch v := val.(type) {
	case model.Matrix:
		return v, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("range query %q returned a %s", query, val.Type())
	}
}

// noValues is the Inconclusive measurement for an empty result: no data is
// neither a pass nor a failure.
func noValues(query string, bound string) check.Measurement {
	return check.Measurement{
		Outcome: check.Inconclusive,
		Bound:   bound,
		Message: fmt.Errorf("query %q: %w", query, check.ErrNoValuesFound).Error(),
	}
}

// threshold is below, above or between.
type threshold struct {
	kind   string // "below", "above", "between"
	lo, hi float64
}

// ok reports whether v satisfies the threshold: below and above are strict,
// between includes its ends.
func (t threshold) ok(v float64) bool {
	switch t.kind {
	case "below":
		return v < t.hi
	case "above":
		return v > t.lo
	default:
		return v >= t.lo && v <= t.hi
	}
}

// excess ranks values: the larger, the further on the wrong side (or the
// closer to the edge, for a passing value).
func (t threshold) excess(v float64) float64 {
	switch t.kind {
	case "below":
		return v - t.hi
	case "above":
		return t.lo - v
	default:
		return math.Max(t.lo-v, v-t.hi)
	}
}

func (t threshold) String() string {
	switch t.kind {
	case "below":
		return "< " + formatNum(t.hi)
	case "above":
		return "> " + formatNum(t.lo)
	default:
		return fmt.Sprintf("between %s and %s", formatNum(t.lo), formatNum(t.hi))
	}
}

// parseThreshold reads exactly one of below, above and between.
func parseThreshold(f fields, below, above string, between []string) threshold {
	var set []string
	for _, k := range []string{"below", "above", "between"} {
		if f.has(k) {
			set = append(set, k)
		}
	}
	switch len(set) {
	case 0:
		f.failAt("set one of below, above or between")
		return threshold{}
	case 1:
	default:
		f.fail(set[1], "set only one of %s", strings.Join(set, ", "))
		return threshold{}
	}
	switch set[0] {
	case "below":
		hi, _ := f.float("below", below)
		return threshold{kind: "below", hi: hi}
	case "above":
		lo, _ := f.float("above", above)
		return threshold{kind: "above", lo: lo}
	}
	if len(between) != 2 {
		f.fail("between", "expected [low, high], got %d values", len(between))
		return threshold{}
	}
	lo, okLo := f.float("between[0]", between[0])
	hi, okHi := f.float("between[1]", between[1])
	if okLo && okHi && lo > hi {
		f.fail("between", "low %s is above high %s", formatNum(lo), formatNum(hi))
	}
	return threshold{kind: "between", lo: lo, hi: hi}
}
