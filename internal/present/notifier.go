package present

import (
	"context"
	"errors"
	"fmt"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/rollback"
)

// Notifier tells people what the lifecycle reports, through a chat poster:
// it is the lifecycle's notifier port (incident.Notifier) for chat.
type Notifier struct {
	poster chat.Poster
}

// NewNotifier posts through p; nil posts nowhere.
func NewNotifier(p chat.Poster) *Notifier {
	if p == nil {
		p = chat.NoopPoster{}
	}
	return &Notifier{poster: p}
}

// Announce posts a new rollback's main message in its channel, mentioning
// the stakeholders, and says where it went: its thread holds the story.
func (n *Notifier) Announce(ctx context.Context, v rollback.View, stakeholders []string) (channel, ts string, err error) {
	msg := ProposalView(v.Rollback, v.Votes, v.Steps)
	msg.Mentions = chat.Mentions(stakeholders...)
	ref, err := n.poster.Post(ctx, chat.Ref{Channel: v.Rollback.Channel}, msg)
	if err != nil {
		return "", "", fmt.Errorf("post proposal %s: %w", v.Rollback.ID, err)
	}
	return ref.Channel, ref.TS, nil
}

// Show redraws a rollback's main message in place.
func (n *Notifier) Show(ctx context.Context, v rollback.View) error {
	r := v.Rollback
	if err := n.poster.Update(ctx, chat.Ref{Channel: r.Channel, TS: r.MessageTS}, ProposalView(r, v.Votes, v.Steps)); err != nil {
		return fmt.Errorf("update message of %s: %w", r.ID, err)
	}
	return nil
}

// Tell posts one notice: in its rollback's thread, or in the channel a
// channel notice names. An ended rollback's outcome also goes to the
// support channels it lists.
func (n *Notifier) Tell(ctx context.Context, notice rollback.Notice) error {
	msg, ok := Notice(notice)
	if !ok {
		return fmt.Errorf("no rendering for notice %T", notice)
	}
	r := notice.Of()
	if r == nil {
		channel := channelOf(notice)
		if _, err := n.poster.Post(ctx, chat.Ref{Channel: channel}, msg); err != nil {
			return fmt.Errorf("post alert note in %s: %w", channel, err)
		}
		return nil
	}
	var errs []error
	if _, err := n.poster.Post(ctx, chat.Ref{Channel: r.Channel, Thread: r.MessageTS}, msg); err != nil {
		errs = append(errs, fmt.Errorf("post in the thread of %s: %w", r.ID, err))
	}
	if ended, ok := notice.(rollback.Ended); ok {
		for _, ch := range ended.SupportChannels {
			if _, err := n.poster.Post(ctx, chat.Ref{Channel: ch}, SupportView(r)); err != nil {
				errs = append(errs, fmt.Errorf("post to support channel %s: %w", ch, err))
			}
		}
	}
	return errors.Join(errs...)
}

// channelOf is where a notice that belongs to no rollback goes.
func channelOf(n rollback.Notice) string {
	switch n := n.(type) {
	case rollback.AlertIgnored:
		return n.Channel
	case rollback.AlertNotProposed:
		return n.Channel
	}
	return ""
}
