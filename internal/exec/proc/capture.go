package proc

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/backout/backout/internal/exec"
)

// capture keeps the last bytes written to it, plus a margin as long as the
// longest secret, so that a secret straddling the cut can still be found and
// dropped whole instead of leaving half of it visible.
type capture struct {
	limit int // bytes shown
	keep  int // bytes kept: limit plus the margin
	buf   []byte
	total int64
}

func newCapture(limit int, secrets []string) *capture {
	return &capture{limit: limit, keep: limit + margin(secrets)}
}

// margin is the longest secret exec.Redact would replace.
func margin(secrets []string) int {
	m := 0
	for _, s := range secrets {
		if len(s) >= 4 && len(s) > m {
			m = len(s)
		}
	}
	return m
}

// Write never fails: output beyond what is kept is counted and dropped.
func (c *capture) Write(p []byte) (int, error) {
	c.total += int64(len(p))
	if len(p) >= c.keep {
		c.buf = append(c.buf[:0], p[len(p)-c.keep:]...)
		return len(p), nil
	}
	c.buf = append(c.buf, p...)
	// Compact only when twice the size, so each byte is copied O(1) times.
	if len(c.buf) > 2*c.keep {
		n := copy(c.buf, c.buf[len(c.buf)-c.keep:])
		c.buf = c.buf[:n]
	}
	return len(p), nil
}

// String returns the kept tail, redacted, with a marker when bytes were cut.
func (c *capture) String(secrets []string) string {
	raw := c.buf
	if len(raw) > c.keep {
		raw = raw[len(raw)-c.keep:]
	}
	if c.total <= int64(c.limit) {
		return exec.Redact(string(raw), secrets)
	}
	cut := max(len(raw)-c.limit, 0)
	for {
		before := cut
		cut = runeStart(raw, cut)
		cut = pastSecrets(raw, cut, secrets)
		if cut == before {
			break
		}
	}
	dropped := c.total - int64(len(raw)-cut)
	return fmt.Sprintf("[... %d bytes truncated ...]\n", dropped) + exec.Redact(string(raw[cut:]), secrets)
}

// runeStart moves cut forward to the start of a UTF-8 sequence.
func runeStart(raw []byte, cut int) int {
	for i := 0; i < utf8.UTFMax && cut < len(raw) && !utf8.RuneStart(raw[cut]); i++ {
		cut++
	}
	return cut
}

// pastSecrets moves cut to the end of any secret occurrence that straddles
// it, so the kept text never starts with the tail of a secret.
func pastSecrets(raw []byte, cut int, secrets []string) int {
	for moved := true; moved; {
		moved = false
		for _, s := range secrets {
			if len(s) < 4 {
				continue
			}
			lo := max(cut-len(s)+1, 0)
			hi := min(cut+len(s)-1, len(raw))
			if lo >= hi {
				continue
			}
			if i := bytes.Index(raw[lo:hi], []byte(s)); i >= 0 && lo+i < cut {
				cut = lo + i + len(s)
				moved = true
			}
		}
	}
	return cut
}
