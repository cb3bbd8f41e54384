package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestDeployRecordRefusesMalformedBodies goes through POST /api/v1/deploys
// with bodies a careless client or a broken proxy sends: each is a 400
// saying what is wrong, and nothing is stored. encoding/json alone would
// take the first object of a concatenation and turn invalid UTF-8 into
// U+FFFD, recording a version CI never sent.
func TestDeployRecordRefusesMalformedBodies(t *testing.T) {
	srv, _ := newAPI(t)
	pinned := `"artifact":"api@sha256:` + strings.Repeat("a", 64) + `"`
	cases := []struct {
		name, body, want string
	}{
		{"data after the object", `{"service":"api","version":"1.4.0",` + pinned + `}garbage`, "data after the deploy object"},
		{"two objects", `{"service":"api","version":"1.4.0",` + pinned + `}{"service":"api"}`, "data after the deploy object"},
		{"invalid UTF-8 in the version", `{"service":"api","version":"1.4.` + "\xff\xfe" + `",` + pinned + `}`, "not valid UTF-8"},
		{"invalid UTF-8 in a key", `{"service":"api","version":"1.4.0",` + pinned + `,"commit` + "\xc3" + `":"x"}`, "not valid UTF-8"},
		{"blank version", `{"service":"api","version":"  ",` + pinned + `}`, "missing required field(s): version"},
		{"blank artifact", `{"service":"api","version":"1.4.0","artifact":" "}`, "missing required field(s): artifact"},
		{"space in the version", `{"service":"api","version":"1.4.0 <!channel>",` + pinned + `}`, "version: one word without spaces"},
		{"space in the artifact", `{"service":"api","version":"1.4.0","artifact":"api@sha256:x --all"}`, "artifact: one word without spaces"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(t, srv, http.MethodPost, "/api/v1/deploys", token, c.body)
			if code != http.StatusBadRequest || !strings.Contains(body, c.want) {
				t.Errorf("POST /api/v1/deploys: %d %s, want 400 containing %q", code, body, c.want)
			}
		})
	}
	code, body := call(t, srv, http.MethodGet, "/api/v1/deploys?service=api", token, "")
	if code != http.StatusOK || !strings.Contains(body, `"deploys":[]`) {
		t.Errorf("after refused records: %d %s, want no deploys", code, body)
	}
	// Whitespace around the JSON is not data after it.
	if code, body := call(t, srv, http.MethodPost, "/api/v1/deploys", token, "\n{\"service\":\"api\",\"version\":\"1.4.0\","+pinned+"}\n\n"); code != http.StatusCreated {
		t.Errorf("a body with a trailing newline: %d %s, want 201", code, body)
	}
}
