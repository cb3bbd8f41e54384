package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/alerts/alertmanager"
	"github.com/backout/backout/internal/alerts/pagerduty"
)

func TestParseDuel(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want int // targets; -1: refused
	}{
		{"pagerduty=http://127.0.0.1:1,alertmanager=http://127.0.0.1:2,bare", 3},
		{"alertmanager-webhook=http://[::1]:9/", 1},
		{"pagerduty=http://10.0.0.1:8080", -1},
		{"pagerduty", -1},
	} {
		got, err := parseDuel(tc.spec)
		if (err != nil) != (tc.want < 0) || (err == nil && len(got) != tc.want) {
			t.Errorf("parseDuel(%q) = %v, %v; want %d targets", tc.spec, got, err, tc.want)
		}
	}
}

// TestDuelSendsWhatEachPeerAccepts runs a short duel against stand-ins that
// check each request as the real peer would: PagerDuty deliveries signed and
// decodable, Alertmanager webhook notifications authorized and decodable
// by Backout's own decoder, alerts for Alertmanager a JSON array with
// labels. A stand-in answers 400 to anything else, which the duel reports
// as non-2xx.
func TestDuelSendsWhatEachPeerAccepts(t *testing.T) {
	check := map[string]func(r *http.Request, body []byte) bool{
		"/webhooks/pagerduty": func(r *http.Request, body []byte) bool {
			_, err := pagerduty.Decode(body)
			return err == nil && pagerduty.Verify(body, r.Header.Get(pagerduty.SignatureHeader), []string{"pd-secret"})
		},
		"/webhooks/alertmanager": func(r *http.Request, body []byte) bool {
			_, err := alertmanager.Decode(body)
			return err == nil && r.Header.Get("Authorization") == "Bearer am-token"
		},
		"/api/v2/alerts": func(_ *http.Request, body []byte) bool {
			var alerts []struct {
				Labels map[string]string `json:"labels"`
			}
			return json.Unmarshal(body, &alerts) == nil && len(alerts) == 1 && alerts[0].Labels["instance"] != ""
		},
	}
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if ok := check[r.URL.Path]; ok == nil || !ok(r, body) {
			http.Error(w, "refused", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer peer.Close()
	o := &options{duel: "pagerduty=" + peer.URL + ",alertmanager-webhook=" + peer.URL + ",alertmanager=" + peer.URL + ",bare",
		inflight: "2", rounds: 1, duration: 200 * time.Millisecond, timeout: 5 * time.Second, pdSecret: "pd-secret", amToken: "am-token"}
	var out bytes.Buffer
	if err := runDuel(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	summary := out.String()[strings.LastIndex(out.String(), "in flight    2  pagerduty"):]
	for _, line := range strings.Split(strings.TrimSpace(summary), "\n") {
		if !strings.Contains(line, "non-2xx 0 ") {
			t.Errorf("a peer refused requests: %s", line)
		}
		if strings.Contains(line, "median         0 2xx/s") {
			t.Errorf("nothing accepted: %s", line)
		}
	}
	if !strings.Contains(summary, "vs alertmanager 1.00") {
		t.Errorf("no ratio to Alertmanager:\n%s", out.String())
	}
}
