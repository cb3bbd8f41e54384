package slack

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// mentionToken matches the only angle-bracket forms Backout writes itself:
// user, user-group and channel mentions, and a link labelled "details" (an
// alert's page). Everything else in text is escaped, so a reason typed by a
// person cannot smuggle in <!channel> or a link disguised as another.
var mentionToken = regexp.MustCompile(`<@[UW][A-Z0-9]+>|<!subteam\^S[A-Z0-9]+>|<#C[A-Z0-9]+>|<https?://[^\s<>|]+\|details>`)

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape makes s safe for a mrkdwn text object, keeping mention tokens.
func escape(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range mentionToken.FindAllStringIndex(s, -1) {
		b.WriteString(mrkdwnEscaper.Replace(s[last:loc[0]]))
		b.WriteString(s[loc[0]:loc[1]])
		last = loc[1]
	}
	b.WriteString(mrkdwnEscaper.Replace(s[last:]))
	return b.String()
}

// mention renders one user or group ID. Slack user-group IDs start with S.
func mention(id string) string {
	switch {
	case id == "":
		return ""
	case strings.HasPrefix(id, "<"):
		return id // already a mention token
	case strings.HasPrefix(id, "S"):
		return "<!subteam^" + id + ">"
	default:
		return "<@" + id + ">"
	}
}

func mentionLine(ids []string) string {
	var parts []string
	for _, id := range ids {
		if m := mention(strings.TrimSpace(id)); m != "" && mentionToken.MatchString(m) {
			parts = append(parts, m)
		}
	}
	return strings.Join(parts, " ")
}

// truncate cuts s to at most limit characters, ending with "…" when cut.
// It never leaves half an entity (&amp;) or half a mention (<@U1>) behind,
// since Slack would show those raw.
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
