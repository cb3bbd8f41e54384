package http

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		in      string
		want    []segment
		wantErr string
	}{
		{"$", nil, ""},
		{"status", []segment{{key: "status"}}, ""},
		{"$.status.phase", []segment{{key: "status"}, {key: "phase"}}, ""},
		{"status.phase", []segment{{key: "status"}, {key: "phase"}}, ""},
		{"$.items[2].name", []segment{{key: "items"}, {index: 2, isIndex: true}, {key: "name"}}, ""},
		{`$["a.b"]['c"d']`, []segment{{key: "a.b"}, {key: `c"d`}}, ""},
		{"items.0", []segment{{key: "items"}, {key: "0"}}, ""},
		{"", nil, "empty path"},
		{"a..b", nil, `path "a..b": empty key`},
		{"$x", nil, `path "$x": unexpected 'x'`},
		{"a[1", nil, `path "a[1": unclosed [`},
		{"a[-1]", nil, `path "a[-1]": index "-1": want a number such as [0]`},
		{`a["b]`, nil, `path "a[\"b]": unclosed quoted key`},
		{"a]", nil, `path "a]": key "a]": quote it as ["..."]`},
	}
	for _, tt := range tests {
		got, err := parsePath(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("parsePath(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parsePath(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestLookupAndMatch(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(`{"a":{"b":[10,{"c":true}]},"n":null,"s":"x","f":2.50}`))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, equals string
		found, match bool
	}{
		{"a.b[0]", "10", true, true},
		{"a.b.0", "10.0", true, true},
		{"a.b[1].c", "true", true, true},
		{"n", "null", true, true},
		{"s", "x", true, true},
		{"f", "2.5", true, true},
		{"a.b[1]", `{"c":true}`, true, true},
		{"a.b[5]", "", false, false},
		{"s.deeper", "", false, false},
		{"a[0]", "", false, false},
	}
	for _, tt := range tests {
		segs, err := parsePath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := lookup(doc, segs)
		if ok != tt.found || (ok && matches(v, tt.equals) != tt.match) {
			t.Errorf("%s: found %v value %v", tt.path, ok, v)
		}
	}
}

// FuzzParsePath: the parser never panics, and whatever it accepts survives
// a round trip through its canonical form.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"$", "$.a.b", "a[0].b", `$["x.y"]`, `['a"b']`, "a..b", "[", "$[99999999999999999999]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		segs, err := parsePath(p)
		if err != nil {
			return
		}
		again, err := parsePath(formatPath(segs))
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", formatPath(segs), p, err)
		}
		if !reflect.DeepEqual(segs, again) {
			t.Fatalf("%q: %+v != %+v", p, segs, again)
		}
	})
}
