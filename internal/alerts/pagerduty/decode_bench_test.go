package pagerduty_test

import (
	"fmt"
	"testing"

	"github.com/backout/backout/internal/alerts/pagerduty"
)

// loadgenBody is the delivery cmd/loadgen sends (its pdTemplate, compact),
// with fixed ids: the body every duel and CPU profile measured.
var loadgenBody = fmt.Appendf(nil, `{"event":{"id":"%s","event_type":"incident.triggered","resource_type":"incident",`+
	`"occurred_at":"%s","agent":{"id":"PLOADGEN","type":"service_reference","summary":"loadgen"},`+
	`"client":{"name":"loadgen"},"data":{"id":"%s","type":"incident",`+
	`"self":"https://api.pagerduty.com/incidents/%s","number":1,"status":"triggered",`+
	`"title":"loadgen: synthetic incident","service":{"id":"PLOADGEN","type":"service_reference","summary":"Load generator"},`+
	`"assignees":[],"escalation_policy":{"id":"PLOADEP","type":"escalation_policy_reference"},"teams":[],`+
	`"priority":null,"urgency":"high","resolve_reason":null}}}`,
	"LGr1x00000042", "2026-12-07T00:44:01.123456789Z", "Qr1x00000042", "Qr1x00000042")

// BenchmarkDecode is intake's decode of one delivery: loadgen's compact
// body, and PagerDuty's documented example (indented, every field set).
//
//	go test -run '^$' -bench Decode -benchmem -count 10 ./internal/alerts/pagerduty/
func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"loadgen", loadgenBody},
		{"fixture", fixture(b, "incident_triggered.json")},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := pagerduty.Decode(c.body); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := pagerduty.Decode(c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
