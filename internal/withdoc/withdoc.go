// Package withdoc documents the `with:` of executors and checks. Each one
// describes itself next to the struct it decodes `with:` into, and the field
// list is read from that struct's yaml tags, so `bot schema` and
// docs/runbooks.md show exactly the keys the loader accepts: a field added
// without a description, or a description of a field that is gone, panics
// in the schema generator and so fails cmd/bot's tests.
package withdoc

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Kind documents one executor or check.
type Kind struct {
	// Name is the `uses:` value.
	Name string
	// Summary says what it does, in a sentence or two.
	Summary string
	// Fields are the keys of `with:`, in the order the struct declares them.
	Fields []Field
	// Rules are constraints across fields ("set either query or url") and
	// defaults worth knowing, one per line.
	Rules []string
}

// Field is one key of `with:`; nested mappings are flattened with dots
// (expect_json.path).
type Field struct {
	Key string
	// Type is for people: string, boolean, list of strings, map of strings,
	// mapping, any YAML, or a type's own WithDocType.
	Type string
	// JSONType is the JSON Schema type to constrain the key to ("array",
	// "object", "boolean"), or "" when any scalar may do: most values are
	// strings that a template fills and that are parsed once rendered.
	JSONType string
	Doc      string
}

// Describer is implemented by executors and checks.
type Describer interface {
	Describe() Kind
}

// Typer lets a `with:` field type with its own YAML decoding name itself
// (http's expect_status takes a code or a list of codes).
type Typer interface {
	WithDocType() string
}

// Fields lists the keys of the `with:` struct with, each with its
// description from docs. It panics when a key has no description or a
// description names no key: both are programming errors, caught by
// cmd/bot's TestCatalogDescribesEveryKind.
func Fields(with any, docs map[string]string) []Field {
	t := reflect.TypeOf(with)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("withdoc: %s is not a struct", t))
	}
	var out []Field
	collect(t, "", docs, &out)
	used := map[string]bool{}
	var missing []string
	for _, f := range out {
		used[f.Key] = true
		if f.Doc == "" {
			missing = append(missing, f.Key)
		}
	}
	var stray []string
	for k := range docs {
		if !used[k] {
			stray = append(stray, k)
		}
	}
	sort.Strings(stray)
	if len(missing) > 0 || len(stray) > 0 {
		panic(fmt.Sprintf("withdoc: %s: undocumented keys %v; descriptions of no key %v", t, missing, stray))
	}
	return out
}

var typerT = reflect.TypeOf((*Typer)(nil)).Elem()

func collect(t reflect.Type, prefix string, docs map[string]string, out *[]Field) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue // Pos, KeyPos: filled by the decoder, not written
		}
		key := prefix + name
		ft := sf.Type
		if ft.Implements(typerT) {
			typ := reflect.Zero(ft).Interface().(Typer).WithDocType()
			*out = append(*out, Field{Key: key, Type: typ, Doc: docs[key]})
			continue
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.NumField() > 0 && hasYAMLFields(ft) {
			*out = append(*out, Field{Key: key, Type: "mapping", JSONType: "object", Doc: docs[key]})
			collect(ft, key+".", docs, out)
			continue
		}
		typ, js := typeName(ft)
		*out = append(*out, Field{Key: key, Type: typ, JSONType: js, Doc: docs[key]})
	}
}

func hasYAMLFields(t reflect.Type) bool {
	return slices.ContainsFunc(reflect.VisibleFields(t), func(f reflect.StructField) bool {
		n, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		return n != "" && n != "-"
	})
}

// typeName names a Go type as a runbook author sees it.
func typeName(t reflect.Type) (string, string) {
	switch t.Kind() {
	case reflect.String:
		return "string", ""
	case reflect.Bool:
		return "boolean", "boolean"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "list of strings", "array"
		}
		return "list", "array"
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "map of strings", "object"
		}
		return "mapping", "object"
	case reflect.Struct:
		return "any YAML", "" // yamlx.Node: a tree passed on as it is
	}
	return t.Kind().String(), ""
}
