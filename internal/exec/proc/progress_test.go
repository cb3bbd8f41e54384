package proc

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/backout/backout/internal/exec"
)

// progressLog collects Progress calls from both stream readers.
type progressLog struct {
	mu    sync.Mutex
	lines map[string][]string
}

func (p *progressLog) add(stream, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lines == nil {
		p.lines = map[string][]string{}
	}
	p.lines[stream] = append(p.lines[stream], line)
}

func TestProgressGetsLinesAsTheyAreWritten(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	straddle := strings.Repeat("y", maxLine-3) + "hunter2-secret" + strings.Repeat("z", 20)
	tests := []struct {
		name   string
		script string
		stdout []string
		stderr []string
	}{
		{name: "lines on both streams", script: `echo one; echo two; echo oops >&2`,
			stdout: []string{"one", "two"}, stderr: []string{"oops"}},
		{name: "last line without a newline", script: `printf 'a\nb'`, stdout: []string{"a", "b"}},
		{name: "carriage returns dropped", script: `printf 'crlf\r\n'`, stdout: []string{"crlf"}},
		{name: "secret redacted", script: `echo "token=hunter2-secret"`, stdout: []string{"token=[redacted]"}},
		{name: "a line longer than maxLine comes in pieces", script: `printf '%s\n' "$LONG"`,
			stdout: []string{long[:maxLine], long[maxLine:]}},
		{name: "no output", script: `true`},
		{name: "a secret across the cut stays whole and redacted", script: `printf '%s\n' "$STRADDLE"`,
			stdout: []string{straddle[:maxLine-3] + "[redacted]", straddle[maxLine-3+len("hunter2-secret"):]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p progressLog
			o, err := Run(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", tt.script}, Env: []string{"LONG=" + long, "STRADDLE=" + straddle},
				Redact: []string{"hunter2-secret"}, Progress: p.add})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.lines["stdout"], tt.stdout) || !slices.Equal(p.lines["stderr"], tt.stderr) {
				t.Fatalf("progress got stdout %q stderr %q, want %q and %q", p.lines["stdout"], p.lines["stderr"], tt.stdout, tt.stderr)
			}
			// The captured output is unchanged by the live copy.
			if strings.Contains(o.Stdout, "hunter2") {
				t.Fatalf("captured stdout leaks the secret: %q", o.Stdout)
			}
		})
	}
}

// The first line arrives while the process still runs, not at its end.
func TestProgressIsLive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan string, 1)
	progress := func(_, line string) {
		select {
		case first <- line:
		default:
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Spec{Argv: []string{"/bin/sh", "-c", "echo started; exec sleep 30"}, Progress: progress, KillGrace: 1})
		done <- err
	}()
	if got := <-first; got != "started" {
		t.Fatalf("first line %q", got)
	}
	cancel() // the process is still sleeping: the line came while it ran
	if err := <-done; err == nil {
		t.Fatal("cancelled run reported success")
	}
}

func FuzzLiveWriter(f *testing.F) {
	f.Add([]byte("one\ntwo\n"), 3)
	f.Add([]byte("no newline"), 1)
	f.Add([]byte("\r\n\n\n"), 2)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		if chunk <= 0 || chunk > 64 {
			chunk = 1 + chunk%64
			if chunk <= 0 {
				chunk = 1
			}
		}
		var got []string
		w := &liveWriter{capture: newCapture(1<<20, nil), progress: func(_, line string) { got = append(got, line) }}
		for i := 0; i < len(data); i += chunk {
			_, _ = w.Write(data[i:min(i+chunk, len(data))])
		}
		w.flush()
		// Every byte but the newlines (and carriage returns before them) is
		// handed over exactly once, in order.
		joined := strings.Join(got, "")
		want := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n", "")
		if strings.ReplaceAll(joined, "\r", "") != strings.ReplaceAll(want, "\r", "") {
			t.Fatalf("lines %q lost or reordered bytes of %q", got, data)
		}
	})
}

// FuzzLiveWriterCut puts a long line's cut among arbitrary bytes and a
// secret: the pieces, joined, are the redacted line (no secret is cut in
// two and missed), and none is much longer than maxLine.
func FuzzLiveWriterCut(f *testing.F) {
	const secret = "s3cr3t-token"
	f.Add(uint8(5), []byte("s3cr3t-token tail\n"), uint8(7))
	f.Add(uint8(0), []byte("\x80\x80\x80\x80s3cr3t-token"), uint8(1))
	f.Add(uint8(11), []byte("é s3cr3t-tokens3cr3t-token\nnext"), uint8(3))
	f.Fuzz(func(t *testing.T, back uint8, data []byte, chunk uint8) {
		input := append([]byte(strings.Repeat("y", maxLine-int(back%32))), data...)
		input = bytes.ReplaceAll(input, []byte("\r"), nil) // CR handling is FuzzLiveWriter's
		var pieces []string
		w := &liveWriter{capture: newCapture(1<<20, nil), redact: []string{secret},
			progress: func(_, line string) { pieces = append(pieces, line) }}
		step := 1 + int(chunk)
		for i := 0; i < len(input); i += step {
			_, _ = w.Write(input[i:min(i+step, len(input))])
		}
		w.flush()
		for _, p := range pieces {
			if len(p) > maxLine+len("[redacted]")+len(secret)+8 {
				t.Fatalf("a piece of %d bytes", len(p))
			}
		}
		want := strings.ReplaceAll(exec.Redact(string(input), []string{secret}), "\n", "")
		if got := strings.Join(pieces, ""); got != want {
			t.Fatalf("pieces do not join to the redacted input:\n got %q\nwant %q", got, want)
		}
	})
}
