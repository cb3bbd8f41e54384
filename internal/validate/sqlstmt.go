package validate

import (
	"errors"
	"fmt"
	"strings"
)

// readOnlyStatement accepts one SELECT or WITH statement (optionally in
// parentheses, after comments, with one trailing semicolon). It is a lint
// courtesy that catches `DELETE ...` pasted by mistake; the read-only
// transaction is what keeps a check from writing.
func readOnlyStatement(query string) error {
	rest := skipSpaceAndComments(query)
	for strings.HasPrefix(rest, "(") {
		rest = skipSpaceAndComments(rest[1:])
	}
	end := 0
	for end < len(rest) && isWordByte(rest[end]) {
		end++
	}
	word := strings.ToUpper(rest[:end])
	switch {
	case word == "":
		return errors.New("expected a SELECT or WITH statement")
	case word != "SELECT" && word != "WITH":
		return fmt.Errorf("only SELECT or WITH statements may run in a check, got %s", word)
	}
	if statementCount(query) > 1 {
		return errors.New("write a single statement")
	}
	return nil
}

func isWordByte(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// skipSpaceAndComments drops leading whitespace, -- and /* */ comments.
// MySQL's # comments are not recognised: in PostgreSQL # is an operator, and
// mistaking it for a comment could hide a second statement.
func skipSpaceAndComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n\f\v")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return ""
			}
			s = s[i+4:]
		default:
			return s
		}
	}
}

// statementCount counts statements separated by semicolons outside quotes,
// comments and dollar-quoted strings; an empty tail after the last
// semicolon does not count.
func statementCount(s string) int {
	count := 0
	for {
		s = skipSpaceAndComments(s)
		if s == "" {
			return count
		}
		count++
		s = skipStatement(s)
	}
}

// skipStatement returns what follows the first top-level semicolon.
func skipStatement(s string) string {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ';':
			return s[i+1:]
		case c == '\'' || c == '"' || c == '`':
			j := closeQuote(s, i+1, c)
			if j < 0 {
				return ""
			}
			i = j
		case c == '-' && strings.HasPrefix(s[i:], "--"), c == '/' && strings.HasPrefix(s[i:], "/*"):
			rest := skipSpaceAndComments(s[i:])
			i = len(s) - len(rest) - 1
		case c == '$':
			if j := closeDollar(s, i); j >= 0 {
				i = j
			}
		}
	}
	return ""
}

// closeQuote finds the closing quote q from i, treating a doubled quote or
// a backslash as an escape; -1 when unterminated.
func closeQuote(s string, i int, q byte) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			if i+1 < len(s) && s[i+1] == q {
				i++
				continue
			}
			return i
		}
	}
	return -1
}

// closeDollar finds the end of a PostgreSQL $tag$...$tag$ string starting
// at i; -1 when s[i:] does not start one (e.g. a $1 parameter).
func closeDollar(s string, i int) int {
	j := i + 1
	for j < len(s) && isWordByte(s[j]) {
		if j == i+1 && s[j] >= '0' && s[j] <= '9' {
			return -1 // a positional parameter such as $1
		}
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return -1
	}
	tag := s[i : j+1]
	k := strings.Index(s[j+1:], tag)
	if k < 0 {
		return len(s) - 1
	}
	return j + 1 + k + len(tag) - 1
}
