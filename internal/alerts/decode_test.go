package alerts_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/alerts"
)

// probe has a field of every kind the webhook envelopes decode: strings,
// integers, times (their own UnmarshalJSON), pointers to structs, slices
// of structs, string maps and a raw message.
type probe struct {
	ID     string            `json:"id"`
	Status string            `json:"status"`
	Number int64             `json:"number"`
	Count  int               `json:"count"`
	At     time.Time         `json:"at"`
	Ref    *probeRef         `json:"ref"`
	Refs   []probeRef        `json:"refs"`
	Labels map[string]string `json:"labels"`
	Raw    json.RawMessage   `json:"raw"`
	Inner  probeRef          `json:"inner"`
}

type probeRef struct {
	ID      string `json:"id"`
	Summary string `json:"summary"`
	HTMLURL string `json:"html_url"`
}

// decodeReference is DecodeBody as it was before the fast path: the
// encoding/json stream decoder alone, which DecodeBody must agree with.
func decodeReference(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed test JSON: %w", err)
	}
	if dec.More() {
		return errors.New("malformed test JSON: data after the probe object")
	}
	return nil
}

// decodeCases are bodies where JSON decoders are known to part ways with
// encoding/json (found comparing go-json, segmentio/encoding and
// go-json-experiment's v1 emulation with it); accept says what
// encoding/json does with each.
var decodeCases = []struct {
	name, body string
	accept     bool
}{
	{"plain", `{"id":"a","number":1,"at":"2024-05-20T14:00:00.123Z","ref":{"id":"r"},"refs":[{"id":"x"}],"labels":{"a":"b"},"raw":{"k":[1]}}`, true},
	{"invalid UTF-8 becomes U+FFFD", "{\"id\":\"a\xff\",\"labels\":{\"\xfe\":\"\xff\"}}", true},
	{"lone surrogates become U+FFFD", `{"id":"\ud800\u0041\udc00","status":"\ud83d\ude00"}`, true},
	{"keys match case-insensitively", `{"ID":"a","Status":"s","LABELS":{"K":"v"},"Ref":{"Html_Url":"u"}}`, true},
	{"long s folds to S in keys", `{"id":"a","ſtatus":"s","ref":{"ſummary":"x"}}`, true},
	{"Kelvin sign does not fold to k", "{\"id\":\"a\",\"\u212a\":1,\"ref\":{\"id\":\"r\",\"html_url\":\"u\"}}", true},
	{"dashes in keys are not ignored", `{"id":"a","ref":{"html-url":"x","htmlurl":"y"}}`, true},
	{"escaped keys", `{"\u0069d":"a","st\u0061tus":"s"}`, true},
	{"last duplicate wins", `{"id":"a","id":"b","number":1,"number":2}`, true},
	{"duplicate objects merge", `{"inner":{"id":"a"},"inner":{"summary":"s"},"ref":{"id":"p"},"ref":{"summary":"q"}}`, true},
	{"duplicate maps merge", `{"labels":{"a":"1"},"labels":{"b":"2","a":"3"}}`, true},
	{"duplicate slices reuse elements", `{"refs":[{"id":"1"},{"id":"2"}],"refs":[{"summary":"x"}]}`, true},
	{"null clears pointers, maps, slices", `{"ref":{"id":"r"},"ref":null,"labels":{"a":"b"},"labels":null,"refs":[],"refs":null}`, true},
	{"null leaves the rest", `{"id":"a","id":null,"number":3,"number":null,"at":null,"inner":null,"raw":null}`, true},
	{"null map value", `{"labels":{"a":"x","a":null,"b":null}}`, true},
	{"empty map and slice are not nil", `{"labels":{},"refs":[]}`, true},
	{"raw message kept verbatim", `{"raw": { "a" : [ 1 , "\u0041" ] } }`, true},
	{"time with offset", `{"at":"2024-05-20T14:00:00.123456789+01:00"}`, true},
	{"escaped time is refused", `{"at":"2024-05-20T14:00:00\u005a"}`, false},
	{"lower-case time is refused", `{"at":"2024-05-20t14:00:00z"}`, false},
	{"empty time is refused", `{"at":""}`, false},
	{"numeric time is refused", `{"at":1}`, false},
	{"float into int is refused", `{"number":1.0}`, false},
	{"exponent into int is refused", `{"number":1e2}`, false},
	{"int overflow is refused", `{"number":9223372036854775808}`, false},
	{"string into int is refused", `{"number":"1"}`, false},
	{"number into string is refused", `{"id":7}`, false},
	{"string into map is refused", `{"labels":"x"}`, false},
	{"number into map value is refused", `{"labels":{"a":1}}`, false},
	{"array into struct is refused", `{"inner":[]}`, false},
	{"type error then more fields", `{"id":7,"number":"x","status":"s"}`, false},
	{"10000 levels", `{"x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`, true},
	{"10001 levels are refused", `{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, false},
	{"10001 object levels are refused", `{"x":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + `}`, false},
	{"unknown values of every kind", `{"x":{"a":[1,-0.5e+3,true,false,null,"s",{}]},"y":1e99999}`, true},
	{"control character in a string", "{\"id\":\"\x01\"}", false},
	{"DEL in a string", "{\"id\":\"\x7f\"}", true},
	{"form feed is not white space", "{\f\"id\":\"a\"}", false},
	{"leading byte order mark", "\xef\xbb\xbf{\"id\":\"a\"}", false},
	{"bad number", `{"x":01}`, false},
	{"truncated literal", `{"x":tru}`, false},
	{"trailing white space", "{\"id\":\"a\"} \t\r\n", true},
	{"trailing bracket (the stream stops before it)", `{"id":"a"}]`, true},
	{"trailing brace", `{"id":"a"}}`, true},
	{"trailing object", `{"id":"a"} {}`, false},
	{"trailing junk", `{"id":"a"}x`, false},
	{"top-level null", `null`, true},
	{"top-level array", `[{"id":"a"}]`, false},
	{"empty body", ``, false},
}

func TestDecodeBodyAgreesWithReference(t *testing.T) {
	for _, c := range decodeCases {
		t.Run(c.name, func(t *testing.T) {
			var got, want probe
			err := alerts.DecodeBody([]byte(c.body), &got, "test", "probe")
			errRef := decodeReference([]byte(c.body), &want)
			if (errRef == nil) != c.accept {
				t.Fatalf("encoding/json: %v; the case says accept=%v", errRef, c.accept)
			}
			if fmt.Sprint(err) != fmt.Sprint(errRef) {
				t.Fatalf("DecodeBody: %v; reference: %v", err, errRef)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("DecodeBody gave %+v; reference %+v", got, want)
			}
		})
	}
}

// FuzzDecodeBody: DecodeBody accepts, refuses and words its refusals as
// the encoding/json stream decoder does, into the same value.
func FuzzDecodeBody(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got, want probe
		err := alerts.DecodeBody(body, &got, "test", "probe")
		errRef := decodeReference(body, &want)
		if fmt.Sprint(err) != fmt.Sprint(errRef) || (err == nil && !reflect.DeepEqual(got, want)) {
			t.Fatalf("DecodeBody = %+v, %v; reference = %+v, %v", got, err, want, errRef)
		}
	})
}
