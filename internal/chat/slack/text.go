package slack

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/backout/backout/internal/chat"
)

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;",
	// Unicode's direction controls (embeddings, overrides, isolates) are
	// invisible and reorder what follows them: "\u202eeteled si esabatad"
	// reads "database is deleted". Each is written out where it stood.
	"\u202a", "[U+202A]", "\u202b", "[U+202B]", "\u202c", "[U+202C]", "\u202d", "[U+202D]", "\u202e", "[U+202E]",
	"\u2066", "[U+2066]", "\u2067", "[U+2067]", "\u2068", "[U+2068]", "\u2069", "[U+2069]")

// escape escapes every &, < and > so that text cannot smuggle in
// <!channel> or a link disguised as another, and writes out direction
// controls so that it cannot show as other text. It is enough where Slack
// formats nothing (inside a code block); elsewhere people's text goes
// through inert, which also keeps it from turning into formatting.
func escape(s string) string { return mrkdwnEscaper.Replace(s) }

// Slack documents no escape for its formatting characters, so a person's
// "*urgent*" would show bold. Like jsx-slack's <Escape> (yhatt/jsx-slack,
// docs/about-escape-and-exact-mode.md and src/mrkdwn/escape.ts), Backout
// writes each run of them as the fallback of a date token with an invalid
// format: Slack cannot format the date, so its clients show the fallback,
// and show it as plain text. jsx-slack does this wherever the characters
// occur, not only where they could open or close formatting, and so does
// Backout, bar an underscore inside a word (see inWord): Slack's rules for
// where formatting starts are undocumented, and every character left bare
// is a guess about them.
const (
	inertOpen  = "<!date^00000000^{_}|"
	inertClose = ">"
	// softHyphen, invisible, goes before a > that starts a line: it would
	// start a block quote, and a date token cannot hold it since Slack reads
	// no entity in a fallback and a bare > would end the token.
	softHyphen = "\u00ad"
)

// formatting reports whether r can open or close mrkdwn formatting: bold,
// italic, strikethrough, code, and the full-width forms Slack honours too.
func formatting(r rune) bool {
	switch r {
	case '*', '_', '~', '`', '＊', '＿', '｀':
		return true
	}
	return false
}

// directionControl reports whether r is one of the direction controls
// escape writes out. Marks (U+200E, U+200F) stay: they steer only the
// neutral characters around them, and right-to-left writing uses them.
func directionControl(r rune) bool {
	return r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}

// inWord reports whether the byte at i of s is an underscore between two
// ASCII letters or digits. mrkdwn starts and ends formatting only at a
// word's edge (jsx-slack's exact mode exists because "Super_cali_fragilistic"
// stays plain), so such an underscore is left bare: snake_case names and
// keys such as kill_grace stay as they are, and so does an emoji shorthand
// a person typed (":rotating_light:"), which a date token would break
// (jsx-slack leaves shorthands alone too).
func inWord(s string, i int) bool {
	return s[i] == '_' && i > 0 && i+1 < len(s) && alnum(s[i-1]) && alnum(s[i+1])
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

// inert renders a person's text as mrkdwn that Slack shows exactly as
// typed: &, < and > escaped, formatting characters in date tokens (bar an
// underscore inside a word), and a > or ＞ that starts a line (after spaces
// at most) kept from starting a quote. lineStart says whether s begins a
// line.
func inert(s string, lineStart bool) string { return neutral(s, lineStart, formatting) }

// backtick reports whether r would end inline code: inside it Slack
// formats nothing else, so jsx-slack escapes only these there, and so
// does Backout (a cron schedule or a glob in a command keeps its stars).
func backtick(r rune) bool { return r == '`' || r == '｀' }

// neutral is inert for the characters special reports as formatting.
func neutral(s string, lineStart bool, special func(rune) bool) string {
	var b strings.Builder
	blank := lineStart // nothing but spaces since the line began
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if special(r) && !inWord(s, i) {
			j := i + n
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if !special(r2) || inWord(s, j) {
					break
				}
				j += n2
			}
			b.WriteString(inertOpen + s[i:j] + inertClose)
			i, blank = j, false
			continue
		}
		switch {
		case r == '>' && blank:
			b.WriteString(softHyphen + "&gt;")
		case r == '＞' && blank:
			b.WriteString(inertOpen + "＞" + inertClose)
		case r == '&' || r == '<' || r == '>' || directionControl(r):
			b.WriteString(escape(string(r)))
		default:
			b.WriteString(s[i : i+n])
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
	return b.String()
}

// lookalikes stand in for formatting characters where a date token cannot
// go: inside a link's label, which is itself a token. jsx-slack picks the
// same characters.
var lookalikes = strings.NewReplacer("*", "\u2217", "＊", "\ufe61", "_", "\u02cd", "＿", "\u2e0f",
	"`", "\u02cb", "｀", "\u02cb", "~", "\u223c")

// styled renders text in Backout's own formatting: marker ("*" or "`")
// around each line, without the spaces at its ends (Slack formats nothing
// whose marker touches a space), the text itself inert; in code, only a
// backtick needs a date token.
func styled(marker, s string) string {
	special := formatting
	if marker == "`" {
		special = backtick
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		core := strings.TrimSpace(l)
		if core == "" {
			continue
		}
		lead := l[:strings.Index(l, core)]
		lines[i] = lead + marker + neutral(core, false, special) + marker + l[len(lead)+len(core):]
	}
	return strings.Join(lines, "\n")
}

// preBlock is s as a code block. Slack formats nothing inside one, so only
// &, < and > need escaping, and a fence, which would end the block early.
func preBlock(s string) string {
	return "```\n" + strings.ReplaceAll(escape(s), "```", "'''") + "\n```"
}

// quote is every line of s as a block quote, each line's text inert.
func quote(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "&gt; " + inert(l, true)
	}
	return strings.Join(lines, "\n")
}

// mrkdwnText renders typed text: plain runs inert, spans as Slack markup.
// It is placed at the start of a line.
func mrkdwnText(t chat.Text) string {
	var b strings.Builder
	for _, s := range t {
		lineStart := b.Len() == 0 || strings.HasSuffix(b.String(), "\n")
		b.WriteString(span(s, lineStart))
	}
	return b.String()
}

// span renders one span. A span whose ID or URL could not be written as
// markup safely is shown as its inert plain fallback instead.
func span(s chat.Span, lineStart bool) string {
	switch s.Kind {
	case chat.SpanUser:
		if validID(s.ID, "UW") {
			return "<@" + s.ID + ">"
		}
	case chat.SpanGroup:
		if validID(s.ID, "S") {
			return "<!subteam^" + s.ID + ">"
		}
	case chat.SpanChannel:
		if validID(s.ID, "CG") { // G: a private channel made before 2020
			return "<#" + s.ID + ">"
		}
	case chat.SpanLink:
		if validURL(s.URL) {
			if s.Text == "" {
				return "<" + escape(s.URL) + ">"
			}
			return "<" + escape(s.URL) + "|" + lookalikes.Replace(escape(s.Text)) + ">"
		}
	case chat.SpanBold:
		return styled("*", s.Text)
	case chat.SpanCode:
		return styled("`", s.Text)
	case chat.SpanPre:
		return preBlock(s.Text)
	case chat.SpanQuote:
		return quote(s.Text)
	}
	return inert(s.String(), lineStart)
}

// validID accepts a Slack ID: one of the given prefix letters, then upper-case
// letters and digits. Anything else could break out of the markup.
func validID(id, prefixes string) bool {
	if len(id) < 2 || !strings.ContainsRune(prefixes, rune(id[0])) {
		return false
	}
	for _, c := range id[1:] {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// validURL accepts an http(s) URL that cannot end the link markup early.
func validURL(u string) bool {
	rest, ok := strings.CutPrefix(u, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(u, "http://")
	}
	return ok && rest != "" && !strings.ContainsFunc(rest, func(r rune) bool {
		return r == '<' || r == '>' || r == '|' || unicode.IsSpace(r) || unicode.IsControl(r)
	})
}

// mentionLine renders the users and groups to notify; other spans, and IDs
// that are not Slack IDs, are left out since they would notify no one.
func mentionLine(spans []chat.Span) string {
	var parts []string
	for _, s := range spans {
		s.ID = strings.TrimSpace(s.ID)
		if (s.Kind == chat.SpanUser && validID(s.ID, "UW")) || (s.Kind == chat.SpanGroup && validID(s.ID, "S")) {
			parts = append(parts, span(s, false))
		}
	}
	return strings.Join(parts, " ")
}

// truncate cuts rendered mrkdwn s to at most limit characters, ending with
// "…" when cut. Slack would show raw whatever the cut leaves half of, so it
// never leaves half an entity (&amp;), half a span or date token (<@U1>,
// <!date^…>) or half a fence behind, and it closes the bold, code or code
// block it cut into, within the limit.
func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	var starts []int // byte offset of each character, as RuneCountInString counts them
	for i := range s {
		starts = append(starts, i)
	}
	for keep := limit - 1; keep > 0; keep-- {
		cut := whole(s, s[:starts[keep]])
		closing := closers(cut)
		if utf8.RuneCountInString(cut)+1+utf8.RuneCountInString(closing) <= limit {
			return cut + "…" + closing
		}
	}
	return "…"
}

// whole backs cut, a prefix of s, up to where nothing is left half
// written. In rendered mrkdwn every < opens a span or token and every &
// an entity, so backing up to an unclosed one is enough; a run of
// backticks the cut went through may be a fence, so it goes whole.
func whole(s, cut string) string {
	if i := strings.LastIndexByte(cut, '<'); i >= 0 && !strings.Contains(cut[i:], ">") {
		cut = cut[:i]
	}
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") {
		cut = cut[:i]
	}
	if strings.HasSuffix(cut, "`") && strings.HasPrefix(s[len(cut):], "`") {
		cut = strings.TrimRight(cut, "`")
	}
	return cut
}

// closers is what ends the formatting left open at the end of cut, a
// prefix of rendered mrkdwn. Outside spans and date tokens, every * and `
// there is Backout's own marker (a person's are all inside date tokens),
// and Backout never nests them; inside a code block, only a fence counts.
func closers(cut string) string {
	var pre, code, bold bool
	for i := 0; i < len(cut); i++ {
		switch {
		case strings.HasPrefix(cut[i:], "```"):
			pre = !pre
			i += 2
		case pre:
		case cut[i] == '<':
			if j := strings.IndexByte(cut[i:], '>'); j >= 0 {
				i += j
			}
		case cut[i] == '`':
			code = !code
		case cut[i] == '*' && !code:
			bold = !bold
		}
	}
	switch {
	case pre:
		return "\n```"
	case code:
		return "`"
	case bold:
		return "*"
	}
	return ""
}
