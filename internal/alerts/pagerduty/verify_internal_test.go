package pagerduty

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// verifyReference is Verify as it was before the HMAC states were pooled:
// the answer must not change.
func verifyReference(body []byte, header string, secrets []string) bool {
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok {
			continue
		}
		if sig, err := hex.DecodeString(hexSig); err == nil && len(sig) == sha256.Size {
			sigs = append(sigs, sig)
		}
	}
	matched := false
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, sig := range sigs {
			if hmac.Equal(want, sig) {
				matched = true
			}
		}
	}
	return matched
}

// FuzzVerifyPooled: the pooled verifier answers as the reference, with the
// same pools used over and over.
func FuzzVerifyPooled(f *testing.F) {
	f.Add([]byte("body"), "v1=00", "s1,s2", 0)
	f.Add([]byte("body"), "", "s1", 1)
	f.Fuzz(func(t *testing.T, body []byte, header, secretList string, extra int) {
		secrets := SplitSecrets(secretList)
		macs := make([]*macPool, len(secrets))
		for i, s := range secrets {
			macs[i] = newMacPool(s)
		}
		if len(secrets) > 0 { // add good and bad signatures around the fuzzed header
			for i := range extra % 6 {
				header += "," + Sign(body, secrets[i%len(secrets)])
			}
			header += ",v1=" + strings.Repeat("ab", sha256.Size)
		}
		for range 2 {
			if got, want := verify(body, header, macs), verifyReference(body, header, secrets); got != want {
				t.Fatalf("verify(%q, %q) = %v, reference %v", body, header, got, want)
			}
		}
	})
}

// FuzzDecodeFastPath: Decode (go-json first, see alerts.DecodeBody)
// accepts, refuses and words its refusals exactly as the stream decoder it
// short-cuts, into the same value.
func FuzzDecodeFastPath(f *testing.F) {
	for _, name := range []string{"incident_triggered.json", "incident_resolved.json", "incident_priority_updated.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	// Where other decoders part ways with encoding/json: an escaped time,
	// a key with a long s (it matches "status"), 10001 levels of nesting.
	f.Add([]byte(`{"event":{"id":"a","event_type":"incident.x","occurred_at":"2024-05-20T14:00:00\u005a","data":{"id":"d"}}}`))
	f.Add([]byte(`{"event":{"id":"a","event_type":"incident.x","data":{"id":"d","ſtatus":"x","Number":1,"number":2.5}}}`))
	f.Add([]byte(`{"event":{"id":"a","event_type":"x","z":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}}`))
	f.Add([]byte(`{"event":{"id":"a","event_type":"pagey.ping"}}`))
	f.Add([]byte(`{"event":{"id":"a","event_type":"pagey.ping"}}]`))
	f.Add([]byte(`{"event":{"id":"a","event_type":"pagey.ping"}} {}`))
	f.Add([]byte(`{"event":{"id":7}}`))
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
func decodeStream(body []byte) (*Envelope, error) {
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("malformed PagerDuty v3 webhook JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("malformed PagerDuty v3 webhook JSON: data after the event object")
	}
	return check(&env)
}
