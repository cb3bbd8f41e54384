package http

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	stdhttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/yamlx"
)

func node(t *testing.T, src string) yamlx.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return yamlx.Node{File: "r.yaml", Node: doc.Content[0]}
}

func TestValidate(t *testing.T) {
	tests := []struct{ src, want string }{
		{`url: https://x.internal/healthz`, ""},
		{`{method: post, url: "https://q/{{ .Service.Name }}", json: {a: 1}, expect_status: 204, expect_json: {path: $.status, equals: ok}, tls: {ca_file: /ca.pem}}`, ""},
		{`{url: "{{ .Params.url }}", method: "{{ .Params.m }}", expect_status: ["{{ .Params.code }}"]}`, ""},
		{`method: GET`, `r.yaml:1:1: missing required field "url"`},
		{`url: ftp://x`, `r.yaml:1:1: url: "ftp://x": want an http:// or https:// URL`},
		{`url: /relative`, `r.yaml:1:1: url: "/relative": want an http:// or https:// URL`},
		{"url: http://x\nmethod: FETCH", `r.yaml:2:1: method: unknown method "FETCH" (want GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)`},
		{"url: http://x\nexpect_status: [200, 999, abc]", "r.yaml:2:22: expect_status[1]: expected an HTTP status code, got \"999\"\n" +
			`r.yaml:2:27: expect_status[2]: expected an HTTP status code, got "abc"`},
		{"url: http://x\nexpect_status: {a: 1}", `r.yaml:2:16: expect_status: expected a status code or a list of them`},
		{"url: http://x\njson: {a: 1}\nbody: raw", `r.yaml:3:1: body: set either json or body, not both`},
		{"url: http://x\nexpect_json: {path: status}", `r.yaml:2:14: expect_json: missing required field "equals"`},
		{"url: http://x\nexpect_json: {equals: ok}", `r.yaml:2:14: expect_json: missing required field "path"`},
		{"url: http://x\nexpect_json:\n  path: a..b\n  equals: x", `r.yaml:3:3: expect_json.path: path "a..b": empty key`},
		{"url: http://x\nheaders: {\"Bad Header\": v}", `r.yaml:2:11: headers: invalid header name "Bad Header"`},
		{"url: http://x\nsecret_headers: {Authorization: not-an-env}", `r.yaml:2:18: secret_headers.Authorization: "not-an-env" is not an environment variable name`},
		{"url: http://x\nheaders: {authorization: a}\nsecret_headers: {Authorization: TOKEN}", `r.yaml:3:18: secret_headers.Authorization: also set in headers`},
		// The step's timeout is the only one (runbook lint says so first).
		{"url: http://x\ntimeout: 5m", `r.yaml:2:1: unknown key "timeout"`},
		{"url: http://x\ntls: {verify: false}", `r.yaml:2:7: unknown key "verify" in tls`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			err := New().Validate(node(t, tt.src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// recorder is an httptest peer that answers with a fixed status and body
// and remembers the last request.
type recorder struct {
	mu     sync.Mutex
	status int
	body   string
	method string
	header stdhttp.Header
	got    string
}

func (r *recorder) ServeHTTP(w stdhttp.ResponseWriter, req *stdhttp.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.method, r.header, r.got = req.Method, req.Header.Clone(), string(b)
	w.WriteHeader(r.status)
	_, _ = io.WriteString(w, r.body)
}

func request(t *testing.T, src string) exec.Request {
	env := map[string]string{"API_TOKEN": "Bearer tok-123456"}
	return exec.Request{With: node(t, src), Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
}

func TestRunSendsRequest(t *testing.T) {
	rec := &recorder{status: 200, body: `{"status":"ok"}`}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	src := `{method: POST, url: "` + srv.URL + `/pause/web", headers: {X-Team: sre}, secret_headers: {Authorization: API_TOKEN}, json: {reason: deploy, n: 2}}`
	res, err := New().Run(context.Background(), request(t, src))
	if err != nil {
		t.Fatal(err)
	}
	if rec.method != "POST" || rec.got != `{"n":2,"reason":"deploy"}` || rec.header.Get("Authorization") != "Bearer tok-123456" ||
		rec.header.Get("Content-Type") != "application/json" || rec.header.Get("X-Team") != "sre" {
		t.Fatalf("server saw %s %q %v", rec.method, rec.got, rec.header)
	}
	if res.Output != "HTTP 200 OK\n{\"status\":\"ok\"}" || res.Detail["status"] != "200" {
		t.Fatalf("result %+v", res)
	}
}

func TestRunStatusAndJSONExpectations(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		with      string
		wantErr   string
		retryable bool
	}{
		{"2xx by default", 204, "", ``, "", false},
		{"404 not retryable", 404, "", ``, "GET {url}: unexpected status 404 Not Found (want 2xx)", false},
		{"503 retryable", 503, "", ``, "GET {url}: unexpected status 503 Service Unavailable (want 2xx)", true},
		{"429 retryable", 429, "", ``, "GET {url}: unexpected status 429 Too Many Requests (want 2xx)", true},
		{"explicit list", 202, "", `, expect_status: [200, 201]`, "GET {url}: unexpected status 202 Accepted (want 200 or 201)", false},
		{"explicit 503 accepted", 503, "", `, expect_status: 503`, "", false},
		{"json equals", 200, `{"status":{"phase":"Ready"}}`, `, expect_json: {path: status.phase, equals: Ready}`, "", false},
		{"json number", 200, `{"items":[{"n":1.0}]}`, `, expect_json: {path: "$.items[0].n", equals: 1}`, "", false},
		{"json mismatch", 200, `{"status":"degraded"}`, `, expect_json: {path: $.status, equals: ok}`, `expect_json: $.status is "degraded", want "ok"`, false},
		{"json missing", 200, `{"other":1}`, `, expect_json: {path: $.status, equals: ok}`, `expect_json: $.status not found in the response`, false},
		{"not json", 200, `<html>`, `, expect_json: {path: $.status, equals: ok}`, `expect_json: response is not JSON: invalid character '<' looking for beginning of value`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&recorder{status: tt.status, body: tt.body})
			defer srv.Close()
			_, err := New().Run(context.Background(), request(t, `{url: "`+srv.URL+`"`+tt.with+`}`))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if want := strings.ReplaceAll(tt.wantErr, "{url}", srv.URL); got != want {
				t.Fatalf("err %q, want %q", got, want)
			}
			if exec.IsRetryable(err) != tt.retryable {
				t.Fatalf("retryable = %v", exec.IsRetryable(err))
			}
		})
	}
}

func TestRunConnectionErrorRetryable(t *testing.T) {
	srv := httptest.NewServer(&recorder{status: 200})
	url := srv.URL
	srv.Close()
	_, err := New().Run(context.Background(), request(t, `url: "`+url+`"`))
	if err == nil || !exec.IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = New().Run(ctx, request(t, `url: "`+url+`"`))
	if !errors.Is(err, context.Canceled) || exec.IsRetryable(err) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

// TestRunKeepsToTheStepTimeout: a peer that never answers is given up on
// when Request.Timeout runs out, even with no deadline on the context;
// timing out is worth a retry.
func TestRunKeepsToTheStepTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(stdhttp.HandlerFunc(func(w stdhttp.ResponseWriter, r *stdhttp.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	req := request(t, `url: "`+srv.URL+`"`)
	req.Timeout = 100 * time.Millisecond
	start := time.Now()
	_, err := New().Run(context.Background(), req)
	if !errors.Is(err, context.DeadlineExceeded) || !exec.IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s", took)
	}
}

func TestSecretsRedacted(t *testing.T) {
	// The server echoes the token back: the output must not show it.
	srv := httptest.NewServer(stdhttp.HandlerFunc(func(w stdhttp.ResponseWriter, r *stdhttp.Request) {
		w.WriteHeader(500)
		_, _ = io.WriteString(w, "denied for "+r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	src := `{method: POST, url: "` + srv.URL + `/x", secret_headers: {Authorization: API_TOKEN}, body: hello}`
	req := request(t, src)
	res, err := New().Run(context.Background(), req)
	if strings.Contains(res.Output+err.Error(), "tok-123456") {
		t.Fatalf("secret leaked: %q %v", res.Output, err)
	}
	if res.Output != "HTTP 500 Internal Server Error\ndenied for [redacted]" {
		t.Fatalf("output %q", res.Output)
	}
	preview, err := New().Preview(context.Background(), req)
	if want := "POST " + srv.URL + "/x\nAuthorization: [redacted]\n\nhello"; err != nil || preview != want {
		t.Fatalf("preview %q, want %q (%v)", preview, want, err)
	}
}

func TestMissingSecretEnv(t *testing.T) {
	_, err := New().Run(context.Background(), request(t, `{url: "http://127.0.0.1:1", secret_headers: {Authorization: NOT_SET}}`))
	if err == nil || err.Error() != `secret_headers.Authorization: environment variable "NOT_SET" is not set` {
		t.Fatalf("err = %v", err)
	}
}

func TestDryRunSendsNothing(t *testing.T) {
	rec := &recorder{status: 200}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	req := request(t, `{method: DELETE, url: "`+srv.URL+`", headers: {X-A: b}, json: [1, 2]}`)
	req.DryRun = true
	res, err := New().Run(context.Background(), req)
	if err != nil || res.Output != "DELETE "+srv.URL+"\nContent-Type: application/json\nX-A: b\n\n[1,2]" {
		t.Fatalf("%+v %v", res, err)
	}
	if rec.method != "" {
		t.Fatal("dry run sent a request")
	}
}

// TestLateRequestIsNotSent: once the request's StartBy has passed (the bot
// was frozen past its lease's renew deadline), nothing is sent.
func TestLateRequestIsNotSent(t *testing.T) {
	cases := []struct {
		name    string
		startBy time.Duration // from now; 0: none
		sent    bool
	}{
		{"no deadline", 0, true},
		{"in time", time.Minute, true},
		{"passed", -time.Millisecond, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{status: 200}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			req := request(t, `{method: POST, url: "`+srv.URL+`"}`)
			if tc.startBy != 0 {
				req.StartBy = time.Now().Add(tc.startBy)
			}
			_, err := New().Run(context.Background(), req)
			rec.mu.Lock()
			sent := rec.method != ""
			rec.mu.Unlock()
			if sent != tc.sent {
				t.Fatalf("sent: %v, want %v (err %v)", sent, tc.sent, err)
			}
			if !tc.sent && !errors.Is(err, exec.ErrStartBy) {
				t.Fatalf("err %v, want exec.ErrStartBy", err)
			}
		})
	}
}

func TestOutputCapped(t *testing.T) {
	srv := httptest.NewServer(&recorder{status: 200, body: strings.Repeat("a", 50) + strings.Repeat("b", 50)})
	defer srv.Close()
	req := request(t, `url: "`+srv.URL+`"`)
	req.OutputLimit = 50
	res, err := New().Run(context.Background(), req)
	if err != nil || res.Output != "HTTP 200 OK\n"+strings.Repeat("a", 50)+"\n[... 50 bytes truncated ...]" {
		t.Fatalf("%q %v", res.Output, err)
	}
}

func TestTLSCustomCA(t *testing.T) {
	srv := httptest.NewTLSServer(&recorder{status: 200})
	defer srv.Close()
	_, err := New().Run(context.Background(), request(t, `url: "`+srv.URL+`"`))
	if err == nil || exec.IsRetryable(err) {
		t.Fatalf("untrusted certificate: err = %v (must fail, not retry)", err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New().Run(context.Background(), request(t, `{url: "`+srv.URL+`", tls: {ca_file: "`+caFile+`"}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := New().Run(context.Background(), request(t, `{url: "`+srv.URL+`", tls: {insecure_skip_verify: true}}`)); err != nil {
		t.Fatal(err)
	}
}
