package slack

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/backout/backout/internal/chat"
)

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape makes plain text safe for a mrkdwn text object: every &, < and > is
// escaped, so a reason typed by a person cannot smuggle in <!channel> or a
// link disguised as another. Mentions and links only come from typed spans.
func escape(s string) string { return mrkdwnEscaper.Replace(s) }

// mrkdwnText renders typed text: plain runs escaped, spans as Slack markup.
func mrkdwnText(t chat.Text) string {
	var b strings.Builder
	for _, s := range t {
		b.WriteString(span(s))
	}
	return b.String()
}

// span renders one span. A span whose ID or URL could not be written as
// markup safely is shown as its escaped plain fallback instead.
func span(s chat.Span) string {
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
		if validID(s.ID, "C") {
			return "<#" + s.ID + ">"
		}
	case chat.SpanLink:
		if validURL(s.URL) {
			if s.Text == "" {
				return "<" + escape(s.URL) + ">"
			}
			return "<" + escape(s.URL) + "|" + escape(s.Text) + ">"
		}
	}
	return escape(s.String())
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
			parts = append(parts, span(s))
		}
	}
	return strings.Join(parts, " ")
}

// truncate cuts s to at most limit characters, ending with "…" when cut.
// It never leaves half an entity (&amp;) or half a span (<@U1>) behind,
// since Slack would show those raw. In rendered mrkdwn every < opens a span
// and every & opens an entity, so backing up to an unclosed one is enough.
func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	if limit <= 1 {
		return "…"
	}
	runes := []rune(s)
	cut := string(runes[:limit-1])
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") {
		cut = cut[:i]
	}
	if i := strings.LastIndexByte(cut, '<'); i >= 0 && !strings.Contains(cut[i:], ">") {
		cut = cut[:i]
	}
	return cut + "…"
}
