package yamlx

import (
	"encoding/json"
	"fmt"
)

// marshalJSONCompat converts yaml-decoded values (which may contain
// map[string]any only, since yaml.v3 decodes string-keyed maps that way, but
// may contain map[any]any for odd keys) into JSON.
func marshalJSONCompat(v any) ([]byte, error) {
	return json.Marshal(normalize(v))
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}
