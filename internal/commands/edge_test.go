package commands

import (
	"context"
	"strings"
	"testing"
)

// TestControlCharactersRefusedAtTheEdge: a control character in a command,
// a modal's reason or a button value is refused with a reply naming it,
// and the lifecycle is asked nothing.
func TestControlCharactersRefusedAtTheEdge(t *testing.T) {
	cases := []struct {
		name  string
		run   func(h *harness) Reply
		want  string // "" means not refused
		asked bool
	}{
		{"NUL in a proposal's reason", func(h *harness) Reply { return h.command("propose checkout bad\x00deploy") }, "U+0000", false},
		{"escape in a version", func(h *harness) Reply { return h.command("plan checkout to 1.0\x1b[2J") }, "U+001B", false},
		{"reason over two lines", func(h *harness) Reply { return h.command("reject RB-7 wrong\nversion") }, "", true},
		{"NUL in a modal's reason", func(h *harness) Reply {
			return h.d.Click(context.Background(), Click{User: "U0BOB", ActionID: "reject", Value: "RB-7|abc", Reason: "no\x00pe"})
		}, "The reason contains a control character (U+0000)", false},
		{"newline in a button value", func(h *harness) Reply {
			return h.d.Click(context.Background(), Click{User: "U0BOB", ActionID: "approve", Value: "RB-7|abc\n"})
		}, "button's value contains a control character (U+000A)", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness()
			got := c.run(h).Message.Text.String()
			refused := strings.Contains(got, "nothing was done")
			if c.want == "" && refused {
				t.Errorf("refused: %q", got)
			}
			if c.want != "" && (!refused || !strings.Contains(got, c.want)) {
				t.Errorf("reply %q, want a refusal naming %q", got, c.want)
			}
			if asked := len(h.asked()) > 0; asked != c.asked {
				t.Errorf("lifecycle asked %v (%q), want asked %v", asked, h.asked(), c.asked)
			}
		})
	}
}
