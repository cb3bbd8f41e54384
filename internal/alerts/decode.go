package alerts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// DecodeBody decodes a webhook body into v, the way intake always has: one
// JSON object, followed by nothing (or only what json.Decoder leaves, such
// as a closing bracket). kind and object word the refusal ("malformed
// PagerDuty v3 webhook JSON: data after the event object"). A body that is
// exactly one JSON value, every real delivery, is decoded by
// json.Unmarshal, which spares the stream decoder's copy of it; anything
// else takes the stream path, which decides and words the answer.
func DecodeBody(body []byte, v any, kind, object string) error {
	if json.Unmarshal(body, v) == nil {
		return nil
	}
	// A type error leaves v half filled: the stream decodes afresh.
	reflect.ValueOf(v).Elem().SetZero()
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed %s JSON: %w", kind, err)
	}
	if dec.More() {
		return errors.New("malformed " + kind + " JSON: data after the " + object + " object")
	}
	return nil
}
