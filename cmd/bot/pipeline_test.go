package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/exec/noop"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/metrics"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/server"
	"github.com/backout/backout/internal/store"
	boltstore "github.com/backout/backout/internal/store/bolt"
)

const apiToken = "ci-token-5c1d"

// fakeAPI answers every request with status and body after checking that it
// is the one expected: method, path, bearer token and, for a body, its JSON.
func fakeAPI(t *testing.T, method, path, wantBody string, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method || r.URL.EscapedPath() != path {
			t.Errorf("request %s %s, want %s %s", r.Method, r.URL.EscapedPath(), method, path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+apiToken {
			t.Errorf("Authorization %q, want the bearer token from BACKOUT_API_TOKEN", got)
		}
		got, _ := io.ReadAll(r.Body)
		if wantBody != "" {
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if g, w := mustCanon(t, string(got)), mustCanon(t, wantBody); g != w {
				t.Errorf("body %s, want %s", g, w)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// mustCanon re-encodes JSON so key order and spacing do not matter.
func mustCanon(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Errorf("not JSON: %q: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDeployRecord(t *testing.T) {
	const created = `{"deploy":{"id":"D-7","service":"checkout","version":"2.4.1","artifact":"reg/checkout@sha256:ab","environment":"production"}}`
	tests := []struct {
		name     string
		args     []string
		wantBody string // "" when no request must be made
		status   int
		answer   string
		code     int
		out      string // substring of stdout+stderr
	}{
		{"required only", []string{"--service", "checkout", "--version", "2.4.1", "--artifact", "reg/checkout@sha256:ab"},
			`{"service":"checkout","version":"2.4.1","artifact":"reg/checkout@sha256:ab"}`, 201, created, exitOK, "recorded D-7: checkout 2.4.1"},
		{"every field", []string{"--service", "checkout", "--version", "2.4.1", "--artifact", "reg/checkout@sha256:ab",
			"--config-version", "c9", "--environment", "staging", "--commit", "abc123", "--deployed-by", "ci", "--url", "https://ci/run/1", "--risk", "high"},
			`{"service":"checkout","version":"2.4.1","artifact":"reg/checkout@sha256:ab","config_version":"c9","environment":"staging","commit":"abc123","deployed_by":"ci","url":"https://ci/run/1","risk":"high"}`,
			201, created, exitOK, "recorded D-7"},
		{"mutable warning", []string{"--service", "checkout", "--version", "2", "--artifact", "reg/checkout:latest"},
			`{"service":"checkout","version":"2","artifact":"reg/checkout:latest"}`, 201,
			`{"deploy":{"id":"D-8","service":"checkout","version":"2","artifact":"reg/checkout:latest"},"warning":"artifact is a mutable reference"}`, exitOK, "warning: artifact is a mutable reference"},
		{"server refuses", []string{"--service", "nope", "--version", "1", "--artifact", "x"},
			`{"service":"nope","version":"1","artifact":"x"}`, 400, `{"error":"Unknown service \"nope\""}`, exitRuntime, `server answered 400 Bad Request: Unknown service "nope"`},
		{"server fails without JSON", []string{"--service", "checkout", "--version", "1", "--artifact", "x"},
			`{"service":"checkout","version":"1","artifact":"x"}`, 502, "<html>bad gateway</html>", exitRuntime, "502 Bad Gateway: <html>bad gateway</html>"},
		{"missing required", []string{"--service", "checkout"}, "", 0, "", exitInvalid, "missing --version, --artifact"},
		{"no subcommand", nil, "", 0, "", exitInvalid, "bot deploy record --service"},
		{"stray argument", []string{"--service", "a", "--version", "1", "--artifact", "x", "extra"}, "", 0, "", exitInvalid, "flags only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeAPI(t, "POST", "/api/v1/deploys", tt.wantBody, tt.status, tt.answer)
			if tt.wantBody == "" {
				srv.Config.Handler = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("no request was expected") })
			}
			args := append([]string{"deploy"}, tt.args...)
			if tt.name != "no subcommand" {
				args = append([]string{"deploy", "record"}, tt.args...)
			}
			code, out, errOut := runBot(t, env("BACKOUT_URL", srv.URL, "BACKOUT_API_TOKEN", apiToken), args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.out) {
				t.Errorf("exit %d, output %q; want exit %d containing %q", code, out+errOut, tt.code, tt.out)
			}
			if strings.Contains(out+errOut, apiToken) {
				t.Errorf("the token appears in the output: %q", out+errOut)
			}
		})
	}
}

func TestGate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		path    string
		status  int
		answer  string
		code    int
		out     string
		request bool
	}{
		{"open", []string{"checkout"}, "/api/v1/services/checkout/gate", 200, `{"open":true}`, exitOK, "gate open for checkout", true},
		{"closed", []string{"checkout"}, "/api/v1/services/checkout/gate", 423, `{"open":false,"reason":"RB-3 is rolling back checkout"}`, exitGateClosed, "gate closed for checkout: RB-3 is rolling back checkout", true},
		{"flags after the service", []string{"web", "--timeout", "5s"}, "/api/v1/services/web/gate", 200, `{"open":true}`, exitOK, "gate open for web", true},
		{"name is escaped", []string{"a b"}, "/api/v1/services/a%20b/gate", 404, `{"error":"Unknown service \"a b\""}`, exitRuntime, `404 Not Found: Unknown service "a b"`, true},
		{"wrong token", []string{"checkout"}, "/api/v1/services/checkout/gate", 401, `{"error":"missing or wrong bearer token"}`, exitRuntime, "401 Unauthorized: missing or wrong bearer token", true},
		{"no service", nil, "", 0, "", exitInvalid, "bot gate SERVICE", false},
		{"two services", []string{"a", "b"}, "", 0, "", exitInvalid, "bot gate SERVICE", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeAPI(t, "GET", tt.path, "", tt.status, tt.answer)
			if !tt.request {
				srv.Config.Handler = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("no request was expected") })
			}
			args := append([]string{"gate"}, tt.args...)
			code, out, errOut := runBot(t, env("BACKOUT_URL", srv.URL, "BACKOUT_API_TOKEN", apiToken), args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.out) {
				t.Errorf("exit %d, output %q; want exit %d containing %q", code, out+errOut, tt.code, tt.out)
			}
		})
	}
}

// TestAPIClientSetup: the server and token come from the environment or
// --server, never a token flag; a missing one is a usage error.
func TestAPIClientSetup(t *testing.T) {
	srv := fakeAPI(t, "GET", "/api/v1/services/checkout/gate", "", 200, `{"open":true}`)
	tests := []struct {
		name   string
		getenv func(string) string
		args   []string
		code   int
		out    string
	}{
		{"--server beats BACKOUT_URL", env("BACKOUT_URL", "http://127.0.0.1:1", "BACKOUT_API_TOKEN", apiToken), []string{"gate", "--server", srv.URL, "checkout"}, exitOK, "gate open"},
		{"no server", env("BACKOUT_API_TOKEN", apiToken), []string{"gate", "checkout"}, exitInvalid, "give --server URL or set BACKOUT_URL"},
		{"no token", env("BACKOUT_URL", srv.URL), []string{"gate", "checkout"}, exitInvalid, "set BACKOUT_API_TOKEN"},
		{"bad server URL", env("BACKOUT_API_TOKEN", apiToken), []string{"gate", "--server", "backout.example.com", "checkout"}, exitInvalid, "want the Backout server's base URL"},
		{"no token flag", env("BACKOUT_URL", srv.URL), []string{"gate", "--token", "x", "checkout"}, exitInvalid, "flag provided but not defined: -token"},
		{"unreachable", env("BACKOUT_URL", "http://127.0.0.1:1", "BACKOUT_API_TOKEN", apiToken), []string{"gate", "checkout"}, exitRuntime, "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runBot(t, tt.getenv, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.out) {
				t.Errorf("exit %d, output %q; want exit %d containing %q", code, out+errOut, tt.code, tt.out)
			}
		})
	}
}

// realAPI serves the real internal/server API over a bolt store, as
// internal/server's own tests build it, so the subcommands are checked
// against the handler they will meet in production.
func realAPI(t *testing.T) (*httptest.Server, *incident.Service, store.Store) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "runbooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	rb := "name: quick\nsteps:\n  - {id: one, uses: noop}\n"
	if err := os.WriteFile(filepath.Join(dir, "runbooks", "quick.yaml"), []byte(rb), 0o644); err != nil {
		t.Fatal(err)
	}
	const cfgYAML = "slack: {channel: C1}\nrunbooks: runbooks\nservices:\n  - {name: api, owners: [U1], runbook: quick}\n  - {name: web, runbook: quick, depends_on: [api]}\n"
	if err := os.WriteFile(filepath.Join(dir, "bot.yaml"), []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return apiOver(t, filepath.Join(dir, "bot.yaml"), filepath.Join(dir, "s.db"))
}

// apiOver serves the real /api/v1 handler for the config at cfgPath over
// the bolt state at statePath (one `bot console --state` may have left).
func apiOver(t *testing.T, cfgPath, statePath string) (*httptest.Server, *incident.Service, store.Store) {
	t.Helper()
	cfg, err := config.Load(cfgPath, env("BACKOUT_API_TOKEN", apiToken))
	if err != nil {
		t.Fatal(err)
	}
	set, err := runbook.LoadDir(cfg.RunbooksDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(statePath, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := incident.New(incident.Deps{Config: cfg, Runbooks: set, Store: st, Executors: exec.NewRegistry(noop.New())})
	log := logger(io.Discard, 0)
	h := server.New(server.Routes{API: &server.API{Svc: svc, Token: cfg.Secrets.APIToken, Log: log}}, metrics.New(), log)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, svc, st
}

// TestPipelineAgainstRealAPI records a deploy and asks the gate of the real
// handler, then closes the gate with a freeze of a dependency.
func TestPipelineAgainstRealAPI(t *testing.T) {
	srv, svc, _ := realAPI(t)
	getenv := env("BACKOUT_URL", srv.URL, "BACKOUT_API_TOKEN", apiToken)
	const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	steps := []struct {
		name   string
		before func() // changes state first
		args   []string
		code   int
		out    string
	}{
		{"record", nil, []string{"deploy", "record", "--service", "web", "--version", "1.2", "--artifact", "reg/web" + digest, "--commit", "abc", "--risk", "low"}, exitOK, "recorded D-1: web 1.2"},
		{"record refused", nil, []string{"deploy", "record", "--service", "web", "--version", "1.3", "--artifact", "x", "--risk", "yolo"}, exitRuntime, "risk: unknown value"},
		{"gate open", nil, []string{"gate", "web"}, exitOK, "gate open for web"},
		{"gate closed by a dependency's freeze", func() {
			if failure, err := svc.SetFreeze(t.Context(), incident.Actor{User: "U1", From: "test"}, "api", "black friday"); err != nil || failure != nil {
				t.Fatal(failure, err)
			}
		}, []string{"gate", "web"}, exitGateClosed, "gate closed for web: api is frozen by U1: black friday"},
		{"gate unknown service", nil, []string{"gate", "nope"}, exitRuntime, "Unknown service"},
		{"wrong token", nil, nil, exitRuntime, "missing or wrong bearer token"},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		ge, args := getenv, s.args
		if args == nil {
			ge, args = env("BACKOUT_URL", srv.URL, "BACKOUT_API_TOKEN", "wrong"), []string{"gate", "web"}
		}
		code, out, errOut := runBot(t, ge, args...)
		if code != s.code || !strings.Contains(out+errOut, s.out) {
			t.Errorf("%s: exit %d, output %q; want exit %d containing %q", s.name, code, out+errOut, s.code, s.out)
		}
	}
	ds, err := svc.Deploys(t.Context(), "web", 10)
	if err != nil || len(ds) != 1 || ds[0].Commit != "abc" || ds[0].Risk != "low" {
		t.Errorf("deploys of web = %+v, %v; want the one recorded with its commit and risk", ds, err)
	}
}
