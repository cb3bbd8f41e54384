package alertmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// FuzzDecodeFastPath: Decode (json.Unmarshal first) accepts, refuses and
// words its refusals exactly as the stream decoder it short-cuts.
func FuzzDecodeFastPath(f *testing.F) {
	f.Add([]byte(`{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing"}]}`))
	f.Add([]byte(`{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing"}]}}`))
	f.Add([]byte(`{"version":"4"} {}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, errFast := Decode(body)
		slow, errSlow := decodeStream(body)
		if fmt.Sprint(errFast) != fmt.Sprint(errSlow) || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("Decode = %+v, %v; stream decoder = %+v, %v", fast, errFast, slow, errSlow)
		}
	})
}

// decodeStream is the stream decoder Decode always used, kept as the
// reference the fast path must agree with.
func decodeStream(body []byte) (*Message, error) {
	var m Message
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("malformed Alertmanager webhook JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("malformed Alertmanager webhook JSON: data after the message object")
	}
	return check(&m)
}
