package rollback

import (
	"fmt"
	"strings"
)

// Words is what the lifecycle says to a person in its own words: a
// refusal, why a plan cannot be made, why an alert raised no proposal. It
// is runs of plain text and of inline code (a command to type, a config
// key), so that chat can show the code as code while everything else in it,
// service names and versions included, stays inert text. The core does not
// import chat (docs/architecture.md): internal/present turns Words into
// chat.Text. String is the plain form for the HTTP API, logs, the audit
// trail and stored outcomes, code in backticks, as those always showed it.
//
// nil says nothing: a lifecycle call with no failure returns nil.
type Words []Word

// Word is one run of Words.
type Word struct {
	Text string
	Code bool
}

// Code is s as inline code.
func Code(s string) Word { return Word{Text: s, Code: true} }

// Say makes Words of parts, joined with nothing between them: a Word as it
// is, Words run by run, anything else as plain text (fmt.Sprint). It leaves
// out empty runs and merges neighbouring plain ones, so saying nothing
// gives nil.
func Say(parts ...any) Words {
	var out Words
	add := func(w Word) {
		switch n := len(out); {
		case w.Text == "":
		case n > 0 && !w.Code && !out[n-1].Code:
			out[n-1].Text += w.Text
		default:
			out = append(out, w)
		}
	}
	for _, p := range parts {
		switch v := p.(type) {
		case Word:
			add(v)
		case Words:
			for _, w := range v {
				add(w)
			}
		default:
			add(Word{Text: fmt.Sprint(v)})
		}
	}
	return out
}

// Sayf is fmt.Sprintf as plain Words (nil when it formats to "").
func Sayf(format string, args ...any) Words { return Say(fmt.Sprintf(format, args...)) }

// String is the plain form: code in backticks.
func (ws Words) String() string {
	var b strings.Builder
	for _, w := range ws {
		if w.Code {
			b.WriteString("`" + w.Text + "`")
			continue
		}
		b.WriteString(w.Text)
	}
	return b.String()
}
