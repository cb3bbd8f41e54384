package rollback

import (
	"reflect"
	"testing"
)

// TestSay: parts become runs, plain ones merged and empty ones left out;
// String is the plain form, code in backticks.
func TestSay(t *testing.T) {
	tests := []struct {
		got   Words
		want  Words
		plain string
	}{
		{Say(), nil, ""},
		{Say("", Code(""), Words(nil)), nil, ""},
		{Sayf("%s is %s.", "RB-1", StateRunning), Words{{Text: "RB-1 is running."}}, "RB-1 is running."},
		{Say("run ", Code("bot lint"), "", "."), Words{{Text: "run "}, {Text: "bot lint", Code: true}, {Text: "."}}, "run `bot lint`."},
		{Say("a", Say("b", Code("c")), 1, Code("d"), Code("e")), Words{{Text: "ab"}, {Text: "c", Code: true}, {Text: "1"}, {Text: "d", Code: true}, {Text: "e", Code: true}}, "ab`c`1`d``e`"},
	}
	for i, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) || tt.got.String() != tt.plain {
			t.Errorf("%d: got %#v (%q), want %#v (%q)", i, tt.got, tt.got.String(), tt.want, tt.plain)
		}
	}
}

// TestSayLeavesItsPartsAlone: merging into a run never writes into the
// Words it was given.
func TestSayLeavesItsPartsAlone(t *testing.T) {
	shared := Words{{Text: "x"}}
	_ = Say(shared, "y")
	_ = Say("w", shared)
	if !reflect.DeepEqual(shared, Words{{Text: "x"}}) {
		t.Fatalf("shared = %#v", shared)
	}
}
