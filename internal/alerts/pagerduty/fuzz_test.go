package pagerduty_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/backout/backout/internal/alerts/pagerduty"
	"github.com/backout/backout/internal/store"
)

// FuzzDecode: any body either fails with an error or yields an event intake
// can key, that survives a JSON round trip, and that the processor handles,
// alike from the payload and from intake's decode handed over with it.
func FuzzDecode(f *testing.F) {
	p := pagerduty.NewProcessor(catalog, nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := pagerduty.Decode(body)
		if err != nil {
			return
		}
		if env.Event.ID == "" || env.Event.EventType == "" {
			t.Fatalf("accepted an event without id or type: %q", body)
		}
		again, err := json.Marshal(env)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		env2, err := pagerduty.Decode(again)
		if err != nil || env2.Event.ID != env.Event.ID || env2.Event.EventType != env.Event.EventType {
			t.Fatalf("round trip changed the event: %v", err)
		}
		if len(pagerduty.DedupKeys(&env.Event)) == 0 {
			t.Fatal("no dedup keys")
		}
		fromBody, err := p.Process(context.Background(), store.Event{ID: env.Event.ID, Payload: body})
		if err != nil {
			t.Fatalf("processor refused what intake accepted: %v", err)
		}
		handedOver, err := p.Process(context.Background(), store.Event{ID: env.Event.ID, Payload: body, Parsed: env})
		if err != nil || !reflect.DeepEqual(fromBody, handedOver) {
			t.Fatalf("intake's decode handed over gives %+v (%v), the payload %+v", handedOver, err, fromBody)
		}
	})
}

// FuzzVerify: the header parser never panics, and a body signed with one of
// the secrets verifies whatever junk surrounds the good signature.
func FuzzVerify(f *testing.F) {
	f.Fuzz(func(t *testing.T, body, header, secret []byte) {
		secrets := pagerduty.SplitSecrets(string(secret))
		_ = pagerduty.Verify(body, string(header), secrets)
		if len(secrets) == 0 {
			if pagerduty.Verify(body, string(header), nil) {
				t.Fatal("verified with no secrets")
			}
			return
		}
		good := pagerduty.Sign(body, secrets[len(secrets)-1])
		if !pagerduty.Verify(body, string(header)+","+good, secrets) {
			t.Fatalf("did not verify a correct signature after header %q", header)
		}
	})
}
