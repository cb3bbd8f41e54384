// Package datarule is the small grammar that lets Backout enforce what a
// rollback may do to data, instead of only showing it:
//
//	item       = name [ "(" note ")" ]           runbook data.reverts / data.keeps
//	name       = segment { "." segment }          e.g. orders.audit_log, orders.*
//	segment    = 1*( letter | digit | "_" | "-" ) | "*"
//	constraints = clause { ( ";" | newline ) clause }   a service's constraints:
//	clause     = "never revert" item { "," item }   a rule Backout enforces
//	           | text                               shown only; it must not speak of reverting
//
// Two names overlap when one is the other or lies under it, segment by
// segment, "*" matching any one segment: reverting "orders" (the whole
// database) reverts "orders.audit_log", and reverting
// "orders.audit_log.rows" changes "orders.audit_log". A rollback whose
// reverts overlap what its runbook keeps, or what a service's constraints
// say never to revert, is refused.
package datarule

import (
	"fmt"
	"regexp"
	"strings"
)

// Name is a dotted data name, split into its segments.
type Name []string

func (n Name) String() string { return strings.Join(n, ".") }

// Overlaps reports whether reverting one name touches the other: one is a
// prefix of the other, segment by segment, "*" matching any segment.
func (n Name) Overlaps(o Name) bool {
	for i := range min(len(n), len(o)) {
		if n[i] != o[i] && n[i] != "*" && o[i] != "*" {
			return false
		}
	}
	return true
}

// Item is one entry of data.reverts or data.keeps, or one target of a rule.
type Item struct {
	Name Name
	Note string // the text in parentheses, if any
	Text string // the item as written, trimmed
}

var segment = regexp.MustCompile(`^(?:[A-Za-z0-9_-]+|\*)$`)

// ParseName parses a dotted name.
func ParseName(s string) (Name, error) {
	if s == "" {
		return nil, fmt.Errorf("a data name is required (e.g. orders.audit_log)")
	}
	parts := strings.Split(s, ".")
	for _, p := range parts {
		if !segment.MatchString(p) {
			return nil, fmt.Errorf("%q is not a data name: use dotted segments of letters, digits, '_' and '-', or '*' (e.g. orders.audit_log)", s)
		}
	}
	return Name(parts), nil
}

// ParseItem parses `name [(note)]`.
func ParseItem(s string) (Item, error) {
	text := strings.TrimSpace(s)
	name, note := text, ""
	if i := strings.IndexByte(text, '('); i >= 0 {
		if !strings.HasSuffix(text, ")") {
			return Item{}, fmt.Errorf("%q: a note goes in parentheses at the end: name (note)", text)
		}
		name, note = strings.TrimSpace(text[:i]), strings.TrimSpace(text[i+1:len(text)-1])
	}
	if strings.ContainsAny(name, " \t") {
		return Item{}, fmt.Errorf("%q: write one dotted data name, then any description in parentheses, e.g. \"orders.audit_log (rows kept 7 years)\"", text)
	}
	n, err := ParseName(name)
	if err != nil {
		return Item{}, err
	}
	return Item{Name: n, Note: note, Text: text}, nil
}

// Rule is one "never revert" clause of a service's constraints.
type Rule struct {
	Targets []Item
	Text    string // the clause as written
}

// Constraints is a service's constraints: the rules Backout enforces and
// the free-text clauses it only shows.
type Constraints struct {
	Rules []Rule
	Notes []string
}

const rulePrefix = "never revert"

// reverting reports a clause that speaks of reverting: such a clause must
// be a rule, or Backout would show a promise it does not keep.
func reverting(clause string) bool { return strings.Contains(strings.ToLower(clause), "revert") }

// ParseConstraints parses a service's constraints text.
func ParseConstraints(s string) (Constraints, error) {
	var c Constraints
	for _, clause := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '\n' }) {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			continue
		}
		if len(clause) < len(rulePrefix) || !strings.EqualFold(clause[:len(rulePrefix)], rulePrefix) {
			if reverting(clause) {
				return Constraints{}, fmt.Errorf("%q speaks of reverting but is not a rule Backout can enforce: write it as \"never revert NAME (why)\", e.g. \"never revert orders.audit_log (PCI: 7-year retention)\"", clause)
			}
			c.Notes = append(c.Notes, clause)
			continue
		}
		rule, err := parseRule(clause)
		if err != nil {
			return Constraints{}, err
		}
		c.Rules = append(c.Rules, rule)
	}
	return c, nil
}

// parseRule parses `never revert item {, item}`; a comma inside a note's
// parentheses does not split items.
func parseRule(clause string) (Rule, error) {
	body := strings.TrimSpace(clause[len(rulePrefix):])
	if body == "" {
		return Rule{}, fmt.Errorf("%q: name what is never reverted, e.g. \"never revert orders.audit_log\"", clause)
	}
	rule := Rule{Text: clause}
	depth, start := 0, 0
	for i, r := range body + "," {
		switch {
		case r == '(':
			depth++
		case r == ')':
			depth--
			if depth < 0 {
				return Rule{}, fmt.Errorf("%q: unbalanced parentheses", clause)
			}
		case r == ',' && depth == 0:
			it, err := ParseItem(body[start:i])
			if err != nil {
				return Rule{}, fmt.Errorf("in %q: %w", clause, err)
			}
			rule.Targets = append(rule.Targets, it)
			start = i + 1
		}
	}
	if depth != 0 {
		return Rule{}, fmt.Errorf("%q: unbalanced parentheses", clause)
	}
	return rule, nil
}

// Conflict is one revert that something forbids.
type Conflict struct {
	Revert    Item
	Forbidden Item
}

// Conflicts lists every revert that overlaps a forbidden item.
func Conflicts(reverts, forbidden []Item) []Conflict {
	var out []Conflict
	for _, r := range reverts {
		for _, f := range forbidden {
			if r.Name.Overlaps(f.Name) {
				out = append(out, Conflict{Revert: r, Forbidden: f})
			}
		}
	}
	return out
}

// Forbidden is every target of the rules.
func (c Constraints) Forbidden() []Item {
	var out []Item
	for _, r := range c.Rules {
		out = append(out, r.Targets...)
	}
	return out
}
