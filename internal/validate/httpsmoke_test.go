package validate

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/check"
)

// smokeService is the service under test: a health check, an API behind a
// bearer token, a redirect and a POST endpoint.
func smokeService(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok: all good") })
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"db":{"status":"ok","replicas":[3]},"version":"1.2.3"}`)
	})
	mux.HandleFunc("GET /old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/healthz", http.StatusFound) })
	mux.HandleFunc("POST /ping", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Probe") != "smoke" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// steppingNow is a fake clock for latency: each call is step later.
func steppingNow(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Unix(0, 0)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}

func TestHTTPSmokeMeasure(t *testing.T) {
	srv := smokeService(t)
	u := srv.URL
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	env := mapEnv(map[string]string{"SMOKE_TOKEN": "Bearer s3cret"})
	cases := []struct {
		name, with string
		want       check.Outcome
		wantValue  string
		wantMsg    string
		wantErr    string
	}{
		{name: "single URL", with: `{url: "` + u + `/healthz", expect_status: 200}`,
			want: check.Successful, wantValue: "1/1 URLs passed", wantMsg: "GET " + u + "/healthz answered as expected"},
		{name: "auth enforced and API healthy", with: `{urls: [
				{url: "` + u + `/api/status", expect_status: 401},
				{url: "` + u + `/api/status", secret_headers: {Authorization: SMOKE_TOKEN}, json_path: $.db.status, json_equals: ok, body_contains: "1.2.3", latency_budget: 10s},
				{url: "` + u + `/old", expect_status: 302},
				{url: "` + u + `/ping", method: post, headers: {X-Probe: smoke}, expect_status: 202}]}`,
			want: check.Successful, wantValue: "4/4 URLs passed", wantMsg: "all 4 URLs answered as expected"},
		{name: "wrong status", with: `{url: "` + u + `/healthz", expect_status: 503}`,
			want: check.Failed, wantValue: "0/1 URLs passed", wantMsg: "GET " + u + "/healthz: status 200, want 503"},
		{name: "auth missing", with: `{url: "` + u + `/api/status"}`,
			want: check.Failed, wantValue: "0/1 URLs passed", wantMsg: "GET " + u + "/api/status: status 401, want 200"},
		{name: "body", with: `{url: "` + u + `/healthz", body_contains: degraded}`,
			want: check.Failed, wantValue: "0/1 URLs passed", wantMsg: "GET " + u + `/healthz: body does not contain "degraded"`},
		{name: "json value", with: `{url: "` + u + `/api/status", secret_headers: {Authorization: SMOKE_TOKEN}, json_path: "db.replicas[0]", json_equals: "2"}`,
			want: check.Failed, wantValue: "0/1 URLs passed", wantMsg: "GET " + u + `/api/status: db.replicas[0] is "3", want "2"`},
		{name: "json path missing", with: `{url: "` + u + `/api/status", secret_headers: {Authorization: SMOKE_TOKEN}, json_path: db.leader}`,
			want: check.Failed, wantValue: "0/1 URLs passed", wantMsg: "GET " + u + `/api/status: db.leader not found in the response`},
		{name: "not json", with: `{url: "` + u + `/healthz", json_path: status}`,
			want: check.Failed, wantValue: "0/1 URLs passed", wantMsg: "GET " + u + `/healthz: response is not JSON: invalid character 'o' looking for beginning of value`},
		{name: "over latency budget", with: `{url: "` + u + `/healthz", latency_budget: 1s}`,
			want: check.Failed, wantValue: "0/1 URLs passed", wantMsg: "GET " + u + `/healthz: took 5s, budget 1s`},
		{name: "one of two fails", with: `{urls: [{url: "` + u + `/healthz"}, {url: "` + u + `/nope"}]}`,
			want: check.Failed, wantValue: "1/2 URLs passed", wantMsg: "GET " + u + "/nope: status 404, want 200"},
		{name: "unreachable", with: `{url: "` + closed.URL + `/healthz"}`,
			want: check.Failed, wantValue: "0/1 URLs passed", wantMsg: "GET " + closed.URL + "/healthz: dial tcp " + strings.TrimPrefix(closed.URL, "http://") + ": connect: connection refused"},
		{name: "secret unset", with: `{url: "` + u + `/api/status", secret_headers: {Authorization: NOT_SET}}`,
			wantErr: "http-smoke: secret header Authorization: environment variable NOT_SET is not set"},
		{name: "bad with", with: `{url: "` + u + `", expect_status: "{{ .Params.x }}"}`,
			wantErr: `runbook.yaml:1:` + fmt.Sprint(len(u)+11) + `: expect_status: expected an integer, got "{{ .Params.x }}"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewHTTPSmoke(nil)
			c.now = steppingNow(5 * time.Second)
			m, err := c.Measure(t.Context(), check.Request{With: with(t, tc.with), Env: env})
			if errString(err) != tc.wantErr || m.Outcome != tc.want || m.Value != tc.wantValue || m.Message != tc.wantMsg {
				t.Fatalf("Measure =\n %+v, %q\nwant %s %q %q, error %q", m, errString(err), tc.want, tc.wantValue, tc.wantMsg, tc.wantErr)
			}
			if strings.Contains(m.Message, "s3cret") {
				t.Fatalf("message leaks the secret: %s", m.Message)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	if got := redactURL("https://user:pw@host/x"); got != "https://user:xxxxx@host/x" {
		t.Fatalf("redactURL = %q", got)
	}
}
