package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backout/backout/internal/store"

	bolterrors "go.etcd.io/bbolt/errors"
)

// journalMoveAt is the journal size at which the syncer moves every synced
// record into bolt and empties the file before writing more, so a journal
// under sustained load stays bounded even when the worker is not reading.
const journalMoveAt = 16 << 20

// journalGrowBy is the step in which the journal file grows: the syncer
// writes zeros this far past a group that would end beyond the file, in the
// same fdatasync. Later groups then overwrite blocks that are already
// allocated and written, inside the file's size, so their fdatasync has only
// data to flush, not a size change for ext4 to commit through its journal
// (measured: docs/performance.md, item 5). Growing in steps rather than to
// journalMoveAt at open keeps Open cheap for stores that take few webhooks.
const journalGrowBy = 1 << 20

// journalZeros is what the file is grown with.
var journalZeros [journalGrowBy]byte

// journalMoveEvery is how often the worker's reads move what the journal
// holds into bolt. Between moves its events wait in memory, so one commit
// carries a second's worth of dedup keys, and an event the worker acknowledges
// before the move never touches bolt's inbox at all.
const journalMoveEvery = time.Second

// errJournalClosed answers enqueues after Close; mapErr makes it
// store.ErrUnavailable like any write to a closed file.
var errJournalClosed = fmt.Errorf("intake journal closed: %w", bolterrors.ErrDatabaseNotOpen)

// syncGroup is the records (and ack markers) appended while the previous
// group was syncing; one write and one fdatasync answer them all.
type syncGroup struct {
	buf  []byte
	recs []journalRecord
	done chan struct{} // closed once err is final
	err  error
}

// journal is the intake journal of a bolt Store: webhook intake appends an
// event here and answers 202 after one group fdatasync, instead of a bbolt
// commit (two syncs: pages, then meta). The worker reads synced events from
// memory (pending) and acknowledges them there (ack: a marker in the
// journal, no wait). A mover applies synced records to bolt many per commit:
// every record's dedup keys, and the event itself only when it was not
// acknowledged yet; the last applied Seq goes in the same transaction, so
// replay after a crash skips what bolt already has.
//
// Dedup is answered from memory: keys (every live dedup key, journaled or
// in bolt; see dedup.go) and ids (records not yet in bolt). Bolt's file lock
// makes this process the only writer, so neither can change behind it.
type journal struct {
	f *os.File
	// syncFile is fdatasync; a test makes it block or fail.
	syncFile func(*os.File) error
	// apply moves records into bolt, idempotent by Seq; an error means not applied.
	apply func(ctx context.Context, recs []journalRecord) ([]expiredKey, error)

	mu       sync.Mutex
	nextSeq  uint64
	ids      map[string]uint64 // event id -> Seq, of records journaled, not yet in bolt nor acknowledged
	keys     *dedupIndex       // every live dedup key
	group    *syncGroup        // accumulating
	syncing  *syncGroup        // being written and synced; nil between groups
	synced   []journalRecord   // durable, not yet in bolt; ascending Seq
	ackedTo  int               // synced[:ackedTo] are all acknowledged: pending starts after them
	written  uint64            // highest Seq written to the file
	moved    uint64            // highest Seq applied to bolt
	movingTo uint64            // highest Seq of the move in progress (<= moved when none)
	moveGen  uint64            // counts moves; see enqueue
	movedAt  time.Time         // when the last move ended
	err      error             // sticky write or sync failure
	closed   bool
	kick     chan struct{} // wakes the syncer; closed by close under mu
	done     chan struct{} // closed when the syncer has exited

	dupWaiting atomic.Int32 // duplicates waiting for their original's sync

	moveMu sync.Mutex // one mover at a time
	off    int64      // where the next group is written; the syncer's alone
	size   int64      // file size; the syncer's alone
}

func newSyncGroup() *syncGroup { return &syncGroup{done: make(chan struct{})} }

// openJournal opens (creating) the journal file at path and returns the
// records of its current cycle (see decodeJournal): a torn or corrupt tail
// was never answered 202 (its sync had not returned), so it is dropped.
func openJournal(path string) (*os.File, []journalRecord, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("read intake journal: %w", err)
	}
	// Not O_APPEND: groups are written at the syncer's offset, which goes
	// back to 0 once everything in the file is in bolt (makeRoom).
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open intake journal: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, decodeJournal(data), nil
}

// syncDir makes a newly created journal's directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync journal directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync journal directory: %w", err)
	}
	return nil
}

// startJournal runs the syncer for f, whose records through applied are
// already in bolt (Open replayed them). The file is emptied, durably, before
// this run writes: what a crash left beyond the replayed records (the
// persisted part of a group whose sync had not returned) may carry sequence
// numbers above applied, which this run hands out again; once overwritten in
// part, such a record could pass for the continuation of this run's.
func startJournal(f *os.File, applied uint64, keys *dedupIndex, apply func(context.Context, []journalRecord) ([]expiredKey, error)) (*journal, error) {
	if err := f.Truncate(0); err != nil {
		return nil, fmt.Errorf("empty intake journal: %w", err)
	}
	if err := fdatasync(f); err != nil {
		return nil, fmt.Errorf("empty intake journal: %w", err)
	}
	j := &journal{
		f: f, syncFile: fdatasync, apply: apply, nextSeq: applied + 1, written: applied, moved: applied, movingTo: applied,
		ids: map[string]uint64{}, keys: keys, group: newSyncGroup(), movedAt: time.Now(),
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	go j.loop()
	return j, nil
}

// memDup reports whether r's id is pending here or any of its keys is live.
func (j *journal) memDup(r *journalRecord, now int64) bool {
	if _, ok := j.ids[r.ID]; ok {
		return true
	}
	for _, k := range r.Keys {
		if j.keys.live(k, now) {
			return true
		}
	}
	return false
}

// enqueue appends r unless it is a duplicate of a journaled record or of
// bolt (boltSeen), and returns once r is durable. boltSeen runs outside the
// lock; if a move finished meanwhile (records left memory for bolt after
// boltSeen looked), it runs again under the lock, so no duplicate slips
// between the two indexes. A caller whose ctx ends gets ctx.Err() while r
// may still become durable: done or not done, never undone.
//
// A duplicate is answered only once what it duplicates is durable: the
// original may still be in a group whose sync has not returned (a sender
// that timed out on a slow disk retries into exactly that window), and a
// duplicate answered then would be the only answer for an event a crash or
// a failed sync loses.
func (j *journal) enqueue(ctx context.Context, r journalRecord, now int64, boltSeen func() (bool, error)) (bool, error) {
	j.mu.Lock()
	if err := j.usable(); err != nil {
		j.mu.Unlock()
		return false, err
	}
	dup, gen := j.memDup(&r, now), j.moveGen
	var orig *syncGroup
	if dup {
		orig = j.unsyncedLocked(&r)
	}
	j.mu.Unlock()
	if dup {
		return false, j.waitDuplicate(ctx, orig)
	}
	if dup, err := boltSeen(); err != nil || dup {
		return false, err
	}
	g, dup, err := j.add(r, now, gen, boltSeen)
	if err != nil {
		return false, err
	}
	if dup {
		return false, j.waitDuplicate(ctx, g)
	}
	if err := j.waitDurable(ctx, g); err != nil {
		return false, err
	}
	return true, nil
}

// unsyncedLocked returns the group whose answer makes every record that r
// may duplicate durable, or nil when they already are. Groups are synced
// one after another, so the accumulating group's answer covers the one in
// flight too. A duplicate by id whose record is synced needs no wait; one
// by dedup key cannot tell which record holds the key, so it waits for
// whatever is journaled but not yet synced.
func (j *journal) unsyncedLocked(r *journalRecord) *syncGroup {
	if seq, ok := j.ids[r.ID]; ok && seq <= j.written {
		return nil
	}
	if len(j.group.recs) > 0 {
		return j.group
	}
	return j.syncing
}

// waitDurable waits for g's answer (nil: nothing to wait for).
func (j *journal) waitDurable(ctx context.Context, g *syncGroup) error {
	if g == nil {
		return nil
	}
	select {
	case <-g.done:
		return g.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitDuplicate is waitDurable for a duplicate's original; dupWaiting
// counts the duplicates waiting, so a test can tell one is.
func (j *journal) waitDuplicate(ctx context.Context, g *syncGroup) error {
	if g != nil {
		j.dupWaiting.Add(1)
		defer j.dupWaiting.Add(-1)
	}
	return j.waitDurable(ctx, g)
}

// add checks again under the lock and appends r to the accumulating group,
// or, when r is a duplicate, returns the group unsyncedLocked names.
func (j *journal) add(r journalRecord, now int64, gen uint64, boltSeen func() (bool, error)) (*syncGroup, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usable(); err != nil {
		return nil, false, err
	}
	if j.memDup(&r, now) {
		return j.unsyncedLocked(&r), true, nil
	}
	if j.moveGen != gen {
		if dup, err := boltSeen(); err != nil || dup {
			return nil, dup, err
		}
	}
	r.Seq = j.nextSeq
	buf, err := appendFrame(j.group.buf, &r)
	if err != nil {
		return nil, false, fmt.Errorf("encode journal record: %w", err)
	}
	j.nextSeq++
	j.group.buf = buf
	j.group.recs = append(j.group.recs, r)
	j.ids[r.ID] = r.Seq
	for _, k := range r.Keys {
		j.keys.set(k, r.Until)
	}
	j.wake()
	return j.group, false, nil
}

func (j *journal) wake() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

func (j *journal) usable() error {
	if j.closed {
		return errJournalClosed
	}
	return j.err
}

// pending returns up to limit (<= 0: all) synced events not yet
// acknowledged, oldest first, including those a move is storing in bolt
// right now (the caller drops the ones it also finds there).
func (j *journal) pending(limit int) []store.Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []store.Event
	for i := j.ackedTo; i < len(j.synced); i++ {
		if limit > 0 && len(out) >= limit {
			break
		}
		if r := &j.synced[i]; !r.acked {
			out = append(out, r.Event)
		}
	}
	return out
}

// ack marks the synced record of event id processed while it is only in
// the journal: its event will not be stored in bolt, and a marker (written
// with the next group, not waited for) tells replay so. It reports false
// when the caller must delete the event from bolt instead: a move stored it
// there, or is storing it (ack then waits for that move to end).
func (j *journal) ack(id string) bool {
	j.mu.Lock()
	seq, ok := j.ids[id]
	if ok && seq > j.movingTo {
		i := sort.Search(len(j.synced), func(i int) bool { return j.synced[i].Seq >= seq })
		// Also once closed: close's move, still to come, then stores only
		// the record's keys (were it answered from bolt, where the event
		// is not yet, that move would put it in the inbox).
		if i < len(j.synced) && j.synced[i].Seq == seq {
			r := &j.synced[i]
			r.acked, r.Event = true, store.Event{} // the payload is not needed any more
			for j.ackedTo < len(j.synced) && j.synced[j.ackedTo].acked {
				j.ackedTo++ // the worker reads from here on: a second's acks are not rescanned per batch
			}
			delete(j.ids, id)
			// No marker after a failed write (the file's tail is unknown) nor
			// once closed (the syncer is gone): should the process die, or
			// close's move fail, the next run hands the event out again, as
			// when a marker is lost in a crash.
			if j.err == nil && !j.closed {
				j.group.buf = appendAck(j.group.buf, seq)
				j.wake()
			}
			j.mu.Unlock()
			return true
		}
	}
	moving := ok && seq <= j.movingTo
	j.mu.Unlock()
	if !moving {
		return false
	}
	// Once the move has ended the record is in bolt (false), or, when the
	// move failed, still here: ack it in memory, or the worker gets it again.
	j.waitMove()
	return j.ack(id)
}

// waitMove returns once the move in progress, if any, has ended.
func (j *journal) waitMove() {
	j.moveMu.Lock()
	defer j.moveMu.Unlock()
}

// loop writes and syncs groups until close, then the last one.
func (j *journal) loop() {
	defer close(j.done)
	for range j.kick {
		for j.flushOnce() {
		}
	}
	for j.flushOnce() {
	}
}

// flushOnce writes and syncs the accumulating group, if any, and reports
// whether it did.
func (j *journal) flushOnce() bool {
	j.mu.Lock()
	g := j.group
	if len(g.buf) == 0 {
		j.mu.Unlock()
		return false
	}
	j.group = newSyncGroup()
	j.syncing = g
	empty := j.moved == j.written
	j.mu.Unlock()

	err := j.makeRoom(empty)
	if err == nil {
		err = j.writeSync(g.buf)
	}
	j.mu.Lock()
	if err != nil {
		// The file's tail is unknown now: refuse further intake (503)
		// rather than answer 202 for records that may not be there.
		j.err = fmt.Errorf("intake journal: %w", err)
		for _, r := range g.recs {
			j.forget(r)
		}
	} else if len(g.recs) > 0 {
		j.synced = append(j.synced, g.recs...)
		j.written = g.recs[len(g.recs)-1].Seq
	}
	g.err = j.err
	j.syncing = nil
	j.mu.Unlock()
	close(g.done)
	return true
}

// makeRoom starts a new cycle at the head of the file when everything in it
// is in bolt, moving it there first once the cycle has reached
// journalMoveAt. The file is not truncated: the next groups overwrite the
// last cycle's records in place (see journalGrowBy for why). Those records
// are all at or below bolt's applied mark, and replay stops where the new
// cycle's sequence numbers stop running on (decodeJournal), so a crash at
// any point of the overwrite replays the new cycle's records that reached
// the disk whole and, of the old ones, only what bolt already has.
func (j *journal) makeRoom(empty bool) error {
	if !empty && j.off >= journalMoveAt {
		if err := j.move(context.Background()); err != nil {
			return err
		}
		j.mu.Lock()
		empty = j.moved == j.written
		j.mu.Unlock()
	}
	if empty {
		j.off = 0
	}
	return nil
}

// writeSync writes buf at the cycle's offset, growing the file with zeros
// first when buf would end past it, and syncs both at once: until that sync
// returns nothing in buf was answered, and a crash before it leaves a torn
// or zero tail, which replay drops.
func (j *journal) writeSync(buf []byte) error {
	end := j.off + int64(len(buf))
	if end > j.size {
		grown := (end + journalGrowBy - 1) / journalGrowBy * journalGrowBy
		if _, err := j.f.WriteAt(journalZeros[:grown-end], end); err != nil {
			return err
		}
		j.size = grown
	}
	if _, err := j.f.WriteAt(buf, j.off); err != nil {
		return err
	}
	j.off = end
	return j.syncFile(j.f)
}

// forget drops r, which could not be written, from the in-memory indexes,
// unless a newer record took over its id or key.
func (j *journal) forget(r journalRecord) {
	j.forgetID(r)
	for _, k := range r.Keys {
		j.keys.drop(k, r.Until)
	}
}

// forgetID drops r's id, now in bolt, unless a newer record took it over.
func (j *journal) forgetID(r journalRecord) {
	if j.ids[r.ID] == r.Seq {
		delete(j.ids, r.ID)
	}
}

// keyCount is how many dedup keys memory holds.
func (j *journal) keyCount() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.keys.len()
}

// forgetExpired drops keys bolt purged from memory too.
func (j *journal) forgetExpired(expired []expiredKey) {
	if len(expired) == 0 {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.dropExpiredLocked(expired)
}

func (j *journal) dropExpiredLocked(expired []expiredKey) {
	for _, e := range expired {
		j.keys.drop(e.key, e.until)
	}
}

// moveIfDue moves when the last move is older than journalMoveEvery.
func (j *journal) moveIfDue(ctx context.Context) error {
	j.mu.Lock()
	due := len(j.synced) > 0 && time.Since(j.movedAt) >= journalMoveEvery
	j.mu.Unlock()
	if !due {
		return nil
	}
	return j.move(ctx)
}

// move applies every synced record to bolt in one commit: the dedup keys of
// each, the event of each not yet acknowledged. Acks of these records wait
// until it ends, then go to bolt.
func (j *journal) move(ctx context.Context) error {
	j.moveMu.Lock()
	defer j.moveMu.Unlock()
	j.mu.Lock()
	n := len(j.synced)
	recs := append([]journalRecord(nil), j.synced...)
	if n > 0 {
		j.movingTo = recs[n-1].Seq
	}
	j.mu.Unlock()
	if n == 0 {
		return nil
	}
	expired, err := j.apply(ctx, recs)
	j.mu.Lock()
	defer j.mu.Unlock()
	if err != nil {
		j.movingTo = j.moved // applying again later is harmless: by Seq
		return fmt.Errorf("move journaled events: %w", err)
	}
	for _, r := range recs {
		j.forgetID(r) // its keys stay: memory answers for bolt's too
	}
	j.dropExpiredLocked(expired)
	j.synced = append([]journalRecord(nil), j.synced[n:]...)
	j.ackedTo = max(0, j.ackedTo-n)
	j.moved = recs[n-1].Seq
	j.moveGen++
	j.movedAt = time.Now()
	return nil
}

// close syncs what is queued, moves everything into bolt, empties and
// closes the file (not synced: records left by a lost truncate are all at or
// below bolt's mark, and the next start empties the file durably). It is
// safe to call twice.
func (j *journal) close(ctx context.Context) error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		<-j.done
		return nil
	}
	j.closed = true
	close(j.kick)
	j.mu.Unlock()
	<-j.done
	err := j.move(ctx)
	if err == nil {
		j.mu.Lock()
		if j.moved == j.written {
			err = j.f.Truncate(0)
		}
		j.mu.Unlock()
	}
	return errors.Join(err, j.f.Close())
}
