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

// TestUnknownQueryParametersAreRefused: a misspelt parameter is a 400 that
// names it, offers the one meant and lists what the route takes, rather
// than being ignored: ?servce=api would list every service's rollbacks,
// which a pipeline reads as that service's.
func TestUnknownQueryParametersAreRefused(t *testing.T) {
	srv, _, st := newAPIStore(t)
	fillRegistry(t, st, 3)
	tests := []struct{ name, method, path, want string }{
		{"registry", "GET", "/api/v1/rollbacks?servce=api", `unknown query parameter \"servce\" (did you mean \"service\"?); this route takes service, outcome, trigger, since, until, limit, cursor, format`},
		{"registry plural", "GET", "/api/v1/rollbacks?outcomes=failed", `unknown query parameter \"outcomes\" (did you mean \"outcome\"?)`},
		{"deploys", "GET", "/api/v1/deploys?service=api&limt=5", `unknown query parameter \"limt\" (did you mean \"limit\"?); this route takes service, since, until, limit, cursor, format`},
		{"readiness", "GET", "/api/v1/services/api/readiness?for-deploy=1.0&risk=high", `unknown query parameter \"for-deploy\" (did you mean \"for_deploy\"?)`},
		{"gate", "GET", "/api/v1/services/api/gate?risk=high", `unknown query parameter \"risk\"; this route takes none`},
		{"one rollback", "GET", "/api/v1/rollbacks/RB-1?format=csv", `unknown query parameter \"format\"; this route takes none`},
		{"record a deploy", "POST", "/api/v1/deploys?dry_run=true", `unknown query parameter \"dry_run\"; this route takes none`},
		{"audit", "GET", "/api/v1/audit/verify?ancor=1:ab", `unknown query parameter \"ancor\" (did you mean \"anchor\"?); this route takes anchor, resume`},
	}
	for _, tc := range tests {
		code, body := call(t, srv, tc.method, tc.path, token, `{"service":"api","version":"9","artifact":"api@sha256:`+strings.Repeat("a", 64)+`"}`)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %s %s: %d %s; want 400 containing %q", tc.name, tc.method, tc.path, code, body, tc.want)
		}
	}
	if code, body := call(t, srv, http.MethodGet, "/api/v1/deploys?service=api", token, ""); code != http.StatusOK || !strings.Contains(body, `"deploys":[]`) {
		t.Errorf("after the refused POST: %d %s; want no deploys", code, body)
	}
}
