package pagerduty

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 20, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"99999999999999", time.Duration(math.MaxInt64), true},
		{"Mon, 20 May 2024 14:00:30 GMT", 30 * time.Second, true},
		{"Mon, 20 May 2024 13:59:00 GMT", 0, true},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoffBounded(t *testing.T) {
	p := RetryPolicy{Base: time.Second, Max: 8 * time.Second}.withDefaults()
	for retry := range 70 {
		d := p.backoff(retry)
		ceil := min(time.Second<<min(retry, 20), 8*time.Second)
		if d < ceil/2 || d > ceil {
			t.Fatalf("retry %d: %v outside [%v, %v]", retry, d, ceil/2, ceil)
		}
	}
}

type recordRT struct{ got []*http.Request }

func (r *recordRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = append(r.got, req)
	return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}, nil
}

func TestTransportAddsFromToRESTWrites(t *testing.T) {
	tests := []struct {
		method, url, from, want string
	}{
		{"PUT", "http://api.test/incidents", "", "bot@x"},
		{"POST", "http://api.test/incidents/Q1/notes", "someone@x", "someone@x"},
		{"GET", "http://api.test/oncalls", "", ""},
		{"POST", "http://events.test/v2/enqueue", "", ""},
		{"POST", "http://api.test.evil/incidents", "", ""},
	}
	for _, tt := range tests {
		rt := &recordRT{}
		tr := &transport{base: rt, policy: RetryPolicy{}.withDefaults(), apiURL: "http://api.test/", from: "bot@x"}
		req, _ := http.NewRequestWithContext(context.Background(), tt.method, tt.url, strings.NewReader("{}"))
		if tt.from != "" {
			req.Header.Set("From", tt.from)
		}
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if got := rt.got[0].Header.Get("From"); got != tt.want {
			t.Errorf("%s %s: From %q, want %q", tt.method, tt.url, got, tt.want)
		}
		if tt.from == "" && req.Header.Get("From") != "" {
			t.Errorf("%s %s: the caller's request was modified", tt.method, tt.url)
		}
	}
}
