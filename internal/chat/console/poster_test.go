package console

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/backout/backout/internal/chat"
)

func TestSpansPrintPlainly(t *testing.T) {
	tests := []struct {
		name string
		in   chat.Text
		want string
	}{
		{"user", chat.Textf("👍 %s approved RB-1.", chat.User("bob")), "👍 @bob approved RB-1."},
		{"group", chat.Textf("cc %s", chat.Group("S1")), "cc @S1"},
		{"channel", chat.Textf("Proposed RB-1 in %s.", chat.Channel("ops")), "Proposed RB-1 in #ops."},
		{"link", chat.Textf("alert (%s)", chat.Link("https://pd.example/i/1", "details")), "alert (details (https://pd.example/i/1))"},
		{"markdown dropped from plain runs", chat.Textf("*%s* ```x``` by %s", "bold", chat.User("U*1")), "bold x by @U*1"},
		// Markup typed by a person is just text here: nothing parses it.
		{"markup stays text", chat.Plain("<@U1> <!channel> <https://x|details>"), "<@U1> <!channel> <https://x|details>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := text(tt.in); got != tt.want {
				t.Errorf("text = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderMessage(t *testing.T) {
	var out bytes.Buffer
	p := NewPoster(&out)
	msg := chat.Message{
		Header: "🗳️ Rollback RB-1 · proposed",
		Sections: []chat.Section{
			{Title: "Why", Text: chat.Textf("requested by %s", chat.User("alice"))},
			{Fields: []chat.Field{{Label: "api", Value: chat.Plain("1.2 → *1.1*\n`img`")}}},
		},
		Mentions: chat.Mentions("bob", "S2"),
		Buttons:  []chat.Button{{ActionID: chat.ActionApprove, Text: "Approve", Value: chat.ButtonValue("RB-1", "h")}},
		Context:  chat.Textf("requested by %s · plan h", chat.User("alice")),
	}
	if _, err := p.Post(context.Background(), chat.Ref{Channel: "ops"}, msg); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"[#ops] ══ 🗳️ Rollback RB-1 · proposed ══",
		"       ▸ Why",
		"       requested by @alice",
		"       api: 1.2 → 1.1 `img`",
		"       cc @bob @S2",
		"       buttons: [1] Approve   (type: click <n>)",
		"       · requested by @alice · plan h",
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if b, _, _, ok := p.Button(1); !ok || b.Value != "RB-1|h" {
		t.Fatalf("button 1 = %+v, %v", b, ok)
	}
}

func TestPlainKeepsCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"*bold* text", "bold text"},
		{"Schedule: `0 10 * * TUE` (dry-run)", "Schedule: `0 10 * * TUE` (dry-run)"},
		{"```\nls *.go\n```", "ls *.go"},
		{"output:\n```\nboom\n```\nnext", "output:\nboom\nnext"},
		{"*a* `b*` *c*", "a `b*` c"},
	}
	for _, tt := range tests {
		if got := plain(tt.in); got != tt.want {
			t.Errorf("plain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
