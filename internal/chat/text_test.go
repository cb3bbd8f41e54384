package chat

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestTextf(t *testing.T) {
	tests := []struct {
		name   string
		format string
		args   []any
		want   Text
	}{
		{"plain only", "%s has %d", []any{"RB-1", 2}, Text{{Kind: SpanPlain, Text: "RB-1 has 2"}}},
		{"empty", "", nil, nil},
		{"user", "%s approved %s.", []any{User("U1"), "RB-1"}, Text{User("U1"), {Kind: SpanPlain, Text: " approved RB-1."}}},
		{"group and channel", "cc %s in %s", []any{Group("S1"), Channel("C1")}, Text{{Kind: SpanPlain, Text: "cc "}, Group("S1"), {Kind: SpanPlain, Text: " in "}, Channel("C1")}},
		{"link", "(%s)", []any{Link("https://x.example", "details")}, Text{{Kind: SpanPlain, Text: "("}, Link("https://x.example", "details"), {Kind: SpanPlain, Text: ")"}}},
		{"text argument", "needs %s.", []any{Of(User("U1")).AddPlain(" or ").Add(Of(User("U2")))},
			Text{{Kind: SpanPlain, Text: "needs "}, User("U1"), {Kind: SpanPlain, Text: " or "}, User("U2"), {Kind: SpanPlain, Text: "."}}},
		{"width ignored on spans", "%-10s|%5v", []any{User("U1"), User("U2")}, Text{User("U1"), {Kind: SpanPlain, Text: "|"}, User("U2")}},
		{"indexed", "%[2]s then %[1]s and %[2]s", []any{"a", User("U1")}, Text{User("U1"), {Kind: SpanPlain, Text: " then a and "}, User("U1")}},
		{"percent", "100%% by %s", []any{User("U1")}, Text{{Kind: SpanPlain, Text: "100% by "}, User("U1")}},
		{"missing arg", "%s %s", []any{User("U1")}, Text{User("U1"), {Kind: SpanPlain, Text: " %!s(MISSING)"}}},
		{"quoted plain", "%q by %s", []any{"<@U1>", User("U2")}, Text{{Kind: SpanPlain, Text: `"<@U1>" by `}, User("U2")}},
		// A person's text is an argument: however it is spelt it stays plain.
		{"forged mention", "%s: %s", []any{User("U9"), "<@U1>"}, Text{User("U9"), {Kind: SpanPlain, Text: ": <@U1>"}}},
		{"forged broadcast", "%s: %s", []any{User("U9"), "<!channel>"}, Text{User("U9"), {Kind: SpanPlain, Text: ": <!channel>"}}},
		{"forged link", "%s: %s", []any{User("U9"), "<https://x|details>"}, Text{User("U9"), {Kind: SpanPlain, Text: ": <https://x|details>"}}},
		{"forged marker", "%s%s", []any{"\x00abc\x00", User("U1")}, Text{{Kind: SpanPlain, Text: "\x00abc\x00"}, User("U1")}},
		// Backout's formatting stays typed; a person's markup stays plain.
		{"styled", "%s → %s, %s\n%s\n%s", []any{Bold("web-*"), Code("img"), "*not bold*", Pre("out"), Quote("why")},
			Text{Bold("web-*"), {Kind: SpanPlain, Text: " → "}, Code("img"), {Kind: SpanPlain, Text: ", *not bold*\n"}, Pre("out"), {Kind: SpanPlain, Text: "\n"}, Quote("why")}},
		{"empty styles dropped", "a%s%sb", []any{Bold(""), Code("")}, Text{{Kind: SpanPlain, Text: "ab"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Textf(tt.format, tt.args...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Textf(%q) = %#v, want %#v", tt.format, got, tt.want)
			}
		})
	}
}

func TestTextString(t *testing.T) {
	got := Textf("%s and %s in %s, see %s or %s", User("U1"), Group("S1"), Channel("C1"), Link("https://x.example", "details"), Link("https://y.example", "")).String()
	if want := "@U1 and @S1 in #C1, see details (https://x.example) or https://y.example"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	got = Textf("%s %s %s\n%s", Bold("web-*"), Code("a*"), Pre("x\ny"), Quote("one\ntwo")).String()
	if want := "web-* `a*` x\ny\n> one\n> two"; got != want {
		t.Errorf("String() of styles = %q, want %q", got, want)
	}
	// Span is a Stringer, so plain fmt shows the fallback too.
	if got := fmt.Sprintf("%s!", User("U1")); got != "@U1!" {
		t.Errorf("Sprintf(%%s, User) = %q", got)
	}
}

func TestAppendDoesNotAlias(t *testing.T) {
	base := make(Text, 0, 8).AddPlain("a")
	x := base.AddPlain("x")
	y := base.AddPlain("y")
	if x.String() != "ax" || y.String() != "ay" || base.String() != "a" {
		t.Fatalf("base %q x %q y %q", base, x, y)
	}
	if got := Join([]Text{Plain("a"), Of(User("U1")), nil, Plain("b")}, ", "); got.String() != "a, @U1, , b" || len(got) != 3 {
		t.Fatalf("Join = %#v", got)
	}
	if !Plain("").Empty() || !(Text{{Kind: SpanPlain}}).Empty() || Of(User("U1")).Empty() || !(Text{Bold(""), Pre("")}).Empty() || Of(Code("x")).Empty() {
		t.Fatal("Empty is wrong")
	}
}

func TestWho(t *testing.T) {
	if Who("S1") != Group("S1") || Who("U1") != User("U1") || Who("alice") != User("alice") {
		t.Fatal("Who picks the wrong kind")
	}
	if got := Mentions("U1", "S2"); !reflect.DeepEqual(got, []Span{User("U1"), Group("S2")}) {
		t.Fatalf("Mentions = %v", got)
	}
}

func TestButtonValue(t *testing.T) {
	tests := []struct{ id, extra, value string }{
		{"RB-1", "", "RB-1"},
		{"RB-1", "9c1e2f3a", "RB-1|9c1e2f3a"},
		{"RB-2", "payments-api/dba-ok", "RB-2|payments-api/dba-ok"},
		{"RB-3", "a|b", "RB-3|a|b"}, // only the first separator splits
	}
	for _, tt := range tests {
		v := ButtonValue(tt.id, tt.extra)
		if v != tt.value {
			t.Errorf("ButtonValue(%q, %q) = %q, want %q", tt.id, tt.extra, v, tt.value)
		}
		if id, extra := ParseButtonValue(v); id != tt.id || extra != tt.extra {
			t.Errorf("ParseButtonValue(%q) = %q, %q", v, id, extra)
		}
	}
	if !NeedsReason(ActionReject) || !NeedsReason(ActionAbort) || NeedsReason(ActionApprove) {
		t.Fatal("NeedsReason")
	}
}

// fallback prints its string for any verb, as Textf prints a span.
type fallback string

func (f fallback) Format(s fmt.State, _ rune) { _, _ = s.Write([]byte(f)) }

func FuzzTextf(f *testing.F) {
	f.Add("%s approved %s: %s", "RB-1", "U1")
	f.Add("%[2]s %[1]q %[3]*d %%", "<@U1>", "S1")
	f.Add("%v%v%v%v", "\x00", "")
	f.Add("%!%s%", "<!channel>", "C1")
	f.Fuzz(func(t *testing.T, format, plain, id string) {
		if strings.ContainsAny(format, "pw") {
			return // fmt prints a bad %p or %w argument by reflection, not its text; vet rejects both for spans
		}
		sp := Who(id)
		got := Textf(format, plain, sp, 3)
		// Textf is Sprintf with the span printed as one opaque run.
		// fmt names argument types in %T and error notes; those differ.
		want := strings.ReplaceAll(fmt.Sprintf(format, plain, fallback(sp.String()), 3), "chat.fallback", "chat.placeholder")
		if got.String() != want {
			t.Fatalf("Textf(%q).String() = %q, Sprintf gives %q", format, got.String(), want)
		}
		for i, s := range got {
			switch {
			case s.Kind == SpanPlain && s.Text == "":
				t.Fatalf("empty plain run at %d: %#v", i, got)
			case s.Kind == SpanPlain && i > 0 && got[i-1].Kind == SpanPlain:
				t.Fatalf("unmerged plain runs at %d: %#v", i, got)
			case s.Kind != SpanPlain && s != sp:
				t.Fatalf("span %#v was not an argument", s)
			case s.Kind == SpanPlain && strings.Contains(s.Text, "\x00") && !strings.Contains(format+plain, "\x00"):
				t.Fatalf("marker left in %q", s.Text)
			}
		}
	})
}
