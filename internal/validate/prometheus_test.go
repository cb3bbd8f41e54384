package validate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/testutil/promtest"
)

// history is three hours of per-minute samples ending before the test
// starts: a deploy at deploy, a rollback evaluated at evalAt.
type history struct {
	base, deploy, evalAt time.Time
	samples              []promtest.Sample
}

func newHistory() *history {
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Minute)
	return &history{base: base, deploy: base.Add(60 * time.Minute), evalAt: base.Add(120 * time.Minute)}
}

// series adds samples from minute 0 to 150; value gets the minute and
// whether it is after the deploy.
func (h *history) series(name string, labels map[string]string, value func(minute int, after bool) float64) {
	for m := 0; m <= 150; m++ {
		h.samples = append(h.samples, promtest.Sample{
			Name: name, Labels: labels, Time: h.base.Add(time.Duration(m) * time.Minute), Value: value(m, m > 60),
		})
	}
}

func constant(v float64) func(int, bool) float64 { return func(int, bool) float64 { return v } }

// noisy is before or after the deploy, plus uniform noise of +-spread.
func noisy(rng *rand.Rand, before, after, spread float64) func(int, bool) float64 {
	return func(_ int, isAfter bool) float64 {
		v := before
		if isAfter {
			v = after
		}
		return v + (rng.Float64()*2-1)*spread
	}
}

func TestAgainstPrometheus(t *testing.T) {
	h := newHistory()
	rng := rand.New(rand.NewPCG(1, 2))
	h.series("backup_age_seconds", map[string]string{"service": "db"}, constant(1200))
	h.series("queue_depth", map[string]string{"queue": "a"}, constant(5))
	h.series("queue_depth", map[string]string{"queue": "b"}, constant(50))
	h.series("ratio_nan", nil, constant(math.NaN()))
	h.series("http_error_ratio", map[string]string{"service": "good"}, noisy(rng, 0.010, 0.010, 0.0004))
	h.series("http_error_ratio", map[string]string{"service": "bad"}, noisy(rng, 0.010, 0.050, 0.0004))
	h.series("http_error_ratio", map[string]string{"service": "recovering"}, func(m int, after bool) float64 {
		if after && m <= 100 {
			return 0.05
		}
		return 0.01
	})
	h.series("latency_seconds", map[string]string{"service": "steady"}, noisy(rng, 0.2, 0.2, 0.02))
	h.series("latency_seconds", map[string]string{"service": "slow"}, noisy(rng, 0.2, 0.3, 0.02))
	h.series("latency_seconds", map[string]string{"service": "nudged"}, noisy(rng, 0.2, 0.204, 0.002))
	for pod, v := range map[string]string{"checkout-a": "1.2.3", "checkout-b": "1.2.3", "payments-a": "1.2.3", "payments-b": "1.2.2"} {
		svc, _, _ := strings.Cut(pod, "-")
		h.series("build_info", map[string]string{"service": svc, "pod": pod, "version": v}, constant(1))
	}
	prom := promtest.Start(t, promtest.WithHistory(h.samples))
	t.Run("promql", func(t *testing.T) { t.Parallel(); testPromQL(t, prom.URL, h) })
	t.Run("promql-baseline", func(t *testing.T) { t.Parallel(); testBaseline(t, prom.URL, h) })
	t.Run("canary", func(t *testing.T) { t.Parallel(); testCanary(t, prom.URL, h) })
	t.Run("version", func(t *testing.T) { t.Parallel(); testVersionQuery(t, prom.URL, h) })
	t.Run("live scrape", func(t *testing.T) { t.Parallel(); testLiveScrape(t, prom) })
}

type promCase struct {
	name, with string
	want       check.Outcome
	wantValue  string
	wantMsg    string // exact, or a prefix ending in "…"; "" skips it
	wantErr    string // prefix
}

func runPromCases(t *testing.T, c check.Checker, req check.Request, cases []promCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := req
			r.With = with(t, tc.with)
			m, err := c.Measure(t.Context(), r)
			if tc.wantErr != "" || err != nil {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) || tc.wantErr == "" {
					t.Fatalf("Measure error = %v, want prefix %q", err, tc.wantErr)
				}
				return
			}
			msgOK := tc.wantMsg == "" || m.Message == tc.wantMsg
			if p, ok := strings.CutSuffix(tc.wantMsg, "…"); ok {
				msgOK = strings.HasPrefix(m.Message, p)
			}
			if m.Outcome != tc.want || (tc.wantValue != "" && m.Value != tc.wantValue) || !msgOK {
				t.Fatalf("Measure = %+v\nwant %s value %q message %q", m, tc.want, tc.wantValue, tc.wantMsg)
			}
		})
	}
}

func testPromQL(t *testing.T, url string, h *history) {
	runPromCases(t, NewPromQL(url), check.Request{Now: h.evalAt}, []promCase{
		{name: "below", with: `{query: backup_age_seconds, below: 3600}`, want: check.Successful, wantValue: "1200",
			wantMsg: `backup_age_seconds{service="db"} = 1200, within < 3600`},
		{name: "above fails", with: `{query: backup_age_seconds, above: 3600}`, want: check.Failed, wantValue: "1200",
			wantMsg: `backup_age_seconds{service="db"} = 1200, outside > 3600`},
		{name: "between", with: `{query: backup_age_seconds, between: [1200, 1300]}`, want: check.Successful,
			wantMsg: `backup_age_seconds{service="db"} = 1200, within between 1200 and 1300`},
		{name: "scalar", with: `{query: 'scalar(backup_age_seconds) / 60', below: 30}`, want: check.Successful,
			wantMsg: `value = 20, within < 30`},
		{name: "worst series fails", with: `{query: queue_depth, below: 20}`, want: check.Failed, wantValue: "50",
			wantMsg: `worst of 2 series queue_depth{queue="b"} = 50, outside < 20`},
		{name: "every series passes", with: `{query: queue_depth, above: 1}`, want: check.Successful, wantValue: "5",
			wantMsg: `worst of 2 series queue_depth{queue="a"} = 5, within > 1`},
		{name: "NaN is inconclusive", with: `{query: ratio_nan, below: 1}`, want: check.Inconclusive,
			wantMsg: `ratio_nan is NaN (a ratio with no traffic?)`},
		{name: "no data", with: `{query: no_such_metric, below: 1}`, want: check.Inconclusive,
			wantMsg: `query "no_such_metric": no values found`},
		{name: "bad query", with: `{query: 'sum(', below: 1}`, wantErr: `query "sum(": bad_data: `},
		{name: "range vector", with: `{query: 'queue_depth[5m]', below: 1}`, wantErr: `query "queue_depth[5m]" returned a matrix`},
		{name: "unreachable prometheus", with: `{query: up, below: 1, prometheus_url: "http://127.0.0.1:1"}`, wantErr: `query "up": `},
	})
}

func testBaseline(t *testing.T, url string, h *history) {
	req := check.Request{Now: h.evalAt, BaselineEnd: h.deploy}
	runPromCases(t, NewPromQLBaseline(url), req, []promCase{
		{name: "back to baseline", with: `{query: 'http_error_ratio{service="good"}', max_increase: 10%, baseline: 1h}`,
			want: check.Successful, wantMsg: `http_error_ratio{service="good"} = 0.0…`},
		{name: "still elevated", with: `{query: 'http_error_ratio{service="bad"}', max_increase: 10%}`,
			want: check.Failed, wantMsg: `http_error_ratio{service="bad"} = 0.05…`},
		{name: "absolute allowance", with: `{query: 'http_error_ratio{service="bad"}', max_increase: "0.05"}`,
			want: check.Successful},
		{name: "per series", with: `{query: http_error_ratio, max_increase: 10%}`,
			want: check.Failed, wantMsg: `worst of 3 series http_error_ratio{service="bad"} = 0.05…`},
		{name: "no data", with: `{query: no_such_metric, max_increase: 10%}`, want: check.Inconclusive,
			wantMsg: `query "no_such_metric": no values found`},
	})
	// The sample is the average since the service settled: from minute 90
	// it still holds the incident; from minute 105 only the recovery.
	recovering := `{query: 'http_error_ratio{service="recovering"}', max_increase: 10%}`
	early := req
	early.SampleStart = h.base.Add(90 * time.Minute)
	runPromCases(t, NewPromQLBaseline(url), early, []promCase{
		{name: "sample before it settled", with: recovering, want: check.Failed, wantMsg: `http_error_ratio{service="recovering"} = 0.02…`},
	})
	settled := req
	settled.SampleStart = h.base.Add(105 * time.Minute)
	runPromCases(t, NewPromQLBaseline(url), settled, []promCase{
		{name: "sample after it settled", with: recovering, want: check.Successful, wantMsg: `http_error_ratio{service="recovering"} = 0.01, within <= 0.011 (baseline 0.01 +10%)`},
	})
	// A named window: the first half hour of the history, whichever deploy.
	named := fmt.Sprintf(`{query: 'http_error_ratio{service="bad"}', max_increase: 10%%, baseline: {from: %q, to: %q}}`,
		h.base.Format(time.RFC3339), h.base.Add(30*time.Minute).Format(time.RFC3339))
	noDeploy := check.Request{Now: h.base.Add(45 * time.Minute)}
	runPromCases(t, NewPromQLBaseline(url), noDeploy, []promCase{
		{name: "named window needs no deploy", with: named, want: check.Successful, wantMsg: `http_error_ratio{service="bad"} = 0.0…`},
		{name: "a length before the deploy needs one", with: `{query: backup_age_seconds, max_increase: 10%}`, wantErr: "promql-baseline: no baseline end (deploy time)"},
	})
	// Before the history there is no baseline.
	noHistory := check.Request{Now: h.evalAt, BaselineEnd: h.base.Add(-time.Hour)}
	runPromCases(t, NewPromQLBaseline(url), noHistory, []promCase{
		{name: "no baseline", with: `{query: backup_age_seconds, max_increase: 10%}`, want: check.Inconclusive,
			wantMsg: `baseline 1h0m0s before the deploy: query "backup_age_seconds": no values found`},
	})
}

func testCanary(t *testing.T, url string, h *history) {
	req := check.Request{Now: h.evalAt, BaselineEnd: h.deploy}
	runPromCases(t, NewCanary(url), req, []promCase{
		{name: "steady", with: `{query: 'latency_seconds{service="steady"}', baseline_window: 30m, window: 30m}`,
			want: check.Successful, wantMsg: `median 0.…`},
		{name: "slower", with: `{query: 'latency_seconds{service="slow"}', baseline_window: 30m, window: 30m, direction: increase}`,
			want: check.Failed, wantMsg: `median 0.29…`},
		{name: "slower but only decreases matter", with: `{query: 'latency_seconds{service="slow"}', baseline_window: 30m, window: 30m, direction: decrease}`,
			want: check.Successful},
		{name: "significant but small", with: `{query: 'latency_seconds{service="nudged"}', baseline_window: 30m, window: 30m, max_effect: 0.1}`,
			want: check.Successful},
		{name: "small shift over a strict bound", with: `{query: 'latency_seconds{service="nudged"}', baseline_window: 30m, window: 30m, max_effect: 0.01}`,
			want: check.Failed},
		{name: "canary against baseline pods", with: `{query_before: 'latency_seconds{service="steady"}', query_after: 'latency_seconds{service="slow"}', baseline_window: 30m, window: 30m}`,
			want: check.Failed},
		{name: "several series", with: `{query: latency_seconds, baseline_window: 30m, window: 30m}`,
			wantErr: `canary: query "latency_seconds" returned 3 series; aggregate it to one`},
		{name: "too few samples", with: `{query: 'latency_seconds{service="steady"}', baseline_window: 5m, window: 30m}`,
			want: check.Inconclusive, wantMsg: `too few samples to compare: 6 before, 31 after (need 8 each)`},
	})
	// The after sample never reaches back before the service settled.
	settled := req
	settled.SampleStart = h.evalAt.Add(-3 * time.Minute)
	runPromCases(t, NewCanary(url), settled, []promCase{
		{name: "only since it settled", with: `{query: 'latency_seconds{service="steady"}', baseline_window: 30m, window: 30m}`,
			want: check.Inconclusive, wantMsg: `too few samples to compare: 31 before, 4 after (need 8 each)`},
	})
}

func testVersionQuery(t *testing.T, url string, h *history) {
	req := check.Request{Now: h.evalAt, TargetVersion: "1.2.3"}
	runPromCases(t, NewVersion(nil, url), req, []promCase{
		{name: "all pods", with: `{query: 'build_info{service="checkout"}', label: version}`, want: check.Successful,
			wantValue: "2/2 instances at target", wantMsg: "2/2 instances report 1.2.3"},
		{name: "one old pod", with: `{query: 'build_info{service="payments"}'}`, want: check.Failed, wantValue: "1/2 instances at target",
			wantMsg: `1/2 instances not at 1.2.3: build_info{pod="payments-b", service="payments", version="1.2.2"} reports "1.2.2"`},
		{name: "missing label", with: `{query: 'build_info{service="checkout"}', label: release}`, want: check.Failed,
			wantMsg: `2/2 instances not at 1.2.3: build_info{pod="checkout-a", service="checkout", version="1.2.3"}: no release label; …`},
		{name: "no series", with: `{query: 'build_info{service="nope"}'}`, want: check.Inconclusive,
			wantMsg: `query "build_info{service=\"nope\"}": no values found`},
	})
}

// testLiveScrape goes through the scraped target, as tests of the current
// state do.
func testLiveScrape(t *testing.T, prom *promtest.Server) {
	prom.Set("live_queue_depth", map[string]string{"queue": "orders"}, 3)
	prom.WaitForData(t, "live_queue_depth")
	m, err := NewPromQL(prom.URL).Measure(t.Context(), check.Request{With: with(t, `{query: live_queue_depth, below: 10}`)})
	if err != nil || m.Outcome != check.Successful || m.Value != "3" {
		t.Fatalf("Measure = %+v, %v", m, err)
	}
}
