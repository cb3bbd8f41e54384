package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/yamlx"
)

func node(t *testing.T, file, src string) yamlx.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return yamlx.Node{File: file, Node: doc.Content[0]}
}

func TestValidate(t *testing.T) {
	tests := []struct{ src, want string }{
		{`{name: flag, config: {file: f.json, flag: x}}`, ""},
		{`{path: plugins/mine, env: [TOKEN]}`, ""},
		{`{name: "{{ .Params.plugin }}"}`, ""},
		{`{config: {a: 1}}`, `/rb/r.yaml:1:1: missing required field "name" or "path"`},
		{`{name: flag, path: x}`, `/rb/r.yaml:1:14: path: set either name or path, not both`},
		{`name: ../../bin/sh`, `/rb/r.yaml:1:1: name: "../../bin/sh" is not a plugin name (lower-case letters, digits, '-' and '_')`},
		{`path: ../outside`, `/rb/r.yaml:1:1: path: path "../outside" must stay inside the runbooks directory`},
		{`path: /usr/bin/env`, `/rb/r.yaml:1:1: path: path "/usr/bin/env" is outside the runbooks directory`},
		{"name: flag\nenv: [A-B]", `/rb/r.yaml:2:7: env[0]: invalid variable name "A-B"`},
		// The step's timeout is the only one (runbook lint says so first).
		{"name: flag\ntimeout: 30s", `/rb/r.yaml:2:1: unknown key "timeout"`},
		{"name: flag\nconfg: {}", `/rb/r.yaml:2:1: unknown key "confg" (did you mean "config"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			err := New("/plugins").Validate(node(t, "/rb/r.yaml", tt.src))
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

// fixture writes a shell-script plugin named backout-plugin-NAME into dir.
func fixture(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, Prefix+name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func request(t *testing.T, base, src string) exec.Request {
	env := map[string]string{"PATH": os.Getenv("PATH"), "TOKEN": "tok-abcdef", "OTHER": "not-passed"}
	return exec.Request{
		RollbackID: "RB-7", StepID: "flip", Service: "shop", Attempt: 2, Timeout: 90 * time.Second,
		With:    node(t, filepath.Join(base, "rb.yaml"), src),
		Env:     func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		BaseDir: base,
		Redact:  []string{"tok-abcdef"},
	}
}

func TestRequestSentToPlugin(t *testing.T) {
	plugins, base := t.TempDir(), t.TempDir()
	// Runs in the runbooks directory: keep the request there for the test.
	fixture(t, plugins, "echo", `cat > req.json; echo '{"status":"ok","output":"fine","detail":{"k":"v"}}'`)
	res, err := New(plugins).Run(context.Background(), request(t, base, `{name: echo, config: {flag: x, n: 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "fine" || res.Detail["k"] != "v" || res.Detail["exit_code"] != "0" {
		t.Fatalf("result %+v", res)
	}
	got, err := os.ReadFile(filepath.Join(base, "req.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"step":"flip","rollback":"RB-7","service":"shop","params":{},"config":{"flag":"x","n":1},` +
		`"context":{"attempt":2,"timeout_ms":90000,"base_dir":"` + base + `"},"dry_run":false}`
	if string(got) != want {
		t.Fatalf("request\n%s\nwant\n%s", got, want)
	}
}

func TestResponses(t *testing.T) {
	tests := []struct {
		name, body, wantOutput, wantErr string
		retryable                       bool
	}{
		{"failed", `printf '%s\n' '{"status":"failed","output":"flag store locked\nretry later","retryable":true}'`,
			"flag store locked\nretry later", "plugin backout-plugin-x failed: flag store locked", true},
		{"failed final", `echo '{"status":"failed","output":"no such flag"}'`, "no such flag", "plugin backout-plugin-x failed: no such flag", false},
		{"malformed", `echo 'this is not json'; echo 'oops' >&2`, "--- stdout ---\nthis is not json\n--- stderr ---\noops\n",
			"plugin backout-plugin-x: invalid response: response is not a JSON object: invalid character 'h' in literal true (expecting 'r')", false},
		{"no status", `echo '{"output":"hi"}'`, "--- stdout ---\n{\"output\":\"hi\"}\n", `plugin backout-plugin-x: invalid response: response has no "status"`, false},
		{"exit non-zero", `echo 'panic: boom' >&2; exit 2`, "--- stderr ---\npanic: boom\n",
			"plugin backout-plugin-x: backout-plugin-x exited with status 2: panic: boom", false},
		{"secret redacted", `echo "{\"status\":\"ok\",\"output\":\"token $TOKEN other [$OTHER]\"}"`, "token [redacted] other []", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugins := t.TempDir()
			fixture(t, plugins, "x", "cat >/dev/null\n"+tt.body)
			res, err := New(plugins).Run(context.Background(), request(t, t.TempDir(), `{name: x, env: [TOKEN]}`))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr || res.Output != tt.wantOutput || exec.IsRetryable(err) != tt.retryable {
				t.Fatalf("got output %q err %q retryable %v", res.Output, got, exec.IsRetryable(err))
			}
		})
	}
}

// TestTimeoutStopsPlugin: the step's timeout (Request.Timeout) stops the
// plugin even when the context has no deadline.
func TestTimeoutStopsPlugin(t *testing.T) {
	plugins := t.TempDir()
	fixture(t, plugins, "slow", "sleep 30")
	req := request(t, t.TempDir(), `{name: slow}`)
	req.Timeout = 100 * time.Millisecond
	req.KillGrace = 100 * time.Millisecond
	_, err := New(plugins).Run(context.Background(), req)
	if !exec.IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestPathUnderBaseDir(t *testing.T) {
	base := t.TempDir()
	if err := os.Mkdir(filepath.Join(base, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	fixture(t, filepath.Join(base, "plugins"), "local", `cat >/dev/null; echo '{"status":"ok","output":"local"}'`)
	res, err := New("").Run(context.Background(), request(t, base, `path: plugins/backout-plugin-local`))
	if err != nil || res.Output != "local" {
		t.Fatalf("%+v %v", res, err)
	}
	outside := t.TempDir()
	fixture(t, outside, "evil", "touch ran")
	_, err = New("").Run(context.Background(), request(t, base, `path: "`+filepath.Join(outside, Prefix+"evil")+`"`))
	if err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "ran")); err == nil {
		t.Fatal("plugin outside the runbooks directory ran")
	}
}

func TestPreviewDoesNotRun(t *testing.T) {
	plugins, base := t.TempDir(), t.TempDir()
	fixture(t, plugins, "x", "touch ran")
	req := request(t, base, `{name: x, config: {token: tok-abcdef}}`)
	got, err := New(plugins).Preview(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "$ "+filepath.Join(plugins, Prefix+"x")+" < request\nrequest: {\"version\":1,") || strings.Contains(got, "tok-abcdef") {
		t.Fatalf("preview %q", got)
	}
	if _, err := os.Stat(filepath.Join(base, "ran")); err == nil {
		t.Fatal("preview ran the plugin")
	}
}

func TestProbe(t *testing.T) {
	plugins := t.TempDir()
	fixture(t, plugins, "ok", "true")
	if err := os.WriteFile(filepath.Join(plugins, Prefix+"noexec"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, want string }{
		{"ok", ""},
		{"noexec", "plugin " + filepath.Join(plugins, Prefix+"noexec") + " is not an executable file"},
		{"missing", "plugin " + filepath.Join(plugins, Prefix+"missing") + ": stat " + filepath.Join(plugins, Prefix+"missing") + ": no such file or directory"},
	}
	for _, tt := range tests {
		got, err := New(plugins).Probe(context.Background(), request(t, t.TempDir(), "name: "+tt.name))
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

// TestExamplePluginRoundTrip builds examples/plugins/backout-plugin-flag and
// drives it through the executor, as a deployment would.
func TestExamplePluginRoundTrip(t *testing.T) {
	goBin, err := osexec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	plugins, base := t.TempDir(), t.TempDir()
	build := osexec.Command(goBin, "build", "-o", filepath.Join(plugins, Prefix+"flag"), "github.com/backout/backout/examples/plugins/backout-plugin-flag")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(base, "flags.json"), []byte(`{"new-checkout": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e := New(plugins)
	req := request(t, base, `{name: flag, config: {file: flags.json, flag: new-checkout, enabled: false}}`)

	req.DryRun = true
	res, err := e.Run(context.Background(), req)
	if err != nil || res.Output != `would set flag "new-checkout" in flags.json: true -> false` {
		t.Fatalf("dry run %+v %v", res, err)
	}
	assertFlag(t, base, true)

	req.DryRun = false
	res, err = e.Run(context.Background(), req)
	if err != nil || res.Output != `set flag "new-checkout" in flags.json: true -> false` || res.Detail["after"] != "false" {
		t.Fatalf("run %+v %v", res, err)
	}
	assertFlag(t, base, false)

	req = request(t, base, `{name: flag, config: {file: flags.json, flag: typo}}`)
	_, err = e.Run(context.Background(), req)
	if err == nil || err.Error() != `plugin backout-plugin-flag failed: flags.json: no boolean flag "typo"` || exec.IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
}

func assertFlag(t *testing.T, base string, want bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(base, "flags.json"))
	if err != nil {
		t.Fatal(err)
	}
	var flags map[string]bool
	if err := json.Unmarshal(data, &flags); err != nil || flags["new-checkout"] != want {
		t.Fatalf("flags.json = %s (%v), want new-checkout=%v", data, err, want)
	}
}

// A plugin's stderr is its progress; its stdout is the protocol's response
// and never shown line by line.
func TestPluginStderrIsProgress(t *testing.T) {
	plugins, base := t.TempDir(), t.TempDir()
	fixture(t, plugins, "chatty", `cat > /dev/null; echo 'flipping tok-abcdef' >&2; echo '{"status":"ok","output":"fine"}'`)
	req := request(t, base, `{name: chatty}`)
	var mu sync.Mutex
	var lines []string
	req.Progress = func(line string) { mu.Lock(); lines = append(lines, line); mu.Unlock() }
	if _, err := New(plugins).Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lines, []string{"flipping [redacted]"}) {
		t.Fatalf("progress %q: want the stderr line alone, redacted", lines)
	}
}
