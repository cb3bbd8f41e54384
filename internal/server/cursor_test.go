package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
)

// nextCursor asks for path and returns the page's next_cursor.
func nextCursor(t *testing.T, call func(string) (int, string), path string) string {
	t.Helper()
	code, body := call(path)
	var got struct {
		NextCursor string `json:"next_cursor"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != http.StatusOK || got.NextCursor == "" {
		t.Fatalf("GET %s: %d %s; want a page with next_cursor", path, code, body)
	}
	return got.NextCursor
}

// TestCursorsBelongToTheirQuery: a cursor is good only for the listing and
// filters that made it. Used with another listing or other filters, or
// edited (here: cut short), it is a 400 saying so, rather than a page
// of something else a client would take for the rest of its listing.
func TestCursorsBelongToTheirQuery(t *testing.T) {
	srv, _, st := newAPIStore(t)
	fillRegistry(t, st, 12)
	for i, svc := range []string{"api", "api", "api", "web", "web", "web"} {
		if err := st.AddDeploy(t.Context(), &rollback.Deploy{Service: svc, Version: "v" + string(rune('0'+i)), At: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path string) (int, string) { return call(t, srv, http.MethodGet, path, token, "") }
	failed := nextCursor(t, get, "/api/v1/rollbacks?outcome=failed&limit=1")
	deploys := nextCursor(t, get, "/api/v1/deploys?service=api&limit=1")
	raw, err := base64.RawURLEncoding.DecodeString(failed)
	if err != nil {
		t.Fatal(err)
	}
	cut := base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]) // the id's last character gone
	const foreign = "cursor: it belongs to another listing or other filters, or was edited"
	tests := []struct{ name, path string }{
		{"a deploys cursor on the registry", "/api/v1/rollbacks?outcome=failed&cursor=" + deploys},
		{"a registry cursor on the deploys", "/api/v1/deploys?service=api&cursor=" + failed},
		{"another service's deploys", "/api/v1/deploys?service=web&cursor=" + deploys},
		{"other filters", "/api/v1/rollbacks?outcome=aborted&cursor=" + failed},
		{"filters dropped", "/api/v1/rollbacks?cursor=" + failed},
		{"cut short", "/api/v1/rollbacks?outcome=failed&cursor=" + cut},
	}
	for _, tc := range tests {
		code, body := get(tc.path)
		if code != http.StatusBadRequest || !strings.Contains(body, foreign) {
			t.Errorf("%s: GET %s: %d %s; want 400 containing %q", tc.name, tc.path, code, body, foreign)
		}
	}
	// The same query continues, whatever its limit or format.
	for _, path := range []string{
		"/api/v1/rollbacks?outcome=failed&limit=2&cursor=" + url.QueryEscape(failed),
		"/api/v1/rollbacks?limit=5&outcome=failed&format=csv&cursor=" + url.QueryEscape(failed),
		"/api/v1/deploys?service=api&limit=1&cursor=" + url.QueryEscape(deploys),
	} {
		if code, body := get(path); code != http.StatusOK {
			t.Errorf("GET %s: %d %s; want 200", path, code, body)
		}
	}
}
