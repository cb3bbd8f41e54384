package app

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/runbook"
)

// TestDemoService: the demo service answers from the files demo.sh writes,
// so a validation check against it sees what the steps did.
func TestDemoService(t *testing.T) {
	dir := t.TempDir()
	d, err := StartDemoService(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(d.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, "api"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "api", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	type answer struct {
		status int
		body   string
	}
	check := func(when, path string, want answer) {
		t.Helper()
		if status, body := get(path); status != want.status || body != want.body {
			t.Errorf("%s: GET %s = %d %q, want %d %q", when, path, status, body, want.status, want.body)
		}
	}
	check("before an install", "/api/version", answer{404, "api is not installed\n"})
	check("before an install", "/api/healthz", answer{503, "api is not installed\n"})
	write("installed", "1.4.0 registry.example.com/api@sha256:00\n")
	write("drained", "")
	check("installed, drained", "/api/version", answer{200, "1.4.0\n"})
	check("installed, drained", "/api/healthz", answer{503, "api is drained\n"})
	if err := os.Remove(filepath.Join(dir, "api", "drained")); err != nil {
		t.Fatal(err)
	}
	check("installed, taking traffic", "/api/healthz", answer{200, "ok\n"})
	check("a drill's site, apart from the service", "/api/drill/healthz", answer{503, "api/drill is not installed\n"})
	check("a site that climbs", "/api/..%2f..%2fetc/version", answer{404, "no such service\n"})
	check("a name that climbs", "/..%2f..%2fetc/version", answer{404, "no such service\n"})
	check("a name with a dot first", "/.hidden/version", answer{404, "no such service\n"})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(d.URL + "/api/version"); err == nil {
		t.Error("the demo service still answers after Close")
	}
}

// TestStartDemo: the console points demo_url at its service for each
// service whose runbook declares the param and whose config leaves it
// unset, and lowers engine.output_every, never raises it.
func TestStartDemo(t *testing.T) {
	def := "http://127.0.0.1:9"
	l := &Loaded{
		Config: &config.Config{
			Engine: config.EngineConfig{OutputEvery: config.Duration(5 * time.Second)},
			Services: []config.Service{
				{Name: "plain", Runbook: "demo"},
				{Name: "own", Runbook: "demo", Params: map[string]string{DemoURLParam: "http://elsewhere"}},
				{Name: "other", Runbook: "other"},
			}},
		Runbooks: runbook.Set{
			"demo":  {Name: "demo", Params: map[string]runbook.ParamSpec{DemoURLParam: {Default: &def}}},
			"other": {Name: "other"},
		},
	}
	d, err := l.StartDemo(ConsoleDemo{Dir: t.TempDir(), OutputEvery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := map[string]string{"plain": d.URL + "/plain", "own": "http://elsewhere", "other": ""}
	for _, s := range l.Config.Services {
		if got := s.Params[DemoURLParam]; got != want[s.Name] {
			t.Errorf("%s: demo_url %q, want %q", s.Name, got, want[s.Name])
		}
	}
	if got := l.Config.Engine.OutputEvery.D(); got != time.Second {
		t.Errorf("output_every %s, want 1s", got)
	}
	d2, err := l.StartDemo(ConsoleDemo{Dir: t.TempDir(), OutputEvery: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if got := l.Config.Engine.OutputEvery.D(); got != time.Second {
		t.Errorf("output_every %s after asking for 1m, want 1s kept", got)
	}
}
