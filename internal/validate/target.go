package validate

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/yamlx"
)

// target describes what a rendered `with:` observes: the values of keys,
// in the order given, one "key: value" line each, for check.Targeter. A key
// "list[].field" takes field of each item of list (urls[].url: the URLs,
// not each URL's expectations). Absent keys are left out, so a check that
// relies on a default (prometheus_url: the config's) compares on what it
// wrote.
func target(with yamlx.Node, keys ...string) (string, error) {
	n := with.Node
	for n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n == nil {
		return "", errors.New("no with")
	}
	if n.Kind != yaml.MappingNode {
		return "", fmt.Errorf("with: is not a mapping")
	}
	var lines []string
	for _, key := range keys {
		list, field, nested := strings.Cut(key, "[].")
		v := mapValue(n, list)
		if v == nil {
			continue
		}
		if !nested {
			lines = append(lines, key+": "+scalarText(v))
			continue
		}
		for i, item := range v.Content {
			if item.Kind == yaml.MappingNode {
				if fv := mapValue(item, field); fv != nil {
					lines = append(lines, fmt.Sprintf("%s[%d].%s: %s", list, i, field, scalarText(fv)))
				}
			}
		}
	}
	return strings.Join(lines, "\n"), nil
}

// mapValue is the value of key in mapping m, nil when absent.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// scalarText is a value as text: a scalar's value, anything else its YAML.
func scalarText(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return strings.TrimSpace(string(b))
}

// Target implements check.Targeter: the query, on the Prometheus it asks.
func (*PromQL) Target(with yamlx.Node) (string, error) {
	return target(with, "query", "prometheus_url")
}

// Target implements check.Targeter: the query, on the Prometheus it asks.
func (*PromQLBaseline) Target(with yamlx.Node) (string, error) {
	return target(with, "query", "prometheus_url")
}

// Target implements check.Targeter: the queries, on the Prometheus it asks.
func (*Canary) Target(with yamlx.Node) (string, error) {
	return target(with, "query", "query_before", "query_after", "prometheus_url")
}

// Target implements check.Targeter: the URLs it requests.
func (*HTTPSmoke) Target(with yamlx.Node) (string, error) {
	return target(with, "url", "urls[].url")
}

// Target implements check.Targeter: the URLs or the query it reads the
// version from.
func (*Version) Target(with yamlx.Node) (string, error) {
	return target(with, "url", "urls", "query", "prometheus_url")
}

// Target implements check.Targeter: the database (the variable holding
// its DSN) and the query.
func (*SQL) Target(with yamlx.Node) (string, error) {
	return target(with, "driver", "dsn_env", "query")
}

// Target implements check.Targeter. An artifact lives in the registry,
// which production and every drill environment share: the check observes
// nothing an environment owns.
func (*Artifact) Target(yamlx.Node) (string, error) { return "", nil }
