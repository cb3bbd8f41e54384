package runbook

import (
	"bytes"
	_ "embed"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"text/template"

	"github.com/backout/backout/internal/withdoc"
)

// referenceTmpl is the prose of docs/runbooks.md; the key tables in it are
// filled from the same descriptions, Go types and executor/check field
// definitions as the JSON Schema.
//
//go:embed runbooks.md.tmpl
var referenceTmpl string

// sections are the structs whose keys docs/runbooks.md tabulates, by the
// name the template asks for.
var sections = map[string]reflect.Type{
	"runbook":    reflect.TypeOf(Runbook{}),
	"param":      reflect.TypeOf(ParamSpec{}),
	"step":       stepT,
	"compensate": actionT,
	"gate":       reflect.TypeOf(Gate{}),
	"check":      checkT,
	"validation": reflect.TypeOf(Validation{}),
	"data":       reflect.TypeOf(Data{}),
	"drill":      reflect.TypeOf(DrillSettings{}),
	"approval":   policyT,
}

// Markdown renders docs/runbooks.md: the guide, every runbook key, and
// every executor and check in cat with its `with:` fields.
func Markdown(cat Catalog) ([]byte, error) {
	// [[ ]] delimiters: the prose shows runbook templates, {{ .Params.x }}.
	t, err := template.New("runbooks.md").Delims("[[", "]]").Funcs(template.FuncMap{
		"keys":   keyTable,
		"fields": fieldTable,
	}).Parse(referenceTmpl)
	if err != nil {
		return nil, fmt.Errorf("parse runbooks.md.tmpl: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, cat); err != nil {
		return nil, fmt.Errorf("render runbooks.md.tmpl: %w", err)
	}
	// Sections without rules leave an extra blank line; tidy them.
	return blankRuns.ReplaceAll(b.Bytes(), []byte("\n\n")), nil
}

var blankRuns = regexp.MustCompile(`\n{3,}`)

// keyTable is the Markdown table of the keys of one section.
func keyTable(section string) (string, error) {
	t, ok := sections[section]
	if !ok {
		return "", fmt.Errorf("no section %q", section)
	}
	var b strings.Builder
	b.WriteString("| key | type | what |\n|---|---|---|\n")
	for _, f := range yamlFields(t) {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Name, mdType(f.Type), cell(describe(t, f.Name)))
	}
	return b.String(), nil
}

// fieldTable is the Markdown table of one executor's or check's `with:`.
func fieldTable(fields []withdoc.Field) string {
	if len(fields) == 0 {
		return "No `with:`.\n"
	}
	var b strings.Builder
	b.WriteString("| `with:` key | type | what |\n|---|---|---|\n")
	for _, f := range fields {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Key, f.Type, cell(f.Doc))
	}
	return b.String()
}

// mdType names a runbook field's type for people.
func mdType(t reflect.Type) string {
	switch t {
	case durationT:
		return "duration"
	case nodeT:
		return "mapping (the executor's or check's, below)"
	case retriesT:
		return "count or `{max, backoff, max_backoff}`"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return mdType(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Slice:
		return "list of " + plural(t.Elem())
	case reflect.Map:
		return "map of " + plural(t.Elem())
	case reflect.Struct:
		return "mapping"
	}
	return t.Kind().String()
}

func plural(t reflect.Type) string {
	switch t {
	case stepT:
		return "steps"
	case checkT:
		return "checks"
	case reflect.TypeOf(ParamSpec{}):
		return "params"
	case dataItemT:
		return "`name (note)` strings"
	}
	return mdType(t) + "s"
}

// cell keeps a description inside its table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
