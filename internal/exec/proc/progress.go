package proc

import (
	"bytes"
	"io"
	"unicode/utf8"

	"github.com/backout/backout/internal/exec"
)

// maxLine is the longest line handed to Progress at once: a process that
// never writes a newline still shows progress, in pieces.
const maxLine = 4 << 10

// liveWriter keeps a stream's tail (capture) and hands each complete line,
// redacted, to progress as it arrives.
type liveWriter struct {
	capture  io.Writer
	stream   string
	progress func(stream, line string)
	redact   []string
	open     []byte // the line written so far
}

func (w *liveWriter) Write(p []byte) (int, error) {
	_, _ = w.capture.Write(p) // never fails
	w.open = append(w.open, p...)
	rest := w.open
	// A long line is cut, but never inside a secret (it would be redacted
	// in neither piece) nor inside a UTF-8 sequence: before cutting, wait
	// until the text past the cut is long enough to tell.
	lookahead := margin(w.redact) + utf8.UTFMax
	for {
		i := bytes.IndexByte(rest, '\n')
		if i >= 0 && i <= maxLine {
			w.emit(rest[:i])
			rest = rest[i+1:]
			continue
		}
		if i < 0 && len(rest) < maxLine+lookahead {
			break
		}
		cut := safeCut(rest, maxLine, w.redact)
		w.emit(rest[:cut])
		rest = rest[cut:]
	}
	w.open = append(w.open[:0], rest...)
	return len(p), nil
}

// safeCut moves cut forward past a UTF-8 sequence it splits, then past
// any secret it splits. A secret ends on a whole rune, so the second move
// keeps the first one's work; each is bounded (utf8.UTFMax, the longest
// secret), so a piece stays near maxLine whatever the bytes.
func safeCut(raw []byte, cut int, secrets []string) int {
	cut = runeStart(raw, cut)
	cut = pastSecrets(raw, cut, secrets)
	return min(cut, len(raw))
}

// flush hands over the last line when the stream ended without a newline.
func (w *liveWriter) flush() {
	if len(w.open) > 0 {
		w.emit(w.open)
		w.open = w.open[:0]
	}
}

func (w *liveWriter) emit(line []byte) {
	w.progress(w.stream, exec.Redact(string(bytes.TrimRight(line, "\r")), w.redact))
}

// streamWriters are what the child's stdout and stderr are copied into.
func streamWriters(s Spec, stdout, stderr *capture) []io.Writer {
	if s.Progress == nil {
		return []io.Writer{stdout, stderr}
	}
	return []io.Writer{
		&liveWriter{capture: stdout, stream: "stdout", progress: s.Progress, redact: s.Redact},
		&liveWriter{capture: stderr, stream: "stderr", progress: s.Progress, redact: s.Redact},
	}
}
