// Package yamlx decodes YAML strictly into Go structs and reports every
// problem at once with its file, line and column, so that a person can fix a
// whole file in one pass instead of one error per run.
//
// It walks yaml.Node trees by reflection. Supported targets: structs (fields
// named by `yaml:"name"` tags; `yaml:"-"` skipped), pointers, slices, maps
// with string keys, strings, bools, ints, floats, Duration, Node (kept raw
// for later, strict decoding by the owner of that section), and any type
// implementing Unmarshaler.
package yamlx

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/suggest"
)

// Pos is a place in a YAML file. A struct field of type Pos named Pos is
// filled with the position of the mapping that produced the struct, and a
// field `KeyPos map[string]Pos` with the position of each key written.
//
// KeyPos also holds what is written below those keys, by path relative to
// the struct, in the form field names take in messages: "labels.env" for
// the key env of a map, "tags[1]" for the second item of a list,
// "slack.url" for a key of a nested struct that has no KeyPos of its own.
// A nested struct with its own KeyPos keeps its keys there instead. So
// checks made after decoding can point at the very key or item at fault,
// with KeyAt falling back to the enclosing key when it is absent.
type Pos struct {
	File string `json:"-"`
	Line int    `json:"-"`
	Col  int    `json:"-"`
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Errorf builds a positioned error.
func (p Pos) Errorf(format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

// Error is one problem at one place.
type Error struct {
	Pos Pos
	Msg string
}

// Error is one line, always: a newline inside a key or value is shown
// escaped, so every reported line starts with its file:line:col.
func (e *Error) Error() string { return e.Pos.String() + ": " + oneLine.Replace(e.Msg) }

var oneLine = strings.NewReplacer("\r", `\r`, "\n", `\n`)

// Errors is every problem found in one pass, sorted by position.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders errors by file, line and column.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Err returns nil when there are no errors, so callers can `return es.Err()`.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	es.Sort()
	return es
}

// Add appends err, flattening Errors and positioning plain errors at p.
func (es *Errors) Add(p Pos, err error) {
	if err == nil {
		return
	}
	var list Errors
	var one *Error
	switch {
	case errors.As(err, &list):
		*es = append(*es, list...)
	case errors.As(err, &one):
		*es = append(*es, one)
	default:
		*es = append(*es, &Error{Pos: p, Msg: err.Error()})
	}
}

// Addf appends a formatted error at p.
func (es *Errors) Addf(p Pos, format string, args ...any) {
	*es = append(*es, p.Errorf(format, args...))
}

// Node is a raw YAML subtree kept for later strict decoding, with the file it
// came from so positions stay exact.
type Node struct {
	File string
	Node *yaml.Node
}

// IsZero reports whether the node is absent.
func (n Node) IsZero() bool { return n.Node == nil }

// Pos returns where the node starts.
func (n Node) Pos() Pos {
	if n.Node == nil {
		return Pos{File: n.File}
	}
	return Pos{File: n.File, Line: n.Node.Line, Col: n.Node.Column}
}

// Decode decodes the subtree strictly into out.
func (n Node) Decode(out any) error {
	if n.Node == nil {
		return nil
	}
	d := decoder{file: n.File}
	d.decode(n.Node, reflect.ValueOf(out).Elem(), "")
	return d.errs.Err()
}

// Keys lists the mapping keys of the node (nil when it is not a mapping).
func (n Node) Keys() []string {
	if n.Node == nil || n.Node.Kind != yaml.MappingNode {
		return nil
	}
	var ks []string
	for i := 0; i+1 < len(n.Node.Content); i += 2 {
		ks = append(ks, n.Node.Content[i].Value)
	}
	return ks
}

// MarshalJSON renders the raw subtree as JSON-compatible data.
func (n Node) MarshalJSON() ([]byte, error) {
	if n.Node == nil {
		return []byte("null"), nil
	}
	var v any
	if err := n.Node.Decode(&v); err != nil {
		return nil, err
	}
	return marshalJSONCompat(v)
}

// Duration is a time.Duration written as "90s", "5m", "1h30m" or "2d".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration accepts Go durations plus a "d" (24h) suffix.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q (examples: 30s, 5m, 1h, 7d)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q (examples: 30s, 5m, 1h, 7d)", s)
	}
	return v, nil
}

// Unmarshaler is implemented by types that decode themselves from a node.
type Unmarshaler interface {
	UnmarshalYAMLX(file string, n *yaml.Node) error
}

// Unmarshal parses data (from file) strictly into out, which must be a pointer.
func Unmarshal(file string, data []byte, out any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return parseError(file, err)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return Errors{{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "file is empty"}}
	}
	d := decoder{file: file}
	d.decode(root.Content[0], reflect.ValueOf(out).Elem(), "")
	return d.errs.Err()
}

// parseError turns a yaml.v3 syntax error ("yaml: line 3: ...") into a positioned one.
func parseError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if strings.HasPrefix(msg, "line ") {
		rest := strings.TrimPrefix(msg, "line ")
		if i := strings.Index(rest, ":"); i > 0 {
			if n, convErr := strconv.Atoi(rest[:i]); convErr == nil {
				line = n
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return Errors{{Pos: Pos{File: file, Line: line, Col: 1}, Msg: "invalid YAML: " + msg}}
}

type decoder struct {
	file string
	errs Errors
	// keys is the KeyPos map of the nearest struct being decoded that has
	// one, and base that struct's field path: each key and item below it
	// is recorded there by its path relative to base.
	keys reflect.Value
	base string
	// budget bounds how many nodes are visited, so aliases cannot expand a
	// small file into billions of values ("billion laughs").
	budget    int
	exhausted bool
}

// nodeBudget is how many nodes one decode may visit: far more than any real
// config, far fewer than an alias bomb expands to.
const nodeBudget = 200_000

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Col: n.Column} }

// record notes where the key or item named field was written, in the
// nearest KeyPos. Past the node budget nothing more is kept.
func (d *decoder) record(field string, n *yaml.Node) {
	if !d.keys.IsValid() || d.exhausted {
		return
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(field, d.base), ".")
	d.keys.SetMapIndex(reflect.ValueOf(rel), reflect.ValueOf(d.pos(n)))
}

func (d *decoder) fail(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, d.pos(n).Errorf(format, args...))
}

var (
	nodeType     = reflect.TypeOf(Node{})
	durationType = reflect.TypeOf(Duration(0))
	posType      = reflect.TypeOf(Pos{})
	keyPosType   = reflect.TypeOf(map[string]Pos{})
	unmarshalerT = reflect.TypeOf((*Unmarshaler)(nil)).Elem()
)

// KindName names what a node is, for errors: "a mapping", "a list", a
// scalar's quoted value, "null" or "an alias".
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

// decode stores n into v, reporting each problem under field (the dotted
// path people see). It dispatches on the target: the special types first,
// since a Duration is an int and a Node a struct to reflection.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, field string) {
	if !d.spend(n, field) {
		return
	}
	n = resolve(n)
	switch {
	case v.Type() == nodeType:
		v.Set(reflect.ValueOf(Node{File: d.file, Node: n}))
	case v.CanAddr() && v.Addr().Type().Implements(unmarshalerT):
		d.decodeUnmarshaler(n, v, field)
	case v.Kind() == reflect.Pointer:
		d.decodePointer(n, v, field)
	case v.Type() == durationType:
		d.decodeDuration(n, v, field)
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, field)
	case v.Kind() == reflect.Slice:
		d.decodeSequence(n, v, field)
	case v.Kind() == reflect.Map:
		d.decodeMapping(n, v, field)
	case v.Kind() == reflect.Interface:
		d.decodeInterface(n, v, field)
	default:
		d.decodeScalar(n, v, field)
	}
}

// spend counts n against the node budget. Past it, it reports once (one
// line is enough to explain an alias bomb) and every later node is skipped.
func (d *decoder) spend(n *yaml.Node, field string) bool {
	if d.budget++; d.budget > nodeBudget {
		if !d.exhausted {
			d.exhausted = true
			d.fail(n, "%s: the document expands to more than %d values (aliases used too often?)", field, nodeBudget)
		}
		return false
	}
	return true
}

// resolve follows an alias to its anchor and a document to its content, so
// the decoders below see only scalars, sequences and mappings.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	return n
}

// decodeUnmarshaler hands n to a type that decodes itself. Its error is
// placed at n unless it carries its own position. The items or keys below
// n are recorded as any list's or mapping's are (expect_status[1]), so a
// check made after decoding can point at the one at fault.
func (d *decoder) decodeUnmarshaler(n *yaml.Node, v reflect.Value, field string) {
	switch n.Kind {
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.record(fmt.Sprintf("%s[%d]", field, i), c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.record(joinField(field, n.Content[i].Value), n.Content[i])
		}
	}
	if err := v.Addr().Interface().(Unmarshaler).UnmarshalYAMLX(d.file, n); err != nil {
		var list Errors
		list.Add(d.pos(n), err)
		for _, e := range list {
			e.Msg = qualify(field, e.Msg)
		}
		d.errs = append(d.errs, list...)
	}
}

// qualify gives a message that a type wrote about itself ("retries.max:
// ...", knowing only its own key) the path of where it sits
// ("steps[3].retries.max: ..."), as every other decoding message has.
func qualify(field, msg string) string {
	i := strings.LastIndex(field, ".")
	if i < 0 {
		return msg
	}
	parent, own := field[:i+1], field[i+1:]
	if rest, ok := strings.CutPrefix(msg, own); ok && rest != "" && strings.ContainsRune(":.[", rune(rest[0])) {
		return parent + msg
	}
	return msg
}

// decodePointer leaves the pointer nil for null, so "absent" and "written
// as null" read the same; otherwise it allocates and decodes into the target.
func (d *decoder) decodePointer(n *yaml.Node, v reflect.Value, field string) {
	if n.Tag == "!!null" {
		return
	}
	if v.IsNil() {
		v.Set(reflect.New(v.Type().Elem()))
	}
	d.decode(n, v.Elem(), field)
}

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, "%s: expected a duration such as 5m, got %s", field, KindName(n))
		return
	}
	dur, err := ParseDuration(n.Value)
	if err != nil {
		d.fail(n, "%s: %v", field, err)
		return
	}
	v.SetInt(int64(dur))
}

// decodeSequence fills a slice, naming each element field[i]. Null leaves
// the slice as it was.
func (d *decoder) decodeSequence(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.SequenceNode {
		if n.Tag == "!!null" {
			return
		}
		d.fail(n, "%s: expected a list, got %s", field, KindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		item := fmt.Sprintf("%s[%d]", field, i)
		d.record(item, c)
		d.decode(c, s.Index(i), item)
	}
	v.Set(s)
}

// decodeMapping fills a string-keyed map, naming each value field.key. A
// key written twice is reported and its second value skipped, since
// yaml.v3 does not refuse duplicates in a node tree. Null leaves the map as
// it was.
func (d *decoder) decodeMapping(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return
		}
		d.fail(n, "%s: expected a mapping, got %s", field, KindName(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.fail(n, "%s: unsupported map key type", field)
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.fail(k, "%s: duplicate key %q", field, k.Value)
			continue
		}
		seen[k.Value] = true
		d.record(joinField(field, k.Value), k)
		ev := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, ev, joinField(field, k.Value))
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
	}
	v.Set(m)
}

// decodeInterface takes any tree as plain data (yaml.v3's own decoding), for
// values whose shape the owner checks.
func (d *decoder) decodeInterface(n *yaml.Node, v reflect.Value, field string) {
	var x any
	if err := n.Decode(&x); err != nil {
		d.fail(n, "%s: %v", field, err)
		return
	}
	if x != nil {
		v.Set(reflect.ValueOf(x))
	}
}

func joinField(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, "%s: expected %s, got %s", field, typeName(v.Type()), KindName(n))
		return
	}
	if n.Tag == "!!null" {
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			d.fail(n, "%s: expected true or false, got %q", field, n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			d.fail(n, "%s: expected an integer, got %q", field, n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64, reflect.Float32:
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			d.fail(n, "%s: expected a number, got %q", field, n.Value)
			return
		}
		v.SetFloat(f)
	default:
		d.fail(n, "%s: unsupported type %s", field, v.Type())
	}
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

type fieldInfo struct {
	index []int
	name  string
}

func structFields(t reflect.Type) map[string]fieldInfo {
	out := map[string]fieldInfo{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			for k, sub := range structFields(f.Type) {
				out[k] = fieldInfo{index: append([]int{i}, sub.index...), name: sub.name}
			}
			continue
		}
		if name == "" {
			if f.Type == posType || f.Type == keyPosType {
				continue
			}
			name = strings.ToLower(f.Name)
		}
		out[name] = fieldInfo{index: []int{i}, name: name}
	}
	return out
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, field string) {
	if f := v.FieldByName("Pos"); f.IsValid() && f.Type() == posType {
		f.Set(reflect.ValueOf(d.pos(n)))
	}
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return
		}
		name := field
		if name == "" {
			name = "document"
		}
		d.fail(n, "%s: expected a mapping, got %s", name, KindName(n))
		return
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	if keyPos := v.FieldByName("KeyPos"); keyPos.IsValid() && keyPos.Type() == keyPosType {
		keyPos.Set(reflect.MakeMap(keyPosType))
		outerKeys, outerBase := d.keys, d.base
		d.keys, d.base = keyPos, field
		defer func() { d.keys, d.base = outerKeys, outerBase }()
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fi, ok := fields[k.Value]
		if !ok {
			d.fail(k, "unknown key %q%s%s", k.Value, inField(field), didYouMean(k.Value, fields))
			continue
		}
		if seen[k.Value] {
			d.fail(k, "duplicate key %q%s", k.Value, inField(field))
			continue
		}
		seen[k.Value] = true
		d.record(joinField(field, k.Value), k)
		d.decode(val, v.FieldByIndex(fi.index), joinField(field, k.Value))
	}
}

func inField(field string) string {
	if field == "" {
		return ""
	}
	return " in " + field
}

// didYouMean names the closest known key, for typos such as "neds".
func didYouMean(key string, fields map[string]fieldInfo) string {
	best := suggest.Closest(key, slices.Collect(maps.Keys(fields)))
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// KeyAt returns where key was written, falling back to the mapping itself.
// A path below a key (labels.env, tags[1]; see Pos) not written falls back
// to the nearest key above it that was, then to the mapping.
func KeyAt(mapping Pos, keys map[string]Pos, key string) Pos {
	for {
		if p, ok := keys[key]; ok {
			return p
		}
		i := strings.LastIndexAny(key, ".[")
		if i <= 0 {
			return mapping
		}
		key = key[:i]
	}
}

// FromValue builds a Node from a Go value (for `with:` trees made in code).
func FromValue(v any) Node {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		panic(fmt.Sprintf("yamlx: cannot encode %T: %v", v, err)) // only plain data is passed
	}
	return Node{File: "(built-in)", Node: &n}
}
