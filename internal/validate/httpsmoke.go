package validate

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/yamlx"
)

// HTTPSmoke is `uses: http-smoke`: every URL must answer as expected.
//
//	with: {url: 'https://{{ .Service.Name }}.internal/healthz', expect_status: 200}
//	with:
//	  urls:
//	    - {url: https://api.internal/v1/orders, expect_status: 401}   # auth still enforced
//	    - url: https://api.internal/v1/status
//	      secret_headers: {Authorization: SMOKE_TOKEN}                # value from $SMOKE_TOKEN
//	      json_path: $.db.status
//	      json_equals: ok
//	      latency_budget: 500ms
//
// Redirects are not followed, so a 302 can be expected. A URL that cannot be
// reached fails the measurement (the service not answering is what a smoke
// test looks for); a secret header whose variable is unset is an Error.
// Header values never appear in messages.
type HTTPSmoke struct {
	client *http.Client
	now    func() time.Time // measures latency; tests replace it
}

// NewHTTPSmoke returns the checker. client may be nil (10s timeout); its
// redirect policy is replaced so that redirects are reported, not followed.
func NewHTTPSmoke(client *http.Client) *HTTPSmoke {
	return &HTTPSmoke{client: noRedirects(client), now: time.Now}
}

func noRedirects(c *http.Client) *http.Client {
	cp := http.Client{Timeout: 10 * time.Second}
	if c != nil {
		cp = *c
	}
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// Name implements check.Checker.
func (*HTTPSmoke) Name() string { return "http-smoke" }

// maxBody bounds how much of a response is read.
const maxBody = 1 << 20

type smokeURLWith struct {
	Pos           yamlx.Pos
	KeyPos        map[string]yamlx.Pos
	URL           string            `yaml:"url"`
	Method        string            `yaml:"method"`
	ExpectStatus  string            `yaml:"expect_status"`
	BodyContains  string            `yaml:"body_contains"`
	JSONPath      string            `yaml:"json_path"`
	JSONEquals    *string           `yaml:"json_equals"`
	LatencyBudget string            `yaml:"latency_budget"`
	Headers       map[string]string `yaml:"headers"`
	SecretHeaders map[string]string `yaml:"secret_headers"`
}

type smokeListWith struct {
	Pos    yamlx.Pos
	KeyPos map[string]yamlx.Pos
	URLs   []smokeURLWith `yaml:"urls"`
}

type smokeURL struct {
	url, method   string
	status        int
	bodyContains  string
	jsonPath      []pathStep
	rawPath       string
	jsonEquals    *string
	budget        time.Duration
	headers       map[string]string
	secretHeaders map[string]string
}

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func (c *HTTPSmoke) parse(with yamlx.Node, lint bool) ([]smokeURL, error) {
	var list []smokeURLWith
	var errs yamlx.Errors
	f := newFields(lint, with.Pos(), nil, &errs)
	if slices.Contains(with.Keys(), "urls") {
		// The list form; without `urls:` the mapping is one URL.
		var w smokeListWith
		if errs = decodeWith(with, &w); len(errs) > 0 {
			return nil, errs.Err()
		}
		if len(w.URLs) == 0 {
			f.failAt("urls: list at least one URL")
		}
		list = w.URLs
	} else {
		var w smokeURLWith
		if errs = decodeWith(with, &w); len(errs) > 0 {
			return nil, errs.Err()
		}
		list = []smokeURLWith{w}
	}
	isList := slices.Contains(with.Keys(), "urls")
	var out []smokeURL
	for i, w := range list {
		prefix := ""
		if isList {
			prefix = fmt.Sprintf("urls[%d].", i)
		}
		out = append(out, parseSmokeURL(f.nested(prefix, w.Pos, w.KeyPos), w))
	}
	return out, errs.Err()
}

func parseSmokeURL(f fields, w smokeURLWith) smokeURL {
	u := smokeURL{url: w.URL, bodyContains: w.BodyContains, jsonEquals: w.JSONEquals,
		headers: w.Headers, secretHeaders: w.SecretHeaders, rawPath: w.JSONPath}
	if f.required("url", w.URL, "") {
		validURL(f, "url", w.URL)
	}
	u.method = f.oneOf("method", strings.ToUpper(w.Method), "GET", httpMethods...)
	u.status = f.integer("expect_status", w.ExpectStatus, http.StatusOK, 100)
	if u.status > 599 {
		f.fail("expect_status", "expected an HTTP status (100-599), got %d", u.status)
	}
	if w.JSONPath != "" && !f.templated(w.JSONPath) {
		p, err := parseJSONPath(w.JSONPath)
		if err != nil {
			f.fail("json_path", "%v", err)
		}
		u.jsonPath = p
	}
	if w.JSONEquals != nil && w.JSONPath == "" {
		f.fail("json_equals", "needs json_path (the value to compare)")
	}
	if w.LatencyBudget != "" {
		u.budget = f.duration("latency_budget", w.LatencyBudget, 0)
	}
	for h, env := range w.SecretHeaders {
		f.envName("secret_headers."+h, env)
		if _, dup := w.Headers[h]; dup {
			f.fail("secret_headers."+h, "also set in headers")
		}
	}
	return u
}

// Validate implements check.Checker.
func (c *HTTPSmoke) Validate(with yamlx.Node) error {
	_, err := c.parse(with, true)
	return err
}

// Measure implements check.Checker.
func (c *HTTPSmoke) Measure(ctx context.Context, req check.Request) (check.Measurement, error) {
	urls, err := c.parse(req.With, false)
	if err != nil {
		return check.Measurement{}, err
	}
	var failures []string
	for _, u := range urls {
		problem, err := c.probe(ctx, req, u)
		if err != nil {
			return check.Measurement{}, err
		}
		if problem != "" {
			failures = append(failures, problem)
		}
	}
	m := check.Measurement{
		Outcome: check.Successful,
		// Of this measurement's URLs: the check's measurements are counted
		// apart (rollback.CheckResult.Measured).
		Value: fmt.Sprintf("%d/%d URLs passed", len(urls)-len(failures), len(urls)),
		Bound: "all pass",
	}
	switch {
	case len(failures) == 0 && len(urls) == 1:
		m.Message = urls[0].method + " " + redactURL(urls[0].url) + " answered as expected"
	case len(failures) == 0:
		m.Message = fmt.Sprintf("all %d URLs answered as expected", len(urls))
	default:
		m.Outcome = check.Failed
		m.Message = strings.Join(failures, "; ")
	}
	return m, nil
}

// probe checks one URL: a non-empty problem fails it; an error means the
// request could not even be built.
func (c *HTTPSmoke) probe(ctx context.Context, req check.Request, u smokeURL) (string, error) {
	hreq, err := http.NewRequestWithContext(ctx, u.method, u.url, nil)
	if err != nil {
		return "", fmt.Errorf("http-smoke: %s %s: %w", u.method, redactURL(u.url), err)
	}
	for h, v := range u.headers {
		hreq.Header.Set(h, v)
	}
	for h, env := range u.secretHeaders {
		v, ok := lookupEnv(req, env)
		if !ok {
			return "", fmt.Errorf("http-smoke: secret header %s: environment variable %s is not set", h, env)
		}
		hreq.Header.Set(h, v)
	}
	name := u.method + " " + redactURL(u.url)
	start := c.now()
	resp, err := c.client.Do(hreq)
	if err != nil {
		return fmt.Sprintf("%s: %v", name, unwrapURLError(err)), nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Sprintf("%s: reading body: %v", name, err), nil
	}
	elapsed := c.now().Sub(start)
	return checkResponse(u, resp.StatusCode, body, elapsed, name), nil
}

// checkResponse compares one response with the expectations.
func checkResponse(u smokeURL, status int, body []byte, elapsed time.Duration, name string) string {
	if status != u.status {
		return fmt.Sprintf("%s: status %d, want %d", name, status, u.status)
	}
	if u.bodyContains != "" && !strings.Contains(string(body), u.bodyContains) {
		return fmt.Sprintf("%s: body does not contain %q", name, u.bodyContains)
	}
	if u.rawPath != "" {
		doc, err := decodeJSON(body)
		if err != nil {
			return fmt.Sprintf("%s: %v", name, err)
		}
		v, ok := lookupJSON(doc, u.jsonPath)
		if !ok {
			return fmt.Sprintf("%s: %s not found in the response", name, u.rawPath)
		}
		if u.jsonEquals != nil && jsonText(v) != *u.jsonEquals {
			return fmt.Sprintf("%s: %s is %q, want %q", name, u.rawPath, human.Truncate(jsonText(v), 80), *u.jsonEquals)
		}
	}
	if u.budget > 0 && elapsed > u.budget {
		return fmt.Sprintf("%s: took %s, budget %s", name, elapsed.Round(time.Millisecond), u.budget)
	}
	return ""
}

// redactURL hides a password in a URL before it reaches a message.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}

// unwrapURLError drops the "Get \"url\":" prefix net/http adds, since the
// message already names the URL (redacted).
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
