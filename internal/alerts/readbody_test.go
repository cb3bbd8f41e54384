package alerts

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadBody: bodies with and without a declared length, cut short, or
// over the limit, as net/http hands them to a webhook handler.
func TestReadBody(t *testing.T) {
	const limit = 16
	for _, tt := range []struct {
		name       string
		body       string
		declared   int64 // Content-Length; -1: unknown (chunked)
		wantStatus int
		wantBody   string
	}{
		{"declared", `{"a":1}`, 7, http.StatusOK, `{"a":1}`},
		{"unknown length", `{"a":1}`, -1, http.StatusOK, `{"a":1}`},
		{"cut short", `{"a"`, 7, http.StatusBadRequest, ""},
		{"declared over the limit", strings.Repeat("x", 20), 20, http.StatusRequestEntityTooLarge, ""},
		{"unknown length over the limit", strings.Repeat("x", 20), -1, http.StatusRequestEntityTooLarge, ""},
		{"empty", "", 0, http.StatusOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/webhooks/x", io.NopCloser(strings.NewReader(tt.body)))
			r.ContentLength = tt.declared
			body, status, err := ReadBody(httptest.NewRecorder(), r, limit)
			if status != tt.wantStatus {
				t.Fatalf("status %d (%v), want %d", status, err, tt.wantStatus)
			}
			if status == http.StatusOK && string(body) != tt.wantBody {
				t.Fatalf("body %q, want %q", body, tt.wantBody)
			}
		})
	}
}
