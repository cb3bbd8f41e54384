package validate

import (
	"testing"

	"github.com/backout/backout/internal/check"
)

// TestTargets: each checker's target is what it observes (queries, URLs,
// database), not how it judges it; the artifact check observes nothing an
// environment owns.
func TestTargets(t *testing.T) {
	tests := []struct {
		name    string
		checker check.Targeter
		with    string
		want    string
	}{
		{"promql: the query, not the bound", NewPromQL(""), "{query: up, below: 1}", "query: up"},
		{"promql on its own Prometheus", NewPromQL(""), "{query: up, below: 1, prometheus_url: 'http://p:9090'}", "query: up\nprometheus_url: http://p:9090"},
		{"baseline", NewPromQLBaseline(""), "{query: errs, max_increase: 10%, baseline: 1h}", "query: errs"},
		{"canary: both queries", NewCanary(""), "{query_before: a, query_after: b, max_effect: 0.1}", "query_before: a\nquery_after: b"},
		{"smoke: one URL", NewHTTPSmoke(nil), "{url: 'https://x/healthz', expect_status: 200}", "url: https://x/healthz"},
		{"smoke: each URL, not its expectations", NewHTTPSmoke(nil), "{urls: [{url: 'https://a', expect_status: 200}, {url: 'https://b', latency_budget: 1s}]}",
			"urls[0].url: https://a\nurls[1].url: https://b"},
		{"version: URLs", NewVersion(nil, ""), "{urls: ['https://a/v', 'https://b/v'], json_path: version}", "urls: ['https://a/v', 'https://b/v']"},
		{"sql: the database and query", NewSQL(), "{driver: postgres, dsn_env: DB, query: 'SELECT 1', expect_value: '1'}", "driver: postgres\ndsn_env: DB\nquery: SELECT 1"},
		{"artifact: shared registry", NewArtifact(nil, ""), "{image: 'r/x@sha256:00'}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.checker.Target(with(t, tt.with))
			if err != nil || got != tt.want {
				t.Errorf("Target = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestTargetNotAMapping(t *testing.T) {
	if _, err := NewPromQL("").Target(with(t, "[a, b]")); err == nil {
		t.Error("a with: that is not a mapping has no target")
	}
}
