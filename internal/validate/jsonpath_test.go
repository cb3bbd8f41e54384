package validate

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseJSONPath(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []pathStep
		wantErr string
	}{
		{in: "status", want: []pathStep{{key: "status"}}},
		{in: "$.build.version", want: []pathStep{{key: "build"}, {key: "version"}}},
		{in: "$", want: nil},
		{in: "checks[0].status", want: []pathStep{{key: "checks"}, {index: 0}, {key: "status"}}},
		{in: "$[2][10]", want: []pathStep{{index: 2}, {index: 10}}},
		{in: "", wantErr: "empty JSON path (example: $.status or checks[0].status)"},
		{in: "$.", wantErr: "empty JSON path (example: $.status or checks[0].status)"},
		{in: "a..b", wantErr: `invalid JSON path "a..b": unexpected "..b"`},
		{in: "a.", wantErr: `invalid JSON path "a.": unexpected "."`},
		{in: "a[x]", wantErr: `invalid JSON path "a[x]": index "x" is not a whole number`},
		{in: "a[01]", wantErr: `invalid JSON path "a[01]": index "01" is not a whole number`},
		{in: "a[-1]", wantErr: `invalid JSON path "a[-1]": index "-1" is not a whole number`},
		{in: "a[1", wantErr: `invalid JSON path "a[1": missing ]`},
		{in: "a]b", wantErr: `invalid JSON path "a]b": unexpected "]b"`},
		{in: "a[0]b", wantErr: `invalid JSON path "a[0]b": unexpected "b"`},
		{in: "a.[0]", wantErr: `invalid JSON path "a.[0]": unexpected ".[0]"`},
	} {
		got, err := parseJSONPath(tc.in)
		if errString(err) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseJSONPath(%q) = %v, %q; want %v, %q", tc.in, got, errString(err), tc.want, tc.wantErr)
		}
	}
}

func TestLookupJSON(t *testing.T) {
	doc, err := decodeJSON([]byte(`{"status":"ok","n":12345678901234567890,"ok":true,"none":null,"checks":[{"name":"db","up":1.50}],"obj":{"a":[1,2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
		found      bool
	}{
		{"status", "ok", true},
		{"n", "12345678901234567890", true}, // numbers as written
		{"ok", "true", true},
		{"none", "null", true},
		{"checks[0].name", "db", true},
		{"checks[0].up", "1.50", true},
		{"obj", `{"a":[1,2]}`, true},
		{"checks[1]", "", false},
		{"status.x", "", false},
		{"missing", "", false},
		{"obj[0]", "", false},
	} {
		p, err := parseJSONPath(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		v, found := lookupJSON(doc, p)
		if found != tc.found || (found && jsonText(v) != tc.want) {
			t.Errorf("lookup %s = %v (%v), want %q (%v)", tc.path, v, found, tc.want, tc.found)
		}
	}
	for _, bad := range []string{"not json", "1.2.3", `{"a":1} {"b":2}`, ""} {
		if _, err := decodeJSON([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "response is not JSON") {
			t.Errorf("decodeJSON(%q) = %v", bad, err)
		}
	}
	if v, err := decodeJSON([]byte(" \"1.2.3\"\n")); err != nil || v != "1.2.3" {
		t.Errorf("decodeJSON(string) = %v, %v", v, err)
	}
}

// FuzzParseJSONPath: any accepted path is made of non-empty keys without
// separators, and rendering it back parses to the same steps.
func FuzzParseJSONPath(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		steps, err := parseJSONPath(s)
		if err != nil {
			return
		}
		var b strings.Builder
		b.WriteString("$")
		for _, st := range steps {
			if st.key == "" {
				if st.index < 0 {
					t.Fatalf("%q: negative index", s)
				}
				b.WriteString("[" + strconv.Itoa(st.index) + "]")
				continue
			}
			if strings.ContainsAny(st.key, ".[]") {
				t.Fatalf("%q: key %q holds a separator", s, st.key)
			}
			b.WriteString("." + st.key)
		}
		again, err := parseJSONPath(b.String())
		if err != nil || !reflect.DeepEqual(again, steps) {
			t.Fatalf("%q -> %q -> %v, %v; want %v", s, b.String(), again, err, steps)
		}
	})
}
