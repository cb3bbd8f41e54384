package alertmanager_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/alerts/alertmanager"
	"github.com/backout/backout/internal/alerts/alertstest"
	"github.com/backout/backout/internal/store"
)

const (
	token = "s3cr3t-t0ken"
	basic = "alertmanager:p4ss:w0rd" // the password may hold a colon
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func send(h http.Handler, body []byte, auth func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/alertmanager", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != nil {
		auth(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func bearer(v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", v) }
}

func basicAuth(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func TestAuth(t *testing.T) {
	body := fixture(t, "firing.json")
	tests := []struct {
		name         string
		token, basic string
		auth         func(*http.Request)
		want         int
	}{
		{"bearer", token, "", bearer("Bearer " + token), http.StatusAccepted},
		{"bearer, scheme in lower case", token, basic, bearer("bearer " + token), http.StatusAccepted},
		{"basic", "", basic, basicAuth("alertmanager", "p4ss:w0rd"), http.StatusAccepted},
		{"basic when both are set", token, basic, basicAuth("alertmanager", "p4ss:w0rd"), http.StatusAccepted},
		{"wrong token", token, basic, bearer("Bearer " + token + "x"), http.StatusUnauthorized},
		{"token prefix", token, "", bearer("Bearer " + token[:4]), http.StatusUnauthorized},
		{"wrong password", token, basic, basicAuth("alertmanager", "nope"), http.StatusUnauthorized},
		{"basic when only a token is set", token, "", basicAuth("alertmanager", "p4ss:w0rd"), http.StatusUnauthorized},
		{"bearer when only basic is set", "", basic, bearer("Bearer " + token), http.StatusUnauthorized},
		{"empty bearer when only basic is set", "", basic, bearer("Bearer "), http.StatusUnauthorized},
		{"token as a bare header", token, "", bearer(token), http.StatusUnauthorized},
		{"missing", token, basic, nil, http.StatusUnauthorized},
		{"nothing configured", "", "", bearer("Bearer "), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, m := alertstest.NewStore(nil), &alertstest.Metrics{}
			h := alertmanager.NewHandler(alertmanager.HandlerConfig{Inbox: st, BearerToken: tt.token, BasicAuth: tt.basic, Metrics: m})
			rec := send(h, body, tt.auth)
			if rec.Code != tt.want {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tt.want)
			}
			stored := 0
			if tt.want == http.StatusAccepted {
				stored = 1
			} else if m.Get("rejected/alertmanager/unauthorized") != 1 {
				t.Error("rejection not counted")
			}
			if st.Pending() != stored {
				t.Errorf("%d stored, want %d", st.Pending(), stored)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	firing := string(fixture(t, "firing.json"))
	big := []byte(strings.Replace(firing, `"receiver": "backout"`, `"receiver": "`+strings.Repeat("x", alerts.MaxBody)+`"`, 1))
	tests := []struct {
		name     string
		body     []byte
		storeErr error
		want     int
		msg      string
	}{
		{"too large", big, nil, http.StatusRequestEntityTooLarge, "too large"},
		{"malformed", []byte(`{"version":`), nil, http.StatusBadRequest, "malformed Alertmanager webhook JSON"},
		{"version 3", []byte(strings.Replace(firing, `"version": "4"`, `"version": "3"`, 1)), nil, http.StatusBadRequest, `version "3"`},
		{"no group key", []byte(strings.Replace(firing, `"groupKey"`, `"groupKeyX"`, 1)), nil, http.StatusBadRequest, "groupKey is missing"},
		{"bad status", []byte(strings.Replace(firing, `"status": "firing",
  "alerts"`, `"status": "pending",
  "alerts"`, 1)), nil, http.StatusBadRequest, `"pending"`},
		{"bad alert status", []byte(strings.Replace(firing, `"status": "firing",
      "labels"`, `"status": "maybe",
      "labels"`, 1)), nil, http.StatusBadRequest, "alerts[0]"},
		{"no alerts", []byte(`{"version":"4","groupKey":"g","status":"firing","alerts":[]}`), nil, http.StatusBadRequest, "no alerts"},
		{"store unavailable", []byte(firing), store.ErrUnavailable, http.StatusServiceUnavailable, "retry later"},
		{"store error", []byte(firing), errors.New("boom"), http.StatusServiceUnavailable, "retry later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := alertstest.NewStore(nil)
			st.Err = tt.storeErr
			h := alertmanager.NewHandler(alertmanager.HandlerConfig{Inbox: st, BearerToken: token})
			rec := send(h, tt.body, bearer("Bearer "+token))
			if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.msg) {
				t.Fatalf("got %d %q, want %d containing %q", rec.Code, rec.Body, tt.want, tt.msg)
			}
		})
	}
}

func TestDeduplication(t *testing.T) {
	st, m := alertstest.NewStore(nil), &alertstest.Metrics{}
	h := alertmanager.NewHandler(alertmanager.HandlerConfig{Inbox: st, BearerToken: token, Metrics: m})
	firing := fixture(t, "firing.json")
	// The same group re-sent by a cluster peer: other formatting, same content.
	peer := bytes.ReplaceAll(firing, []byte("\n"), nil)
	refired := bytes.Replace(firing, []byte("2024-05-20T14:00:07.396Z"), []byte("2024-05-20T15:30:00Z"), 1)
	steps := []struct {
		name   string
		body   []byte
		stored int
	}{
		{"first firing", firing, 1},
		{"repeat", firing, 1},
		{"peer repeat", peer, 1},
		{"one alert resolved", fixture(t, "partly_resolved.json"), 2},
		{"all resolved", fixture(t, "resolved.json"), 3},
		{"fires again", refired, 4},
	}
	for _, s := range steps {
		if rec := send(h, s.body, bearer("Bearer "+token)); rec.Code != http.StatusAccepted {
			t.Fatalf("%s: %d", s.name, rec.Code)
		}
		if st.Pending() != s.stored {
			t.Fatalf("%s: %d stored, want %d", s.name, st.Pending(), s.stored)
		}
	}
	if m.Get("duplicate/alertmanager") != 2 {
		t.Errorf("duplicates %d, want 2", m.Get("duplicate/alertmanager"))
	}
	evs, _ := st.PendingEvents(context.Background(), 1)
	if evs[0].Source != "alertmanager" || evs[0].Type != "firing" || !strings.HasPrefix(evs[0].ID, "am-") {
		t.Errorf("stored %+v", evs[0])
	}
}

func TestMissingFingerprint(t *testing.T) {
	a := alertmanager.Message{Version: "4", GroupKey: "g", Status: "firing",
		Alerts: []alertmanager.Alert{{Status: "firing", Labels: map[string]string{"a": "1"}}}}
	b := a
	b.Alerts = []alertmanager.Alert{{Status: "firing", Labels: map[string]string{"a": "2"}}}
	if alertmanager.DedupKey(&a) == alertmanager.DedupKey(&b) {
		t.Fatal("alerts with different labels and no fingerprint share a key")
	}
}

func TestUnconfiguredLogsOnce(t *testing.T) {
	var logs bytes.Buffer
	h := alertmanager.NewHandler(alertmanager.HandlerConfig{Inbox: alertstest.NewStore(nil), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 3 {
		if rec := send(h, fixture(t, "firing.json"), bearer("Bearer x")); rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if n := strings.Count(logs.String(), "is set; refusing every notification"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logs.String())
	}
}
