// Package chat is the port between Backout's core and the places people talk
// to it. Messages are described neutrally (sections, fields, buttons) and each
// adapter renders them: chat/slack as Block Kit, chat/console as text.
package chat

import (
	"context"
	"errors"
	"time"
)

// Ref locates a posted message (and so its thread).
type Ref struct {
	Channel string `json:"channel"`
	TS      string `json:"ts,omitempty"`
	// Thread, when set, is the parent message a reply goes under.
	Thread string `json:"thread,omitempty"`
}

// Message is one neutral chat message.
type Message struct {
	// Text is the fallback (notifications, screen readers). It is typed, not
	// a string, because push notifications are built from it and must carry
	// live mentions.
	Text     Text      `json:"text"`
	Header   string    `json:"header,omitempty"`
	Sections []Section `json:"sections,omitempty"`
	Buttons  []Button  `json:"buttons,omitempty"`
	// Context is a small grey footer line.
	Context Text `json:"context,omitempty"`
	// Mentions are the users and groups to notify (User or Group spans;
	// Who picks one for an ID that may be either).
	Mentions []Span `json:"mentions,omitempty"`
	// Images go beside the message: in its thread (Slack uploads them),
	// or to files (the console).
	Images []Image `json:"-"`
}

// Image is a picture that goes with a message, e.g. a check's chart.
type Image struct {
	Filename string
	Title    string
	PNG      []byte
	// Sparkline is the picture as one line of text, for terminals.
	Sparkline string
}

// Section is a block of text, optionally with two-column fields.
type Section struct {
	Title  string  `json:"title,omitempty"`
	Text   Text    `json:"text,omitempty"` // plain runs show as typed; emphasis goes in Bold, Code, Pre and Quote spans
	Fields []Field `json:"fields,omitempty"`
	Table  *Table  `json:"table,omitempty"`
}

// Field is a label and a value shown side by side.
type Field struct {
	Label string `json:"label"`
	Value Text   `json:"value"`
}

// Table is rows of cells, rendered monospaced. Cells are plain text.
type Table struct {
	Header []string   `json:"header"`
	Rows   [][]string `json:"rows"`
}

// Button styles.
const (
	StylePrimary = "primary"
	StyleDanger  = "danger"
)

// Button is an action a person can take. ActionID names the verb (one of the
// Action constants); Value, built by ButtonValue, carries the rollback id and
// whatever the verb needs to refuse a stale click (the plan hash).
type Button struct {
	ActionID string `json:"action_id"`
	Text     string `json:"text"`
	Value    string `json:"value"`
	Style    string `json:"style,omitempty"`
	// Confirm asks "are you sure?" before sending the click.
	Confirm string `json:"confirm,omitempty"`
}

// Poster delivers messages. Implementations must be safe for concurrent use
// and must retry on rate limits as the platform tells them.
type Poster interface {
	// Post sends a new message (in ref.Thread's thread when set) and returns its ref.
	Post(ctx context.Context, ref Ref, msg Message) (Ref, error)
	// Update replaces the message at ref.
	Update(ctx context.Context, ref Ref, msg Message) error
	// Ephemeral shows msg to one user only.
	Ephemeral(ctx context.Context, channel, user string, msg Message) error
	// Upload posts a text file in ref.Thread's thread.
	Upload(ctx context.Context, ref Ref, filename, title, content string) error
}

// Directory resolves who people are and which groups they belong to.
type Directory interface {
	// GroupMembers lists the user IDs of a Slack user group.
	GroupMembers(ctx context.Context, usergroupID string) ([]string, error)
}

// ErrNoSuchGroup is returned for a user group the directory cannot find.
var ErrNoSuchGroup = errors.New("no such user group")

// Stamp formats a time the same way in every adapter.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// NoopPoster accepts every message and shows it nowhere; it stands in when
// no chat is configured, so callers never check for nil.
type NoopPoster struct{}

func (NoopPoster) Post(_ context.Context, ref Ref, _ Message) (Ref, error)  { return ref, nil }
func (NoopPoster) Update(context.Context, Ref, Message) error               { return nil }
func (NoopPoster) Ephemeral(context.Context, string, string, Message) error { return nil }
func (NoopPoster) Upload(context.Context, Ref, string, string, string) error {
	return nil
}

// TextMessage is a message of one text section whose fallback is the same
// text: the shape of every thread note and command reply.
func TextMessage(t Text) Message {
	return Message{Text: t, Sections: []Section{{Text: t}}}
}
