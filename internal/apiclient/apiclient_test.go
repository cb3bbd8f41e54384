package apiclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/apiclient"
)

func TestNew(t *testing.T) {
	tests := []struct {
		server, token, want string
	}{
		{"https://backout.example.com", "t", ""},
		{"http://127.0.0.1:8080/prefix/", "t", ""},
		{"backout.example.com", "t", "want the Backout server's base URL"},
		{"ftp://x", "t", "want the Backout server's base URL"},
		{"https://backout.example.com", "", "set BACKOUT_API_TOKEN"},
	}
	for _, tt := range tests {
		_, err := apiclient.New(tt.server, tt.token, nil)
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("New(%q, %q) = %v, want error containing %q", tt.server, tt.token, err, tt.want)
		}
	}
}

// TestCalls: the base URL's path is kept, statuses map to answers or an
// *APIError with the server's message, and a server that does not answer
// ends at the context's deadline instead of hanging a pipeline.
func TestCalls(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/prefix/api/v1/services/open/gate":
			_, _ = w.Write([]byte(`{"open":true}`))
		case "/prefix/api/v1/services/closed/gate":
			w.WriteHeader(http.StatusLocked)
			_, _ = w.Write([]byte(`{"open":false,"reason":"frozen"}`))
		case "/prefix/api/v1/services/slow/gate":
			<-r.Context().Done()
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"Unknown service"}`))
		}
	}))
	defer srv.Close()
	c, err := apiclient.New(srv.URL+"/prefix", "tok", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		service  string
		open     bool
		reason   string
		status   int    // of an *APIError
		errorHas string // other errors
	}{
		{service: "open", open: true},
		{service: "closed", reason: "frozen"},
		{service: "nope", status: 404, errorHas: "server answered 404 Not Found: Unknown service"},
		{service: "slow", errorHas: "context deadline exceeded"},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		g, err := c.Gate(ctx, tt.service)
		cancel()
		var apiErr *apiclient.APIError
		switch {
		case tt.errorHas != "":
			if err == nil || !strings.Contains(err.Error(), tt.errorHas) {
				t.Errorf("%s: err %v, want one containing %q", tt.service, err, tt.errorHas)
			}
			if tt.status != 0 && (!errors.As(err, &apiErr) || apiErr.Status != tt.status) {
				t.Errorf("%s: err %v, want an *APIError with status %d", tt.service, err, tt.status)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.service, err)
		case g.Open != tt.open || g.Reason != tt.reason:
			t.Errorf("%s: gate %+v, want open=%v reason=%q", tt.service, g, tt.open, tt.reason)
		}
	}
}
