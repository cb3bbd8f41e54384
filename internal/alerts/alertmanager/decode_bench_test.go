package alertmanager_test

import (
	"fmt"
	"testing"

	"github.com/backout/backout/internal/alerts/alertmanager"
)

// BenchmarkDecode is intake's decode of one notification: the body
// cmd/loadgen sends (benchBody, one alert), and a real two-alert group
// (indented, every field set).
//
//	go test -run '^$' -bench Decode -benchmem -count 10 ./internal/alerts/alertmanager/
func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"loadgen", fmt.Appendf(nil, benchBody, "bench-42", "bench-42", "2026-12-07T00:44:01.123456789Z")},
		{"fixture", fixture(b, "firing.json")},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := alertmanager.Decode(c.body); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := alertmanager.Decode(c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
