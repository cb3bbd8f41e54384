// Package store holds all of Backout's state behind one interface with two
// implementations: store/bolt (embedded, the default) and store/redis (for
// several replicas). store/storetest is the conformance suite both pass.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/backout/backout/internal/rollback"
)

// Errors callers branch on.
var (
	ErrNotFound  = errors.New("not found")
	ErrConflict  = errors.New("conflict: the record changed since it was read")
	ErrExists    = errors.New("already exists")
	ErrLeaseHeld = errors.New("lease held by another holder")
	// ErrLeaseDraining: the lease expired but its holder's grace has not
	// passed, so what it started may still be stopping. It is an
	// ErrLeaseHeld: nobody may take the lease yet.
	ErrLeaseDraining = fmt.Errorf("lease expired, within its holder's grace: %w", ErrLeaseHeld)
	ErrLeaseLost     = errors.New("lease lost")
	ErrStaleToken    = errors.New("stale fencing token")
	ErrUnavailable   = errors.New("state store unavailable")
)

// RollbackQuery selects rollbacks for the registry. It is answered from
// one index (see Index); a page ends after Limit matches, and the next page
// is the same query with Before set to the last record's position.
type RollbackQuery struct {
	Service string
	Since   time.Time        // created at or after
	Until   time.Time        // created before (zero: no bound)
	States  []rollback.State // any of these (empty: all)
	Drills  *bool            // nil: both; true: drills only; false: real rollbacks only
	Trigger string           // trigger kind (person, alert, watcher, drill); empty: any
	Before  Position         // strictly older than this position (zero: from the newest)
	Limit   int              // 0: no limit
}

// Match applies the query to one record (at full time precision); both
// backends filter with it.
func (q RollbackQuery) Match(r *rollback.Record) bool {
	if !q.Since.IsZero() && r.CreatedAt.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !r.CreatedAt.Before(q.Until) {
		return false
	}
	if q.Drills != nil && *q.Drills != r.Drill {
		return false
	}
	if len(q.States) > 0 && !slices.Contains(q.States, r.State) {
		return false
	}
	if q.Trigger != "" && r.Trigger.Kind != q.Trigger {
		return false
	}
	return q.Service == "" || slices.Contains(r.ServiceNames(), q.Service)
}

// Rollbacks stores rollback records with compare-and-set updates.
type Rollbacks interface {
	// NextID allocates a short human id such as RB-42.
	NextID(ctx context.Context) (string, error)
	// CreateRollback stores a new record (Version becomes 1); ErrExists if the id is taken.
	CreateRollback(ctx context.Context, r *rollback.Record) error
	GetRollback(ctx context.Context, id string) (*rollback.Record, error)
	// UpdateRollback writes r if the stored Version equals r.Version, then
	// bumps r.Version; otherwise ErrConflict and nothing changes.
	UpdateRollback(ctx context.Context, r *rollback.Record) error
	// ListRollbacks returns matches, newest first, walking the index
	// q.Index() names from q.Bounds(): a query for open rollbacks reads
	// only open ones, a service's only that service's, however long the
	// history. Walking stops after q.Limit matches.
	ListRollbacks(ctx context.Context, q RollbackQuery) ([]*rollback.Record, error)
}

// Steps stores the append-only step log of each rollback, fenced by lease token.
type Steps interface {
	// AppendSteps appends evs in order, all or none, unless token is lower
	// than the current token of the rollback's lease ("rollback/<id>"), in
	// which case ErrStaleToken. It returns them with Seq, Token and (when
	// unset) At filled in. One call is one durable write, which is why the
	// engine hands a step's end and the next step's start over together.
	AppendSteps(ctx context.Context, rollbackID string, token int64, evs ...rollback.StepEvent) ([]rollback.StepEvent, error)
	ListSteps(ctx context.Context, rollbackID string) ([]rollback.StepEvent, error)
}

// Votes stores one vote per person per plan.
type Votes interface {
	// PutVote stores v; it answers false (and changes nothing) when this
	// person already voted on this plan.
	PutVote(ctx context.Context, v rollback.Vote) (bool, error)
	ListVotes(ctx context.Context, rollbackID string) ([]rollback.Vote, error)
}

// Deploys stores deploy history per service.
type Deploys interface {
	AddDeploy(ctx context.Context, d *rollback.Deploy) error // assigns ID when empty
	GetDeploy(ctx context.Context, id string) (*rollback.Deploy, error)
	PutDeploy(ctx context.Context, d *rollback.Deploy) error // replace an existing deploy
	// ListDeploys returns a service's deploys, newest first (limit 0: all).
	ListDeploys(ctx context.Context, service string, limit int) ([]*rollback.Deploy, error)
	// PageDeploys walks a service's deploy index newest first between the
	// query's bounds and stops after q.Limit.
	PageDeploys(ctx context.Context, q DeployQuery) ([]*rollback.Deploy, error)
}

// DeployQuery selects a page of one service's deploys.
type DeployQuery struct {
	Service string
	Since   time.Time // deployed at or after
	Until   time.Time // deployed before (zero: no bound)
	Before  Position  // strictly older than this position (zero: from the newest)
	Limit   int       // 0: no limit
}

// Bounds are the sort keys the walk goes between (see RollbackQuery.Bounds).
func (q DeployQuery) Bounds() (upper, lower string) {
	return RollbackQuery{Since: q.Since, Until: q.Until, Before: q.Before}.Bounds()
}

// Match checks the time window at full precision.
func (q DeployQuery) Match(d *rollback.Deploy) bool {
	return (q.Since.IsZero() || !d.At.Before(q.Since)) && (q.Until.IsZero() || d.At.Before(q.Until))
}

// Audit is the append-only, hash-chained audit log. Each backend hashes
// with the Hasher it was opened with (see Hasher).
type Audit interface {
	// AppendAudit assigns Seq, PrevHash and Hash atomically and stores e.
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)
	// ListAudit returns the whole log in memory; verification uses
	// ScanAudit instead, whose memory stays flat however long the log.
	ListAudit(ctx context.Context) ([]AuditEvent, error)
	// ScanAudit calls fn for each stored event in log order, starting at
	// the position of seq fromSeq (0 or 1: the whole log), reading in
	// pages. It hands over events as stored, so a tampered log shows as
	// such; an error from fn stops the scan and is returned.
	ScanAudit(ctx context.Context, fromSeq int64, fn func(AuditEvent) error) error
	// LastAudit returns the last stored event, the chain's head;
	// ErrNotFound when the log is empty.
	LastAudit(ctx context.Context) (AuditEvent, error)
}

// AuditPage is how many events ScanAudit reads at a time: big enough that
// round trips do not dominate, small enough that memory stays flat.
const AuditPage = 256

// Claims are once-only markers with a time to live.
type Claims interface {
	// Claim answers true for exactly one caller per key until ttl passes.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Leases grant exclusive, expiring rights with monotonically increasing
// fencing tokens.
type Leases interface {
	// AcquireLease grants name to holder when free, released, already held
	// by holder (then it is renewed with the same token, or a new one if it
	// had expired), or another holder's grant expired at least grace ago,
	// and at least the grace that holder gave with its own grant (Lease.Grace):
	// grace is how long a holder may still need to stop what it runs after
	// its lease ran out (engine.kill_grace), and the grant records the
	// caller's. A new grant gets a token higher than any before. Otherwise
	// it returns the current grant with ErrLeaseHeld, or ErrLeaseDraining
	// when that grant has expired but the grace has not passed; expiry and
	// grace are judged by the store's clock.
	AcquireLease(ctx context.Context, name, holder string, ttl, grace time.Duration) (Lease, error)
	// RenewLease extends l; ErrLeaseLost when another holder took it.
	RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	ReleaseLease(ctx context.Context, l Lease) error
	// GetLease returns the current lease (possibly expired); ErrNotFound if never granted.
	GetLease(ctx context.Context, name string) (Lease, error)
}

// Drills stores drill scorecards, indexed by service.
type Drills interface {
	PutDrill(ctx context.Context, d rollback.DrillRecord) error
	ListDrills(ctx context.Context, service string) ([]rollback.DrillRecord, error) // newest first
	// ScanDrills hands a service's scorecards to fn newest first, reading
	// its index in pages, until fn answers false: "the last successful
	// drill" reads back only to it.
	ScanDrills(ctx context.Context, service string, fn func(rollback.DrillRecord) bool) error
}

// Inbox holds accepted webhooks until they are processed.
type Inbox interface {
	// EnqueueEvent stores ev unless any of dedupKeys was seen within ttl;
	// it answers false for a duplicate. The check and the write are atomic.
	EnqueueEvent(ctx context.Context, ev Event, dedupKeys []string, ttl time.Duration) (bool, error)
	// PendingEvents returns up to limit unprocessed events, oldest first.
	PendingEvents(ctx context.Context, limit int) ([]Event, error)
	// AckEvent removes a processed event.
	AckEvent(ctx context.Context, id string) error
}

// Blobs is a small key-value space for everything else (freezes,
// post-mortems, chat message references), grouped by kind.
type Blobs interface {
	PutBlob(ctx context.Context, kind, key string, value []byte) error
	GetBlob(ctx context.Context, kind, key string) ([]byte, error) // ErrNotFound
	DeleteBlob(ctx context.Context, kind, key string) error
	ListBlobs(ctx context.Context, kind string) (map[string][]byte, error)
}

// Store is all of the above plus health.
type Store interface {
	Rollbacks
	Steps
	Votes
	Deploys
	Audit
	Claims
	Leases
	Drills
	Inbox
	Blobs
	Ping(ctx context.Context) error
	Close() error
}

// LeaseName is the lease that guards driving a rollback.
func LeaseName(rollbackID string) string { return "rollback/" + rollbackID }

// FormatID renders a rollback number as a human id.
func FormatID(n int64) string { return fmt.Sprintf("RB-%d", n) }
