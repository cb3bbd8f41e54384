// Package version compares release versions ("2.3.1", "v1.4", "2024.11.02-rc1")
// and checks them against constraints such as ">=2.3, <3".
package version

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a dotted numeric version with an optional pre-release suffix.
type Version struct {
	Parts []int
	Pre   string
	Raw   string
}

// Parse reads "v1.2.3", "1.2", "1.2.3-rc.1" or "1.2.3+build".
func Parse(s string) (Version, error) {
	raw := s
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	var pre string
	if i := strings.IndexByte(s, '-'); i >= 0 {
		s, pre = s[:i], s[i+1:]
	}
	if s == "" {
		return Version{}, fmt.Errorf("invalid version %q", raw)
	}
	var parts []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Version{}, fmt.Errorf("invalid version %q: %q is not a number", raw, p)
		}
		parts = append(parts, n)
	}
	return Version{Parts: parts, Pre: pre, Raw: raw}, nil
}

// Compare returns -1, 0 or 1. Missing parts count as zero; a pre-release
// sorts before its release.
func Compare(a, b Version) int {
	for i := 0; i < max(len(a.Parts), len(b.Parts)); i++ {
		var x, y int
		if i < len(a.Parts) {
			x = a.Parts[i]
		}
		if i < len(b.Parts) {
			y = b.Parts[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case a.Pre == b.Pre:
		return 0
	case a.Pre == "":
		return 1
	case b.Pre == "":
		return -1
	case a.Pre < b.Pre:
		return -1
	}
	return 1
}

// Constraint is a conjunction of comparisons.
type Constraint struct {
	Raw   string
	terms []term
}

type term struct {
	op string
	v  Version
}

// ParseConstraint reads ">=2.3", ">=2.3, <3", "=1.4.2", "!=2.0.1".
func ParseConstraint(s string) (Constraint, error) {
	c := Constraint{Raw: s}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		op := ""
		for _, cand := range []string{">=", "<=", "!=", "==", ">", "<", "="} {
			if strings.HasPrefix(part, cand) {
				op = cand
				break
			}
		}
		rest := strings.TrimSpace(part[len(op):])
		if op == "" || op == "==" {
			op = "="
		}
		v, err := Parse(rest)
		if err != nil {
			return Constraint{}, fmt.Errorf("invalid constraint %q: %w", s, err)
		}
		c.terms = append(c.terms, term{op: op, v: v})
	}
	if len(c.terms) == 0 {
		return Constraint{}, fmt.Errorf("invalid constraint %q: empty (example: \">=2.3, <3\")", s)
	}
	return c, nil
}

// Allows reports whether v satisfies every term.
func (c Constraint) Allows(v Version) bool {
	for _, t := range c.terms {
		cmp := Compare(v, t.v)
		ok := false
		switch t.op {
		case ">=":
			ok = cmp >= 0
		case "<=":
			ok = cmp <= 0
		case ">":
			ok = cmp > 0
		case "<":
			ok = cmp < 0
		case "=":
			ok = cmp == 0
		case "!=":
			ok = cmp != 0
		}
		if !ok {
			return false
		}
	}
	return true
}

func (c Constraint) String() string { return c.Raw }
