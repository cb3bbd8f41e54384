// Package edge checks text where it enters Backout (Slack commands and
// modals, the console, the HTTP API, the config file) for control
// characters. A NUL byte or an escape sequence in a reason, a version or a
// param passes planning untouched and only fails when a step runs (exec
// refuses NUL in arguments) — after earlier steps already ran — or corrupts
// a terminal or a log line. Refusing it at the edge, with the reason, costs
// the person one retype.
package edge

import (
	"fmt"
	"unicode/utf8"
)

// Control finds the first control character in s: C0 (U+0000–U+001F), DEL
// and C1 (U+0080–U+009F). multiline allows tab, line feed and carriage
// return, which free text (a reason typed over several lines) may hold;
// single-line values (versions, ids, params) allow none. pos counts
// characters from 1; invalid UTF-8 is reported as U+FFFD.
func Control(s string, multiline bool) (r rune, pos int, found bool) {
	pos = 0
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		i += size
		pos++
		if c == utf8.RuneError && size == 1 {
			return c, pos, true
		}
		if multiline && (c == '\t' || c == '\n' || c == '\r') {
			continue
		}
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) {
			return c, pos, true
		}
	}
	return 0, 0, false
}

// Problem says what is wrong with field, or "" when it is clean.
func Problem(field, s string, multiline bool) string {
	r, pos, found := Control(s, multiline)
	if !found {
		return ""
	}
	if r == utf8.RuneError {
		return fmt.Sprintf("%s is not valid UTF-8 (at character %d)", field, pos)
	}
	return fmt.Sprintf("%s contains a control character (U+%04X) at character %d", field, r, pos)
}
