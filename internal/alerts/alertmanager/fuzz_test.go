package alertmanager_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/backout/backout/internal/alerts/alertmanager"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/store"
)

// FuzzDecode: any body either fails or yields a message whose dedup key is
// stable across a JSON round trip, and which the processor turns into
// well-formed alerts, the same from the payload as from intake's decode.
func FuzzDecode(f *testing.F) {
	p, err := alertmanager.NewProcessor(catalog, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := alertmanager.Decode(body)
		if err != nil {
			return
		}
		key := alertmanager.DedupKey(msg)
		again, err := json.Marshal(msg)
		if err != nil {
			return // e.g. a time outside what RFC 3339 can write; not our concern
		}
		msg2, err := alertmanager.Decode(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if alertmanager.DedupKey(msg2) != key {
			t.Fatal("dedup key changed across a round trip")
		}
		out, err := p.Process(context.Background(), store.Event{ID: "f", Payload: body})
		if err != nil {
			t.Fatalf("processor refused what intake accepted: %v", err)
		}
		handedOver, err := p.Process(context.Background(), store.Event{ID: "f", Payload: body, Parsed: msg})
		if err != nil || !reflect.DeepEqual(out, handedOver) {
			t.Fatalf("intake's decode handed over gives %+v (%v), the payload %+v", handedOver, err, out)
		}
		for _, a := range out {
			if a.IncidentID != msg.GroupKey || (a.Kind != incident.AlertTriggered && a.Kind != incident.AlertResolved) || a.Service == "" {
				t.Fatalf("bad alert %+v", a)
			}
		}
	})
}
