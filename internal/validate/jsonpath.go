package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// pathStep is one step of a JSON path: a key or an array index.
type pathStep struct {
	key   string
	index int // used when key is ""; keys are never empty
}

// parseJSONPath reads the small JSON path subset the checks need:
// dot-separated keys with [N] array indexes, optionally starting with "$"
// or "$.": `status`, `$.build.version`, `checks[0].status`. Keys containing
// dots or brackets cannot be addressed.
func parseJSONPath(path string) ([]pathStep, error) {
	if path == "$" {
		return nil, nil // the whole document
	}
	s := strings.TrimPrefix(strings.TrimPrefix(path, "$"), ".")
	if s == "" {
		return nil, errors.New("empty JSON path (example: $.status or checks[0].status)")
	}
	bad := func(why string) error { return fmt.Errorf("invalid JSON path %q: %s", path, why) }
	var steps []pathStep
	for s != "" {
		if s[0] == '[' {
			num, rest, ok := strings.Cut(s[1:], "]")
			if !ok {
				return nil, bad("missing ]")
			}
			i, err := strconv.Atoi(num)
			if err != nil || i < 0 || num != strconv.Itoa(i) {
				return nil, bad(fmt.Sprintf("index %q is not a whole number", num))
			}
			steps = append(steps, pathStep{index: i})
			s = rest
		} else {
			end := strings.IndexAny(s, ".[]")
			if end < 0 {
				end = len(s)
			}
			if end == 0 {
				return nil, bad("empty key")
			}
			steps = append(steps, pathStep{key: s[:end]})
			s = s[end:]
		}
		switch {
		case s == "" || s[0] == '[':
		case s[0] == '.' && len(s) > 1 && s[1] != '[' && s[1] != '.':
			s = s[1:]
		default:
			return nil, bad(fmt.Sprintf("unexpected %q", s))
		}
	}
	return steps, nil
}

// decodeJSON parses a body keeping numbers as written.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("response is not JSON: %w", err)
	}
	// Decode stops after one value: "1.2.3" would read as 1.2.
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return nil, errors.New("response is not JSON: unexpected data after the value")
	}
	return v, nil
}

// lookupJSON follows path through doc.
func lookupJSON(doc any, path []pathStep) (any, bool) {
	cur := doc
	for _, st := range path {
		if st.key != "" {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = obj[st.key]; !ok {
				return nil, false
			}
			continue
		}
		arr, ok := cur.([]any)
		if !ok || st.index >= len(arr) {
			return nil, false
		}
		cur = arr[st.index]
	}
	return cur, true
}

// jsonText renders a JSON value for comparison with an expected string:
// strings as themselves, everything else as compact JSON (true, 3, null).
func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
