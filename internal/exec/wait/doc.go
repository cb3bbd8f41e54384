package wait

import "github.com/backout/backout/internal/withdoc"

// Describe implements withdoc.Describer: docs/runbooks.md and `bot schema`
// are generated from it.
func (e *Executor) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    e.Name(),
		Summary: "Polls until a PromQL condition holds or a URL answers as expected, for as long as the step's timeout (default 5m for `wait`). Each unmet poll is shown under the step. Built into the bot.",
		Fields: withdoc.Fields(with{}, map[string]string{
			"prometheus_url": "query: the Prometheus to ask (default: the config's prometheus.url).",
			"query":          "A PromQL expression; every series must meet `below` or `above`.",
			"below":          "query: done when every value is below this number.",
			"above":          "query: done when every value is above this number.",
			"url":            "An http:// or https:// URL to GET instead of a query.",
			"expect_status":  "url: status code(s) that mean done (default: any 2xx).",
			"interval":       "Time between polls (default 10s).",
		}),
		Rules: []string{"Set either `query` (with `below` or `above`) or `url`."},
	}
}
