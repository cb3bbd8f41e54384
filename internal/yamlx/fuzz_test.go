package yamlx_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/yamlx"
)

// positioned is every error line's shape: file:line:col: message, or
// file: message for a problem of the whole file. The file is named
// exactly, so a message split over lines cannot pass for one.
var positioned = regexp.MustCompile(`^` + regexp.QuoteMeta(fuzzFile) + `(?::\d+:\d+)?: .+`)

const fuzzFile = "doc.yaml"

// fuzzDoc exercises every kind of target the decoder supports.
type fuzzDoc struct {
	Pos     yamlx.Pos
	KeyPos  map[string]yamlx.Pos
	Name    string                      `yaml:"name"`
	Count   int                         `yaml:"count"`
	Big     int64                       `yaml:"big"`
	Ratio   float64                     `yaml:"ratio"`
	On      bool                        `yaml:"on"`
	Maybe   *bool                       `yaml:"maybe"`
	Timeout yamlx.Duration              `yaml:"timeout"`
	Tags    []string                    `yaml:"tags"`
	Labels  map[string]string           `yaml:"labels"`
	Windows map[string][]yamlx.Duration `yaml:"windows"`
	Matrix  [][]int                     `yaml:"matrix"`
	Items   []fuzzItem                  `yaml:"items"`
	ByName  map[string]*fuzzItem        `yaml:"by_name"`
	Raw     yamlx.Node                  `yaml:"raw"`
	Any     any                         `yaml:"any"`
	Level   level                       `yaml:"level"`
	Inline  fuzzInline                  `yaml:",inline"`
	Skipped string                      `yaml:"-"`
}

type fuzzItem struct {
	Pos    yamlx.Pos
	KeyPos map[string]yamlx.Pos
	ID     string            `yaml:"id"`
	Needs  []string          `yaml:"needs"`
	Wait   yamlx.Duration    `yaml:"wait"`
	Env    map[string]string `yaml:"env"`
	Child  *fuzzItem         `yaml:"child"`
}

type fuzzInline struct {
	Owner string `yaml:"owner"`
}

// level implements yamlx.Unmarshaler: low, high, or a number 0-9.
type level int

func (l *level) UnmarshalYAMLX(file string, n *yaml.Node) error {
	pos := yamlx.Pos{File: file, Line: n.Line, Col: n.Column}
	switch {
	case n.Kind != yaml.ScalarNode:
		return pos.Errorf("level: expected low, high or a digit")
	case n.Value == "low":
		*l = 0
	case n.Value == "high":
		*l = 9
	case len(n.Value) == 1 && n.Value[0] >= '0' && n.Value[0] <= '9':
		*l = level(n.Value[0] - '0')
	default:
		return pos.Errorf("level: unknown level %q", n.Value)
	}
	return nil
}

// FuzzUnmarshal: Unmarshal never panics, every problem is positioned in
// the file, and a document is decoded the same way each time; what it
// accepts as a duration is a non-negative duration.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte("name: a\ntimeout: 5m\nitems: [{id: x, needs: [y]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc fuzzDoc
		err := yamlx.Unmarshal(fuzzFile, data, &doc)
		if err != nil {
			checkPositioned(t, data, err)
			return
		}
		if doc.Timeout < 0 {
			t.Fatalf("accepted a negative duration %v from %q", doc.Timeout, data)
		}
		for _, it := range doc.Items {
			if it.Wait < 0 {
				t.Fatalf("accepted a negative duration %v from %q", it.Wait, data)
			}
		}
		if !doc.Raw.IsZero() {
			var into map[string]any
			if err := doc.Raw.Decode(&into); err != nil {
				checkPositioned(t, data, err)
			}
			_, _ = doc.Raw.MarshalJSON()
		}
		var again fuzzDoc
		if err := yamlx.Unmarshal(fuzzFile, data, &again); err != nil {
			t.Fatalf("second decode failed: %v", err)
		}
		if again.Name != doc.Name || again.Timeout != doc.Timeout || len(again.Items) != len(doc.Items) || len(again.KeyPos) != len(doc.KeyPos) {
			t.Fatalf("decoding twice differs for %q", data)
		}
	})
}

func checkPositioned(t *testing.T, data []byte, err error) {
	t.Helper()
	var list yamlx.Errors
	if !errors.As(err, &list) {
		t.Fatalf("error is not yamlx.Errors (%T): %v\ninput: %q", err, err, data)
	}
	for _, e := range list {
		if e.Pos.File != fuzzFile || e.Pos.Line < 1 || e.Pos.Col < 1 {
			t.Fatalf("error at %+v is not a place in %s: %v\ninput: %q", e.Pos, fuzzFile, e, data)
		}
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !positioned.MatchString(line) {
			t.Fatalf("error line %q is not file:line:col: message\nwhole error: %v\ninput: %q", line, err, data)
		}
	}
}
