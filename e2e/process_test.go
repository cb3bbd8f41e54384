package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bot is one `bot serve` process.
type bot struct {
	t       *testing.T
	name    string
	addr    string // host:port it listens on
	logPath string // its stdout: the JSON log
	errPath string // its stderr
	cmd     *exec.Cmd
	started time.Time

	done    chan struct{} // closed when the process has exited
	mu      sync.Mutex
	exitErr error
}

// launchBot runs `bot serve --config cfgPath` with env (and nothing else of
// this process's environment but PATH and HOME); it does not wait for
// readiness (see waitReady).
func launchBot(t *testing.T, name, cfgPath, addr string, env []string, extraArgs ...string) *bot {
	t.Helper()
	dir := filepath.Dir(cfgPath)
	b := &bot{t: t, name: name, addr: addr, done: make(chan struct{}),
		logPath: filepath.Join(dir, name+".log"), errPath: filepath.Join(dir, name+".stderr")}
	stdout, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.OpenFile(b.errPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--config", cfgPath}, extraArgs...)
	b.cmd = exec.Command(botBin, args...)
	b.cmd.Dir = dir
	b.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	b.cmd.Stdout, b.cmd.Stderr = stdout, stderr
	b.started = time.Now()
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := b.cmd.Wait()
		stdout.Close()
		stderr.Close()
		b.mu.Lock()
		b.exitErr = err
		b.mu.Unlock()
		close(b.done)
	}()
	t.Cleanup(func() {
		if b.running() {
			_ = b.cmd.Process.Kill()
			<-b.done
		}
		if t.Failed() {
			b.dumpLog(40)
		}
	})
	return b
}

func (b *bot) url(path string) string { return "http://" + b.addr + path }

func (b *bot) running() bool {
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// waitReady polls /readyz until it answers 200 and records how long that took.
func (b *bot) waitReady(bound time.Duration) {
	b.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(bound)
	for {
		if !b.running() {
			b.t.Fatalf("%s exited before it was ready: %v", b.name, b.exitError())
		}
		resp, err := client.Get(b.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				readyTimes.LoadOrStore(b.t.Name()+"/"+b.name, time.Since(b.started))
				return
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s not ready after %v (last: %v)", b.name, bound, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *bot) exitError() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exitErr
}

// kill9 kills the process outright, as a crash would.
func (b *bot) kill9() {
	b.t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		b.t.Fatalf("kill -9 %s: %v", b.name, err)
	}
	<-b.done
}

// terminate sends SIGTERM and waits up to bound for the exit; it returns
// the exit code.
func (b *bot) terminate(bound time.Duration) int {
	b.t.Helper()
	b.sigterm()
	return b.waitExit(bound)
}

// sigterm sends SIGTERM and returns at once: the process drains meanwhile.
func (b *bot) sigterm() {
	b.t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.t.Fatalf("SIGTERM %s: %v", b.name, err)
	}
}

// waitExit waits up to bound for the process to exit and returns its exit
// code.
func (b *bot) waitExit(bound time.Duration) int {
	b.t.Helper()
	select {
	case <-b.done:
	case <-time.After(bound):
		b.t.Fatalf("%s still running %v after SIGTERM", b.name, bound)
	}
	var ee *exec.ExitError
	if err := b.exitError(); errors.As(err, &ee) {
		return ee.ExitCode()
	} else if err != nil {
		b.t.Fatalf("%s: %v", b.name, err)
	}
	return 0
}

// output is everything the process wrote so far: log and stderr.
func (b *bot) output() []byte {
	var out []byte
	for _, p := range []string{b.logPath, b.errPath} {
		data, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			b.t.Fatal(err)
		}
		out = append(out, data...)
	}
	return out
}

// logHas reports whether a log line contains every one of parts.
func (b *bot) logHas(parts ...string) bool {
	sc := bufio.NewScanner(bytes.NewReader(b.output()))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

func (b *bot) dumpLog(lines int) {
	// Access log lines drown the story (the tests poll the API); skip them.
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b.output()), "\n"), "\n") {
		if !strings.Contains(l, `"msg":"http request"`) {
			out = append(out, l)
		}
	}
	if len(out) > lines {
		out = out[len(out)-lines:]
	}
	b.t.Logf("--- last %d lines of %s (%s) ---\n%s", len(out), b.name, b.logPath, strings.Join(out, "\n"))
}

// do sends a request to the process with a bound Slack and PagerDuty also
// hold to (3 s for Slack's acknowledgement; we use it for every call).
func (b *bot) do(req *http.Request) (int, string) {
	b.t.Helper()
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body)
}

func (b *bot) post(path, contentType string, body []byte, header http.Header) (int, string) {
	b.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, b.url(path), bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header[k] = v
	}
	return b.do(req)
}

func (b *bot) get(path string) (int, string) {
	b.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, b.url(path), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *bot) String() string { return fmt.Sprintf("%s@%s", b.name, b.addr) }
