// Package bolt is the embedded implementation of store.Store: one bbolt file,
// one bucket per kind, JSON values. It suits a single replica; several
// replicas need store/redis.
//
// Ordering: rollbacks and deploys are listed by time at microsecond
// resolution, ties by id descending (the same rule as store/redis, so both
// pass one conformance suite). Zero timestamps (CreatedAt, At, ReceivedAt)
// are set from Options.Now when a record is first stored.
package bolt

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// Options tunes a Store.
type Options struct {
	// Now is the clock for claims, dedup keys, leases and default
	// timestamps; nil means time.Now. Tests inject a fake clock so TTLs
	// pass without sleeping.
	Now func() time.Time
	// Hasher chains the audit log; the zero Hasher is unkeyed SHA-256.
	Hasher store.Hasher
	// ReadOnly opens the file with a shared lock and writes nothing, for
	// `bot audit verify`; it fails with ErrLocked while a writer (bot serve)
	// holds the file.
	ReadOnly bool
	// Timeout is how long to wait for the file lock (default 1s).
	Timeout time.Duration
	// NoSync skips fsync on commit: only for bulk loads that are thrown
	// away on a crash (the scale benchmarks' history). Never for serving.
	NoSync bool
	// DedupMaxKeys bounds the webhook dedup keys held in memory (see
	// dedup.go); 0 means DefaultDedupMaxKeys.
	DedupMaxKeys int
	// Logger says when memory lets dedup keys go early; nil: slog.Default().
	Logger *slog.Logger
}

// ErrLocked means another process (a running bot serve) holds the file.
var ErrLocked = errors.New("the state file is locked by another process (is bot serve running?)")

// Store is a store.Store on a bbolt file.
type Store struct {
	db     *bbolt.DB
	now    func() time.Time
	hasher store.Hasher
	gc     *committer // group commit for hot writes; see batch
	// journal takes webhook intake (EnqueueEvent) with one fdatasync per
	// group; nil when read-only.
	journal *journal
	// inbox tells PendingEvents when bolt's inbox is known to be empty, so
	// the worker's frequent reads under load skip a read transaction.
	inbox inboxState
	// dedupPurgedAt is when PendingEvents last purged expired dedup keys
	// (unix ns): moves purge under load, this when intake is quiet.
	dedupPurgedAt atomic.Int64
	// evict keeps memory's dedup keys within Options.DedupMaxKeys; the
	// mover's alone, like evictSaidAt (when it last logged).
	evict       dedupEviction
	evictSaidAt time.Time
	log         *slog.Logger
}

var _ store.Store = (*Store)(nil)

// Bucket names. Secondary indexes hold keys only (empty values).
var (
	bRollbacks   = []byte("rollbacks")          // id -> Rollback; its sequence feeds NextID
	bRollbackIdx = []byte("rollback_index")     // index\0micro(8)|id (index.go)
	bSteps       = []byte("steps")              // rollback id -> bucket of seq(8) -> StepEvent
	bVotes       = []byte("votes")              // rollback id -> bucket of seq(8) -> Vote
	bVoteKeys    = []byte("vote_keys")          // id\0plan\0user: one vote per person per plan
	bDeploys     = []byte("deploys")            // id -> Deploy; its sequence feeds generated ids
	bDeployIdx   = []byte("deploys_by_service") // service\0micro(8)|id
	bAudit       = []byte("audit")              // seq(8) -> AuditEvent
	bClaims      = []byte("claims")             // key -> expiry
	bClaimsExp   = []byte("claims_by_expiry")   // expiry|key
	bDedup       = []byte("dedup")              // key -> expiry
	bDedupExp    = []byte("dedup_by_expiry")    // expiry|key
	bLeases      = []byte("leases")             // name -> leaseRecord
	bDrills      = []byte("drills")             // id -> DrillRecord
	bDrillIdx    = []byte("drills_by_service")  // service\0micro(8)|id
	bMeta        = []byte("meta")               // index_format
	bEvents      = []byte("events")             // seq(8) -> Event, so the cursor order is arrival order
	bEventIDs    = []byte("event_ids")          // event id -> seq(8)
	bBlobs       = []byte("blobs")              // kind -> bucket of key -> value
	bJournal     = []byte("journal")            // "applied" -> seq(8) of the intake journal
)

var allBuckets = [][]byte{
	bRollbacks, bRollbackIdx, bSteps, bVotes, bVoteKeys, bDeploys, bDeployIdx, bAudit,
	bClaims, bClaimsExp, bDedup, bDedupExp, bLeases, bDrills, bDrillIdx, bMeta, bEvents, bEventIDs, bBlobs, bJournal,
}

// appendFill is the fill percent of buckets whose keys mostly arrive in
// order (sequence numbers, the time indexes): a split then leaves the
// older page 95% full instead of bbolt's default half, so the audit log
// and the indexes take about half the pages and stay a level shallower
// for longer, and each commit rewrites fewer of them (issue #17).
const appendFill = 0.95

// bLegacyRollbackIdx is the time-only index files had before index format
// 1; migrate removes it.
var bLegacyRollbackIdx = []byte("rollbacks_by_time")

// Open opens (creating if needed) the state file at path. A second process
// opening the same file fails after Options.Timeout (a second by default)
// with ErrLocked instead of waiting forever.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	// The freelist is synced: without it bbolt rebuilds the list at open by
	// walking every page, so a process's resident memory at start grew with
	// the history (222 MB at 100k rollbacks against 4 MB synced, issue
	// #17). The hashmap freelist keeps each commit's freelist work small.
	// A file written without a synced freelist is walked once, at its next
	// open, and written with one from then on.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout, FreelistType: bbolt.FreelistMapType, ReadOnly: opts.ReadOnly, NoSync: opts.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open state file %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Store{db: db, now: now, hasher: opts.Hasher, gc: newCommitter(db), log: opts.Logger,
		evict: dedupEviction{max: opts.DedupMaxKeys}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.evict.max <= 0 {
		s.evict.max = DefaultDedupMaxKeys
	}
	if opts.ReadOnly {
		return s, nil // readers cope with missing buckets
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err == nil {
		err = migrate(db)
	}
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	if err := s.openIntake(path); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	return s, nil
}

// DiskWrites is what the file's commits have written since Open: page
// writes (a page and its overflow count once) and bytes, from bbolt's
// transaction statistics. The scale benchmarks report them per operation
// because, unlike time, they do not depend on the machine's load.
func (s *Store) DiskWrites() (pages, bytes int64) {
	st := s.db.Stats().TxStats
	return st.GetWrite(), st.GetPageAlloc()
}

// Ping reports whether the file is still open and readable.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, func(*bbolt.Tx) error { return nil })
}

// Close answers every write already queued, then closes the file. Writes
// after Close fail with store.ErrUnavailable.
func (s *Store) Close() error {
	var jerr error
	if s.journal != nil {
		jerr = s.journal.close(context.Background())
	}
	s.gc.close()
	return errors.Join(jerr, s.db.Close())
}

func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return mapErr(s.db.View(fn))
}

func (s *Store) update(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return mapErr(s.db.Update(fn))
}

// batch is update for hot, independent writes: concurrent callers share
// one transaction and one fsync (see committer). fn may run more than once,
// so it must reset whatever it reports back; a caller whose ctx ends gets
// ctx.Err() while its write may still commit.
func (s *Store) batch(ctx context.Context, fn func(*bbolt.Tx) error) error {
	return mapErr(s.gc.do(ctx, fn))
}

// mapErr marks a closed database, and a disk that refuses writes (full,
// failing, remounted read-only), as unavailable: callers answer 503 or
// "state store unavailable" instead of an internal error, and retry later.
func mapErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) || errors.Is(err, bolterrors.ErrTxClosed) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EROFS) ||
		errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// NextID allocates the next rollback number.
func (s *Store) NextID(ctx context.Context) (string, error) {
	var n uint64
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.Bucket(bRollbacks).NextSequence()
		return err
	})
	if err != nil {
		return "", fmt.Errorf("next rollback id: %w", err)
	}
	return store.FormatID(int64(n)), nil
}

// LastID is the rollback counter's current value without allocating one:
// the store guard compares it with its high-water mark, because a counter
// that went back means ids (and their audit trail) would repeat.
func (s *Store) LastID(ctx context.Context) (int64, error) {
	var n uint64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		n = tx.Bucket(bRollbacks).Sequence()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("last rollback id: %w", err)
	}
	return int64(n), nil
}

// CreateRollback stores r with Version 1.
func (s *Store) CreateRollback(ctx context.Context, r *rollback.Record) error {
	if r.ID == "" {
		return errors.New("create rollback: empty id")
	}
	rec := *r
	rec.Version = 1
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = s.now()
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bRollbacks)
		if b.Get([]byte(rec.ID)) != nil {
			return store.ErrExists
		}
		if err := putJSON(b, []byte(rec.ID), &rec); err != nil {
			return err
		}
		return putRollbackIndexes(tx, &rec)
	})
	if err != nil {
		return fmt.Errorf("create rollback %s: %w", r.ID, err)
	}
	r.Version, r.CreatedAt = rec.Version, rec.CreatedAt
	return nil
}

// GetRollback reads one rollback.
func (s *Store) GetRollback(ctx context.Context, id string) (*rollback.Record, error) {
	var r rollback.Record
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return getJSON(tx.Bucket(bRollbacks), []byte(id), &r)
	})
	if err != nil {
		return nil, fmt.Errorf("get rollback %s: %w", id, err)
	}
	return &r, nil
}

// UpdateRollback is a compare-and-set on Version.
func (s *Store) UpdateRollback(ctx context.Context, r *rollback.Record) error {
	rec := *r
	rec.Version++
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bRollbacks)
		var old rollback.Record
		if err := getJSON(b, []byte(r.ID), &old); err != nil {
			return err
		}
		if old.Version != r.Version {
			return store.ErrConflict
		}
		if err := putJSON(b, []byte(r.ID), &rec); err != nil {
			return err
		}
		// A change of state, time or scope moves the record between
		// indexes (into or out of the open one).
		return moveRollbackIndexes(tx, &old, &rec)
	})
	if err != nil {
		return fmt.Errorf("update rollback %s: %w", r.ID, err)
	}
	r.Version = rec.Version
	return nil
}

// AppendSteps appends evs, all or none, unless token is older than the
// rollback's lease.
func (s *Store) AppendSteps(ctx context.Context, rollbackID string, token int64, evs ...rollback.StepEvent) ([]rollback.StepEvent, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	out := make([]rollback.StepEvent, len(evs))
	// Steps of different rollbacks (and the engine's many concurrent plans)
	// share commits; the closure fills out afresh on every run.
	err := s.batch(ctx, func(tx *bbolt.Tx) error {
		var l leaseRecord
		err := getJSON(tx.Bucket(bLeases), []byte(store.LeaseName(rollbackID)), &l)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if token < l.Token {
			return store.ErrStaleToken
		}
		b, err := tx.Bucket(bSteps).CreateBucketIfNotExists([]byte(rollbackID))
		if err != nil {
			return err
		}
		for i, ev := range evs {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			ev.Token, ev.Seq = token, int64(seq)
			if ev.At.IsZero() {
				ev.At = s.now()
			}
			if err := putJSON(b, u64(seq), &ev); err != nil {
				return err
			}
			out[i] = ev
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("append steps to %s: %w", rollbackID, err)
	}
	return out, nil
}

// ListSteps returns a rollback's steps in append order.
func (s *Store) ListSteps(ctx context.Context, rollbackID string) ([]rollback.StepEvent, error) {
	var out []rollback.StepEvent
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		out, err = listNested[rollback.StepEvent](tx.Bucket(bSteps), rollbackID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list steps of %s: %w", rollbackID, err)
	}
	return out, nil
}

// PutVote stores v once per rollback, plan and person.
func (s *Store) PutVote(ctx context.Context, v rollback.Vote) (bool, error) {
	if v.At.IsZero() {
		v.At = s.now()
	}
	var stored bool
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		key := []byte(v.RollbackID + "\x00" + v.PlanHash + "\x00" + v.User)
		keys := tx.Bucket(bVoteKeys)
		if keys.Get(key) != nil {
			return nil
		}
		b, err := tx.Bucket(bVotes).CreateBucketIfNotExists([]byte(v.RollbackID))
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := putJSON(b, u64(seq), &v); err != nil {
			return err
		}
		stored = true
		return keys.Put(key, []byte{})
	})
	if err != nil {
		return false, fmt.Errorf("put vote on %s: %w", v.RollbackID, err)
	}
	return stored, nil
}

// ListVotes returns a rollback's votes in the order they were cast.
func (s *Store) ListVotes(ctx context.Context, rollbackID string) ([]rollback.Vote, error) {
	var out []rollback.Vote
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		out, err = listNested[rollback.Vote](tx.Bucket(bVotes), rollbackID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list votes of %s: %w", rollbackID, err)
	}
	return out, nil
}

// listNested decodes every value of the sub-bucket name in key order.
func listNested[T any](parent *bbolt.Bucket, name string) ([]T, error) {
	out := []T{}
	b := parent.Bucket([]byte(name))
	if b == nil {
		return out, nil
	}
	err := b.ForEach(func(_, v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, data)
}

// getJSON decodes key into v; store.ErrNotFound when absent.
func getJSON(b *bbolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return store.ErrNotFound
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// timeKey appends t (microseconds, sign bit flipped so byte order is time
// order) and id to prefix.
func timeKey(prefix []byte, t time.Time, id string) []byte {
	k := binary.BigEndian.AppendUint64(append([]byte{}, prefix...), uint64(t.UnixMicro())^(1<<63))
	return append(k, id...)
}

// randomID names events that arrive without an id.
func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "ev-" + hex.EncodeToString(b[:])
}
