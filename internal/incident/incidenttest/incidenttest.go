// Package incidenttest holds hand-written fakes for driving
// incident.Service in tests: a settable clock, a chat poster and a pager
// that record what they are told, and a programmable executor.
package incidenttest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/incident"
)

// Clock is a fake clock that moves only when told to.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now implements incident.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Posted is one message a Poster was given.
type Posted struct {
	Ref chat.Ref
	Msg chat.Message
}

// Poster records every message; it is safe for concurrent use.
type Poster struct {
	mu      sync.Mutex
	n       int
	posts   []Posted
	updates []Posted
}

// Post implements chat.Poster; top-level posts get a fresh timestamp.
func (p *Poster) Post(_ context.Context, ref chat.Ref, msg chat.Message) (chat.Ref, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.posts = append(p.posts, Posted{Ref: ref, Msg: msg})
	out := chat.Ref{Channel: ref.Channel, TS: fmt.Sprintf("1700000000.%06d", p.n)}
	if ref.Thread != "" {
		out.Thread = ref.Thread
	}
	return out, nil
}

// Update implements chat.Poster.
func (p *Poster) Update(_ context.Context, ref chat.Ref, msg chat.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.updates = append(p.updates, Posted{Ref: ref, Msg: msg})
	return nil
}

// Ephemeral implements chat.Poster.
func (p *Poster) Ephemeral(ctx context.Context, channel, _ string, msg chat.Message) error {
	_, err := p.Post(ctx, chat.Ref{Channel: channel}, msg)
	return err
}

// Upload implements chat.Poster.
func (p *Poster) Upload(ctx context.Context, ref chat.Ref, _, title, content string) error {
	_, err := p.Post(ctx, ref, chat.Message{Text: chat.Plain(title + "\n" + content)})
	return err
}

// Posts returns every posted message, in order.
func (p *Poster) Posts() []Posted {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.posts)
}

// Updates returns every message update, in order.
func (p *Poster) Updates() []Posted {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.updates)
}

// WaitForUpdate polls until an update's text or section contains substr.
func (p *Poster) WaitForUpdate(ctx context.Context, substr string) error {
	return poll(ctx, func() bool {
		for _, t := range texts(p.Updates()) {
			if strings.Contains(t, substr) {
				return true
			}
		}
		return false
	}, "an update containing %q", substr)
}

// Texts returns the text of every posted message and of each of its
// sections, in order, so a note is found whichever field carries it. Texts
// are in their plain fallback form: a mention of alice reads "@alice".
func (p *Poster) Texts() []string { return texts(p.Posts()) }

func texts(msgs []Posted) []string {
	var out []string
	for _, m := range msgs {
		text := m.Msg.Text.String()
		out = append(out, text)
		for _, s := range m.Msg.Sections {
			if st := s.Text.String(); st != "" && st != text {
				out = append(out, st)
			}
		}
	}
	return out
}

// Find returns the posted texts containing substr.
func (p *Poster) Find(substr string) []string {
	var out []string
	for _, t := range p.Texts() {
		if strings.Contains(t, substr) {
			out = append(out, t)
		}
	}
	return out
}

// WaitFor polls until a posted text contains substr or ctx ends.
func (p *Poster) WaitFor(ctx context.Context, substr string) error {
	return poll(ctx, func() bool { return len(p.Find(substr)) > 0 }, "a post containing %q", substr)
}

// PagerCall is one call a Pager was given.
type PagerCall struct {
	Method     string // note | acknowledge | resolve | page
	IncidentID string // or the dedup key for page
	Text       string
}

// Pager records calls; OnCall answers People.
type Pager struct {
	People []incident.Person

	mu    sync.Mutex
	calls []PagerCall
}

var _ incident.Pager = (*Pager)(nil)

func (p *Pager) record(c PagerCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, c)
}

// Note implements incident.Pager.
func (p *Pager) Note(_ context.Context, id, text string) error {
	p.record(PagerCall{Method: "note", IncidentID: id, Text: text})
	return nil
}

// Acknowledge implements incident.Pager.
func (p *Pager) Acknowledge(_ context.Context, id string) error {
	p.record(PagerCall{Method: "acknowledge", IncidentID: id})
	return nil
}

// Resolve implements incident.Pager.
func (p *Pager) Resolve(_ context.Context, id string) error {
	p.record(PagerCall{Method: "resolve", IncidentID: id})
	return nil
}

// OnCall implements incident.Pager.
func (p *Pager) OnCall(context.Context, string) ([]incident.Person, error) { return p.People, nil }

// Page implements incident.Pager.
func (p *Pager) Page(_ context.Context, key, summary, _ string, _ map[string]string) error {
	p.record(PagerCall{Method: "page", IncidentID: key, Text: summary})
	return nil
}

// Calls returns every call, in order.
func (p *Pager) Calls() []PagerCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// Notes returns the texts of the notes added to incident id.
func (p *Pager) Notes(id string) []string {
	var out []string
	for _, c := range p.Calls() {
		if c.Method == "note" && c.IncidentID == id {
			out = append(out, c.Text)
		}
	}
	return out
}

// poll checks cond every few milliseconds until it holds or ctx ends.
func poll(ctx context.Context, cond func() bool, format string, args ...any) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for "+format+": %w", append(args, context.Cause(ctx))...)
		case <-t.C:
		}
	}
	return nil
}
