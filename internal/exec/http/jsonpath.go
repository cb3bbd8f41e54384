package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// segment is one step of a JSON path: a key, or an index into an array.
type segment struct {
	key     string
	index   int
	isIndex bool
}

// parsePath reads the small JSONPath subset people write in runbooks:
// "$.status", "status.phase", "$.items[0].name", `$["odd.key"]`, and
// "items.0.name" (a number after a dot indexes an array). "$" alone is the
// whole document.
func parsePath(p string) ([]segment, error) {
	if p == "" {
		return nil, fmt.Errorf("empty path")
	}
	rest := p
	if strings.HasPrefix(rest, "$") {
		rest = rest[1:]
	} else {
		rest = "." + rest // "status.phase" reads as "$.status.phase"
	}
	var segs []segment
	for rest != "" {
		var s segment
		var err error
		switch rest[0] {
		case '.':
			s, rest, err = parseDotted(rest[1:])
		case '[':
			s, rest, err = parseBracket(rest[1:])
		default:
			err = fmt.Errorf("unexpected %q", rest[0])
		}
		if err != nil {
			return nil, fmt.Errorf("path %q: %w", p, err)
		}
		segs = append(segs, s)
	}
	return segs, nil
}

func parseDotted(rest string) (segment, string, error) {
	end := strings.IndexAny(rest, ".[")
	if end < 0 {
		end = len(rest)
	}
	key := rest[:end]
	if key == "" {
		return segment{}, "", fmt.Errorf("empty key")
	}
	if strings.ContainsAny(key, `]'"`) {
		return segment{}, "", fmt.Errorf("key %q: quote it as [\"...\"]", key)
	}
	return segment{key: key}, rest[end:], nil
}

func parseBracket(rest string) (segment, string, error) {
	if rest != "" && (rest[0] == '\'' || rest[0] == '"') {
		q := rest[0]
		end := strings.IndexByte(rest[1:], q)
		if end < 0 || !strings.HasPrefix(rest[1+end+1:], "]") {
			return segment{}, "", fmt.Errorf("unclosed quoted key")
		}
		return segment{key: rest[1 : 1+end]}, rest[1+end+2:], nil
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return segment{}, "", fmt.Errorf("unclosed [")
	}
	i, err := strconv.Atoi(rest[:end])
	if err != nil || i < 0 || strconv.Itoa(i) != rest[:end] {
		return segment{}, "", fmt.Errorf("index %q: want a number such as [0]", rest[:end])
	}
	return segment{index: i, isIndex: true}, rest[end+1:], nil
}

// formatPath writes segments back in canonical form.
func formatPath(segs []segment) string {
	var b strings.Builder
	b.WriteString("$")
	for _, s := range segs {
		switch {
		case s.isIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		case s.key != "" && !strings.ContainsAny(s.key, `.[]'"`):
			b.WriteString("." + s.key)
		case strings.Contains(s.key, `"`):
			b.WriteString("['" + s.key + "']")
		default:
			b.WriteString(`["` + s.key + `"]`)
		}
	}
	return b.String()
}

// lookup walks a document decoded with json.Decoder.UseNumber.
func lookup(doc any, segs []segment) (any, bool) {
	cur := doc
	for _, s := range segs {
		switch v := cur.(type) {
		case map[string]any:
			if s.isIndex {
				return nil, false
			}
			next, ok := v[s.key]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i := s.index
			if !s.isIndex {
				n, err := strconv.Atoi(s.key)
				if err != nil {
					return nil, false
				}
				i = n
			}
			if i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// render shows a JSON value the way a person writes it in `equals:`.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	case bool, json.Number:
		return fmt.Sprint(x)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// matches compares a value with `equals:`; numbers compare by value, so
// 1, 1.0 and 1e0 are the same.
func matches(v any, want string) bool {
	if n, ok := v.(json.Number); ok {
		got, err1 := n.Float64()
		w, err2 := strconv.ParseFloat(want, 64)
		if err1 == nil && err2 == nil {
			return got == w
		}
	}
	return render(v) == want
}
