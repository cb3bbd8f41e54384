package slack

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/backout/backout/internal/chat"
)

// Seeds live in testdata/fuzz/FuzzXxx (real Slack bodies from slackfake and
// hand-made edge cases); run e.g. go test -fuzz FuzzParseInteraction.

func FuzzParseCommandForm(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := parseCommandForm(body)
		if err != nil {
			return
		}
		if c.UserID == "" || c.ChannelID == "" {
			t.Fatalf("accepted command without user or channel: %+v", c)
		}
		if c.ResponseURL != "" && !strings.HasPrefix(c.ResponseURL, "http") {
			t.Fatalf("accepted response_url %q", c.ResponseURL)
		}
	})
}

func FuzzParseInteraction(f *testing.F) {
	a := fuzzAdapter(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseInteractionForm(body)
		if err != nil {
			p, err = parseInteractionJSON(body)
		}
		if err != nil {
			return
		}
		if p.Type == "" || p.User.ID == "" {
			t.Fatalf("accepted payload without type or user: %+v", p)
		}
		w := a.interactionWork(p, "fuzz")
		for _, it := range w.items {
			if it.key == "" || it.run == nil {
				t.Fatalf("work item without key or job: %+v", it)
			}
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	a := fuzzAdapter(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := parseEvent(body)
		if err != nil {
			return
		}
		if e.Type == "event_callback" && e.EventID == "" {
			t.Fatal("accepted event_callback without event_id")
		}
		w := a.eventWork(e, "fuzz")
		if e.Type == "url_verification" && w.ack == nil {
			t.Fatal("url_verification without a challenge answer")
		}
		for _, it := range w.items {
			if !strings.HasPrefix(it.key, "slack:event:") {
				t.Fatalf("event work keyed %q", it.key)
			}
		}
	})
}

func FuzzMentionCommand(f *testing.F) {
	f.Fuzz(func(t *testing.T, text, botID, command string) {
		got := mentionCommand(text, botID, command)
		if len(got) > len(text) {
			t.Fatalf("mentionCommand(%q) = %q grew", text, got)
		}
		if got != strings.TrimSpace(got) {
			t.Fatalf("mentionCommand(%q) = %q not trimmed", text, got)
		}
	})
}

func FuzzRender(f *testing.F) {
	f.Fuzz(func(t *testing.T, header, text, cell string, sections, buttons uint8) {
		msg := chat.Message{Header: header, Text: chat.Plain(text), Context: chat.Textf("%s by %s", text, chat.Who(cell)), Mentions: []chat.Span{chat.Who(cell), chat.Group("S1")}}
		for i := range int(sections) {
			msg.Sections = append(msg.Sections, chat.Section{
				Title: header, Text: chat.Textf("%s%s %s\n%s\n%s", strings.Repeat(text, i%4), chat.Bold(cell), chat.Code(text), chat.Pre(cell), chat.Quote(text)),
				Fields: []chat.Field{{Label: cell, Value: chat.Plain(text)}},
				Table:  &chat.Table{Header: []string{cell}, Rows: [][]string{{text, cell}, {cell}}},
			})
		}
		for i := range int(buttons % 40) {
			msg.Buttons = append(msg.Buttons, chat.Button{ActionID: "approve", Text: cell + "x", Value: text, Confirm: text, Style: []string{"", chat.StylePrimary, chat.StyleDanger}[i%3]})
		}
		blocks := blockJSONNoT(Render(msg))
		if len(blocks) > maxBlocks {
			t.Fatalf("%d blocks", len(blocks))
		}
		for _, b := range blocks {
			var texts []string
			if txt, ok := b["text"].(map[string]any); ok {
				s, _ := txt["text"].(string)
				texts = append(texts, s)
			}
			for _, key := range []string{"fields", "elements"} {
				for _, f := range asList(b[key]) {
					if s, ok := f.(map[string]any)["text"].(string); ok {
						texts = append(texts, s)
					}
				}
			}
			for _, s := range texts {
				if utf8.RuneCountInString(s) > maxSectionText {
					t.Fatalf("text of %d chars", utf8.RuneCountInString(s))
				}
				if b["type"] == "header" {
					continue // plain_text
				}
				if c := closers(s); c != "" {
					t.Fatalf("%s text %q left open (needs %q)", b["type"], s, c)
				}
				checkTruncated(t, s, utf8.RuneCountInString(s)) // tokens, spans and entities whole
				if rest := withoutMentions(withoutTokens(s), cell); strings.ContainsAny(rest, "<>") {
					t.Fatalf("%s text %q has markup Backout did not make: %q", b["type"], s, rest)
				}
			}
		}
		if utf8.RuneCountInString(FallbackText(msg)) > maxFallbackText {
			t.Fatal("fallback text too long")
		}
	})
}

// withoutMentions is s without the mentions FuzzRender asks for (of id,
// and of the group S1): what is left must hold no < or >, which only
// Backout's own spans and date tokens may.
func withoutMentions(s, id string) string {
	return strings.NewReplacer("<@"+id+">", "", "<!subteam^"+id+">", "", "<!subteam^S1>", "").Replace(s)
}

// fuzzAdapter builds an adapter whose jobs are never run.
func fuzzAdapter(f *testing.F) *Adapter {
	a, err := NewAdapter(AdapterConfig{
		Handler: newFakeHandler(okReply), Poster: nopPoster{}, API: NewClient("xoxb-x", "http://127.0.0.1:1/", nil),
		Logger: quietLog,
	})
	if err != nil {
		f.Fatal(err)
	}
	return a
}

type nopPoster struct{ chat.Poster }

// FuzzRenderText: whatever a person types, rendered next to a span it stays
// inert text, and the only markup in the result is the span's own.
func FuzzRenderText(f *testing.F) {
	f.Add("<@U1>", "<!channel> & <https://x.example|details>", "U9", "https://pd.example/i?a=1&b=2")
	f.Add("&amp;", "<#C1>", "S1", "https://x.example/|evil>")
	f.Add("*bold* _it_", "> ~x~ `c`", "U1", "https://x.example/")
	f.Fuzz(func(t *testing.T, a, b, id, url string) {
		who, link := chat.Who(id), chat.Link(url, b)
		got := mrkdwnText(chat.Textf("%s %s: %s (%s)", a, who, b, link))
		want := inert(a, true) + " " + span(who, false) + ": " + inert(b, false) + " (" + span(link, false) + ")"
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		if bare := bareMarkup(inert(a, true), true) + bareMarkup(inert(b, false), false); bare != "" {
			t.Fatalf("plain text %q, %q keeps markup %q", a, b, bare)
		}
		if s := span(who, false); strings.HasPrefix(s, "<") && s != "<@"+id+">" && s != "<!subteam^"+id+">" {
			t.Fatalf("mention of %q rendered %q", id, s)
		}
		if s := withoutTokens(span(link, false)); strings.Count(s, "<") > 1 || strings.Count(s, ">") > 1 {
			t.Fatalf("link %q rendered %q", url, s)
		}
		for limit := 1; limit < len(got) && limit < 64; limit++ {
			checkTruncated(t, got, limit)
		}
	})
}
