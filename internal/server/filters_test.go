package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestListingFilterRefusals: a filter that can match nothing because it is
// misspelt or backwards is a 400 that says so, not an empty page a
// pipeline would read as "no failed rollbacks".
func TestListingFilterRefusals(t *testing.T) {
	srv, _, st := newAPIStore(t)
	fillRegistry(t, st, 3)
	tests := []struct{ name, path, want string }{
		{"unknown outcome", "/api/v1/rollbacks?outcome=faild", `outcome: unknown state \"faild\" (want one or more of proposed, approved, running, validating, succeeded, failed, rejected, expired, stale, aborted, interrupted, comma-separated)`},
		{"unknown outcome beside a known one", "/api/v1/rollbacks?outcome=failed,bogus", `outcome: unknown state \"bogus\"`},
		{"empty outcome in the list", "/api/v1/rollbacks?outcome=failed,,aborted", `outcome: unknown state \"\"`},
		{"unknown outcome in a CSV export", "/api/v1/rollbacks?outcome=faild&format=csv", `outcome: unknown state \"faild\"`},
		{"unknown trigger", "/api/v1/rollbacks?trigger=pagerduty", `trigger: unknown kind \"pagerduty\" (want person, alert, watcher or drill)`},
		{"since after until", "/api/v1/rollbacks?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since (2026-02-01T00:00:00Z) is after until (2026-01-01T00:00:00Z): since starts the range, until ends it"},
		{"durations backwards", "/api/v1/rollbacks?since=1d&until=30d", "since (1d) is after until (30d)"},
		{"deploys since after until", "/api/v1/deploys?service=api&since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since (2026-02-01T00:00:00Z) is after until"},
	}
	for _, tc := range tests {
		code, body := call(t, srv, http.MethodGet, tc.path, token, "")
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: GET %s: %d %s; want 400 containing %q", tc.name, tc.path, code, body, tc.want)
		}
	}
	for _, path := range []string{
		"/api/v1/rollbacks?outcome=failed,%20aborted&trigger=alert",
		"/api/v1/rollbacks?since=30d&until=1d",
		"/api/v1/rollbacks?since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z",
	} {
		if code, body := call(t, srv, http.MethodGet, path, token, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d %s; want 200", path, code, body)
		}
	}
}
