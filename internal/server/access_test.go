package server_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backout/backout/internal/metrics"
	"github.com/backout/backout/internal/server"
)

// TestAccessLogLevels: an accepted webhook delivery is logged at debug (a
// storm of them would flood the log; they are counted in metrics), a
// refused one and every Slack request at info.
func TestAccessLogLevels(t *testing.T) {
	answer := func(code int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) })
	}
	tests := []struct {
		name  string
		path  string
		code  int
		level string
	}{
		{"accepted PagerDuty delivery", "/webhooks/pagerduty", http.StatusAccepted, "DEBUG"},
		{"accepted Alertmanager delivery", "/webhooks/alertmanager", http.StatusAccepted, "DEBUG"},
		{"refused delivery", "/webhooks/pagerduty", http.StatusUnauthorized, "INFO"},
		{"store unavailable", "/webhooks/alertmanager", http.StatusServiceUnavailable, "INFO"},
		{"a person's click", "/slack/interactions", http.StatusOK, "INFO"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			h := server.New(server.Routes{PagerDuty: answer(tc.code), Alertmanager: answer(tc.code), SlackInteractions: answer(tc.code)}, metrics.New(), log)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("POST", tc.path, strings.NewReader("{}")))
			var line struct{ Level, Msg string }
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if err := json.Unmarshal([]byte(l), &line); err == nil && line.Msg == "http request" {
					break
				}
				line.Msg = ""
			}
			if line.Msg == "" || line.Level != tc.level {
				t.Fatalf("status %d on %s: access line %q at %q, want level %s\n%s", tc.code, tc.path, line.Msg, line.Level, tc.level, buf.String())
			}
		})
	}
}
