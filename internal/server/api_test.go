package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
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
	boltstore "github.com/backout/backout/internal/store/bolt"
)

const token = "test-api-token-7f3a"

const cfgYAML = `
slack: {channel: C1}
runbooks: runbooks
services:
  - {name: api, owners: [U1], runbook: quick, stable_after: 1h}
  - {name: web, runbook: quick, depends_on: [api]}
`

// quickRunbook is the one runbook cfgYAML's services use.
var quickRunbook = map[string]string{"quick": "name: quick\nsteps:\n  - {id: one, uses: noop}\n"}

func newAPI(t *testing.T) (*httptest.Server, *incident.Service) {
	t.Helper()
	srv, svc, _ := newAPIWith(t, cfgYAML, quickRunbook)
	return srv, svc
}

// newAPIStore is newAPI that also hands over the store, for tests that
// fill it directly.
func newAPIStore(t *testing.T) (*httptest.Server, *incident.Service, *boltstore.Store) {
	t.Helper()
	return newAPIWith(t, cfgYAML, quickRunbook)
}

// newAPIWith serves the real API over a bolt store, with the given catalog
// and runbooks (file name without .yaml -> YAML).
func newAPIWith(t *testing.T, catalog string, runbooks map[string]string) (*httptest.Server, *incident.Service, *boltstore.Store) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "runbooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, rb := range runbooks {
		if err := os.WriteFile(filepath.Join(dir, "runbooks", name+".yaml"), []byte(rb), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse(filepath.Join(dir, "bot.yaml"), []byte(catalog), func(k string) string {
		if k == "BACKOUT_API_TOKEN" {
			return token
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	set, err := runbook.LoadDir(filepath.Join(dir, "runbooks"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(dir, "s.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := incident.New(incident.Deps{Config: cfg, Runbooks: set, Store: st, Executors: exec.NewRegistry(noop.New())})
	log := slog.New(slog.DiscardHandler)
	h := server.New(server.Routes{API: &server.API{Svc: svc, Token: cfg.Secrets.APIToken, Log: log,
		Postmortem: func(*http.Request, string) (string, error) { return "# pm", nil }}}, metrics.New(), log)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, svc, st
}

func call(t *testing.T, srv *httptest.Server, method, path, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestDeploysAPI(t *testing.T) {
	srv, _ := newAPI(t)
	tests := []struct {
		name, method, path, auth, body string
		code                           int
		want                           string
	}{
		{"no token", "POST", "/api/v1/deploys", "", `{"service":"api","version":"1","artifact":"a` + digest + `"}`, 401, "missing or wrong bearer token"},
		{"wrong token", "POST", "/api/v1/deploys", "nope", `{"service":"api","version":"1","artifact":"a` + digest + `"}`, 401, "missing or wrong bearer token"},
		{"pinned", "POST", "/api/v1/deploys", token, `{"service":"api","version":"1.0","artifact":"reg/api` + digest + `","deployed_at":"2026-01-01T00:00:00Z"}`, 201, `"version":"1.0"`},
		{"mutable is flagged", "POST", "/api/v1/deploys", token, `{"service":"api","version":"1.1","artifact":"reg/api:latest"}`, 201, "mutable reference"},
		{"unknown service", "POST", "/api/v1/deploys", token, `{"service":"nope","version":"1","artifact":"x"}`, 400, `Unknown service \"nope\"`},
		{"missing fields", "POST", "/api/v1/deploys", token, `{"service":"api"}`, 400, "missing required field(s): version, artifact"},
		{"unknown field", "POST", "/api/v1/deploys", token, `{"service":"api","versoin":"1"}`, 400, "unknown field"},
		{"bad risk", "POST", "/api/v1/deploys", token, `{"service":"api","version":"2","artifact":"x","risk":"yolo"}`, 400, "risk: unknown value"},
		{"too large", "POST", "/api/v1/deploys", token, `{"service":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "too large"},
		{"list needs service", "GET", "/api/v1/deploys", token, "", 400, "must name a catalog service"},
		{"list newest first", "GET", "/api/v1/deploys?service=api", token, "", 200, `"version":"1.1"`},
		{"good unknown", "POST", "/api/v1/deploys/D-99/good", token, "", 404, "no deploy"},
		{"good", "POST", "/api/v1/deploys/D-1/good", token, "", 200, `"good":true`},
		{"registry csv", "GET", "/api/v1/rollbacks?format=csv", token, "", 200, "id,outcome,drill,trigger"},
		{"registry bad since", "GET", "/api/v1/rollbacks?since=yesterday", token, "", 400, "since:"},
		{"rollback unknown", "GET", "/api/v1/rollbacks/RB-9", token, "", 404, "no such rollback"},
		{"health", "GET", "/healthz", "", "", 200, "ok"},
		{"metrics", "GET", "/metrics", "", "", 200, `backout_http_requests_total{code="201",route="api_deploys_create"} 2`},
	}
	for _, tt := range tests {
		code, body := call(t, srv, tt.method, tt.path, tt.auth, tt.body)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %.300s; want %d containing %q", tt.name, code, body, tt.code, tt.want)
		}
	}
	_, body := call(t, srv, "GET", "/api/v1/deploys?service=api", token, "")
	var got struct{ Deploys []struct{ Version string } }
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Deploys) != 2 || got.Deploys[0].Version != "1.1" {
		t.Errorf("deploys not newest first: %s", body)
	}
}

// TestPipelineGate: open, then closed (423) by a freeze of a service it
// depends on, by a freeze of itself, and open again.
func TestPipelineGate(t *testing.T) {
	srv, svc := newAPI(t)
	ctx := context.Background()
	who := incident.Actor{User: "U1", From: "test"}
	check := func(service string, code int, want string) {
		t.Helper()
		got, body := call(t, srv, "GET", "/api/v1/services/"+service+"/gate", token, "")
		if got != code || !strings.Contains(body, want) {
			t.Errorf("gate %s: %d %s; want %d containing %q", service, got, body, code, want)
		}
	}
	check("web", 200, `{"open":true}`)
	check("nope", 404, "Unknown service")
	if failure, err := svc.SetFreeze(ctx, who, "api", "black friday"); err != nil || failure != nil {
		t.Fatal(failure, err)
	}
	check("web", 423, "api is frozen by U1: black friday")
	check("api", 423, "api is frozen")
	if failure, err := svc.ClearFreeze(ctx, who, "api"); err != nil || failure != nil {
		t.Fatal(failure, err)
	}
	check("web", 200, `{"open":true}`)
}

// TestLifecycleFailuresReachTheAPIAsPlainText: a failure the lifecycle words
// with Backout's own code formatting (a command to type) reaches an API
// client as the plain text it always was, code in backticks: no chat markup,
// no date tokens. The bodies are compared whole.
func TestLifecycleFailuresReachTheAPIAsPlainText(t *testing.T) {
	srv, _ := newAPI(t)
	check := func(name string, code int, want string) {
		t.Helper()
		got, body := call(t, srv, "GET", "/api/v1/services/api/readiness", token, "")
		if got != code || body != want {
			t.Errorf("%s: %d %s\nwant %d %s", name, got, body, code, want)
		}
	}
	check("no deploys", 409, `{"error":"No deploys of api are recorded, so there is nothing to go back to. CI reports deploys to POST /api/v1/deploys (or `+"`deploy api \\u003cversion\\u003e`"+` in the console)."}`+"\n")
	if code, body := call(t, srv, "POST", "/api/v1/deploys", token, `{"service":"api","version":"1.0","artifact":"reg/api`+digest+`"}`); code != 201 {
		t.Fatalf("deploy: %d %s", code, body)
	}
	check("nothing known-good", 409, `{"error":"No known-good release of api before 1.0: none lived 1h without a rollback. Name a version with `+"`to \\u003cversion\\u003e`"+`, or mark one good (POST /api/v1/deploys/{id}/good)."}`+"\n")
}
