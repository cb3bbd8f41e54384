package human

import "unicode/utf8"

// Truncate cuts s to at most n characters (runes), the last of them "…"
// when it cut, never inside a UTF-8 character: a byte cut can leave half
// a character, which chat shows as garbage or refuses.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Tail is the last n bytes of s or fewer, starting at a character
// boundary, and whether it cut.
func Tail(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:], true
}
