package promtest

import (
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestServerScrapesWhatTheTestSets(t *testing.T) {
	t.Parallel()
	s := Start(t)
	s.Set("promtest_value", map[string]string{"job_kind": "a"}, 1.5)
	s.Set("promtest_value", map[string]string{"job_kind": "b"}, 2)
	s.WaitForData(t, `promtest_value{job_kind="a"}`)
	WaitFor(t, s.URL, `sum(promtest_value)`, func(v []float64) bool { return len(v) == 1 && v[0] == 3.5 })

	s.Set("promtest_value", map[string]string{"job_kind": "a"}, 10)
	WaitFor(t, s.URL, `promtest_value{job_kind="a"}`, func(v []float64) bool { return len(v) == 1 && v[0] == 10 })

	s.Delete("promtest_value", map[string]string{"job_kind": "b"})
	WaitFor(t, s.URL, `promtest_value{job_kind="b"}`, func(v []float64) bool { return len(v) == 0 })

	// A scalar expression comes back as one value.
	v, err := Query(t.Context(), s.URL, "scalar(vector(4))")
	if err != nil || len(v) != 1 || v[0] != 4 {
		t.Fatalf("scalar query = %v, %v; want [4]", v, err)
	}
	if _, err := Query(t.Context(), s.URL, "sum("); err == nil {
		t.Fatal("a bad query returned no error")
	}
}

func TestHistoryIsQueryableAtOnce(t *testing.T) {
	t.Parallel()
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	var hist []Sample
	for i := 0; i < 60; i++ {
		hist = append(hist,
			Sample{Name: "hist_value", Labels: map[string]string{"s": "a"}, Time: start.Add(time.Duration(i) * time.Minute), Value: float64(i)},
			Sample{Name: "hist_other", Time: start.Add(time.Duration(i) * time.Minute), Value: 1})
	}
	s := Start(t, WithHistory(hist))
	v, err := QueryAt(t.Context(), s.URL, `hist_value{s="a"}`, start.Add(30*time.Minute))
	if err != nil || len(v) != 1 || v[0] != 30 {
		t.Fatalf("hist_value at +30m = %v, %v; want [30]", v, err)
	}
	v, err = QueryAt(t.Context(), s.URL, `avg_over_time(hist_value[1h])`, start.Add(59*time.Minute))
	if err != nil || len(v) != 1 || v[0] != 29.5 {
		t.Fatalf("avg over the hour = %v, %v; want [29.5]", v, err)
	}
}

func TestOpenMetrics(t *testing.T) {
	at := time.Unix(1700000000, 500e6)
	got := string(openMetrics([]Sample{
		{Name: "b", Time: at.Add(time.Minute), Value: 2},
		{Name: "a", Labels: map[string]string{"x": "1"}, Time: at, Value: 0.5},
		{Name: "b", Time: at, Value: 1},
	}))
	want := "# TYPE a gauge\na{x=\"1\"} 0.5 1700000000.500\n# TYPE b gauge\nb 1 1700000000.500\nb 2 1700000060.500\n# EOF\n"
	if got != want {
		t.Fatalf("openMetrics:\n%s\nwant:\n%s", got, want)
	}
}

func TestTargetExposition(t *testing.T) {
	tg := newTarget()
	tg.set("m", map[string]string{"b": "x\"y\\z\nw", "a": "1"}, 0.25)
	tg.set("m", nil, 1)
	tg.set("a_first", nil, 7)
	tg.delete("a_first", nil)
	tg.set("inf", nil, negInf())
	rec := httptest.NewRecorder()
	tg.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	want := strings.Join([]string{
		"# TYPE inf gauge",
		"inf -Inf",
		"# TYPE m gauge",
		"m 1",
		`m{a="1",b="x\"y\\z\nw"} 0.25`,
		"",
	}, "\n")
	if got := rec.Body.String(); got != want {
		t.Fatalf("exposition:\n%s\nwant:\n%s", got, want)
	}
}

func negInf() float64 { return math.Inf(-1) }

func TestInvalidNamesPanic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"1bad", nil},
		{"ok", map[string]string{"bad-label": "x"}},
		{"ok", map[string]string{"__name__": "x"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("set(%q, %v) did not panic", tc.name, tc.labels)
				}
			}()
			newTarget().set(tc.name, tc.labels, 1)
		}()
	}
}
