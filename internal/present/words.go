package present

import (
	"strings"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/rollback"
)

// Words is the lifecycle's words (a refusal, why a plan failed) as chat
// text: its code runs as code, everything else plain, so a service name or
// a version in them can never turn into formatting. The lifecycle says
// what; this is the one place its words become chat text.
func Words(w rollback.Words) chat.Text {
	var t chat.Text
	for _, run := range w {
		if run.Code {
			t = t.Append(chat.Code(run.Text))
			continue
		}
		t = t.AddPlain(run.Text)
	}
	return t
}

// clause is w without its closing period, to go on inside a sentence.
func clause(w rollback.Words) chat.Text {
	t := Words(w)
	if n := len(t); n > 0 && t[n-1].Kind == chat.SpanPlain {
		t = append(t[:n-1:n-1], chat.Span{Kind: chat.SpanPlain, Text: strings.TrimSuffix(t[n-1].Text, ".")})
	}
	return t
}
