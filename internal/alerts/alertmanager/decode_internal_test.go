package alertmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeFastPath: Decode (go-json first, see alerts.DecodeBody)
// accepts, refuses and words its refusals exactly as the stream decoder it
// short-cuts, into the same value.
func FuzzDecodeFastPath(f *testing.F) {
	for _, name := range []string{"firing.json", "partly_resolved.json", "several_services.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	// Where other decoders part ways with encoding/json: an escaped time,
	// keys with a long s (they match "status"), 10001 levels of nesting,
	// maps given twice (they merge) or null.
	f.Add([]byte(`{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","startsAt":"2024-05-20T14:00:00\u005a"}]}`))
	f.Add([]byte(`{"version":"4","groupKey":"g","ſtatus":"firing","alerts":[{"ſtatus":"firing"}]}`))
	f.Add([]byte(`{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing"}],"z":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`))
	f.Add([]byte(`{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"a":"1"},"labels":{"b":"2"},"annotations":{"s":"x"},"annotations":null}]}`))
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
