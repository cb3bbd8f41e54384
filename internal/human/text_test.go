package human

import (
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"a longer reason", 8, "a longe…"},
		{"déjà vu, again", 5, "déjà…"},
		{"🚀🚀🚀", 2, "🚀…"},
		{"abc", 1, "…"},
		{"", 0, ""},
	}
	for _, tt := range tests {
		if got := Truncate(tt.s, tt.n); got != tt.want || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		s       string
		n       int
		want    string
		wantCut bool
	}{
		{"short", 10, "short", false},
		{"0123456789", 4, "6789", true},
		{"xé", 1, "", true},   // the last byte is inside é: nothing whole fits
		{"xéy", 2, "y", true}, // starts after the half character
		{"x🚀", 4, "🚀", true},
	}
	for _, tt := range tests {
		got, cut := Tail(tt.s, tt.n)
		if got != tt.want || cut != tt.wantCut || !utf8.ValidString(got) {
			t.Errorf("Tail(%q, %d) = %q, %v; want %q, %v", tt.s, tt.n, got, cut, tt.want, tt.wantCut)
		}
	}
}

func FuzzTruncate(f *testing.F) {
	for _, s := range []string{"déjà vu", "🚀🚀", "plain"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1000 || !utf8.ValidString(s) {
			return
		}
		got := Truncate(s, n)
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > max(n, 1) {
			t.Fatalf("Truncate(%q, %d) = %q", s, n, got)
		}
		tail, _ := Tail(s, n)
		if !utf8.ValidString(tail) || len(tail) > n {
			t.Fatalf("Tail(%q, %d) = %q", s, n, tail)
		}
	})
}
