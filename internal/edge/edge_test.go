package edge

import "testing"

func TestProblem(t *testing.T) {
	cases := []struct {
		name      string
		in        string
		multiline bool
		want      string
	}{
		{"clean", "bad deploy, p99 up", false, ""},
		{"unicode is fine", "déploiement raté → 1.4.0", false, ""},
		{"NUL", "bad\x00deploy", true, "reason contains a control character (U+0000) at character 4"},
		{"escape", "\x1b[2Jhi", true, "reason contains a control character (U+001B) at character 1"},
		{"DEL", "a\x7f", false, "reason contains a control character (U+007F) at character 2"},
		{"C1", "a\u0085b", false, "reason contains a control character (U+0085) at character 2"},
		{"newline in free text", "line one\nline two\ttabbed\r\n", true, ""},
		{"newline in a version", "1.4.0\n", false, "reason contains a control character (U+000A) at character 6"},
		{"tab in a version", "1.4\t0", false, "reason contains a control character (U+0009) at character 4"},
		{"invalid UTF-8", "ok\xff", true, "reason is not valid UTF-8 (at character 3)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Problem("reason", c.in, c.multiline); got != c.want {
				t.Errorf("Problem(%q, %v) = %q, want %q", c.in, c.multiline, got, c.want)
			}
		})
	}
}
