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
		// Markup typed by a person is just text here: nothing parses it,
		// nothing drops a character of it.
		{"markup stays text", chat.Plain("<@U1> <!channel> <https://x|details>"), "<@U1> <!channel> <https://x|details>"},
		{"formatting stays text", chat.Textf("*%s* ```x``` _y_ ~z~ by %s", "urgent", chat.User("U*1")), "*urgent* ```x``` _y_ ~z~ by @U*1"},
		{"a glob stays whole", chat.Plain("services web-* and *-api"), "services web-* and *-api"},
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
			{Fields: []chat.Field{{Label: "api", Value: chat.Textf("1.2 → %s\n%s", chat.Bold("1.1"), chat.Code("img"))}}},
			{Title: "Drills of web-*", Fields: []chat.Field{{Label: "*-api", Value: chat.Plain("*x*")}}},
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
		"       ▸ Drills of web-*",
		"       *-api: *x*",
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

// TestStylesPrint: Backout's own formatting prints as it always has (bold
// as its text, code in backticks, a block as its lines), and a person's
// text inside it exactly as typed.
func TestStylesPrint(t *testing.T) {
	tests := []struct {
		name string
		in   chat.Text
		want string
	}{
		{"bold", chat.Textf("%s text", chat.Bold("bold")), "bold text"},
		{"bold of a glob", chat.Textf("%s (order 1)", chat.Bold("web-*")), "web-* (order 1)"},
		{"code", chat.Textf("Schedule: %s (dry-run)", chat.Code("0 10 * * TUE")), "Schedule: `0 10 * * TUE` (dry-run)"},
		{"block", chat.Textf("output:\n%s\nnext", chat.Pre("ls *.go\nboom")), "output:\nls *.go\nboom\nnext"},
		{"quote", chat.Textf("why\n%s", chat.Quote("*urgent*\nreally")), "why\n> *urgent*\n> really"},
		{"mixed", chat.Textf("%s %s %s", chat.Bold("a"), chat.Code("b*"), chat.Bold("c")), "a `b*` c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := text(tt.in); got != tt.want {
				t.Errorf("text = %q, want %q", got, tt.want)
			}
		})
	}
}
