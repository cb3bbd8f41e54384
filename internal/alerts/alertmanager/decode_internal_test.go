package alertmanager

import (
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
