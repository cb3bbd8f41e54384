package withdoc_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/backout/backout/internal/withdoc"
)

type codes []string

func (codes) WithDocType() string { return "code or list" }

type inner struct {
	Path string `yaml:"path"`
	On   bool   `yaml:"on"`
}

type sample struct {
	KeyPos  map[string]int // not a key: no yaml tag
	Name    string         `yaml:"name"`
	Args    []string       `yaml:"args"`
	Env     map[string]string
	Headers map[string]string `yaml:"headers"`
	Codes   codes             `yaml:"codes"`
	Expect  *inner            `yaml:"expect"`
	Skip    string            `yaml:"-"`
}

var sampleDocs = map[string]string{
	"name": "n", "args": "a", "headers": "h", "codes": "c", "expect": "e", "expect.path": "p", "expect.on": "o",
}

func TestFields(t *testing.T) {
	got := withdoc.Fields(sample{}, sampleDocs)
	want := []withdoc.Field{
		{Key: "name", Type: "string", Doc: "n"},
		{Key: "args", Type: "list of strings", JSONType: "array", Doc: "a"},
		{Key: "headers", Type: "map of strings", JSONType: "object", Doc: "h"},
		{Key: "codes", Type: "code or list", Doc: "c"},
		{Key: "expect", Type: "mapping", JSONType: "object", Doc: "e"},
		{Key: "expect.path", Type: "string", Doc: "p"},
		{Key: "expect.on", Type: "boolean", JSONType: "boolean", Doc: "o"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Fields:\n got %v\nwant %v", got, want)
	}
}

// TestFieldsRefusesDrift: a key without a description, or a description of
// no key, is a programming error caught by the describing package's tests.
func TestFieldsRefusesDrift(t *testing.T) {
	with := func(change func(map[string]string)) map[string]string {
		m := map[string]string{}
		for k, v := range sampleDocs {
			m[k] = v
		}
		change(m)
		return m
	}
	tests := []struct {
		name string
		docs map[string]string
		want string
	}{
		{"undocumented key", with(func(m map[string]string) { delete(m, "args") }), "undocumented keys [args]"},
		{"undocumented nested key", with(func(m map[string]string) { delete(m, "expect.on") }), "undocumented keys [expect.on]"},
		{"description of no key", with(func(m map[string]string) { m["gone"] = "x" }), "descriptions of no key [gone]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tt.want) {
					t.Errorf("panic %v, want one containing %q", r, tt.want)
				}
			}()
			withdoc.Fields(sample{}, tt.docs)
		})
	}
}
