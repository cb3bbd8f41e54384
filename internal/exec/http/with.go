package http

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/exec/proc"
	"github.com/backout/backout/internal/yamlx"
)

// with is the `with:` of an http step. Fields a template may fill are
// strings, parsed once rendered.
type with struct {
	KeyPos        map[string]yamlx.Pos
	Method        string            `yaml:"method"`
	URL           string            `yaml:"url"`
	Headers       map[string]string `yaml:"headers"`
	SecretHeaders map[string]string `yaml:"secret_headers"` // header -> env var
	JSON          yamlx.Node        `yaml:"json"`
	Body          string            `yaml:"body"`
	ExpectStatus  CodeList          `yaml:"expect_status"`
	ExpectJSON    *expectJSON       `yaml:"expect_json"`
	TLS           *tlsSettings      `yaml:"tls"`
}

type expectJSON struct {
	Pos    yamlx.Pos
	KeyPos map[string]yamlx.Pos
	Path   string  `yaml:"path"`
	Equals *string `yaml:"equals"`
}

type tlsSettings struct {
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	CAFile             string `yaml:"ca_file"`
}

// CodeList is `expect_status: 200` or `expect_status: [200, 204]`; entries
// stay strings until run time, since templates may fill them.
type CodeList []string

// UnmarshalYAMLX implements yamlx.Unmarshaler.
func (c *CodeList) UnmarshalYAMLX(file string, n *yaml.Node) error {
	pos := yamlx.Pos{File: file, Line: n.Line, Col: n.Column}
	switch n.Kind {
	case yaml.ScalarNode:
		*c = CodeList{n.Value}
		return nil
	case yaml.SequenceNode:
		for i, e := range n.Content {
			if e.Kind == yaml.AliasNode && e.Alias != nil {
				e = e.Alias
			}
			if e.Kind != yaml.ScalarNode {
				at := yamlx.Pos{File: file, Line: e.Line, Col: e.Column}
				return at.Errorf("expect_status[%d]: expected a status code, got %s", i, yamlx.KindName(e))
			}
			*c = append(*c, e.Value)
		}
		return nil
	}
	return pos.Errorf("expect_status: expected a status code or a list of them")
}

// spec is a decoded, checked step.
type spec struct {
	with
	method string
	codes  []int
	path   []segment
}

var (
	methods    = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true}
	headerName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
)

func templated(s string) bool { return strings.Contains(s, "{{") }

// decode reads `with:` strictly; at lint time (final false) values holding a
// template are accepted unparsed.
func decode(n yamlx.Node, final bool) (*spec, error) {
	var s spec
	if err := n.Decode(&s.with); err != nil {
		return nil, err
	}
	var errs yamlx.Errors
	at := func(key string) yamlx.Pos { return yamlx.KeyAt(n.Pos(), s.KeyPos, key) }
	check := func(v string) bool { return final || !templated(v) }

	s.method = strings.ToUpper(s.Method)
	if s.method == "" {
		s.method = "GET"
	}
	if check(s.method) && !methods[s.method] {
		errs.Addf(at("method"), "method: unknown method %q (want GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)", s.Method)
	}
	if s.URL == "" {
		errs.Addf(n.Pos(), `missing required field "url"`)
	} else if check(s.URL) {
		if err := checkURL(s.URL); err != nil {
			errs.Addf(at("url"), "url: %v", err)
		}
	}
	checkHeaders(&s, final, at, &errs)
	if !s.JSON.IsZero() && s.Body != "" {
		errs.Addf(at("body"), "body: set either json or body, not both")
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
	if e := s.ExpectJSON; e != nil {
		key := func(k string) yamlx.Pos { return yamlx.KeyAt(e.Pos, e.KeyPos, k) }
		switch {
		case e.Path == "":
			errs.Addf(e.Pos, `expect_json: missing required field "path"`)
		case check(e.Path):
			p, err := parsePath(e.Path)
			if err != nil {
				errs.Addf(key("path"), "expect_json.path: %v", err)
			}
			s.path = p
		}
		if e.Equals == nil {
			errs.Addf(e.Pos, `expect_json: missing required field "equals"`)
		}
	}
	return &s, errs.Err()
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL %q", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http:// or https:// URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	return nil
}

func checkHeaders(s *spec, final bool, at func(string) yamlx.Pos, errs *yamlx.Errors) {
	for _, k := range sortedKeys(s.Headers) {
		if !headerName.MatchString(k) {
			errs.Addf(at("headers."+k), "headers: invalid header name %q", k)
		}
		// A rendered parameter must not smuggle in a second header.
		if v := s.Headers[k]; (final || !templated(v)) && strings.ContainsAny(v, "\r\n") {
			errs.Addf(at("headers."+k), "headers.%s: value must be one line", k)
		}
	}
	for _, k := range sortedKeys(s.SecretHeaders) {
		if !headerName.MatchString(k) {
			errs.Addf(at("secret_headers."+k), "secret_headers: invalid header name %q", k)
		}
		if v := s.SecretHeaders[k]; !proc.ValidEnvName(v) {
			errs.Addf(at("secret_headers."+k), "secret_headers.%s: %q is not an environment variable name", k, v)
		}
		for h := range s.Headers {
			if strings.EqualFold(h, k) {
				errs.Addf(at("secret_headers."+k), "secret_headers.%s: also set in headers", k)
			}
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
