package wait

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	httpexec "github.com/backout/backout/internal/exec/http"
	"github.com/backout/backout/internal/yamlx"
)

// DefaultInterval is the time between polls when `with:` sets none. How
// long the wait lasts is the step's timeout (runbook.DefaultWaitTimeout
// when the step sets none).
const DefaultInterval = 10 * time.Second

// with is the `with:` of a wait step: a PromQL condition or an HTTP URL.
// Fields a template may fill are strings, parsed once rendered.
type with struct {
	KeyPos        map[string]yamlx.Pos
	PrometheusURL string            `yaml:"prometheus_url"`
	Query         string            `yaml:"query"`
	Below         string            `yaml:"below"`
	Above         string            `yaml:"above"`
	URL           string            `yaml:"url"`
	ExpectStatus  httpexec.CodeList `yaml:"expect_status"`
	Interval      string            `yaml:"interval"`
}

// spec is a decoded, checked step.
type spec struct {
	with
	promURL   string
	bound     float64
	below     bool
	codes     []int
	interval  time.Duration
	boundText string
}

func templated(s string) bool { return strings.Contains(s, "{{") }

// decode reads `with:` strictly; at lint time (final false) values holding
// a template are accepted unparsed. defaultProm is New's Prometheus URL.
func decode(n yamlx.Node, final bool, defaultProm string) (*spec, error) {
	s := spec{interval: DefaultInterval}
	if err := n.Decode(&s.with); err != nil {
		return nil, err
	}
	var errs yamlx.Errors
	at := func(key string) yamlx.Pos { return yamlx.KeyAt(n.Pos(), s.KeyPos, key) }
	check := func(v string) bool { return v != "" && (final || !templated(v)) }
	switch {
	case s.Query == "" && s.URL == "":
		errs.Addf(n.Pos(), `missing required field "query" or "url"`)
	case s.Query != "" && s.URL != "":
		errs.Addf(at("url"), "url: set either query or url, not both")
	case s.Query != "":
		decodeQuery(&s, n.Pos(), final, defaultProm, at, &errs)
	default:
		for _, k := range []string{"prometheus_url", "below", "above"} {
			if _, ok := s.KeyPos[k]; ok {
				errs.Addf(at(k), "%s: not used with url (only with query)", k)
			}
		}
		if check(s.URL) {
			if err := checkURL(s.URL); err != nil {
				errs.Addf(at("url"), "url: %v", err)
			}
		}
		for i, c := range s.ExpectStatus {
			if !check(c) {
				continue
			}
			code, err := strconv.Atoi(c)
			if err != nil || code < 100 || code > 599 {
				errs.Addf(at(fmt.Sprintf("expect_status[%d]", i)), "expect_status[%d]: expected an HTTP status code, got %q", i, c)
			}
			s.codes = append(s.codes, code)
		}
	}
	if check(s.Interval) {
		v, err := yamlx.ParseDuration(s.Interval)
		if err == nil && v <= 0 {
			err = errors.New("must be more than 0")
		}
		if err != nil {
			errs.Addf(at("interval"), "interval: %v", err)
		}
		s.interval = v
	}
	return &s, errs.Err()
}

func decodeQuery(s *spec, mapping yamlx.Pos, final bool, defaultProm string, at func(string) yamlx.Pos, errs *yamlx.Errors) {
	if _, ok := s.KeyPos["expect_status"]; ok {
		errs.Addf(at("expect_status"), "expect_status: not used with query (only with url)")
	}
	s.promURL = s.PrometheusURL
	if s.promURL == "" {
		s.promURL = defaultProm
	}
	switch {
	case s.promURL == "":
		errs.Addf(mapping, `missing required field "prometheus_url" (no default is configured)`)
	case final || !templated(s.promURL):
		if err := checkURL(s.promURL); err != nil {
			errs.Addf(at("prometheus_url"), "prometheus_url: %v", err)
		}
	}
	key, text := "below", s.Below
	switch {
	case s.Below == "" && s.Above == "":
		errs.Addf(mapping, `missing required field "below" or "above"`)
		return
	case s.Below != "" && s.Above != "":
		errs.Addf(at("above"), "above: set either below or above, not both")
		return
	case s.Above != "":
		key, text = "above", s.Above
	}
	s.below, s.boundText = key == "below", text
	if !final && templated(text) {
		return
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		errs.Addf(at(key), "%s: expected a number, got %q", key, text)
	}
	s.bound = f
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL %q", raw)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL", raw)
	}
	return nil
}
