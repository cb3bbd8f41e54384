package http

import "github.com/backout/backout/internal/withdoc"

// WithDocType implements withdoc.Typer: one code or a list of codes.
func (CodeList) WithDocType() string { return "status code or list of them" }

// Describe implements withdoc.Describer: docs/runbooks.md and `bot schema`
// are generated from it.
func (e *Executor) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    e.Name(),
		Summary: "Sends one HTTP request (a deploy system's API, a feature-flag service) and checks the answer. Built into the bot: runs in either image.",
		Fields: withdoc.Fields(with{}, map[string]string{
			"method":                   "GET (default), HEAD, POST, PUT, PATCH, DELETE or OPTIONS.",
			"url":                      "Required. An http:// or https:// URL.",
			"headers":                  "Request headers, name to value; a value must be one line.",
			"secret_headers":           "Headers whose value comes from an environment variable: `Authorization: DEPLOYER_TOKEN`. The value is redacted everywhere.",
			"json":                     "A body sent as JSON (any YAML; string values may be templates).",
			"body":                     "A raw body; set either `json` or `body`.",
			"expect_status":            "Status code(s) that count as success (default: any 2xx).",
			"expect_json":              "Check one value of the JSON answer.",
			"expect_json.path":         "Where: a JSONPath such as `$.version` or `$.items[0].state`.",
			"expect_json.equals":       "The value it must equal (compared as text).",
			"tls":                      "TLS settings.",
			"tls.insecure_skip_verify": "Do not verify the server's certificate (test environments only).",
			"tls.ca_file":              "A PEM file of CA certificates to trust.",
		}),
		Rules: []string{"A 429 or 5xx answer, or a network error, is retryable under the step's `retries`; other failures are not."},
	}
}
