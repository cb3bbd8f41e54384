package slack

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/backout/backout/internal/chat"
)

// tok is s as the fallback of an invalid date token: shown, never formatted.
func tok(s string) string { return inertOpen + s + inertClose }

// shown is what a Slack client shows for inert mrkdwn: each date token as
// its fallback, each entity as its character.
func shown(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], inertOpen):
			end := strings.Index(s[i:], inertClose)
			b.WriteString(s[i+len(inertOpen) : i+end])
			i += end + len(inertClose)
			continue
		case strings.HasPrefix(s[i:], "&amp;"):
			b.WriteByte('&')
			i += len("&amp;")
			continue
		case strings.HasPrefix(s[i:], "&lt;"):
			b.WriteByte('<')
			i += len("&lt;")
			continue
		case strings.HasPrefix(s[i:], "&gt;"):
			b.WriteByte('>')
			i += len("&gt;")
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// withoutTokens is s without its date tokens.
func withoutTokens(s string) string {
	for {
		i := strings.Index(s, inertOpen)
		if i < 0 {
			return s
		}
		end := strings.Index(s[i:], inertClose)
		if end < 0 {
			return s
		}
		s = s[:i] + s[i+end+len(inertClose):]
	}
}

// bareMarkup returns what in s, outside date tokens, Slack could read as
// markup: a formatting character (bar an underscore inside a word), an
// unescaped < > or &, or a > that starts a line (lineStart: s starts
// one). It is "" for inert text.
func bareMarkup(s string, lineStart bool) string {
	var bare strings.Builder
	blank := lineStart
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case strings.HasPrefix(s[i:], inertOpen):
			end := strings.Index(s[i:], inertClose)
			if end < 0 {
				return s[i:]
			}
			for _, c := range s[i+len(inertOpen) : i+end] {
				if !formatting(c) && c != '＞' {
					bare.WriteString("fallback " + s[i:i+end])
				}
			}
			i, blank = i+end+len(inertClose), false
			continue
		case strings.HasPrefix(s[i:], "&gt;") && blank:
			bare.WriteString("&gt; at line start")
		case r == '＞' && blank:
			bare.WriteRune(r)
		case inWord(s, i):
		case formatting(r) || r == '<' || r == '>':
			bare.WriteRune(r)
		case r == '&' && !strings.HasPrefix(s[i:], "&amp;") && !strings.HasPrefix(s[i:], "&lt;") && !strings.HasPrefix(s[i:], "&gt;"):
			bare.WriteRune(r)
		}
		switch r {
		case '\n':
			blank = true
		case ' ', '\t':
		default:
			blank = false
		}
		i += n
	}
	return bare.String()
}

// checkTruncated: truncate(s, limit) fits, and leaves nothing half
// written or left open.
func checkTruncated(t *testing.T, s string, limit int) {
	t.Helper()
	got := truncate(s, limit)
	if n := utf8.RuneCountInString(got); n > max(limit, 1) {
		t.Fatalf("truncate(%q, %d) = %q has %d characters", s, limit, got, n)
	}
	for i := 0; i < len(got); i++ {
		switch got[i] {
		case '<':
			end := strings.IndexByte(got[i:], '>')
			if end < 0 || strings.IndexByte(got[i+1:i+end], '<') >= 0 {
				t.Fatalf("truncate(%q, %d) = %q cuts a span or token", s, limit, got)
			}
		case '&':
			if !strings.HasPrefix(got[i:], "&amp;") && !strings.HasPrefix(got[i:], "&lt;") && !strings.HasPrefix(got[i:], "&gt;") {
				t.Fatalf("truncate(%q, %d) = %q cuts an entity", s, limit, got)
			}
		}
	}
	if c := closers(got); c != "" && closers(s) == "" {
		t.Fatalf("truncate(%q, %d) = %q leaves formatting open (needs %q)", s, limit, got, c)
	}
}

func TestInert(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		lineStart bool
		want      string
	}{
		{"bold", "*urgent* now", false, tok("*") + "urgent" + tok("*") + " now"},
		{"italic", "_now_", false, tok("_") + "now" + tok("_")},
		{"strike", "~x~", false, tok("~") + "x" + tok("~")},
		{"code", "`code`", false, tok("`") + "code" + tok("`")},
		{"fence", "```rm -rf```", false, tok("```") + "rm -rf" + tok("```")},
		{"a run is one token", "**x__", false, tok("**") + "x" + tok("__")},
		{"mixed run", "*_x_*", false, tok("*_") + "x" + tok("_*")},
		{"full-width", "＊x＊ ＿y＿ ｀z｀", false, tok("＊") + "x" + tok("＊") + " " + tok("＿") + "y" + tok("＿") + " " + tok("｀") + "z" + tok("｀")},
		{"glob", "web-*", false, "web-" + tok("*")},
		{"underscore inside a word", "kill_grace Snake_Case_9", false, "kill_grace Snake_Case_9"},
		{"underscores at a word's edge", "_x a_ a__b", false, tok("_") + "x a" + tok("_") + " a" + tok("__") + "b"},
		{"stars inside a word", "a*b", false, "a" + tok("*") + "b"},
		{"escaped", "<!channel> & <@U1>", false, "&lt;!channel&gt; &amp; &lt;@U1&gt;"},
		{"quote at line start", "> quote", true, softHyphen + "&gt; quote"},
		{"quote after spaces", "  > quote", true, "  " + softHyphen + "&gt; quote"},
		{"quote on a later line", "a > b\n> c", false, "a &gt; b\n" + softHyphen + "&gt; c"},
		{"not at line start", "> quote", false, "&gt; quote"},
		{"full-width quote", "＞quote", true, tok("＞") + "quote"},
		{"full-width quote mid-line", "a ＞ b", true, "a ＞ b"},
		{"emoji kept", "on fire :rotating_light: :+1:", false, "on fire :rotating_light: :+1:"},
		{"emoji edge underscores", ":_x_:", false, ":" + tok("_") + "x" + tok("_") + ":"},

		{"plain unchanged", "RB-1 1.4.2 → 1.4.1", true, "RB-1 1.4.2 → 1.4.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := inert(tt.in, tt.lineStart)
			if got != tt.want {
				t.Fatalf("inert(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if s := shown(strings.ReplaceAll(got, softHyphen, "")); s != tt.in {
				t.Errorf("Slack would show %q, typed %q", s, tt.in)
			}
			if bare := bareMarkup(got, tt.lineStart); bare != "" {
				t.Errorf("inert(%q) = %q leaves markup %q", tt.in, got, bare)
			}
		})
	}
}

func TestStyledSpans(t *testing.T) {
	tests := []struct {
		name string
		in   chat.Text
		want string
	}{
		{"bold", chat.Of(chat.Bold("checkout")), "*checkout*"},
		{"bold of a person's text", chat.Of(chat.Bold("web-*")), "*web-" + tok("*") + "*"},
		{"bold of markup", chat.Of(chat.Bold("*x* _y_ `z`")), "*" + tok("*") + "x" + tok("*") + " " + tok("_") + "y" + tok("_") + " " + tok("`") + "z" + tok("`") + "*"},
		{"bold keeps spaces outside", chat.Of(chat.Bold(" padded ")), " *padded* "},
		{"bold per line", chat.Of(chat.Bold("two\n\nlines")), "*two*\n\n*lines*"},
		{"bold escaped", chat.Of(chat.Bold("<!here> & co")), "*&lt;!here&gt; &amp; co*"},
		{"code", chat.Of(chat.Code("v1.4.1")), "`v1.4.1`"},
		{"code with a backtick", chat.Of(chat.Code("echo `id`")), "`echo " + tok("`") + "id" + tok("`") + "`"},
		{"code keeps its stars", chat.Of(chat.Code("web-* _x_ ~y~ 0 10 * * TUE")), "`web-* _x_ ~y~ 0 10 * * TUE`"},
		{"code with a full-width backtick", chat.Of(chat.Code("a｀b")), "`a" + tok("｀") + "b`"},
		{"pre", chat.Textf("out:\n%s", chat.Pre("*x* <y>\n```done```")), "out:\n```\n*x* &lt;y&gt;\n'''done'''\n```"},
		{"quote", chat.Textf("why\n%s", chat.Quote("*urgent*\n> again")), "why\n&gt; " + tok("*") + "urgent" + tok("*") + "\n&gt; " + softHyphen + "&gt; again"},
		{"plain at line start", chat.Textf("%s\n> %s", chat.User("U1"), "x"), "<@U1>\n" + softHyphen + "&gt; x"},
		{"plain after a span", chat.Textf("%s> x", chat.User("U1")), "<@U1>&gt; x"},
		{"link label", chat.Of(chat.Link("https://x.example/", "*a_b*")), "<https://x.example/|\u2217a\u02cdb\u2217>"},
		{"bad id", chat.Of(chat.User("*al_ice*")), "@" + tok("*") + "al_ice" + tok("*")},
		{"empty styles vanish", chat.Textf("a%s%s%s%sb", chat.Bold(""), chat.Code(""), chat.Pre(""), chat.Quote("")), "ab"},
		{"mixed", chat.Textf("⚠️ %s overrode the failing check %s: %s", chat.User("U1"), chat.Bold("error_rate*"), "*ship it*"),
			"⚠️ <@U1> overrode the failing check *error_rate" + tok("*") + "*: " + tok("*") + "ship it" + tok("*")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mrkdwnText(tt.in); got != tt.want {
				t.Errorf("mrkdwnText(%+v) =\n%q, want\n%q", tt.in, got, tt.want)
			}
		})
	}
}

// TestTitlesAndLabels: a section's title and a field's label are bold, and
// often a service's name: they are inert inside the bold like any text.
func TestTitlesAndLabels(t *testing.T) {
	msg := chat.Message{Sections: []chat.Section{{Title: "Drills of web-*", Fields: []chat.Field{
		{Label: "api_*", Value: chat.Plain("_x_")}, {Label: "", Value: chat.Plain("")}, {Label: "", Value: chat.Plain("only")},
	}}}}
	b := blockJSON(t, Render(msg))
	if got, want := b[0]["text"].(map[string]any)["text"], "*Drills of web-"+tok("*")+"*"; got != want {
		t.Errorf("title = %q, want %q", got, want)
	}
	fields := b[0]["fields"].([]any)
	if len(fields) != 2 {
		t.Fatalf("fields = %v, want the empty one left out", fields)
	}
	if got, want := fields[0].(map[string]any)["text"], "*api"+tok("_*")+"*\n"+tok("_")+"x"+tok("_"); got != want {
		t.Errorf("field = %q, want %q", got, want)
	}
	if got := fields[1].(map[string]any)["text"]; got != "only" {
		t.Errorf("field without label = %q", got)
	}
	if got, want := FallbackText(chat.Message{Header: "*web*"}), tok("*")+"web"+tok("*"); got != want {
		t.Errorf("fallback of a header = %q, want %q", got, want)
	}
}

func TestTruncateMarkup(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int
		want  string
	}{
		{"token never cut", "ab" + tok("*") + "cdef", 10, "ab…"},
		{"token kept whole", "ab" + tok("*") + "cdef", 26, "ab" + tok("*") + "c…"},
		{"bold closed", "*abcdefgh*", 6, "*abc…*"},
		{"code closed", "`abcdefgh`", 6, "`abc…`"},
		{"code block closed", "```\nabcdefgh\n```", 10, "```\na…\n```"},
		{"fence never cut", "x\n```\nab\n```", 4, "x\n…"},
		{"bold with a token", "*a" + tok("*") + "bcdef*", 27, "*a" + tok("*") + "b…*"},
		{"bold with a token cut", "*a" + tok("*") + "bcdef*", 20, "*a…*"},
		{"entity never cut", "*a &amp; b*", 7, "*a …*"},
		{"fits", "*ab*", 4, "*ab*"},
		{"limit 1", "*ab*", 1, "…"},
		{"people's stars inside a block", "```\n*a*b*\n```", 10, "```\n*…\n```"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := truncate(tt.in, tt.limit)
			if got != tt.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
			checkTruncated(t, tt.in, tt.limit)
		})
	}
}

// TestPlainTextCut: a header or button is plain_text, shown as it is: cut
// to its limit with nothing backed off or closed.
func TestPlainTextCut(t *testing.T) {
	h := "web-* a < b & `c` " + strings.Repeat("x", 200)
	b := blockJSON(t, Render(chat.Message{Header: h, Buttons: []chat.Button{{ActionID: "approve", Text: h, Value: "v"}}}))
	if got, want := b[0]["text"].(map[string]any)["text"], string([]rune(h)[:maxHeaderText-1])+"…"; got != want {
		t.Errorf("header = %q, want %q", got, want)
	}
	button := b[1]["elements"].([]any)[0].(map[string]any)["text"].(map[string]any)["text"]
	if want := string([]rune(h)[:maxButtonText-1]) + "…"; button != want {
		t.Errorf("button = %q, want %q", button, want)
	}
}

// TestRenderedLengthLimits: the limits hold for what is sent, date tokens
// counted, and a long section of a person's stars is cut between tokens.
func TestRenderedLengthLimits(t *testing.T) {
	stars := strings.Repeat("a* ", 2000)
	msg := chat.Message{Text: chat.Plain(stars), Context: chat.Plain(stars), Sections: []chat.Section{
		{Title: stars, Text: chat.Of(chat.Bold(stars))},
		{Fields: []chat.Field{{Label: stars, Value: chat.Plain(stars)}}},
	}}
	for _, b := range blockJSON(t, Render(msg)) {
		var texts []string
		if txt, ok := b["text"].(map[string]any); ok {
			texts = append(texts, txt["text"].(string))
		}
		for _, key := range []string{"fields", "elements"} {
			for _, f := range asList(b[key]) {
				texts = append(texts, f.(map[string]any)["text"].(string))
			}
		}
		for _, s := range texts {
			if n := utf8.RuneCountInString(s); n > maxSectionText {
				t.Errorf("%s block text of %d characters", b["type"], n)
			}
			if c := closers(s); c != "" {
				t.Errorf("%s block text left open, needs %q: …%s", b["type"], c, s[max(len(s)-80, 0):])
			}
			checkTruncated(t, s, utf8.RuneCountInString(s))
		}
	}
	if n := utf8.RuneCountInString(FallbackText(msg)); n > maxFallbackText {
		t.Errorf("fallback of %d characters", n)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// FuzzInert: whatever a person types, Slack shows it as typed and reads no
// markup in it, and no cut breaks a date token.
func FuzzInert(f *testing.F) {
	for _, s := range []string{"*urgent* _now_ ~x~ `code`", "> quote\n  > again", ":rotating_light: a_b :_c_:", "＊＿｀＞", "&amp;<>", "web-*"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, lineStart bool) {
		if !utf8.ValidString(s) {
			return // Slack takes UTF-8 only; JSON encoding replaces the rest
		}
		got := inert(s, lineStart)
		if bare := bareMarkup(got, lineStart); bare != "" {
			t.Fatalf("inert(%q) = %q leaves markup %q", s, got, bare)
		}
		if shownText, typed := strings.ReplaceAll(shown(got), softHyphen, ""), strings.ReplaceAll(s, softHyphen, ""); shownText != typed {
			t.Fatalf("inert(%q) = %q shows as %q", s, got, shownText)
		}
		for limit := 1; limit <= utf8.RuneCountInString(got) && limit < 80; limit++ {
			checkTruncated(t, got, limit)
		}
	})
}

// FuzzTruncateStyled: a person's text inside each of Backout's styles,
// cut anywhere, keeps its tokens whole and its formatting closed.
func FuzzTruncateStyled(f *testing.F) {
	f.Add("web-*", "`x`", "a\n```b", "*why*\n> no", uint16(20))
	f.Fuzz(func(t *testing.T, bold, code, pre, quote string, limit uint16) {
		text := chat.Textf("%s → %s, %s\n%s\n%s\n%s", chat.Bold(bold), chat.Code(code), bold, chat.Pre(pre), chat.Quote(quote), code)
		got := mrkdwnText(text)
		if c := closers(got); c != "" {
			t.Fatalf("%q renders open (needs %q)", got, c)
		}
		checkTruncated(t, got, int(limit%512))
	})
}

// TestDirectionControlsWrittenOut: Unicode's invisible direction controls
// in people's text are written out as [U+XXXX] wherever it is rendered
// (plain, inside Backout's code and blocks), so a reversed run cannot pass
// for other text; the marks right-to-left writing uses stay.
func TestDirectionControlsWrittenOut(t *testing.T) {
	tests := []struct {
		name string
		in   chat.Text
		want string
	}{
		{"override", chat.Plain("ok \u202eeteled si esabatad\u202c."), "ok [U+202E]eteled si esabatad[U+202C]."},
		{"isolates", chat.Plain("\u2066a\u2069 \u2067b\u2069 \u2068c\u2069"), "[U+2066]a[U+2069] [U+2067]b[U+2069] [U+2068]c[U+2069]"},
		{"embeddings", chat.Plain("\u202aa\u202b\u202d"), "[U+202A]a[U+202B][U+202D]"},
		{"in code", chat.Textf("%s", chat.Code("1.4.0\u202e-x")), "`1.4.0[U+202E]-x`"},
		{"in a block", chat.Textf("%s", chat.Pre("out\u202eput")), "```\nout[U+202E]put\n```"},
		{"marks stay", chat.Plain("a\u200fb\u200ec"), "a\u200fb\u200ec"},
	}
	for _, tt := range tests {
		if got := mrkdwnText(tt.in); got != tt.want {
			t.Errorf("%s: mrkdwnText = %q, want %q", tt.name, got, tt.want)
		}
	}
}
