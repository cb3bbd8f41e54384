package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestDeployRecordRefusesControlCharacters goes through POST
// /api/v1/deploys: a control character in any field is a 400 naming the
// field, and nothing is stored.
func TestDeployRecordRefusesControlCharacters(t *testing.T) {
	srv, _ := newAPI(t)
	cases := []struct {
		name, body, want string
	}{
		{"NUL in the version", `{"service":"api","version":"1.4.0\u0000","artifact":"api@sha256:` + strings.Repeat("a", 64) + `"}`,
			"version contains a control character (U+0000) at character 6"},
		{"escape in the artifact", `{"service":"api","version":"1.4.0","artifact":"api\u001b[2J"}`,
			"artifact contains a control character (U+001B)"},
		{"newline in the commit", `{"service":"api","version":"1.4.0","artifact":"api@sha256:` + strings.Repeat("a", 64) + `","commit":"abc\n"}`,
			"commit contains a control character (U+000A)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(t, srv, http.MethodPost, "/api/v1/deploys", token, c.body)
			if code != http.StatusBadRequest || !strings.Contains(body, c.want) {
				t.Errorf("POST /api/v1/deploys: %d %s, want 400 naming %q", code, body, c.want)
			}
		})
	}
	code, body := call(t, srv, http.MethodGet, "/api/v1/deploys?service=api", token, "")
	if code != http.StatusOK || !strings.Contains(body, `"deploys":[]`) {
		t.Errorf("after refused records: %d %s, want no deploys", code, body)
	}
}
