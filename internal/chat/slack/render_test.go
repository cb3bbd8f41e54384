package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/backout/backout/internal/chat"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

var goldenMessages = map[string]chat.Message{
	"proposal": {
		Text:     chat.Plain("Rollback proposed for checkout: v1.4.2 -> v1.4.1"),
		Header:   "Rollback proposed: checkout",
		Mentions: []chat.Span{chat.User("U024BE7LH"), chat.Group("S0614TZR7")},
		Sections: []chat.Section{
			{Title: "Why", Text: chat.Textf("PagerDuty incident %s (error rate > 5%%) fired 4m after deploy %s.", chat.Bold("P1X2Y3Z"), chat.Code("v1.4.2"))},
			{Fields: []chat.Field{
				{Label: "Service", Value: chat.Plain("checkout")},
				{Label: "Runbook", Value: chat.Plain("k8s-deployment")},
				{Label: "From", Value: chat.Of(chat.Code("v1.4.2"))},
				{Label: "To", Value: chat.Textf("%s (last known good)", chat.Code("v1.4.1"))},
				{Label: "Approvals", Value: chat.Plain("0/2 from sre-leads")},
				{Label: "Expires", Value: chat.Plain("2024-05-01 12:30:00Z")},
			}},
			{Title: "Readiness", Table: &chat.Table{
				Header: []string{"Check", "Result", "Detail"},
				Rows: [][]string{
					{"target image has a digest", "ok", "sha256:9f86d081"},
					{"backup fresh", "FAIL", "last backup 2h ago (< 1h required)"},
					{"no other rollback running", "ok", ""},
				},
			}},
			{Title: "Plan", Text: chat.Plain("• pause-consumers\n• set-image\n• wait-rollout\n• resume-consumers")},
		},
		Buttons: []chat.Button{
			{ActionID: chat.ActionApprove, Text: "Approve", Value: chat.ButtonValue("RB-42", "5f1d2c"), Style: chat.StylePrimary},
			{ActionID: chat.ActionReject, Text: "Reject", Value: chat.ButtonValue("RB-42", "5f1d2c"), Style: chat.StyleDanger},
		},
		Context: chat.Plain("RB-42 · proposed by Backout · plan 5f1d2c"),
	},
	"progress": {
		Text:   chat.Plain("RB-42 running: step 2/4 (set-image)"),
		Header: "Rolling back checkout (RB-42)",
		Sections: []chat.Section{
			{Title: "Steps", Table: &chat.Table{
				Header: []string{"#", "Step", "State", "Took"},
				Rows: [][]string{
					{"1", "pause-consumers", "done", "1.2s"},
					{"2", "set-image", "running", ""},
					{"3", "wait-rollout", "pending"},
					{"4", "resume-consumers", "pending", ""},
				},
			}},
		},
		Buttons: []chat.Button{
			{ActionID: "abort", Text: "Abort", Value: "RB-42", Style: chat.StyleDanger, Confirm: "Abort the rollback? Steps already run stay done; compensations run."},
			{ActionID: "pause", Text: "Pause", Value: "RB-42"},
		},
		Context: chat.Textf("started 2024-05-01 12:04:10Z by %s", chat.User("U024BE7LH")),
	},
	"summary": {
		Text:   chat.Plain("RB-42 succeeded: checkout is on v1.4.1"),
		Header: "Rollback succeeded: checkout",
		Sections: []chat.Section{
			{Text: chat.Textf("checkout is back on %s. Error ratio is at baseline.", chat.Code("v1.4.1"))},
			{Fields: []chat.Field{
				{Label: "Duration", Value: chat.Plain("6m 12s")},
				{Label: "Approved by", Value: chat.Textf("%s, %s", chat.User("U024BE7LH"), chat.User("U0G9QF9C6"))},
				{Label: "Incident", Value: chat.Plain("P1X2Y3Z (acknowledged)")},
				{Label: "Post-mortem", Value: chat.Plain("draft posted in thread")},
			}},
			{Title: "Validation", Table: &chat.Table{
				Header: []string{"Check", "Result"},
				Rows:   [][]string{{"error ratio back to baseline", "pass (+1.2% <= 10%)"}, {"health", "pass (200)"}},
			}},
		},
		Context: chat.Plain("RB-42 · finished 2024-05-01 12:10:22Z"),
	},
	"reject-note": {
		// The reason is a person's text: it must stay inert however it is spelt.
		Text: chat.Textf("%s rejected RB-42: reason was %q", chat.User("U0G9QF9C6"), "<!channel> see <https://evil.example|this> & stop"),
		Sections: []chat.Section{{
			Text: chat.Textf("%s %s\n%s", chat.Bold("Rejected by"), chat.User("U0G9QF9C6"), chat.Quote("<!channel> see <https://evil.example|this> & stop")),
		}},
		Context: chat.Plain("RB-42 · rejected 2024-05-01 12:06:00Z"),
	},
	"people-text": {
		// A person's formatting characters show as typed, never as Slack
		// formatting, in plain text and inside Backout's own bold and code.
		Text: chat.Textf("%s proposed a rollback of %s: %s", chat.User("U0G9QF9C6"), "web-*", "*urgent* _now_ ~x~ `code`"),
		Sections: []chat.Section{
			{Title: "Drills of web-*", Text: chat.Textf("%s proposed a rollback of %s (%s)\n%s\n> not a quote", chat.User("U0G9QF9C6"),
				chat.Bold("web-*"), chat.Code("deploy `x`"), chat.Quote("*urgent* _now_ ~x~ `code`\n> again"))},
			{Fields: []chat.Field{{Label: "api_*", Value: chat.Plain("snake_case :rotating_light:")}}},
		},
		Context: chat.Plain("> ＞ ＊＿｀"),
	},
	"vote-note": {
		Text:     chat.Textf("%s approved RB-42 (1/2). Waiting for one more from sre-leads.", chat.User("U0G9QF9C6")),
		Mentions: nil,
	},
}

func TestRenderGolden(t *testing.T) {
	for name, msg := range goldenMessages {
		t.Run(name, func(t *testing.T) {
			// Unescaped HTML characters keep the goldens readable.
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			err := enc.Encode(struct {
				Text   string          `json:"text"`
				Blocks []slackgo.Block `json:"blocks"`
			}{FallbackText(msg), Render(msg)})
			if err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from golden (run with -update to accept):\n%s", path, got)
			}
		})
	}
}

func blockJSON(t *testing.T, blocks []slackgo.Block) []map[string]any {
	t.Helper()
	out := blockJSONNoT(blocks)
	if out == nil && len(blocks) > 0 {
		t.Fatal("blocks do not round-trip through JSON")
	}
	return out
}

func blockJSONNoT(blocks []slackgo.Block) []map[string]any {
	b, err := json.Marshal(blocks)
	if err != nil {
		return nil
	}
	var out []map[string]any
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}

func TestRenderLimits(t *testing.T) {
	long := strings.Repeat("é", 5000)
	var many []chat.Section
	for range 80 {
		many = append(many, chat.Section{Text: chat.Plain("line")})
	}
	var fields []chat.Field
	for range 23 {
		fields = append(fields, chat.Field{Label: "k", Value: chat.Plain("v")})
	}
	var rows [][]string
	for range 400 {
		rows = append(rows, []string{"service-with-a-long-name", "ok", strings.Repeat("x", 20)})
	}
	tests := []struct {
		name  string
		msg   chat.Message
		check func(t *testing.T, blocks []map[string]any)
	}{
		{"long text truncated", chat.Message{Sections: []chat.Section{{Text: chat.Plain(long)}}}, func(t *testing.T, b []map[string]any) {
			text := b[0]["text"].(map[string]any)["text"].(string)
			if n := utf8.RuneCountInString(text); n != maxSectionText || !strings.HasSuffix(text, "…") {
				t.Fatalf("section text %d chars, want %d ending in …", n, maxSectionText)
			}
		}},
		{"block count capped, buttons kept", chat.Message{Header: "h", Sections: many, Buttons: []chat.Button{{ActionID: "approve", Text: "Approve", Value: "v"}}, Context: chat.Plain("c")}, func(t *testing.T, b []map[string]any) {
			if len(b) != maxBlocks {
				t.Fatalf("%d blocks, want %d", len(b), maxBlocks)
			}
			if b[len(b)-2]["type"] != "actions" || b[len(b)-1]["type"] != "context" {
				t.Fatalf("tail = %v, %v", b[len(b)-2]["type"], b[len(b)-1]["type"])
			}
			note := b[len(b)-3]["text"].(map[string]any)["text"].(string)
			if !strings.Contains(note, "34 more blocks") {
				t.Fatalf("truncation note = %q", note)
			}
		}},
		{"fields chunked by ten", chat.Message{Sections: []chat.Section{{Title: "t", Fields: fields}}}, func(t *testing.T, b []map[string]any) {
			if len(b) != 3 || len(b[0]["fields"].([]any)) != 10 || len(b[2]["fields"].([]any)) != 3 {
				t.Fatalf("blocks = %v", b)
			}
		}},
		{"big table fits", chat.Message{Sections: []chat.Section{{Table: &chat.Table{Header: []string{"a", "b", "c"}, Rows: rows}}}}, func(t *testing.T, b []map[string]any) {
			text := b[0]["text"].(map[string]any)["text"].(string)
			if utf8.RuneCountInString(text) > maxSectionText || !strings.HasSuffix(text, "more rows\n```") {
				t.Fatalf("table text %d chars, tail %q", utf8.RuneCountInString(text), text[len(text)-30:])
			}
		}},
		{"header truncated", chat.Message{Header: long}, func(t *testing.T, b []map[string]any) {
			if n := utf8.RuneCountInString(b[0]["text"].(map[string]any)["text"].(string)); n != maxHeaderText {
				t.Fatalf("header %d chars", n)
			}
		}},
		{"duplicate action ids made unique", chat.Message{Buttons: []chat.Button{
			{ActionID: "approve", Text: "A", Value: "RB-1"}, {ActionID: "approve", Text: "B", Value: "RB-2"}, {ActionID: "", Text: "skipped"},
		}}, func(t *testing.T, b []map[string]any) {
			els := b[0]["elements"].([]any)
			if len(els) != 2 || els[0].(map[string]any)["action_id"] != "approve" || els[1].(map[string]any)["action_id"] != "approve#2" {
				t.Fatalf("elements = %v", els)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, blockJSON(t, Render(tt.msg)))
		})
	}
}

func TestEscaping(t *testing.T) {
	// Plain text is escaped whole: nothing in it is ever passed through as
	// markup, however much it looks like a mention Backout would write.
	tests := []struct{ in, want string }{
		{"a & b", "a &amp; b"},
		{"<!channel> wake up", "&lt;!channel&gt; wake up"},
		{"<https://evil.example|click>", "&lt;https://evil.example|click&gt;"},
		{"approved by <@U024BE7LH> for <!subteam^S0614TZR7>", "approved by &lt;@U024BE7LH&gt; for &lt;!subteam^S0614TZR7&gt;"},
		{"<@U1|spoof>", "&lt;@U1|spoof&gt;"},
		{"<https://x.example|details>", "&lt;https://x.example|details&gt;"},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := mrkdwnText(chat.Plain(tt.in)); got != tt.want {
			t.Errorf("mrkdwnText(Plain(%q)) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSpans(t *testing.T) {
	tests := []struct {
		name string
		in   chat.Text
		want string
	}{
		{"user", chat.Of(chat.User("U024BE7LH")), "<@U024BE7LH>"},
		{"enterprise user", chat.Of(chat.User("W3")), "<@W3>"},
		{"group", chat.Of(chat.Group("S0614TZR7")), "<!subteam^S0614TZR7>"},
		{"who picks group", chat.Of(chat.Who("S2")), "<!subteam^S2>"},
		{"channel", chat.Of(chat.Channel("C0STORE")), "<#C0STORE>"},
		{"older private channel", chat.Of(chat.Channel("G0PRIVATE1")), "<#G0PRIVATE1>"},
		{"direct message is no channel link", chat.Of(chat.Channel("D0DM")), "#D0DM"},
		{"link", chat.Of(chat.Link("https://pd.example/i/Q1", "details")), "<https://pd.example/i/Q1|details>"},
		{"link label escaped", chat.Of(chat.Link("https://x.example/", "a <b> & c")), "<https://x.example/|a &lt;b&gt; &amp; c>"},
		{"link url ampersand", chat.Of(chat.Link("https://x.example/?a=1&b=2", "q")), "<https://x.example/?a=1&amp;b=2|q>"},
		{"link without label", chat.Of(chat.Link("https://x.example/", "")), "<https://x.example/>"},
		{"bad user id falls back", chat.Of(chat.User("alice")), "@alice"},
		{"user id breaking out", chat.Of(chat.User("U1> <!channel")), "@U1&gt; &lt;!channel"},
		{"group id breaking out", chat.Of(chat.Group("S1>")), "@S1&gt;"},
		{"channel not C", chat.Of(chat.Channel("general")), "#general"},
		{"link url breaking out", chat.Of(chat.Link("https://x.example/|evil>", "details")), "details (https://x.example/|evil&gt;)"},
		{"link not http", chat.Of(chat.Link("javascript:alert(1)", "details")), "details (javascript:alert(1))"},
		{"mixed", chat.Textf("%s approved <%s>", chat.User("U1"), "RB-1"), "<@U1> approved &lt;RB-1&gt;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mrkdwnText(tt.in); got != tt.want {
				t.Errorf("mrkdwnText(%+v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestForgedSpans: a person's text handed to Textf as an argument renders
// escaped, never as a live mention or link.
func TestForgedSpans(t *testing.T) {
	for _, reason := range []string{"<@U1>", "<!channel>", "<!here>", "<https://x.example|details>", "<#C1>", "<!subteam^S1>", "&lt;@U1&gt;"} {
		got := mrkdwnText(chat.Textf("%s rejected RB-1: %s", chat.User("U9"), reason))
		want := "<@U9> rejected RB-1: " + escape(reason)
		if got != want {
			t.Errorf("reason %q rendered %q, want %q", reason, got, want)
		}
	}
}

func TestTruncateKeepsEntitiesWhole(t *testing.T) {
	for _, s := range []string{"abcd&amp;efgh", "abcd<@U123>efgh", "ab<https://x.example/?a&amp;b|details>"} {
		for limit := 2; limit < len(s); limit++ {
			got := strings.TrimSuffix(truncate(s, limit), "…")
			if i := strings.LastIndexByte(got, '&'); i >= 0 && !strings.Contains(got[i:], ";") {
				t.Errorf("truncate(%q, %d) = %q leaves half an entity", s, limit, got)
			}
			if i := strings.LastIndexByte(got, '<'); i >= 0 && !strings.Contains(got[i:], ">") {
				t.Errorf("truncate(%q, %d) = %q leaves half a span", s, limit, got)
			}
		}
	}
}

func TestMentions(t *testing.T) {
	spans := []chat.Span{chat.User("U1"), chat.Group("S2"), chat.User("W3"), chat.User(""), chat.User("<@U4>"), chat.User("alice"),
		chat.Channel("C1"), chat.Link("https://x.example", "x"), chat.Who(" U5 ")}
	if got, want := mentionLine(spans), "<@U1> <!subteam^S2> <@W3> <@U5>"; got != want {
		t.Fatalf("mentionLine = %q, want %q", got, want)
	}
}

// TestFallbackKeepsMentions: the fallback text is what a notification
// shows; however long the message, the people it mentions stay in it, and
// it keeps to Slack's limit.
func TestFallbackKeepsMentions(t *testing.T) {
	cases := []struct {
		name string
		text string
	}{
		{"short", "web rolled back"},
		{"at the limit", strings.Repeat("x", maxFallbackText)},
		{"far over the limit", strings.Repeat("word ", 2*maxFallbackText)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := chat.Message{Text: chat.Plain(tc.text), Mentions: []chat.Span{chat.User("U1"), chat.Group("S2")}}
			got := FallbackText(msg)
			if !strings.HasSuffix(got, " <@U1> <!subteam^S2>") {
				t.Errorf("fallback ends %q, want the mentions", got[max(len(got)-40, 0):])
			}
			if n := utf8.RuneCountInString(got); n > maxFallbackText {
				t.Errorf("fallback of %d characters", n)
			}
		})
	}
}
