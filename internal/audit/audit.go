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
	"encoding/json"
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
	// Check, when set, verifies what was appended since the last check
	// before each anchor: a broken chain is reported and not anchored.
	Check func(ctx context.Context) error

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
	if a.Check != nil {
		if err := a.Check(ctx); err != nil {
			return store.AuditAnchor{}, fmt.Errorf("not anchoring: %w", err)
		}
	}
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
		text := chat.Textf("%s\nKeep it: %s proves the trail still reaches it.", line, chat.Code("bot audit verify --anchor "+anchor.String()))
		if _, err := a.Poster.Post(ctx, chat.Ref{Channel: a.Channel}, chat.TextMessage(text)); err != nil {
			return store.AuditAnchor{}, fmt.Errorf("post audit anchor seq=%d to %s: %w", anchor.Seq, a.Channel, err)
		}
	}
	a.last = anchor
	return anchor, nil
}

// CheckpointStore keeps the verification checkpoint (a blob).
type CheckpointStore interface {
	GetBlob(ctx context.Context, kind, key string) ([]byte, error)
	PutBlob(ctx context.Context, kind, key string, value []byte) error
}

// Where the checkpoint lives among the store's blobs.
const (
	checkpointKind = "audit"
	checkpointKey  = "verified"
)

// Verifier checks the chain with the hasher the store was opened with.
type Verifier struct {
	Log    store.AuditScanner
	Hasher store.Hasher
	// Checkpoints, when set, keeps the head each intact verification
	// reached, so VerifyNew reads only what follows it. ReadOnly reads it
	// but never writes it (a bolt file opened read-only).
	Checkpoints CheckpointStore
	ReadOnly    bool
}

// Verify streams the whole chain; a break is a *store.ChainError.
func (v Verifier) Verify(ctx context.Context, anchor *store.AuditAnchor) (store.AuditReport, error) {
	rep, err := store.VerifyAuditLog(ctx, v.Log, v.Hasher, anchor)
	return rep, v.keep(ctx, rep, err)
}

// VerifyNew checks only what was appended since the last verified
// checkpoint (the whole chain when there is none yet).
func (v Verifier) VerifyNew(ctx context.Context, anchor *store.AuditAnchor) (store.AuditReport, error) {
	if v.Checkpoints == nil {
		return v.Verify(ctx, anchor)
	}
	raw, err := v.Checkpoints.GetBlob(ctx, checkpointKind, checkpointKey)
	if errors.Is(err, store.ErrNotFound) {
		return v.Verify(ctx, anchor)
	}
	if err != nil {
		return store.AuditReport{}, fmt.Errorf("read the verification checkpoint: %w", err)
	}
	var c store.AuditCheckpoint
	if err := json.Unmarshal(raw, &c); err != nil {
		return store.AuditReport{}, &store.ChainError{Seq: 0, Reason: "the verification checkpoint is unreadable: run a full verification"}
	}
	rep, err := store.ResumeAuditLog(ctx, v.Log, v.Hasher, anchor, c)
	if err == nil && rep.Head.Seq == c.Seq {
		return rep, nil // nothing new: the checkpoint stands
	}
	return rep, v.keep(ctx, rep, err)
}

// keep stores the head of an intact chain as the next checkpoint; the
// verification's own error wins.
func (v Verifier) keep(ctx context.Context, rep store.AuditReport, verr error) error {
	if verr != nil || v.Checkpoints == nil || v.ReadOnly || rep.Head.Seq == 0 {
		return verr
	}
	raw, err := json.Marshal(store.NewAuditCheckpoint(v.Hasher, rep))
	if err != nil {
		return fmt.Errorf("encode the verification checkpoint: %w", err)
	}
	if err := v.Checkpoints.PutBlob(ctx, checkpointKind, checkpointKey, raw); err != nil {
		return fmt.Errorf("store the verification checkpoint: %w", err)
	}
	return nil
}
