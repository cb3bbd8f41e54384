package shell

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/exec/proc"
	"github.com/backout/backout/internal/yamlx"
)

// node parses src as the `with:` tree of a step in file.
func node(t *testing.T, file, src string) yamlx.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return yamlx.Node{File: file, Node: doc.Content[0]}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{`args: [echo, hi]`, ""},
		{`{script: scripts/drain.sh, args: [--fast]}`, ""},
		{`{args: [echo], retryable_exit_codes: ["{{ .Params.code }}"], script: "{{ .Params.s }}"}`, ""},
		{`{args: [echo], env: [TOKEN], set_env: {MODE: fast}, dir: work, retryable_exit_codes: [75]}`, ""},
		{`{}`, `/rb/r.yaml:1:1: missing required field "args" or "script"`},
		{`args: []`, `/rb/r.yaml:1:1: args: must not be empty`},
		{`args: [""]`, `/rb/r.yaml:1:8: args[0]: the program must not be empty`},
		{`args: echo`, `/rb/r.yaml:1:7: args: expected a list, got "echo"`},
		{"args: [echo]\nsetenv: {A: b}", `/rb/r.yaml:2:1: unknown key "setenv" (did you mean "set_env"?)`},
		{`script: ../outside.sh`, `/rb/r.yaml:1:1: script: path "../outside.sh" must stay inside the runbooks directory`},
		{`script: /etc/evil.sh`, `/rb/r.yaml:1:1: script: path "/etc/evil.sh" is outside the runbooks directory`},
		// The step's timeout is the only one (runbook lint says so first).
		{"args: [echo]\ntimeout: 5m", `/rb/r.yaml:2:1: unknown key "timeout"`},
		{"args: [echo]\nretryable_exit_codes: [0, x]", "/rb/r.yaml:2:24: retryable_exit_codes[0]: expected an exit code from 1 to 255, got \"0\"\n" +
			`/rb/r.yaml:2:27: retryable_exit_codes[1]: expected an exit code from 1 to 255, got "x"`},
		{"args: [echo]\nenv: [OK, BAD-NAME]\nset_env: {1X: v}", "/rb/r.yaml:2:11: env[1]: invalid variable name \"BAD-NAME\"\n" +
			`/rb/r.yaml:3:11: set_env: invalid variable name "1X"`},
		{`[echo]`, `/rb/r.yaml:1:1: document: expected a mapping, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			err := New().Validate(node(t, "/rb/r.yaml", tt.src))
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

// request builds a run request with a fixed environment.
func request(t *testing.T, base, src string) exec.Request {
	env := map[string]string{"PATH": os.Getenv("PATH"), "HOME": "/home/bot", "ALLOWED": "yes", "DENIED": "no"}
	return exec.Request{
		StepID:  "s1",
		With:    node(t, filepath.Join(base, "rb.yaml"), src),
		Env:     func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		BaseDir: base,
	}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestRunArgvIsNotShellParsed(t *testing.T) {
	req := request(t, t.TempDir(), `args: [echo, "$(id)", "a;b", "'q'"]`)
	res, err := New().Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "$(id) a;b 'q'\n" || res.Detail["exit_code"] != "0" {
		t.Fatalf("got %+v", res)
	}
}

func TestRunEnvAllowList(t *testing.T) {
	req := request(t, t.TempDir(), `{args: [env], env: [ALLOWED, MISSING], set_env: {MODE: fast}}`)
	res, err := New().Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(res.Output), "\n")
	want := []string{"PATH=" + os.Getenv("PATH"), "HOME=/home/bot", "ALLOWED=yes", "MODE=fast"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("child env %q, want %q", lines, want)
	}
}

func TestRunScript(t *testing.T) {
	base := t.TempDir()
	writeScript(t, filepath.Join(base, "scripts/drain.sh"), `echo "drain $1 in $(pwd)"`)
	if err := os.Mkdir(filepath.Join(base, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	req := request(t, base, `{script: scripts/drain.sh, args: [web], dir: work}`)
	res, err := New().Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(filepath.Join(base, "work"))
	if res.Output != "drain web in "+real+"\n" {
		t.Fatalf("got %q", res.Output)
	}
}

func TestRunScriptEscapeRefused(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "runbooks")
	writeScript(t, filepath.Join(root, "evil.sh"), "touch "+filepath.Join(root, "ran"))
	writeScript(t, filepath.Join(base, "ok.sh"), "true")
	for _, script := range []string{"../evil.sh", filepath.Join(root, "evil.sh")} {
		// Rendered values bypass lint: Run must refuse on its own.
		req := request(t, base, "script: "+script)
		_, err := New().Run(context.Background(), req)
		if err == nil || !(strings.Contains(err.Error(), "outside") || strings.Contains(err.Error(), "must stay inside")) {
			t.Fatalf("%s: err = %v", script, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "ran")); err == nil {
		t.Fatal("escaped script ran")
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		src       string
		code      int
		retryable bool
	}{
		{`{args: [sh, -c, "exit 75"], retryable_exit_codes: [75]}`, 75, true},
		{`{args: [sh, -c, "exit 1"], retryable_exit_codes: [75]}`, 1, false},
	}
	for _, tt := range tests {
		res, err := New().Run(context.Background(), request(t, t.TempDir(), tt.src))
		var ee *proc.ExitError
		if !errors.As(err, &ee) || res.ExitCode != tt.code || exec.IsRetryable(err) != tt.retryable {
			t.Fatalf("%s: res %+v err %v", tt.src, res, err)
		}
	}
}

// TestRunTimeoutIsRetryable: the step's timeout (Request.Timeout) stops
// the process even when the context has no deadline.
func TestRunTimeoutIsRetryable(t *testing.T) {
	req := request(t, t.TempDir(), `{args: [sleep, "30"]}`)
	req.Timeout = 100 * time.Millisecond
	req.KillGrace = 100 * time.Millisecond
	_, err := New().Run(context.Background(), req)
	if !exec.IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestRunRedactsSecrets(t *testing.T) {
	req := request(t, t.TempDir(), `{args: [sh, -c, "echo the token is $TOKEN >&2; exit 2"], set_env: {TOKEN: s3cr3t-value}}`)
	req.Redact = []string{"s3cr3t-value"}
	res, err := New().Run(context.Background(), req)
	if strings.Contains(res.Output+err.Error(), "s3cr3t") {
		t.Fatalf("secret leaked: %q / %v", res.Output, err)
	}
	if res.Output != "the token is [redacted]\n" {
		t.Fatalf("got %q", res.Output)
	}
	p, _ := New().Preview(context.Background(), req)
	if strings.Contains(p, "s3cr3t") {
		t.Fatalf("secret in preview %q", p)
	}
}

func TestDryRunAndPreview(t *testing.T) {
	base := t.TempDir()
	writeScript(t, filepath.Join(base, "s.sh"), "touch "+filepath.Join(base, "ran"))
	req := request(t, base, `{script: s.sh, args: ["two words", plain], env: [ALLOWED], set_env: {MODE: fast}}`)
	req.Timeout = 90 * time.Second
	want := "$ " + filepath.Join(base, "s.sh") + " 'two words' plain\n" +
		"env passed through: PATH, HOME, ALLOWED\nenv set: MODE=fast\ntimeout: 1m30s"
	got, err := New().Preview(context.Background(), req)
	if err != nil || got != want {
		t.Fatalf("preview:\n%s\nwant:\n%s\n(err %v)", got, want, err)
	}
	req.DryRun = true
	res, err := New().Run(context.Background(), req)
	if err != nil || res.Output != want {
		t.Fatalf("dry run %+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(base, "ran")); err == nil {
		t.Fatal("dry run executed the script")
	}
}

func TestProbe(t *testing.T) {
	base := t.TempDir()
	writeScript(t, filepath.Join(base, "ok.sh"), "true")
	if err := os.WriteFile(filepath.Join(base, "noexec.sh"), []byte("true"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ src, want string }{
		{`script: ok.sh`, ""},
		{`args: [sh]`, ""},
		{`script: noexec.sh`, `script "noexec.sh" is not executable (chmod +x)`},
		{`script: missing.sh`, "script: path \"missing.sh\": lstat " + filepath.Join(base, "missing.sh") + ": no such file or directory"},
		{`args: [backout-no-such-program]`, `program "backout-no-such-program" not found: exec: "backout-no-such-program": executable file not found in $PATH`},
	}
	for _, tt := range tests {
		got, err := New().Probe(context.Background(), request(t, base, tt.src))
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.src, got, err, tt.want)
		}
	}
}

func TestRunShowsOutputLive(t *testing.T) {
	req := request(t, t.TempDir(), `args: [/bin/sh, -c, "echo draining; echo 3 pods left >&2"]`)
	var mu sync.Mutex
	var lines []string
	req.Progress = func(line string) { mu.Lock(); lines = append(lines, line); mu.Unlock() }
	if _, err := New().Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines) // the two streams are read concurrently
	if !slices.Equal(lines, []string{"3 pods left", "draining"}) {
		t.Fatalf("progress %q", lines)
	}
}
