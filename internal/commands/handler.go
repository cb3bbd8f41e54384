package commands

import (
	"context"

	"github.com/backout/backout/internal/chat"
)

// Invocation is one slash command (or console line) from one person.
type Invocation struct {
	User    string // platform user ID (Slack U123, console name)
	Channel string
	Source  string // slack | console
	From    string // remote address or "console", for the audit trail
	Text    string // everything after "/rollback"
}

// Click is one button press (or modal submission) from one person.
type Click struct {
	User      string
	Channel   string
	Source    string
	From      string
	ActionID  string // approve | reject | abort | resume | gate | pause
	Value     string // what the button carried, e.g. "RB-42|<plan hash>"
	Reason    string // from the reason modal for reject and abort
	MessageTS string
}

// Reply is what the person who acted sees. Ephemeral replies go to them
// alone; others are posted in the channel.
type Reply struct {
	Ephemeral bool
	Message   chat.Message
	// Ignore means say nothing at all (a message not meant for Backout).
	Ignore bool
}

// Handler is what chat adapters drive. Both calls may block on I/O (the
// store, readiness checks); adapters acknowledge the platform first and call
// these asynchronously.
type Handler interface {
	Command(ctx context.Context, inv Invocation) Reply
	Click(ctx context.Context, c Click) Reply
}
