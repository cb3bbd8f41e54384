package validate

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/yamlx"
)

// Version is `uses: version`: every instance reports Request.TargetVersion.
//
//	with: {urls: ['http://10.0.0.1:8080/version', ...], json_path: $.version}
//	with: {query: 'build_info{service="checkout"}', label: version}
//
// With url or urls each endpoint is fetched; the version is the value at
// json_path, or the whole body trimmed when json_path is unset. With query
// every returned series' label (default "version") must equal the target, so
// an old pod still running fails the check. Versions are compared exactly.
type Version struct {
	client *http.Client
	prom   prom
}

// NewVersion returns the checker. client may be nil (10s timeout);
// prometheusURL (config prometheus.url) serves the query form unless a check
// sets prometheus_url.
func NewVersion(client *http.Client, prometheusURL string) *Version {
	if client == nil {
		client = noRedirects(nil)
	}
	return &Version{client: client, prom: newProm(prometheusURL)}
}

// Name implements check.Checker.
func (*Version) Name() string { return "version" }

type versionWith struct {
	Pos           yamlx.Pos
	KeyPos        map[string]yamlx.Pos
	URL           string   `yaml:"url"`
	URLs          []string `yaml:"urls"`
	JSONPath      string   `yaml:"json_path"`
	Query         string   `yaml:"query"`
	Label         string   `yaml:"label"`
	PrometheusURL string   `yaml:"prometheus_url"`
}

type versionSpec struct {
	urls         []string
	jsonPath     []pathStep
	rawPath      string
	query, label string
	promURL      string
}

func (c *Version) parse(with yamlx.Node, lint bool) (versionSpec, error) {
	var w versionWith
	errs := decodeWith(with, &w)
	if len(errs) > 0 {
		return versionSpec{}, errs.Err()
	}
	f := newFields(lint, with.Pos(), w.KeyPos, &errs)
	spec := versionSpec{query: w.Query, label: w.Label, promURL: w.PrometheusURL, rawPath: w.JSONPath}
	if w.URL != "" {
		spec.urls = append(spec.urls, w.URL)
	}
	spec.urls = append(spec.urls, w.URLs...)
	switch {
	case len(spec.urls) == 0 && w.Query == "":
		f.failAt("set url or urls (version endpoints) or query (a build_info series)")
	case len(spec.urls) > 0 && w.Query != "":
		f.fail("query", "set either url/urls or query, not both")
	case w.Query != "":
		if w.JSONPath != "" {
			f.fail("json_path", "only applies to url/urls")
		}
		if spec.label == "" {
			spec.label = "version"
		}
		validURL(f, "prometheus_url", w.PrometheusURL)
	default:
		if w.Label != "" {
			f.fail("label", "only applies to query")
		}
		if w.PrometheusURL != "" {
			f.fail("prometheus_url", "only applies to query")
		}
		validURL(f, "url", w.URL)
		for i, u := range w.URLs {
			validURL(f, fmt.Sprintf("urls[%d]", i), u)
		}
	}
	if w.JSONPath != "" && !f.templated(w.JSONPath) {
		p, err := parseJSONPath(w.JSONPath)
		if err != nil {
			f.fail("json_path", "%v", err)
		}
		spec.jsonPath = p
	}
	return spec, errs.Err()
}

// Validate implements check.Checker.
func (c *Version) Validate(with yamlx.Node) error {
	_, err := c.parse(with, true)
	return err
}

// Measure implements check.Checker.
func (c *Version) Measure(ctx context.Context, req check.Request) (check.Measurement, error) {
	spec, err := c.parse(req.With, false)
	if err != nil {
		return check.Measurement{}, err
	}
	if req.TargetVersion == "" {
		return check.Measurement{}, fmt.Errorf("version: no target version for %s", req.Service)
	}
	var reported []instanceVersion
	if spec.query != "" {
		vec, err := c.prom.instant(ctx, spec.promURL, spec.query, evalTime(req))
		if err != nil {
			return check.Measurement{}, err
		}
		if len(vec) == 0 {
			return noValues(spec.query, "= "+req.TargetVersion), nil
		}
		reported = labelVersions(vec, model.LabelName(spec.label))
	} else {
		for _, u := range spec.urls {
			reported = append(reported, c.fetch(ctx, u, spec))
		}
	}
	return judgeVersions(reported, req.TargetVersion), nil
}

// instanceVersion is what one instance reported, or why it reported nothing.
type instanceVersion struct {
	instance, version, problem string
}

func labelVersions(vec model.Vector, label model.LabelName) []instanceVersion {
	out := make([]instanceVersion, 0, len(vec))
	for _, s := range vec {
		iv := instanceVersion{instance: s.Metric.String()}
		if v, ok := s.Metric[label]; ok {
			iv.version = string(v)
		} else {
			iv.problem = fmt.Sprintf("no %s label", label)
		}
		out = append(out, iv)
	}
	return out
}

// fetch reads one instance's version endpoint.
func (c *Version) fetch(ctx context.Context, rawURL string, spec versionSpec) instanceVersion {
	iv := instanceVersion{instance: redactURL(rawURL)}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		iv.problem = err.Error()
		return iv
	}
	resp, err := c.client.Do(hreq)
	if err != nil {
		iv.problem = unwrapURLError(err).Error()
		return iv
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		iv.problem = "reading body: " + err.Error()
		return iv
	}
	if resp.StatusCode/100 != 2 {
		iv.problem = fmt.Sprintf("status %d", resp.StatusCode)
		return iv
	}
	if spec.rawPath == "" {
		iv.version = strings.TrimSpace(string(body))
		return iv
	}
	doc, err := decodeJSON(body)
	if err != nil {
		iv.problem = err.Error()
		return iv
	}
	v, ok := lookupJSON(doc, spec.jsonPath)
	if !ok {
		iv.problem = spec.rawPath + " not found"
		return iv
	}
	iv.version = jsonText(v)
	return iv
}

// judgeVersions passes when every instance reports the target.
func judgeVersions(reported []instanceVersion, target string) check.Measurement {
	var wrong []string
	for _, iv := range reported {
		switch {
		case iv.problem != "":
			wrong = append(wrong, fmt.Sprintf("%s: %s", iv.instance, iv.problem))
		case iv.version != target:
			wrong = append(wrong, fmt.Sprintf("%s reports %q", iv.instance, human.Truncate(iv.version, 80)))
		}
	}
	m := check.Measurement{
		Outcome: check.Successful,
		Value:   fmt.Sprintf("%d/%d instances at target", len(reported)-len(wrong), len(reported)),
		Bound:   "= " + target,
	}
	if len(wrong) == 0 {
		m.Message = fmt.Sprintf("%d/%d instances report %s", len(reported), len(reported), target)
		return m
	}
	m.Outcome = check.Failed
	m.Message = fmt.Sprintf("%d/%d instances not at %s: %s", len(wrong), len(reported), target, strings.Join(wrong, "; "))
	return m
}
