package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// journalApplied, in bucket bJournal, is the Seq of the last journal record
// applied to bolt; replay skips records at or below it.
var journalApplied = []byte("applied")

// appliedSeq reads the journal mark (0 when none was written yet).
func appliedSeq(tx *bbolt.Tx) uint64 {
	if v := tx.Bucket(bJournal).Get(journalApplied); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// applyRecords stores journaled records' dedup keys (by expiry), their
// events (those not acknowledged yet) in the inbox, and the new mark, in
// tx. Records at or below the mark are already there. It also purges dedup
// keys that expired, at least as many as it adds, and returns them for
// memory to forget.
func applyRecords(tx *bbolt.Tx, recs []journalRecord, now time.Time) ([]expiredKey, error) {
	applied := appliedSeq(tx)
	events, ids := tx.Bucket(bEvents), tx.Bucket(bEventIDs)
	events.FillPercent = appendFill
	added := 0
	for _, r := range recs {
		if r.Seq <= applied {
			continue
		}
		applied = r.Seq
		if ids.Get([]byte(r.ID)) != nil {
			continue
		}
		if err := putDedupKeys(tx, r.Keys, r.Until); err != nil {
			return nil, err
		}
		added += len(r.Keys)
		if r.acked {
			continue
		}
		data, err := json.Marshal(r.Event)
		if err != nil {
			return nil, err
		}
		seq, err := events.NextSequence()
		if err != nil {
			return nil, err
		}
		if err := events.Put(u64(seq), data); err != nil {
			return nil, err
		}
		if err := ids.Put([]byte(r.ID), u64(seq)); err != nil {
			return nil, err
		}
	}
	if err := tx.Bucket(bJournal).Put(journalApplied, u64(applied)); err != nil {
		return nil, err
	}
	// Purge at least twice what came in, so that keys never pile up
	// faster than they expire, and never more than a bounded batch.
	return purgeDedupKeys(tx, now.UnixNano(), min(max(purgeMax, 2*added), dedupPurgeMax))
}

// dedupPurgeMax bounds the expired dedup keys one commit deletes.
const dedupPurgeMax = 1 << 14

// moveJournal is the journal's mover: many records, one group commit. Its
// error must mean "not applied": the journal then keeps the records and
// takes acks of them in memory. A queued write may still commit after its
// caller's ctx ends, so once queued it is waited for without ctx. Past
// Options.DedupMaxKeys keys in memory, it also lets the oldest go.
func (s *Store) moveJournal(ctx context.Context, recs []journalRecord) ([]expiredKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var expired, letGo []expiredKey
	var after []byte
	over := s.journal.keyCount() - s.evict.max // before: the count takes the journal's lock
	err := s.batch(context.WithoutCancel(ctx), func(tx *bbolt.Tx) error {
		var err error
		expired, err = applyRecords(tx, recs, s.now())
		if err == nil && over > 0 {
			letGo, after = s.evict.next(tx, over)
		}
		return err
	})
	s.inbox.added() // after the commit: see inboxState
	if err != nil || len(letGo) == 0 {
		return expired, err
	}
	s.evict.after = after
	s.sayEvicted(letGo)
	return append(expired, letGo...), nil
}

// dedupEvictSayEvery spaces the warnings that dedup keys were let go.
const dedupEvictSayEvery = time.Minute

// sayEvicted warns, at most once a minute, that memory let keys go before
// they expired: repeats of those deliveries are no longer recognized.
func (s *Store) sayEvicted(letGo []expiredKey) {
	now := s.now()
	if now.Sub(s.evictSaidAt) < dedupEvictSayEvery {
		return
	}
	s.evictSaidAt = now
	s.log.Warn("intake dedup: memory holds the newest keys only; repeats of older deliveries are no longer recognized",
		"max_keys", s.evict.max, "let_go", len(letGo),
		"oldest_kept_expires_after", time.Unix(0, letGo[len(letGo)-1].until).UTC().Format(time.RFC3339))
}

// dedupPurgeEvery is how often a quiet store purges expired dedup keys.
const dedupPurgeEvery = time.Minute

// purgeDedupIfDue deletes expired dedup keys from bolt and memory at most
// once every dedupPurgeEvery, for when no intake moves the journal (moves
// purge as they go): a quiet bot still forgets yesterday's keys. It writes
// only when a key has expired.
func (s *Store) purgeDedupIfDue(ctx context.Context) error {
	now := s.now().UnixNano()
	if last := s.dedupPurgedAt.Load(); last != 0 && now-last < int64(dedupPurgeEvery) {
		return nil
	}
	s.dedupPurgedAt.Store(now)
	due := false
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bDedupExp).Cursor().First()
		due = len(k) >= 8 && int64(binary.BigEndian.Uint64(k)) <= now
		return nil
	})
	if err != nil || !due {
		return err
	}
	var expired []expiredKey
	err = s.batch(ctx, func(tx *bbolt.Tx) error {
		var err error
		expired, err = purgeDedupKeys(tx, s.now().UnixNano(), dedupPurgeMax)
		return err
	})
	if err != nil {
		return fmt.Errorf("purge dedup keys: %w", mapErr(err))
	}
	s.journal.forgetExpired(expired)
	return nil
}

// inboxState remembers that bolt's inbox was found empty, until a move
// may have put events in it. gen counts moves; emptyAt is gen+1 of the
// read that found the inbox empty (0: not known). A move bumps gen after
// its commit, so a read that began before the commit and saw nothing is
// recorded against the old gen and does not count afterwards.
type inboxState struct {
	gen, emptyAt atomic.Uint64
}

func (i *inboxState) added() { i.gen.Add(1) }

// known reports the gen to read at, and whether the inbox is known empty at it.
func (i *inboxState) known() (uint64, bool) {
	g := i.gen.Load()
	return g, i.emptyAt.Load() == g+1
}

// sawEmpty records a read, begun at gen g, that found the inbox empty.
func (i *inboxState) sawEmpty(g uint64) { i.emptyAt.Store(g + 1) }

// openIntake replays the journal beside the state file into bolt (one
// commit) and starts a fresh journal.
func (s *Store) openIntake(path string) error {
	f, recs, err := openJournal(path + ".journal")
	if err != nil {
		return err
	}
	var applied uint64
	index := newDedupIndex()
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if len(recs) > 0 {
			if _, err := applyRecords(tx, recs, s.now()); err != nil {
				return err
			}
		}
		applied = appliedSeq(tx)
		return loadDedupKeys(tx, index, &s.evict, s.now().UnixNano())
	})
	if err == nil {
		s.journal, err = startJournal(f, applied, index, s.moveJournal)
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("replay intake journal: %w", err)
	}
	return nil
}
