package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"propose", "propose", 0},
		{"propse", "propose", 1},  // a dropped letter
		{"porpose", "propose", 2}, // swapped letters are two edits
		{"neds", "needs", 1},
		{"kitten", "sitting", 3},
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Distance(c.b, c.a); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (it is symmetric)", c.b, c.a, got, c.want)
		}
	}
}

func TestClosest(t *testing.T) {
	verbs := []string{"status", "propose", "plan", "pause", "approve", "abort", "help"}
	for _, c := range []struct {
		word string
		want string
	}{
		{"porpose", "propose"},
		{"stauts", "status"},
		{"aprove", "approve"},
		{"plna", "plan"},
		{"paus", "pause"},
		{"frobnicate", ""}, // nothing is close
		{"x", ""},          // any one letter is within two edits of a short word: not a typo
		{"he", ""},         // two edits from "help": the whole word again
		{"pla", "plan"},
		{"plane", "plan"}, // one edit from plan, two from pause: the nearest wins
		{"pase", "pause"}, // one edit from pause, two from plan
		{"bort", "abort"},
	} {
		if got := Closest(c.word, verbs); got != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.word, got, c.want)
		}
	}
	// Ties go to the alphabetically first, whatever the order given.
	if got := Closest("cat", []string{"cut", "bat"}); got != "bat" {
		t.Errorf("tie = %q, want bat", got)
	}
	if got := Closest("cat", []string{"bat", "cut"}); got != "bat" {
		t.Errorf("tie = %q, want bat", got)
	}
}

func TestHint(t *testing.T) {
	known := []string{"helm", "http", "kubectl"}
	for _, c := range []struct {
		word       string
		candidates []string
		hint, list string
	}{
		{"hlem", known, ` (did you mean "helm"?)`, ` (did you mean "helm"?)`},
		{"terraform", known, "", " (have helm, http, kubectl)"},
		{"k8s", nil, "", " (there are none)"},
	} {
		if got := Hint(c.word, c.candidates); got != c.hint {
			t.Errorf("Hint(%q) = %q, want %q", c.word, got, c.hint)
		}
		if got := HintOrList(c.word, c.candidates); got != c.list {
			t.Errorf("HintOrList(%q) = %q, want %q", c.word, got, c.list)
		}
	}
}
