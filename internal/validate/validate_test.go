package validate

import (
	"testing"

	"github.com/backout/backout/internal/check"
)

// TestValidate checks lint-time decoding of every checker's `with:`:
// templated values pass, mistakes give exact positioned messages.
func TestValidate(t *testing.T) {
	checkers := map[string]check.Checker{
		"promql":          NewPromQL(""),
		"promql-baseline": NewPromQLBaseline(""),
		"canary":          NewCanary(""),
		"http-smoke":      NewHTTPSmoke(nil),
		"version":         NewVersion(nil, ""),
		"sql":             NewSQL(),
		"artifact":        NewArtifact(nil, ""),
	}
	cases := []struct {
		uses, with, want string
	}{
		{"promql", `{query: up, below: 1}`, ""},
		{"promql", `{query: up, above: "{{ .Params.min }}"}`, ""},
		{"promql", `{query: up, between: [0.1, 0.5], prometheus_url: "http://prom:9090"}`, ""},
		{"promql", `{query: up, between: ["{{ .Params.lo }}", 2]}`, ""},
		{"promql", ``, "runbook.yaml: query is required (a PromQL expression)\nrunbook.yaml: set one of below, above or between"},
		{"promql", `{below: 1}`, "runbook.yaml:1:1: query is required (a PromQL expression)"},
		{"promql", `{query: up}`, "runbook.yaml:1:1: set one of below, above or between"},
		{"promql", `{query: up, below: abc}`, "runbook.yaml:1:13: below: expected a number, got \"abc\""},
		{"promql", `{query: up, below: 1, above: 0}`, "runbook.yaml:1:23: above: set only one of below, above"},
		{"promql", `{query: up, between: [1]}`, "runbook.yaml:1:13: between: expected [low, high], got 1 values"},
		{"promql", `{query: up, between: [2, 1]}`, "runbook.yaml:1:13: between: low 2 is above high 1"},
		{"promql", `{query: up, below: 1, prometheus_url: "prom:9090"}`, "runbook.yaml:1:23: prometheus_url: expected an http(s) URL, got \"prom:9090\""},
		{"promql", `{query: up, below: 1, treshold: 2}`, "runbook.yaml:1:23: unknown key \"treshold\""},
		{"promql", `{query: [up], below: 1}`, "runbook.yaml:1:9: query: expected a string, got a list"},
		{"promql", `{query: up, between: 3}`, "runbook.yaml:1:22: between: expected a list, got \"3\""},
		{"promql-baseline", `{query: errors, max_increase: 10%}`, ""},
		{"promql-baseline", `{query: errors, max_increase: "0.02", baseline: 2h}`, ""},
		{"promql-baseline", `{query: errors, max_increase: "{{ .Params.inc }}", baseline: "{{ .Params.b }}"}`, ""},
		{"promql-baseline", `{query: errors}`, "runbook.yaml:1:1: max_increase is required (e.g. \"10%\" or an absolute \"0.02\")"},
		{"promql-baseline", `{query: errors, max_increase: ten%}`, "runbook.yaml:1:17: max_increase: expected a number, got \"ten\""},
		{"promql-baseline", `{query: errors, max_increase: -5%}`, "runbook.yaml:1:17: max_increase: must be 0 or more, got \"-5%\""},
		{"promql-baseline", `{query: errors, max_increase: 10%, baseline: 1x}`, "runbook.yaml:1:36: baseline: invalid duration \"1x\" (examples: 30s, 5m, 1h, 7d)"},
		{"promql-baseline", `{query: errors, max_increase: 10%, baseline: 0}`, "runbook.yaml:1:36: baseline: must be more than 0"},
		{"promql-baseline", `{query: errors, max_increase: 10%, baseline: {from: "2026-12-01T10:00:00Z", to: "2026-12-01T11:00:00Z"}}`, ""},
		{"promql-baseline", `{query: errors, max_increase: 10%, baseline: {from: "{{ .Params.from }}", to: "2026-12-01T11:00:00Z"}}`, ""},
		{"promql-baseline", `{query: errors, max_increase: 10%, baseline: {from: yesterday, to: "2026-12-01T11:00:00Z"}}`, `runbook.yaml:1:47: baseline.from: expected an RFC 3339 time such as 2026-12-01T10:00:00Z, got "yesterday"`},
		{"promql-baseline", `{query: errors, max_increase: 10%, baseline: {from: "2026-12-01T11:00:00Z", to: "2026-12-01T10:00:00Z"}}`, `runbook.yaml:1:77: baseline.to: must be after from (2026-12-01T11:00:00Z)`},
		{"promql-baseline", `{query: errors, max_increase: 10%, baseline: {from: "2026-12-01T11:00:00Z"}}`, `runbook.yaml:1:46: baseline.to is required (an RFC 3339 time such as 2026-12-01T10:00:00Z)`},
		{"canary", `{query: latency, baseline: {from: "2026-12-01T10:00:00Z", to: "2026-12-01T11:00:00Z"}}`, ""},
		{"canary", `{query: latency, baseline_window: 1h, baseline: {from: "2026-12-01T10:00:00Z", to: "2026-12-01T11:00:00Z"}}`, `runbook.yaml:1:39: baseline: set baseline (a named window) or baseline_window, not both`},
		{"canary", `{query: latency, window: 10m, baseline_window: 1h, confidence: 0.95, max_effect: 0.1, direction: increase}`, ""},
		{"canary", `{query_before: a, query_after: b}`, ""},
		{"canary", `{query_before: a}`, "runbook.yaml:1:1: query is required (or both query_before and query_after)"},
		{"canary", `{query: a, confidence: 1.5, max_effect: -1, direction: up, min_samples: 1, step: soon}`, "runbook.yaml:1:12: confidence: must be between 0 and 1 (e.g. 0.95), got \"1.5\"\nrunbook.yaml:1:29: max_effect: must be 0 or more (0.1 allows a 10% shift), got \"-1\"\nrunbook.yaml:1:45: direction: expected one of increase, decrease, either, got \"up\"\nrunbook.yaml:1:60: min_samples: must be 2 or more, got 1\nrunbook.yaml:1:76: step: invalid duration \"soon\" (examples: 30s, 5m, 1h, 7d)"},
		{"http-smoke", `{url: "https://{{ .Service.Name }}.internal/healthz", expect_status: 200}`, ""},
		{"http-smoke", `{urls: [{url: "http://a/x", expect_status: 401}, {url: "http://a/y", json_path: $.status, json_equals: ok, latency_budget: 500ms, headers: {X-A: b}, secret_headers: {Authorization: TOKEN}}]}`, ""},
		{"http-smoke", `{urls: []}`, "runbook.yaml:1:1: urls: list at least one URL"},
		{"http-smoke", `{urls: [{method: FETCH}, {url: "ftp://x", expect_status: 700}]}`, "runbook.yaml:1:9: urls[0].url is required\nrunbook.yaml:1:10: urls[0].method: expected one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, got \"FETCH\"\nrunbook.yaml:1:27: urls[1].url: expected an http(s) URL, got \"ftp://x\"\nrunbook.yaml:1:43: urls[1].expect_status: expected an HTTP status (100-599), got 700"},
		{"http-smoke", `{url: "http://a", json_equals: ok}`, "runbook.yaml:1:19: json_equals: needs json_path (the value to compare)"},
		{"http-smoke", `{url: "http://a", json_path: "a..b", latency_budget: fast}`, "runbook.yaml:1:19: json_path: invalid JSON path \"a..b\": unexpected \"..b\"\nrunbook.yaml:1:38: latency_budget: invalid duration \"fast\" (examples: 30s, 5m, 1h, 7d)"},
		{"http-smoke", `{url: "http://a", secret_headers: {Authorization: "not-an-env"}}`, "runbook.yaml:1:36: secret_headers.Authorization: expected an environment variable name such as DB_DSN, got \"not-an-env\""},
		{"http-smoke", `{url: "http://a", headers: {X-A: b, Authorization: c}, secret_headers: {X-B: B, Authorization: TOKEN}}`, "runbook.yaml:1:81: secret_headers.Authorization: also set in headers"},
		{"http-smoke", `{url: "http://a", urls: []}`, "runbook.yaml:1:2: unknown key \"url\" (did you mean \"urls\"?)"},
		{"http-smoke", `{url: "http://a", expect_status: ok}`, "runbook.yaml:1:19: expect_status: expected an integer, got \"ok\""},
		{"version", `{urls: ["http://a/version", "http://b/version"], json_path: $.version}`, ""},
		{"version", `{query: 'build_info{service="x"}', label: version}`, ""},
		{"version", `{url: "http://a/version"}`, ""},
		{"version", `{}`, "runbook.yaml:1:1: set url or urls (version endpoints) or query (a build_info series)"},
		{"version", `{url: "http://a", query: up}`, "runbook.yaml:1:19: query: set either url/urls or query, not both"},
		{"version", `{query: up, json_path: $.v}`, "runbook.yaml:1:13: json_path: only applies to url/urls"},
		{"version", `{url: "http://a", label: v, prometheus_url: "http://p"}`, "runbook.yaml:1:19: label: only applies to query\nrunbook.yaml:1:29: prometheus_url: only applies to query"},
		{"version", `{urls: ["http://a", "nope"]}`, "runbook.yaml:1:21: urls[1]: expected an http(s) URL, got \"nope\""},
		{"sql", `{driver: postgres, dsn_env: DB_DSN, query: "SELECT count(*) FROM t", expect_value: "0"}`, ""},
		{"sql", `{driver: mysql, dsn_env: DB_DSN, query: "WITH x AS (SELECT 1) SELECT * FROM x", expect_rows: 0}`, ""},
		{"sql", `{driver: postgres, dsn_env: DB_DSN, query: "SELECT * FROM {{ .Params.table }}", expect_rows: "{{ .Params.n }}"}`, ""},
		{"sql", `{driver: oracle, dsn_env: "db dsn", query: "DELETE FROM t", expect_rows: -1}`, "runbook.yaml:1:2: driver: expected one of postgres, mysql, got \"oracle\"\nrunbook.yaml:1:18: dsn_env: expected an environment variable name such as DB_DSN, got \"db dsn\"\nrunbook.yaml:1:37: query: only SELECT or WITH statements may run in a check, got DELETE\nrunbook.yaml:1:61: expect_rows: must be 0 or more, got -1"},
		{"sql", `{driver: postgres, dsn_env: D, query: "SELECT 1; DROP TABLE t", expect_rows: 1, expect_value: "1"}`, "runbook.yaml:1:32: query: write a single statement\nrunbook.yaml:1:81: expect_value: set either expect_rows or expect_value, not both"},
		{"sql", `{driver: postgres, dsn_env: D, query: "SELECT 1"}`, "runbook.yaml:1:1: set expect_rows (a row count) or expect_value (the single value)"},
		{"sql", `{}`, "runbook.yaml:1:1: driver is required (postgres or mysql)\nrunbook.yaml:1:1: dsn_env is required (the environment variable holding the DSN)\nrunbook.yaml:1:1: query is required (a SELECT)\nrunbook.yaml:1:1: set expect_rows (a row count) or expect_value (the single value)"},
		{"artifact", `{image: "{{ .Target.Artifact }}"}`, ""},
		{"artifact", `{image: "reg.io/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", registry_url: "https://reg.io", token_env: REG_TOKEN}`, ""},
		{"artifact", `{image: "reg.io/team/app:1.2"}`, "runbook.yaml:1:2: image: \"reg.io/team/app:1.2\" is not pinned by digest (want name@sha256:<64 hex>)"},
		{"artifact", `{}`, "runbook.yaml:1:1: image is required (usually image: '{{ .Target.Artifact }}')"},
		{"artifact", `{image: "app@sha256:abc", registry_url: "reg.io"}`, "runbook.yaml:1:2: image: \"app@sha256:abc\": digest \"sha256:abc\" is not sha256:<64 lowercase hex>\nrunbook.yaml:1:27: registry_url: expected an http(s) URL, got \"reg.io\""},
	}
	for _, tc := range cases {
		t.Run(tc.uses+" "+tc.with, func(t *testing.T) {
			got := errString(checkers[tc.uses].Validate(with(t, tc.with)))
			if got != tc.want {
				t.Errorf("Validate(%s)\n got: %q\nwant: %q", tc.with, got, tc.want)
			}
		})
	}
}
