package yamlx_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/yamlx"
)

// errorCase is a document and the whole error decoding it gives, "" for none.
type errorCase struct {
	name string
	yaml string
	want string
}

// unmarshalErrorCases pin the text of every error the decoder reports into
// a fuzzDoc, one example per node kind and target type, so a change to the
// decoder cannot silently change what people read.
var unmarshalErrorCases = []errorCase{
	// the document as a whole
	{"valid", "name: a\ntimeout: 5m\nitems: [{id: x, needs: [y]}]\nowner: bob\nraw: {anything: [1]}\n", ""},
	{"empty file", "", `doc.yaml:1:1: file is empty`},
	{"only a comment", "# nothing\n", `doc.yaml:1:1: file is empty`},
	{"null document", "~\n", ""},
	{"syntax", "name: a\ntags:\n\t- x\n", `doc.yaml:3:1: invalid YAML: found character that cannot start any token`},
	{"list document", "- a\n", `doc.yaml:1:1: document: expected a mapping, got a list`},
	{"scalar document", "hello\n", `doc.yaml:1:1: document: expected a mapping, got "hello"`},
	{"second document ignored", "name: a\n---\nnope: 1\n", ""},

	// struct keys
	{"unknown key, close to one", "nmae: a\n", `doc.yaml:1:1: unknown key "nmae" (did you mean "name"?)`},
	{"unknown key, close to none", "zebra: 1\n", `doc.yaml:1:1: unknown key "zebra"`},
	{"unknown key in a nested struct", "items:\n  - id: a\n    neds: [b]\n", `doc.yaml:3:5: unknown key "neds" in items[0] (did you mean "needs"?)`},
	{"skipped field is not a key", "skipped: x\n", `doc.yaml:1:1: unknown key "skipped"`},
	{"Pos and KeyPos are not keys", "pos: x\nkeypos: y\n", "doc.yaml:1:1: unknown key \"pos\" (did you mean \"on\"?)\ndoc.yaml:2:1: unknown key \"keypos\""},
	{"duplicate key", "name: a\nname: b\n", `doc.yaml:2:1: duplicate key "name"`},
	{"duplicate key in a nested struct", "items: [{id: a, id: b}]\n", `doc.yaml:1:17: duplicate key "id" in items[0]`},
	{"struct from a scalar", "items: [x]\n", `doc.yaml:1:9: items[0]: expected a mapping, got "x"`},
	{"struct from null", "items: [~]\n", ""},

	// pointers
	{"pointer from null", "maybe: ~\nitems: [{child: ~}]\n", ""},
	{"pointer to a bad value", "maybe: yes\n", `doc.yaml:1:8: maybe: expected true or false, got "yes"`},
	{"pointers nested", "items: [{child: {child: {wait: soon}}}]\n", `doc.yaml:1:32: items[0].child.child.wait: invalid duration "soon" (examples: 30s, 5m, 1h, 7d)`},
	{"map of pointers", "by_name: {x: {id: y, nope: 1}}\n", `doc.yaml:1:22: unknown key "nope" in by_name.x`},

	// durations
	{"duration in days", "timeout: 7d\n", ""},
	{"duration zero", "timeout: 0\n", ""},
	{"duration from a word", "timeout: soon\n", `doc.yaml:1:10: timeout: invalid duration "soon" (examples: 30s, 5m, 1h, 7d)`},
	{"duration negative", "timeout: -5s\n", `doc.yaml:1:10: timeout: invalid duration "-5s" (examples: 30s, 5m, 1h, 7d)`},
	{"duration negative days", "timeout: -1d\n", `doc.yaml:1:10: timeout: invalid duration "-1d" (examples: 30s, 5m, 1h, 7d)`},
	{"duration from a list", "timeout: [5m]\n", `doc.yaml:1:10: timeout: expected a duration such as 5m, got a list`},
	{"duration from a mapping", "timeout: {m: 5}\n", `doc.yaml:1:10: timeout: expected a duration such as 5m, got a mapping`},
	// Unlike every other target, a duration does not take null.
	{"duration from null", "timeout: ~\n", `doc.yaml:1:10: timeout: invalid duration "~" (examples: 30s, 5m, 1h, 7d)`},

	// lists
	{"list from a scalar", "tags: a\n", `doc.yaml:1:7: tags: expected a list, got "a"`},
	{"list from a mapping", "tags: {a: b}\n", `doc.yaml:1:7: tags: expected a list, got a mapping`},
	{"list from null", "tags: ~\n", ""},
	{"list of lists", "matrix: [[1], [2, x]]\n", `doc.yaml:1:19: matrix[1][1]: expected an integer, got "x"`},
	{"list element from a list", "tags: [a, [b]]\n", `doc.yaml:1:11: tags[1]: expected a string, got a list`},

	// maps
	{"map from a list", "labels: [a]\n", `doc.yaml:1:9: labels: expected a mapping, got a list`},
	{"map from a scalar", "labels: a\n", `doc.yaml:1:9: labels: expected a mapping, got "a"`},
	{"map from null", "labels: ~\n", ""},
	{"map duplicate key", "labels: {a: x, a: y}\n", `doc.yaml:1:16: labels: duplicate key "a"`},
	{"map value of the wrong kind", "labels: {a: [x]}\n", `doc.yaml:1:13: labels.a: expected a string, got a list`},
	{"map of lists of durations", "windows: {night: [5m, soon]}\n", `doc.yaml:1:23: windows.night[1]: invalid duration "soon" (examples: 30s, 5m, 1h, 7d)`},
	{"newline in a key stays on one line", "labels: {\"a\\nb\": [x]}\n", `doc.yaml:1:18: labels.a\nb: expected a string, got a list`},

	// scalars
	{"string from a mapping", "name: {a: b}\n", `doc.yaml:1:7: name: expected a string, got a mapping`},
	{"string from a list", "name: [a]\n", `doc.yaml:1:7: name: expected a string, got a list`},
	{"integer from a float", "count: 1.5\n", `doc.yaml:1:8: count: expected an integer, got "1.5"`},
	{"integer too big", "big: 99999999999999999999\n", `doc.yaml:1:6: big: expected an integer, got "99999999999999999999"`},
	{"integer from a list", "count: [1]\n", `doc.yaml:1:8: count: expected an integer, got a list`},
	{"number from a word", "ratio: half\n", `doc.yaml:1:8: ratio: expected a number, got "half"`},
	{"number from a mapping", "ratio: {a: 1}\n", `doc.yaml:1:8: ratio: expected a number, got a mapping`},
	{"bool from a word", "on: maybe\n", `doc.yaml:1:5: on: expected true or false, got "maybe"`},
	{"bool from a list", "on: [true]\n", `doc.yaml:1:5: on: expected true or false, got a list`},
	{"scalars from null", "name: ~\ncount: ~\nratio: ~\non: ~\n", ""},

	// raw nodes, interfaces and Unmarshalers
	{"raw node takes anything", "raw: [{x: 1}, 2]\n", ""},
	{"interface takes any tree", "any: {x: [1, 2]}\n", ""},
	{"interface from a bad tag", "any: !!int abc\n", "doc.yaml:1:6: any: yaml: cannot decode !!str `abc` as a !!int"},
	{"Unmarshaler error", "level: extreme\n", `doc.yaml:1:8: level: unknown level "extreme"`},
	{"Unmarshaler from a list", "level: [1]\n", `doc.yaml:1:8: level: expected low, high or a digit`},

	// aliases resolve to their anchor: its position, each use's field
	{"alias reused", "items: [&i {id: a, wait: soon}, *i]\n", "doc.yaml:1:26: items[0].wait: invalid duration \"soon\" (examples: 30s, 5m, 1h, 7d)\ndoc.yaml:1:26: items[1].wait: invalid duration \"soon\" (examples: 30s, 5m, 1h, 7d)"},
	{"alias to a scalar", "name: &n a\nowner: *n\n", ""},

	// every error at once, in file order
	{"several errors", "count: x\nitems:\n  - {id: a, wait: later}\nnmae: b\ntags: c\n", strings.Join([]string{
		`doc.yaml:1:8: count: expected an integer, got "x"`,
		`doc.yaml:3:19: items[0].wait: invalid duration "later" (examples: 30s, 5m, 1h, 7d)`,
		`doc.yaml:4:1: unknown key "nmae" (did you mean "name"?)`,
		`doc.yaml:5:7: tags: expected a list, got "c"`,
	}, "\n")},
}

func TestUnmarshalErrors(t *testing.T) {
	for _, tt := range unmarshalErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			var doc fuzzDoc
			err := yamlx.Unmarshal(fuzzFile, []byte(tt.yaml), &doc)
			if got := errText(err); got != tt.want {
				t.Errorf("Unmarshal(%q):\n got: %s\nwant: %s", tt.yaml, got, tt.want)
			}
		})
	}
}

// edgeDoc holds the targets the decoder refuses or treats specially, which
// no real config uses.
type edgeDoc struct {
	Count uint               `yaml:"count"`
	ByID  map[int]string     `yaml:"by_id"`
	Check failing            `yaml:"check"`
	Wait  *yamlx.Duration    `yaml:"wait"`
	Defs  yamlx.Node         `yaml:"defs"`
	Deep  [][][][][][]string `yaml:"deep"`
	// Untagged is named by its field name, lower-cased.
	Untagged string
}

// failing is an Unmarshaler whose error carries no position, so the decoder
// must place it.
type failing struct{}

func (*failing) UnmarshalYAMLX(string, *yaml.Node) error { return errors.New("check failed") }

// aliasBomb defines, under the raw defs node, e, which expands to 111111
// values, and uses it twice: past the node budget.
const aliasBomb = `defs:
  a: &a [x, x, x, x, x, x, x, x, x, x]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
deep: [*e, *e]
`

func TestUnmarshalEdgeErrors(t *testing.T) {
	tests := []errorCase{
		{"unsupported scalar type", "count: 5\n", `doc.yaml:1:8: count: unsupported type uint`},
		{"unsupported type from a list", "count: [5]\n", `doc.yaml:1:8: count: expected uint, got a list`},
		{"unsupported type from null", "count: ~\n", ""},
		{"map with non-string keys", "by_id: {1: a}\n", `doc.yaml:1:8: by_id: unsupported map key type`},
		{"plain error from an Unmarshaler", "check: x\n", `doc.yaml:1:8: check failed`},
		{"untagged field", "untagged: x\n", ""},
		{"untagged field by its Go name", "Untagged: x\n", `doc.yaml:1:1: unknown key "Untagged" (did you mean "untagged"?)`},
		{"pointer to a duration", "wait: 5m\n", ""},
		{"pointer to a bad duration", "wait: [5m]\n", `doc.yaml:1:7: wait: expected a duration such as 5m, got a list`},
		{"alias bomb stops at the budget, once", aliasBomb, `doc.yaml:2:31: deep[1][7][9][9][9][7]: the document expands to more than 200000 values (aliases used too often?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc edgeDoc
			err := yamlx.Unmarshal(fuzzFile, []byte(tt.yaml), &doc)
			if got := errText(err); got != tt.want {
				t.Errorf("Unmarshal(%q):\n got: %s\nwant: %s", tt.yaml, got, tt.want)
			}
		})
	}
}

// TestUnmarshalValues checks what the special paths store: aliases copy
// their anchor, null leaves a pointer nil, Pos and KeyPos record places,
// and raw nodes keep their file.
func TestUnmarshalValues(t *testing.T) {
	const doc = "name: &n api\nowner: *n\nmaybe: ~\ntimeout: 2d\nitems:\n  - id: a\n    child: {id: b}\nraw: {x: 1}\nlevel: high\n"
	var d fuzzDoc
	if err := yamlx.Unmarshal(fuzzFile, []byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	at := func(line, col int) yamlx.Pos { return yamlx.Pos{File: fuzzFile, Line: line, Col: col} }
	tests := []struct {
		name      string
		got, want any
	}{
		{"alias copies the anchor", d.Inline.Owner, "api"},
		{"null pointer stays nil", d.Maybe, (*bool)(nil)},
		{"days", d.Timeout.String(), "48h0m0s"},
		{"document Pos", d.Pos, at(1, 1)},
		{"KeyPos of a key", d.KeyPos["timeout"], at(4, 1)},
		{"KeyPos of an inline key", d.KeyPos["owner"], at(2, 1)},
		{"nested Pos", d.Items[0].Child.Pos, at(7, 12)},
		{"nested KeyPos", d.Items[0].KeyPos["child"], at(7, 5)},
		{"raw node file", d.Raw.File, fuzzFile},
		{"raw node position", d.Raw.Pos(), at(8, 6)},
		{"raw node keys", d.Raw.Keys(), []string{"x"}},
		{"Unmarshaler value", d.Level, level(9)},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

// selfDecoded takes any node as it is, as expect_status and retries do.
type selfDecoded struct{}

func (*selfDecoded) UnmarshalYAMLX(string, *yaml.Node) error { return nil }

// TestKeyPosPaths: KeyPos also records the keys and items below a
// struct's own keys, by path, down to the next struct with a KeyPos of its
// own, so checks made after decoding can point at the entry at fault.
func TestKeyPosPaths(t *testing.T) {
	type inner struct {
		KeyPos map[string]yamlx.Pos
		Tags   []string `yaml:"tags"`
	}
	type plain struct { // no KeyPos: its keys are recorded in the outer one
		URL string              `yaml:"url"`
		Env map[string][]string `yaml:"env"`
	}
	type doc struct {
		KeyPos map[string]yamlx.Pos
		Perms  map[string][]string `yaml:"perms"`
		Plain  plain               `yaml:"plain"`
		Inner  []inner             `yaml:"inner"`
		Codes  selfDecoded         `yaml:"codes"`
		Limits selfDecoded         `yaml:"limits"`
	}
	const src = "perms:\n  freeze: [owners, group:sre]\n  abort: []\nplain: {url: x, env: {a: [b]}}\ninner:\n  - tags: [x, y]\n" +
		"codes: [200, 2O4]\nlimits: {max: 3}\n"
	var d doc
	if err := yamlx.Unmarshal(fuzzFile, []byte(src), &d); err != nil {
		t.Fatal(err)
	}
	at := func(line, col int) yamlx.Pos { return yamlx.Pos{File: fuzzFile, Line: line, Col: col} }
	tests := []struct {
		name string
		keys map[string]yamlx.Pos
		path string
		want yamlx.Pos // zero: not recorded
	}{
		{"a key of the struct", d.KeyPos, "perms", at(1, 1)},
		{"a key of a map", d.KeyPos, "perms.freeze", at(2, 3)},
		{"an item of a list in a map", d.KeyPos, "perms.freeze[1]", at(2, 20)},
		{"a key with an empty list", d.KeyPos, "perms.abort", at(3, 3)},
		{"a key of a struct without KeyPos", d.KeyPos, "plain.url", at(4, 9)},
		{"deeper in a struct without KeyPos", d.KeyPos, "plain.env.a[0]", at(4, 27)},
		{"an item that is a struct", d.KeyPos, "inner[0]", at(6, 5)},
		{"a struct with its own KeyPos keeps its keys", d.KeyPos, "inner[0].tags", yamlx.Pos{}},
		{"relative to that struct", d.Inner[0].KeyPos, "tags[1]", at(6, 15)},
		{"nothing past the end of a list", d.KeyPos, "perms.freeze[2]", yamlx.Pos{}},
		// a type that decodes itself (an http step's expect_status) has its
		// items and keys recorded all the same
		{"an item of a list that decodes itself", d.KeyPos, "codes[1]", at(7, 14)},
		{"a key of a mapping that decodes itself", d.KeyPos, "limits.max", at(8, 10)},
	}
	for _, tt := range tests {
		if got := tt.keys[tt.path]; got != tt.want {
			t.Errorf("%s: KeyPos[%q] = %v, want %v", tt.name, tt.path, got, tt.want)
		}
	}
	for _, tt := range []struct {
		path string
		want yamlx.Pos
	}{
		{"perms.freeze[1]", at(2, 20)},
		{"perms.freeze[2]", at(2, 3)}, // past the list: its key
		{"perms.resume[0]", at(1, 1)}, // an action not written: the section
		{"plain.env.b", at(4, 17)},    // a map key not written: the map
		{"nothing.here", at(9, 9)},    // nothing written: the mapping
	} {
		if got := yamlx.KeyAt(at(9, 9), d.KeyPos, tt.path); got != tt.want {
			t.Errorf("KeyAt(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// TestNodeDecode: a raw node decoded later reports at its place in the
// original file, with field names from the node down.
func TestNodeDecode(t *testing.T) {
	type section struct {
		ID   string         `yaml:"id"`
		Wait yamlx.Duration `yaml:"wait"`
	}
	tests := []errorCase{
		{"valid", "raw: {id: a, wait: 5m}\n", ""},
		{"absent", "name: a\n", ""},
		{"unknown key", "name: a\nraw:\n  id: a\n  ide: b\n", `doc.yaml:4:3: unknown key "ide" (did you mean "id"?)`},
		{"bad value", "raw: {wait: soon}\n", `doc.yaml:1:13: wait: invalid duration "soon" (examples: 30s, 5m, 1h, 7d)`},
		{"not a mapping", "raw: [a]\n", `doc.yaml:1:6: document: expected a mapping, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d fuzzDoc
			if err := yamlx.Unmarshal(fuzzFile, []byte(tt.yaml), &d); err != nil {
				t.Fatal(err)
			}
			var s section
			if got := errText(d.Raw.Decode(&s)); got != tt.want {
				t.Errorf("Decode:\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

// TestNodeDecodeDocument: a Node may hold a whole parsed document (as
// yaml.Unmarshal into a yaml.Node gives); Decode starts at its content.
func TestNodeDecodeDocument(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte("name: a\ncount: x\n"), &root); err != nil {
		t.Fatal(err)
	}
	var d fuzzDoc
	err := yamlx.Node{File: fuzzFile, Node: &root}.Decode(&d)
	if got, want := errText(err), `doc.yaml:2:8: count: expected an integer, got "x"`; got != want {
		t.Errorf("Decode:\n got: %s\nwant: %s", got, want)
	}
	if d.Name != "a" || d.Pos != (yamlx.Pos{File: fuzzFile, Line: 1, Col: 1}) {
		t.Errorf("decoded %q at %v, want \"a\" at doc.yaml:1:1", d.Name, d.Pos)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
