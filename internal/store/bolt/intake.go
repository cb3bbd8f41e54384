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

// applyRecords stores journaled records' dedup keys, their events (those
// not acknowledged yet) in the inbox, and the new mark, in tx. Records at or
// below the mark are already there.
func applyRecords(tx *bbolt.Tx, recs []journalRecord, now time.Time) error {
	applied := appliedSeq(tx)
	if err := dedupSet.purge(tx, now); err != nil {
		return err
	}
	events, ids := tx.Bucket(bEvents), tx.Bucket(bEventIDs)
	events.FillPercent = appendFill
	for _, r := range recs {
		if r.Seq <= applied {
			continue
		}
		applied = r.Seq
		if ids.Get([]byte(r.ID)) != nil {
			continue
		}
		for _, k := range r.Keys {
			if err := dedupSet.set(tx, k, time.Unix(0, r.Until)); err != nil {
				return err
			}
		}
		if r.acked {
			continue
		}
		data, err := json.Marshal(r.Event)
		if err != nil {
			return err
		}
		seq, err := events.NextSequence()
		if err != nil {
			return err
		}
		if err := events.Put(u64(seq), data); err != nil {
			return err
		}
		if err := ids.Put([]byte(r.ID), u64(seq)); err != nil {
			return err
		}
	}
	return tx.Bucket(bJournal).Put(journalApplied, u64(applied))
}

// moveJournal is the journal's mover: many records, one group commit.
func (s *Store) moveJournal(ctx context.Context, recs []journalRecord) error {
	err := s.batch(ctx, func(tx *bbolt.Tx) error { return applyRecords(tx, recs, s.now()) })
	s.inbox.added() // after the commit: see inboxState
	return err
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
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if len(recs) > 0 {
			if err := applyRecords(tx, recs, s.now()); err != nil {
				return err
			}
		}
		applied = appliedSeq(tx)
		return nil
	})
	if err == nil {
		s.journal, err = startJournal(f, applied, s.moveJournal)
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("replay intake journal: %w", err)
	}
	return nil
}
