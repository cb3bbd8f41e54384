package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestServiceRoutesAnswer404ForAnUnknownService: every
// /api/v1/services/{name}/... route answers an unknown service as missing
// (404), as the gate always did, not as a conflict a client would retry.
func TestServiceRoutesAnswer404ForAnUnknownService(t *testing.T) {
	srv, _ := newAPI(t)
	for _, path := range []string{
		"/api/v1/services/nope/gate",
		"/api/v1/services/nope/readiness",
		"/api/v1/services/nope/readiness?risk=high",
	} {
		code, body := call(t, srv, http.MethodGet, path, token, "")
		if code != http.StatusNotFound || !strings.Contains(body, `Unknown service \"nope\"`) {
			t.Errorf("GET %s: %d %s; want 404 naming the service", path, code, body)
		}
	}
}

// TestBearerSchemeIsCaseInsensitive: the auth scheme is case-insensitive
// (RFC 9110, section 11.1), as the Alertmanager webhook already takes it;
// the token is not.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	srv, _ := newAPI(t)
	for _, tc := range []struct {
		header string
		code   int
	}{
		{"Bearer " + token, http.StatusOK},
		{"bearer " + token, http.StatusOK},
		{"BEARER " + token, http.StatusOK},
		{"Bearer " + strings.ToUpper(token), http.StatusUnauthorized},
		{"Basic " + token, http.StatusUnauthorized},
		{"Bearer", http.StatusUnauthorized},
		{token, http.StatusUnauthorized},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/v1/rollbacks", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", tc.header)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("Authorization %q: %d, want %d", tc.header, resp.StatusCode, tc.code)
		}
	}
}
