// Package suggest finds the known word a person most likely meant when they
// mistyped one: a config key, a command, a service. It is one small edit
// distance, shared so that every "did you mean" in Backout agrees.
package suggest

import (
	"fmt"
	"strings"
)

// maxDistance is the most edits a suggestion may be away. Two catches a
// doubled, dropped or swapped letter ("porpose", "neds") without offering
// unrelated words.
const maxDistance = 2

// Closest returns the candidate nearest to word, or "" when none is within
// two edits. Ties go to the alphabetically first candidate, so the answer
// does not depend on the order (or map iteration) candidates came in. A
// candidate is never offered for a word it would have to rewrite entirely
// ("x" is two edits from "as", but nobody meant that).
func Closest(word string, candidates []string) string {
	best, bestDist := "", maxDistance+1
	for _, c := range candidates {
		d := Distance(word, c)
		if d >= len(word) || d > maxDistance {
			continue
		}
		if d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, byte-wise: the
// fewest single-byte insertions, deletions and substitutions turning a into
// b. Commands, keys and service names are ASCII, so bytes are letters.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Hint is " (did you mean "x"?)" for the candidate nearest to word, or ""
// when none is near: the tail of a message about an unknown name.
func Hint(word string, candidates []string) string {
	if near := Closest(word, candidates); near != "" {
		return fmt.Sprintf(" (did you mean %q?)", near)
	}
	return ""
}

// HintOrList is Hint, or else what there is to choose from, in the order
// given: " (have a, b)", or " (there are none)" for no candidates.
func HintOrList(word string, candidates []string) string {
	if h := Hint(word, candidates); h != "" {
		return h
	}
	if len(candidates) == 0 {
		return " (there are none)"
	}
	return " (have " + strings.Join(candidates, ", ") + ")"
}
