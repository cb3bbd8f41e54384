package promtest

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServerScrapesWhatTheTestSets(t *testing.T) {
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
		"# TYPE a_first gauge",
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

func negInf() float64 { var z float64; return -1 / z }

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
