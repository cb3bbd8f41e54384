// Package audit keeps the audit trail honest from outside the store: the
// Anchorer copies the chain's head (seq, hash) to the log and a chat
// channel at intervals, and the Verifier checks the chain against such an
// anchor. A hash chain inside the store shows an edited, deleted or
// reordered event, and a keyed one (BACKOUT_AUDIT_KEY) a consistent rewrite
// by someone without the key; only an anchor kept elsewhere shows that the
// last events were cut off.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/store"
)

// finalTimeout bounds the anchor taken at shutdown, after ctx has ended.
const finalTimeout = 5 * time.Second

// Head reads the chain's head.
type Head interface {
	LastAudit(ctx context.Context) (store.AuditEvent, error)
}

// Anchorer anchors the chain's head every Every and once more when Run's
// context ends.
type Anchorer struct {
	Log     Head
	Every   time.Duration
	Logger  *slog.Logger
	Poster  chat.Poster // nil: the anchor is only logged
	Channel string      // empty: the anchor is only logged

	mu   sync.Mutex
	last store.AuditAnchor // the last anchor delivered, not repeated while the head stands still
}

// Run anchors until ctx ends, then anchors the final head.
func (a *Anchorer) Run(ctx context.Context) error {
	if a.Every <= 0 {
		return fmt.Errorf("audit anchorer: interval %v must be positive", a.Every)
	}
	t := time.NewTicker(a.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// The store is still open: Serve closes it after background
			// tasks return.
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalTimeout)
			defer cancel()
			if _, err := a.Anchor(final); err != nil {
				a.Logger.Error("audit anchor at shutdown failed", "err", err)
			}
			return ctx.Err()
		case <-t.C:
			if _, err := a.Anchor(ctx); err != nil {
				a.Logger.ErrorContext(ctx, "audit anchor failed", "err", err)
			}
		}
	}
}

// Anchor logs and posts the current head, unless the log is empty or the
// head has not moved since the last delivered anchor. It returns the
// anchor it delivered (zero: none). A failed post is retried next time.
func (a *Anchorer) Anchor(ctx context.Context) (store.AuditAnchor, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	head, err := a.Log.LastAudit(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return store.AuditAnchor{}, nil
	}
	if err != nil {
		return store.AuditAnchor{}, fmt.Errorf("read the audit head: %w", err)
	}
	anchor := store.AuditAnchor{Seq: head.Seq, Hash: head.Hash}
	if anchor == a.last {
		return store.AuditAnchor{}, nil
	}
	line := fmt.Sprintf("audit anchor seq=%d hash=%s", anchor.Seq, anchor.Hash)
	a.Logger.InfoContext(ctx, line, "seq", anchor.Seq, "hash", anchor.Hash)
	if a.Poster != nil && a.Channel != "" {
		text := line + "\nKeep it: `bot audit verify --anchor " + anchor.String() + "` proves the trail still reaches it."
		if _, err := a.Poster.Post(ctx, chat.Ref{Channel: a.Channel}, chat.TextMessage(chat.Plain(text))); err != nil {
			return store.AuditAnchor{}, fmt.Errorf("post audit anchor seq=%d to %s: %w", anchor.Seq, a.Channel, err)
		}
	}
	a.last = anchor
	return anchor, nil
}

// Verifier checks the chain with the hasher the store was opened with.
type Verifier struct {
	Log    store.AuditScanner
	Hasher store.Hasher
}

// Verify streams the chain; a break is a *store.ChainError.
func (v Verifier) Verify(ctx context.Context, anchor *store.AuditAnchor) (store.AuditReport, error) {
	return store.VerifyAuditLog(ctx, v.Log, v.Hasher, anchor)
}
