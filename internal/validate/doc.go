package validate

import "github.com/backout/backout/internal/withdoc"

// The Describe methods implement withdoc.Describer: docs/runbooks.md and
// `bot schema` are generated from them, and the field lists are read from
// the structs that Validate and Measure decode, so they cannot drift.

const promURLDoc = "The Prometheus to ask (default: the config's prometheus.url)."

// Describe implements withdoc.Describer.
func (c *PromQL) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    c.Name(),
		Summary: "An instant PromQL query held against a threshold. With several series every one must pass (the worst is reported); a NaN sample (0/0, no traffic) is Inconclusive.",
		Fields: withdoc.Fields(promqlWith{}, map[string]string{
			"query":          "Required: the PromQL expression.",
			"below":          "Passes when every value is below this number (strict).",
			"above":          "Passes when every value is above this number (strict).",
			"between":        "`[lo, hi]`: passes when every value is within (inclusive).",
			"prometheus_url": promURLDoc,
		}),
		Rules: []string{"Set exactly one of `below`, `above` or `between`."},
	}
}

// Describe implements withdoc.Describer.
func (c *PromQLBaseline) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    c.Name(),
		Summary: "The query's average since the service settled (validation start + `initial_delay`; at readiness, its value now) must not exceed its average over the baseline window before the bad deploy by more than `max_increase`. Series are matched by their labels.",
		Fields: withdoc.Fields(baselineWith{}, map[string]string{
			"query":          "Required: the PromQL expression.",
			"max_increase":   "Required: relative (`10%`: now <= baseline * 1.1) or absolute (`0.02`: now <= baseline + 0.02). A relative bound on a zero baseline allows no increase: use an absolute one for ratios that are usually zero.",
			"baseline":       "How far back before the bad deploy (its time on the rollback record) to average (default 1h), or a named window `{from: T, to: T}` of RFC 3339 times (templates allowed) when the time before the deploy was not normal either.",
			"prometheus_url": promURLDoc,
		}),
	}
}

// Describe implements withdoc.Describer.
func (c *Canary) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    c.Name(),
		Summary: "A Kayenta-style comparison: samples the query after the rollback and before the bad deploy and runs a Mann-Whitney U test. Fails only when the difference is significant and the relative median difference exceeds `max_effect` in the direction looked for.",
		Fields: withdoc.Fields(canaryWith{}, map[string]string{
			"query":           "The PromQL expression sampled on both sides.",
			"query_before":    "Replaces `query` before the deploy (e.g. the rest of the fleet).",
			"query_after":     "Replaces `query` after the rollback (e.g. a canary pod).",
			"baseline_window": "How long before the bad deploy to sample (default 1h).",
			"baseline":        "Instead of baseline_window, a named window `{from: T, to: T}` of RFC 3339 times (templates allowed).",
			"window":          "How long before now to sample (default 10m), never earlier than validation start + `initial_delay`.",
			"step":            "Time between samples (default 1m).",
			"confidence":      "Significance: fails only when p < 1 - confidence (default 0.95).",
			"max_effect":      "Relative median difference tolerated (default 0.1).",
			"direction":       "increase, decrease or either (default): which difference is bad.",
			"min_samples":     "Fewer samples on a side is Inconclusive (default 8, at least 2).",
			"prometheus_url":  promURLDoc,
		}),
	}
}

// Describe implements withdoc.Describer.
func (c *HTTPSmoke) Describe() withdoc.Kind {
	fields := withdoc.Fields(smokeURLWith{}, map[string]string{
		"url":            "Required: the URL to request.",
		"method":         "GET (default), HEAD, POST, PUT, PATCH, DELETE or OPTIONS.",
		"expect_status":  "The status it must answer (default 200). Redirects are not followed, so a 302 can be expected.",
		"body_contains":  "Text the body must contain.",
		"json_path":      "A JSONPath into the JSON body, such as `$.db.status`.",
		"json_equals":    "The value at `json_path` must equal this.",
		"latency_budget": "The answer must come within this duration, such as 500ms.",
		"headers":        "Request headers, name to value.",
		"secret_headers": "Headers whose value comes from an environment variable (`Authorization: SMOKE_TOKEN`); never shown.",
	})
	// The list form's only key: each entry takes the fields above.
	fields = append(fields, withdoc.Field{Key: "urls", Type: "list of mappings", JSONType: "array",
		Doc: "Several URLs, each a mapping of the keys above; every one must pass. Use instead of a single `url`."})
	return withdoc.Kind{
		Name:    c.Name(),
		Summary: "Every URL must answer as expected. A URL that cannot be reached fails the measurement; a secret header whose variable is unset is an Error.",
		Fields:  fields,
	}
}

// Describe implements withdoc.Describer.
func (c *Version) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    c.Name(),
		Summary: "Every instance reports the target version (`.Target.Version`), compared exactly, so an old pod still running fails the check.",
		Fields: withdoc.Fields(versionWith{}, map[string]string{
			"url":            "An endpoint that reports the version.",
			"urls":           "Several endpoints, one per instance.",
			"json_path":      "url/urls: where the version is in a JSON answer (default: the whole body, trimmed).",
			"query":          "Or a PromQL query: every series' `label` must equal the target.",
			"label":          "query: the label holding the version (default `version`).",
			"prometheus_url": promURLDoc,
		}),
		Rules: []string{"Set `url`, `urls` or `query`."},
	}
}

// Describe implements withdoc.Describer.
func (c *SQL) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    c.Name(),
		Summary: "A read-only query whose rows or value prove the data consistent (no orphan rows after a schema rollback). It runs in a READ ONLY transaction that is always rolled back; lint also refuses anything but one SELECT or WITH statement.",
		Fields: withdoc.Fields(sqlWith{}, map[string]string{
			"driver":       "Required: postgres or mysql.",
			"dsn_env":      "Required: the environment variable holding the DSN (never shown).",
			"query":        "Required: one SELECT or WITH statement.",
			"expect_rows":  "The number of rows it must return.",
			"expect_value": "The single value it must return (compared as text).",
		}),
		Rules: []string{"Set either `expect_rows` or `expect_value`."},
	}
}

// Describe implements withdoc.Describer.
func (c *Artifact) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    c.Name(),
		Summary: "The release to go back to is an image pinned by digest (`@sha256:`) and, when a registry is configured, still present there (`HEAD /v2/REPOSITORY/manifests/DIGEST`: 200 passes, 404 fails).",
		Fields: withdoc.Fields(artifactWith{}, map[string]string{
			"image":        "Required: usually `{{ .Target.Artifact }}`.",
			"registry_url": "The registry to ask (default: the config's registry.url; none: only the digest is checked).",
			"token_env":    "An environment variable holding a bearer token for the registry.",
		}),
	}
}
