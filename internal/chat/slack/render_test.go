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
		Text:     "Rollback proposed for checkout: v1.4.2 -> v1.4.1",
		Header:   "Rollback proposed: checkout",
		Mentions: []string{"U024BE7LH", "S0614TZR7"},
		Sections: []chat.Section{
			{Title: "Why", Text: "PagerDuty incident *P1X2Y3Z* (error rate > 5%) fired 4m after deploy `v1.4.2`."},
			{Fields: []chat.Field{
				{Label: "Service", Value: "checkout"},
				{Label: "Runbook", Value: "k8s-deployment"},
				{Label: "From", Value: "`v1.4.2`"},
				{Label: "To", Value: "`v1.4.1` (last known good)"},
				{Label: "Approvals", Value: "0/2 from sre-leads"},
				{Label: "Expires", Value: "2024-05-01 12:30:00Z"},
			}},
			{Title: "Readiness", Table: &chat.Table{
				Header: []string{"Check", "Result", "Detail"},
				Rows: [][]string{
					{"target image has a digest", "ok", "sha256:9f86d081"},
					{"backup fresh", "FAIL", "last backup 2h ago (< 1h required)"},
					{"no other rollback running", "ok", ""},
				},
			}},
			{Title: "Plan", Text: "• pause-consumers\n• set-image\n• wait-rollout\n• resume-consumers"},
		},
		Buttons: []chat.Button{
			{ActionID: "approve", Text: "Approve", Value: "RB-42|5f1d2c", Style: chat.StylePrimary},
			{ActionID: "reject", Text: "Reject", Value: "RB-42|5f1d2c", Style: chat.StyleDanger},
		},
		Context: "RB-42 · proposed by Backout · plan 5f1d2c",
	},
	"progress": {
		Text:   "RB-42 running: step 2/4 (set-image)",
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
		Context: "started 2024-05-01 12:04:10Z by <@U024BE7LH>",
	},
	"summary": {
		Text:   "RB-42 succeeded: checkout is on v1.4.1",
		Header: "Rollback succeeded: checkout",
		Sections: []chat.Section{
			{Text: "checkout is back on `v1.4.1`. Error ratio is at baseline."},
			{Fields: []chat.Field{
				{Label: "Duration", Value: "6m 12s"},
				{Label: "Approved by", Value: "<@U024BE7LH>, <@U0G9QF9C6>"},
				{Label: "Incident", Value: "P1X2Y3Z (acknowledged)"},
				{Label: "Post-mortem", Value: "draft posted in thread"},
			}},
			{Title: "Validation", Table: &chat.Table{
				Header: []string{"Check", "Result"},
				Rows:   [][]string{{"error ratio back to baseline", "pass (+1.2% <= 10%)"}, {"health", "pass (200)"}},
			}},
		},
		Context: "RB-42 · finished 2024-05-01 12:10:22Z",
	},
	"reject-note": {
		Text: "<@U0G9QF9C6> rejected RB-42: reason was \"<!channel> see <https://evil.example|this> & stop\"",
		Sections: []chat.Section{{
			Title: "Rejected by <@U0G9QF9C6>",
			Text:  "> <!channel> see <https://evil.example|this> & stop",
		}},
		Context: "RB-42 · rejected 2024-05-01 12:06:00Z",
	},
	"vote-note": {
		Text:     "<@U0G9QF9C6> approved RB-42 (1/2). Waiting for one more from sre-leads.",
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
		many = append(many, chat.Section{Text: "line"})
	}
	var fields []chat.Field
	for range 23 {
		fields = append(fields, chat.Field{Label: "k", Value: "v"})
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
		{"long text truncated", chat.Message{Sections: []chat.Section{{Text: long}}}, func(t *testing.T, b []map[string]any) {
			text := b[0]["text"].(map[string]any)["text"].(string)
			if n := utf8.RuneCountInString(text); n != maxSectionText || !strings.HasSuffix(text, "…") {
				t.Fatalf("section text %d chars, want %d ending in …", n, maxSectionText)
			}
		}},
		{"block count capped, buttons kept", chat.Message{Header: "h", Sections: many, Buttons: []chat.Button{{ActionID: "approve", Text: "Approve", Value: "v"}}, Context: "c"}, func(t *testing.T, b []map[string]any) {
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
	tests := []struct{ in, want string }{
		{"a & b", "a &amp; b"},
		{"<!channel> wake up", "&lt;!channel&gt; wake up"},
		{"<https://evil.example|click>", "&lt;https://evil.example|click&gt;"},
		{"approved by <@U024BE7LH> for <!subteam^S0614TZR7>", "approved by <@U024BE7LH> for <!subteam^S0614TZR7>"},
		{"<@U1|spoof>", "&lt;@U1|spoof&gt;"},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTruncateKeepsEntitiesWhole(t *testing.T) {
	for _, s := range []string{"abcd&amp;efgh", "abcd<@U123>efgh"} {
		got := truncate(s, 8)
		if strings.ContainsAny(strings.TrimSuffix(got, "…"), "&<") {
			t.Errorf("truncate(%q) = %q leaves half an entity", s, got)
		}
	}
}

func TestMentions(t *testing.T) {
	got := mentionLine([]string{"U1", "S2", "W3", "", "<@U4>", "<!channel>"})
	if want := "<@U1> <!subteam^S2> <@W3> <@U4>"; got != want {
		t.Fatalf("mentionLine = %q, want %q", got, want)
	}
}
