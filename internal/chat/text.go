package chat

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// SpanKind says what a Span is. Plain spans carry text typed by people or
// taken from the world, shown exactly as it is. User, group, channel and
// link spans are references Backout itself made, which each adapter renders
// in its own markup (a live mention in Slack, "@bob" on the console). Bold,
// code, pre and quote spans are Backout's own formatting: the style is
// Backout's, the text inside may still be a person's (a service name, a
// reason) and is shown literally, so no adapter may read markup in it.
type SpanKind string

// The span kinds.
const (
	SpanPlain   SpanKind = "plain"
	SpanUser    SpanKind = "user"
	SpanGroup   SpanKind = "group"
	SpanChannel SpanKind = "channel"
	SpanLink    SpanKind = "link"
	SpanBold    SpanKind = "bold"
	SpanCode    SpanKind = "code"
	SpanPre     SpanKind = "pre"
	SpanQuote   SpanKind = "quote"
)

// Span is one run of a Text. Plain and styled (bold, code, pre, quote)
// spans hold Text; user, group and channel spans hold ID; a link holds URL
// and its label in Text.
type Span struct {
	Kind SpanKind `json:"kind"`
	Text string   `json:"text,omitempty"`
	ID   string   `json:"id,omitempty"`
	URL  string   `json:"url,omitempty"`
}

// Text is chat text as typed runs. Keeping mentions, links and Backout's
// own formatting typed, instead of writing Slack markup into strings, means
// an adapter never has to parse markup back, and text a person typed can
// never turn into a live mention or into formatting.
type Text []Span

// Plain is s as text, never interpreted.
func Plain(s string) Text {
	if s == "" {
		return nil
	}
	return Text{{Kind: SpanPlain, Text: s}}
}

// User mentions a user by ID.
func User(id string) Span { return Span{Kind: SpanUser, ID: id} }

// Group mentions a user group by ID.
func Group(id string) Span { return Span{Kind: SpanGroup, ID: id} }

// Channel refers to a channel by ID.
func Channel(id string) Span { return Span{Kind: SpanChannel, ID: id} }

// Link is a link to url shown as label.
func Link(url, label string) Span { return Span{Kind: SpanLink, URL: url, Text: label} }

// Bold is s in bold: Backout's emphasis, e.g. of a service name.
func Bold(s string) Span { return Span{Kind: SpanBold, Text: s} }

// Code is s as inline code: a command, a version, an artifact.
func Code(s string) Span { return Span{Kind: SpanCode, Text: s} }

// Pre is s as a block of preformatted lines (a command's output). It is a
// block: put it after a line break.
func Pre(s string) Span { return Span{Kind: SpanPre, Text: s} }

// Quote is s quoted, every line of it: a person's reason. It is a block:
// put it after a line break.
func Quote(s string) Span { return Span{Kind: SpanQuote, Text: s} }

// styled reports whether k is one of Backout's own formatting kinds.
func (k SpanKind) styled() bool {
	return k == SpanBold || k == SpanCode || k == SpanPre || k == SpanQuote
}

// Who mentions an ID that may be a user or a user group, as configured
// owners and gate groups are: Slack user-group IDs start with S. This is the
// one place that rule lives.
func Who(id string) Span {
	if strings.HasPrefix(id, "S") {
		return Group(id)
	}
	return User(id)
}

// Mentions mentions each ID with Who.
func Mentions(ids ...string) []Span {
	out := make([]Span, 0, len(ids))
	for _, id := range ids {
		out = append(out, Who(id))
	}
	return out
}

// Of makes a Text of spans.
func Of(spans ...Span) Text { return Text(nil).Append(spans...) }

// String is the plain fallback: "@U1", "#C1", "label (url)"; bold and
// pre text as it is, code in backticks and a quote's lines after "> ", as a
// terminal shows them. Span implements fmt.Stringer so that vet accepts %s
// for spans in Textf.
func (s Span) String() string {
	switch s.Kind {
	case SpanCode:
		return "`" + s.Text + "`"
	case SpanQuote:
		return "> " + strings.ReplaceAll(s.Text, "\n", "\n> ")
	case SpanUser, SpanGroup:
		return "@" + s.ID
	case SpanChannel:
		return "#" + s.ID
	case SpanLink:
		if s.Text == "" {
			return s.URL
		}
		return s.Text + " (" + s.URL + ")"
	}
	return s.Text
}

// String is the whole text in its plain fallback form.
func (t Text) String() string {
	var b strings.Builder
	for _, s := range t {
		b.WriteString(s.String())
	}
	return b.String()
}

// Empty reports whether t shows nothing.
func (t Text) Empty() bool {
	for _, s := range t {
		if (s.Kind != SpanPlain && !s.Kind.styled()) || s.Text != "" {
			return false
		}
	}
	return true
}

// Append returns t followed by spans, merging neighbouring plain runs and
// leaving out plain and styled spans with no text. It never writes into
// t's backing array, so a shared Text stays as it was.
func (t Text) Append(spans ...Span) Text {
	out := make(Text, len(t), len(t)+len(spans))
	copy(out, t)
	for _, s := range spans {
		if (s.Kind == SpanPlain || s.Kind.styled()) && s.Text == "" {
			continue
		}
		if s.Kind == SpanPlain {
			if n := len(out); n > 0 && out[n-1].Kind == SpanPlain {
				out[n-1].Text += s.Text
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// Add returns t followed by u.
func (t Text) Add(u Text) Text { return t.Append(u...) }

// AddPlain returns t followed by the plain text s.
func (t Text) AddPlain(s string) Text { return t.Append(Plain(s)...) }

// Join concatenates parts with the plain separator sep.
func Join(parts []Text, sep string) Text {
	var out Text
	for i, p := range parts {
		if i > 0 {
			out = out.AddPlain(sep)
		}
		out = out.Add(p)
	}
	return out
}

// Textf formats like fmt.Sprintf, except that Span and Text arguments become
// typed runs of the result rather than text. Every other argument is
// formatted as plain text, so nothing in it can become a mention or link.
//
// fmt does the formatting, so verbs, widths and argument indexes behave
// exactly as in Sprintf. Each Span or Text argument prints a marker holding
// a random nonce chosen after the arguments are fixed; the output is split
// at the markers. Should a plain argument contain the marker anyway, the
// count of markers no longer matches and Textf tries a fresh nonce. (The
// alternative, parsing verbs here, would re-implement fmt's grammar.)
func Textf(format string, args ...any) Text {
	typed := false
	for _, a := range args {
		switch a.(type) {
		case Span, Text:
			typed = true
		}
	}
	if !typed {
		return Plain(fmt.Sprintf(format, args...))
	}
	// A clash needs a plain argument to contain a 128-bit nonce drawn after
	// it was made; the bound only guards against a bug looping for ever.
	for range 8 {
		if t, ok := textf(format, args); ok {
			return t
		}
	}
	return Plain(fmt.Sprintf(format, args...))
}

func textf(format string, args []any) (Text, bool) {
	p := &placeholders{marker: "\x00" + strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36) + "\x00"}
	wrapped := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case Span:
			wrapped[i] = placeholder{p, Text{v}}
		case Text:
			wrapped[i] = placeholder{p, v}
		default:
			wrapped[i] = a
		}
	}
	pieces := strings.Split(fmt.Sprintf(format, wrapped...), p.marker)
	if len(pieces) != len(p.printed)+1 {
		return nil, false
	}
	var out Text
	for i, piece := range pieces {
		out = out.AddPlain(piece)
		if i < len(p.printed) {
			out = out.Add(p.printed[i])
		}
	}
	return out, true
}

// placeholders records, in output order, the typed values fmt printed.
type placeholders struct {
	marker  string
	printed []Text
}

type placeholder struct {
	p *placeholders
	t Text
}

// Format implements fmt.Formatter: whatever the verb, it prints the marker.
func (ph placeholder) Format(f fmt.State, _ rune) {
	ph.p.printed = append(ph.p.printed, ph.t)
	_, _ = f.Write([]byte(ph.p.marker))
}
