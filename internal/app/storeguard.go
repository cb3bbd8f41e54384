package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/backout/backout/internal/store"
)

// ErrStoreLost marks a state store that lost its data under a running
// Backout (Redis flushed, or restarted without persistence). Nothing it
// holds can be trusted any more: rollbacks, votes, claims and the id
// counter are gone, so acting on it would repeat ids, forget approvals and
// replay requests.
var ErrStoreLost = errors.New("state store lost")

// Epoch is the store's identity, written once when the store is first
// used. HighWater is the highest rollback counter any replica has seen: a
// counter below it means ids would be handed out a second time.
type Epoch struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	HighWater int64     `json:"high_water"`
}

// Where the epoch lives: a blob, so both stores keep it with no new API.
const (
	epochKind     = "backout-meta"
	epochKey      = "epoch"
	epochInitKey  = "backout-meta:epoch-init"
	epochInitTTL  = 30 * time.Second
	epochWaitFor  = 5 * time.Second
	guardFreshFor = time.Second
)

// guardStore is what StoreGuard reads and writes.
type guardStore interface {
	store.Blobs
	store.Claims
	// LastID is the rollback counter without allocating an id.
	LastID(ctx context.Context) (int64, error)
}

// StoreGuard notices that the state store lost its data and stops the
// replica acting on it: commands are refused, background work stops (the
// onLost hook cancels it), /readyz fails. Loss is sticky until a restart,
// because once the data is gone only a person can say whether to restore a
// backup or to start afresh (a restart accepts the store as it is then).
// Outages are not loss: an unreachable store is reported by the callers
// that fail, and the guard checks again when it is back.
type StoreGuard struct {
	st     guardStore
	log    *slog.Logger
	now    func() time.Time
	onLost func(reason error)

	checking  chan struct{} // holds one token while a check runs
	mu        sync.Mutex    // guards the fields below; never held across store I/O
	epoch     Epoch         // the epoch this process started with
	high      int64         // highest counter this process has seen
	allocated int64         // highest id this process allocated itself
	lastCheck time.Time
	lost      error
}

// NewStoreGuard builds a guard; onLost (may be nil) runs once, when the
// loss is first found.
func NewStoreGuard(st guardStore, log *slog.Logger, onLost func(reason error)) *StoreGuard {
	return &StoreGuard{st: st, log: log, now: time.Now, onLost: onLost, checking: make(chan struct{}, 1)}
}

// Start reads the epoch, creating it when the store has none, then checks
// the counter. A store found lost already is not an error here (the guard
// reports it and the process stays up to say so on /readyz); failing to
// reach the store is.
func (g *StoreGuard) Start(ctx context.Context) error {
	e, err := g.readEpoch(ctx)
	if errors.Is(err, store.ErrNotFound) {
		e, err = g.createEpoch(ctx)
	}
	if err != nil {
		return fmt.Errorf("store epoch: %w", err)
	}
	g.mu.Lock()
	g.epoch = e
	g.mu.Unlock()
	g.log.Info("store epoch", "epoch", e.ID, "created_at", e.CreatedAt, "high_water", e.HighWater)
	if err := g.Check(ctx); err != nil && !errors.Is(err, ErrStoreLost) {
		return fmt.Errorf("store epoch: %w", err)
	}
	return nil
}

// createEpoch writes a new epoch; of replicas starting together on an empty
// store one wins a claim and writes it, the others wait to read it, so they
// all agree on one id. A store with rollbacks but no epoch was written by a
// version without epochs: its counter becomes the first high-water mark.
func (g *StoreGuard) createEpoch(ctx context.Context) (Epoch, error) {
	won, err := g.st.Claim(ctx, epochInitKey, epochInitTTL)
	if err != nil {
		return Epoch{}, err
	}
	if !won {
		return g.waitEpoch(ctx)
	}
	n, err := g.st.LastID(ctx)
	if err != nil {
		return Epoch{}, err
	}
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	e := Epoch{ID: hex.EncodeToString(b[:]), CreatedAt: g.now().UTC(), HighWater: n}
	if err := g.writeEpoch(ctx, e); err != nil {
		return Epoch{}, err
	}
	g.log.Info("store epoch created: this store is new to Backout", "epoch", e.ID, "rollback_counter", n)
	return e, nil
}

func (g *StoreGuard) waitEpoch(ctx context.Context) (Epoch, error) {
	ctx, cancel := context.WithTimeout(ctx, epochWaitFor)
	defer cancel()
	for {
		e, err := g.readEpoch(ctx)
		if !errors.Is(err, store.ErrNotFound) {
			return e, err
		}
		select {
		case <-ctx.Done():
			return Epoch{}, fmt.Errorf("another replica is creating the store epoch and has not finished: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (g *StoreGuard) readEpoch(ctx context.Context) (Epoch, error) {
	b, err := g.st.GetBlob(ctx, epochKind, epochKey)
	if err != nil {
		return Epoch{}, err
	}
	var e Epoch
	if err := json.Unmarshal(b, &e); err != nil {
		return Epoch{}, fmt.Errorf("decode store epoch: %w", err)
	}
	return e, nil
}

func (g *StoreGuard) writeEpoch(ctx context.Context, e Epoch) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode store epoch: %w", err)
	}
	return g.st.PutBlob(ctx, epochKind, epochKey, b)
}

// Err is the loss, once found (wrapping ErrStoreLost); nil otherwise.
func (g *StoreGuard) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lost
}

// Gate is what a request asks before acting: the loss if found, after a
// fresh check when the last is older than a second (so a command right
// after a flush is refused rather than handed RB-1 again). Outages are
// left to the command itself, which answers "state store unavailable".
func (g *StoreGuard) Gate(ctx context.Context) error {
	if lost, fresh := g.known(); fresh {
		return lost
	}
	if err := g.Check(ctx); errors.Is(err, ErrStoreLost) {
		return err
	}
	return nil
}

// known is Gate's answer when it needs no check: the loss, or nil while
// the last check is fresh; fresh is false when Gate would check.
func (g *StoreGuard) known() (lost error, fresh bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lost, g.lost != nil || g.now().Sub(g.lastCheck) < guardFreshFor
}

// Check compares the store with what this process knows: the same epoch,
// and a counter at or above every value seen. It raises the stored
// high-water mark as the counter grows. It answers the loss (ErrStoreLost),
// an outage, or nil.
func (g *StoreGuard) Check(ctx context.Context) error {
	// One check at a time, but waiting for the one in progress is bounded
	// by ctx: with the store hung, requests must not queue behind it.
	select {
	case g.checking <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("store guard: a check is in progress: %w (%w)", ctx.Err(), store.ErrUnavailable)
	}
	defer func() { <-g.checking }()
	g.mu.Lock()
	lost, epoch, high := g.lost, g.epoch, g.high
	g.mu.Unlock()
	if lost != nil {
		return lost
	}
	e, err := g.readEpoch(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return g.lose(fmt.Errorf("%w: its epoch record %s (created %s) is gone; the store was flushed, or restarted without persistence",
			ErrStoreLost, epoch.ID, epoch.CreatedAt.Format(time.RFC3339)))
	case err != nil:
		return err
	case e.ID != epoch.ID:
		return g.lose(fmt.Errorf("%w: its epoch changed from %s to %s; the store was emptied and another process started afresh on it",
			ErrStoreLost, epoch.ID, e.ID))
	}
	n, err := g.st.LastID(ctx)
	if err != nil {
		return err
	}
	// high is what this process had seen before reading the counter; ids
	// allocated since (allocate runs beside a check) only raise g.high.
	if mark := max(high, e.HighWater); n < mark {
		return g.lose(fmt.Errorf("%w: the rollback id counter is at %d, below its high-water mark %d, so ids would repeat",
			ErrStoreLost, n, mark))
	}
	g.mu.Lock()
	g.high, g.lastCheck = max(g.high, n), g.now()
	g.mu.Unlock()
	if n > e.HighWater {
		e.HighWater = n
		if err := g.writeEpoch(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// lose records the loss once and tells onLost.
func (g *StoreGuard) lose(err error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.loseLocked(err)
}

// loseLocked is lose with mu held.
func (g *StoreGuard) loseLocked(err error) error {
	if g.lost != nil {
		return g.lost
	}
	g.lost = err
	g.log.Error("state store lost: Backout stops acting until an operator restores the store or restarts it", "err", err)
	if g.onLost != nil {
		g.onLost(err)
	}
	return err
}

// allocate records an id this process was just handed. The counter only
// grows, so an id at or below one this process already handed out, or
// below the counter it saw, is an id given twice: the store went back.
func (g *StoreGuard) allocate(n int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lost != nil {
		return g.lost
	}
	if n <= g.allocated || n < g.high {
		return g.loseLocked(fmt.Errorf("%w: the store handed out rollback id %d again (this replica saw the counter at %d)",
			ErrStoreLost, n, max(g.high, g.allocated)))
	}
	g.allocated, g.high = n, max(g.high, n)
	return nil
}

// guardedIDs is the store the lifecycle gets: every id it allocates is
// checked against the guard, so a counter that went back is caught at the
// first repeated id, before a rollback is stored under it, not at the next
// background check.
type guardedIDs struct {
	store.Store
	guard *StoreGuard
}

// NextID refuses once the store is lost, and loses it on a repeated id.
// The error is also store.ErrUnavailable, so the person is told the store
// cannot be used rather than of an internal error.
func (s guardedIDs) NextID(ctx context.Context) (string, error) {
	if err := s.guard.Err(); err != nil {
		return "", fmt.Errorf("%w (%w)", err, store.ErrUnavailable)
	}
	id, err := s.Store.NextID(ctx)
	if err != nil {
		return "", err
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(id, "RB-"), 10, 64)
	if err != nil {
		return "", fmt.Errorf("next rollback id: unexpected id %q: %w", id, err)
	}
	if err := s.guard.allocate(n); err != nil {
		return "", fmt.Errorf("%w (%w)", err, store.ErrUnavailable)
	}
	return id, nil
}

// Run checks every interval until ctx ends.
func (g *StoreGuard) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			// Bounded like a request's check: a hung store must not hold
			// the token that requests wait for.
			cctx, cancel := context.WithTimeout(ctx, every)
			err := g.Check(cctx)
			cancel()
			if err != nil && !errors.Is(err, ErrStoreLost) && ctx.Err() == nil {
				g.log.Debug("store guard: check failed; trying again", "err", err)
			}
		}
	}
}
