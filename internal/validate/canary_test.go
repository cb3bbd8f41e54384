package validate

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/backout/backout/internal/check"
)

// fakeProm answers range queries from a table and records what it was asked.
type fakeProm struct {
	series map[string][]float64 // query -> values of its one series
	err    error
	asked  []string // "query start end step"
}

func (f *fakeProm) Query(context.Context, string, time.Time, ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	return nil, nil, nil, errors.New("fakeProm: no instant queries")
}

func (f *fakeProm) QueryRange(_ context.Context, q string, r v1.Range, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	f.asked = append(f.asked, strings.Join([]string{q, r.Start.UTC().Format("15:04"), r.End.UTC().Format("15:04"), r.Step.String()}, " "))
	if f.err != nil {
		return nil, nil, nil, f.err
	}
	vals, ok := f.series[q]
	if !ok {
		return model.Matrix{}, nil, nil, nil
	}
	s := &model.SampleStream{Metric: model.Metric{"q": model.LabelValue(q)}}
	for i, v := range vals {
		s.Values = append(s.Values, model.SamplePair{Timestamp: model.Time(i * 60000), Value: model.SampleValue(v)})
	}
	return model.Matrix{s}, nil, nil, nil
}

func newFakeCanary(f *fakeProm) *Canary {
	c := NewCanary("http://unused")
	c.prom.connect = func(string) (promQuerier, error) { return f, nil }
	return c
}

func around(center float64, n int, spread float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		// Evenly spread over [center-spread, center+spread], no ties.
		out[i] = center - spread + 2*spread*float64(i)/float64(n-1)
	}
	return out
}

func TestCanaryJudgement(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name    string
		before  []float64
		after   []float64
		with    string
		want    check.Outcome
		wantVal string
		wantMsg string
	}{
		{name: "same", before: around(100, 20, 10), after: around(100, 20, 10), with: `{query_before: b, query_after: a}`,
			want: check.Successful, wantVal: "+0.0%", wantMsg: "median 100 after vs 100 before (effect +0.0%), p=…"},
		{name: "significant and large", before: around(100, 20, 5), after: around(130, 20, 5), with: `{query_before: b, query_after: a}`,
			want: check.Failed, wantVal: "+30.0%"},
		{name: "significant but small", before: around(100, 20, 1), after: around(105, 20, 1), with: `{query_before: b, query_after: a}`,
			want: check.Successful, wantVal: "+5.0%"},
		{name: "large but not significant", before: []float64{10, 200, 30, 150, 60, 90, 120, 5}, after: []float64{150, 15, 200, 40, 100, 180, 20, 70},
			with: `{query_before: b, query_after: a}`, want: check.Successful},
		{name: "decrease looked for", before: around(100, 20, 5), after: around(50, 20, 5), with: `{query_before: b, query_after: a, direction: decrease}`,
			want: check.Failed, wantVal: "-50.0%"},
		{name: "increase looked for, decrease found", before: around(100, 20, 5), after: around(50, 20, 5), with: `{query_before: b, query_after: a, direction: increase}`,
			want: check.Successful, wantVal: "-50.0%"},
		{name: "from zero", before: make([]float64, 10), after: around(5, 10, 1), with: `{query_before: b, query_after: a}`,
			want: check.Failed, wantVal: "+Inf%"},
		{name: "NaN samples dropped", before: append(around(100, 8, 5), nan, nan), after: append(around(100, 8, 5), nan), with: `{query_before: b, query_after: a}`,
			want: check.Successful, wantMsg: "median 100 after vs 100 before (effect +0.0%), p=1 two-sided, n=8/8"},
		{name: "too few", before: around(100, 7, 5), after: around(100, 20, 5), with: `{query_before: b, query_after: a}`,
			want: check.Inconclusive, wantMsg: "too few samples to compare: 7 before, 20 after (need 8 each)"},
		{name: "min_samples lowered", before: around(100, 3, 5), after: around(200, 3, 5), with: `{query_before: b, query_after: a, min_samples: 3}`,
			want: check.Successful, wantVal: "+100.0%"},
		{name: "no data before", after: around(100, 20, 5), with: `{query_before: b, query_after: a}`,
			want: check.Inconclusive, wantMsg: `query "b": no values found`},
		{name: "no data after", before: around(100, 20, 5), with: `{query_before: b, query_after: a}`,
			want: check.Inconclusive, wantMsg: `query "a": no values found`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeProm{series: map[string][]float64{}}
			if tc.before != nil {
				f.series["b"] = tc.before
			}
			if tc.after != nil {
				f.series["a"] = tc.after
			}
			req := check.Request{With: with(t, tc.with), Now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), BaselineEnd: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
			m, err := newFakeCanary(f).Measure(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			msgOK := tc.wantMsg == "" || m.Message == tc.wantMsg
			if p, ok := strings.CutSuffix(tc.wantMsg, "…"); ok {
				msgOK = strings.HasPrefix(m.Message, p)
			}
			if m.Outcome != tc.want || (tc.wantVal != "" && m.Value != tc.wantVal) || !msgOK {
				t.Fatalf("Measure = %+v; want %s %q %q", m, tc.want, tc.wantVal, tc.wantMsg)
			}
		})
	}
}

func TestCanaryWindows(t *testing.T) {
	f := &fakeProm{series: map[string][]float64{"q": around(1, 10, 0.1)}}
	req := check.Request{
		With:        with(t, `{query: q, baseline_window: 2h, window: 15m, step: 30s}`),
		Now:         time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC),
		BaselineEnd: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC),
	}
	if _, err := newFakeCanary(f).Measure(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	want := []string{"q 08:00 10:00 30s", "q 11:45 12:00 30s"}
	if strings.Join(f.asked, "|") != strings.Join(want, "|") {
		t.Fatalf("asked %q, want %q", f.asked, want)
	}
	// Defaults: 1h before, 10m after, 1m steps.
	f.asked = nil
	req.With = with(t, `{query: q}`)
	if _, err := newFakeCanary(f).Measure(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	want = []string{"q 09:00 10:00 1m0s", "q 11:50 12:00 1m0s"}
	if strings.Join(f.asked, "|") != strings.Join(want, "|") {
		t.Fatalf("asked %q, want %q", f.asked, want)
	}
}

func TestCanaryErrors(t *testing.T) {
	req := check.Request{With: with(t, `{query: q}`), Now: time.Unix(7200, 0), BaselineEnd: time.Unix(3600, 0), Service: "checkout"}
	f := &fakeProm{err: errors.New("connection refused")}
	if _, err := newFakeCanary(f).Measure(t.Context(), req); errString(err) != `query "q" over 1h0m0s: connection refused` {
		t.Errorf("query error = %v", err)
	}
	req.BaselineEnd = time.Time{}
	if _, err := newFakeCanary(f).Measure(t.Context(), req); errString(err) != "canary: no baseline end (deploy time) for checkout; name a window with baseline: {from, to}" {
		t.Errorf("no baseline end = %v", err)
	}
	if _, err := NewCanary("").Measure(t.Context(), check.Request{With: with(t, `{query: q}`), BaselineEnd: time.Unix(1, 0)}); errString(err) !=
		"no Prometheus configured: set prometheus.url in the bot config or prometheus_url in the check" {
		t.Errorf("no prometheus = %v", err)
	}
}
