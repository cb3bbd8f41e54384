package plugin

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestParseResponse(t *testing.T) {
	tests := []struct {
		in      string
		want    Response
		wantErr string
	}{
		{`{"status":"ok","output":"done"}`, Response{Status: "ok", Output: "done"}, ""},
		{"{\"status\":\"failed\",\"retryable\":true,\"future\":1}\n", Response{Status: "failed", Retryable: true}, ""},
		{``, Response{}, "no response on stdout"},
		{`[]`, Response{}, "response is not a JSON object: json: cannot unmarshal array into Go value of type plugin.Response"},
		{`{"status":"ok"} {"status":"ok"}`, Response{}, "response has data after the JSON object"},
		{`{"status":"maybe"}`, Response{}, `response status "maybe" is neither "ok" nor "failed"`},
		{`null`, Response{}, `response has no "status"`},
	}
	for _, tt := range tests {
		got, err := ParseResponse([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v, %v", tt.in, got, err)
		}
	}
}

// FuzzParseResponse: any input is either rejected or yields a valid
// response that survives a round trip.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{`{"status":"ok","output":"x"}`, `{"status":"failed","retryable":true,"detail":{"a":"b"}}`, `{`, `null`, `"ok"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseResponse(data)
		if err != nil {
			return
		}
		if r.Status != StatusOK && r.Status != StatusFailed {
			t.Fatalf("accepted status %q", r.Status)
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseResponse(again)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %+v -> %s -> %+v, %v", r, again, r2, err)
		}
	})
}
