package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sync"

	bolterrors "go.etcd.io/bbolt/errors"
)

// journalMoveAt is the journal size at which the syncer moves every synced
// record into bolt and empties the file before writing more, so a journal
// under sustained load stays bounded even when the worker is not reading.
const journalMoveAt = 16 << 20

// frameHeader is a record's length and CRC-32C, 4 bytes each.
const frameHeader = 8

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errJournalClosed answers enqueues after Close; mapErr makes it
// store.ErrUnavailable like any write to a closed file.
var errJournalClosed = fmt.Errorf("intake journal closed: %w", bolterrors.ErrDatabaseNotOpen)

// journalRecord is one accepted event as appended to the intake journal.
type journalRecord struct {
	Seq   uint64
	ID    string
	Until int64 // dedup keys' expiry, unix ns
	Keys  []string
	Event []byte // the store.Event's JSON, as bolt stores it
}

// syncGroup is the records appended while the previous group was syncing;
// one write and one fdatasync answer them all.
type syncGroup struct {
	buf  []byte
	recs []journalRecord
	done chan struct{} // closed once err is final
	err  error
}

// journal is the intake journal of a bolt Store: webhook intake appends an
// event here and answers 202 after one group fdatasync, instead of a bbolt
// commit (two syncs: pages, then meta). A mover later applies synced records
// to bolt's inbox many per commit, recording the last applied Seq in the same
// transaction, so replay after a crash skips what bolt already has.
//
// Dedup for records not yet in bolt is answered from memory: bolt's file lock
// makes this process the only writer, so ids and keys cannot change behind it.
type journal struct {
	f     *os.File
	apply func(ctx context.Context, recs []journalRecord) error // into bolt, idempotent by Seq

	mu      sync.Mutex
	nextSeq uint64
	ids     map[string]struct{} // event ids journaled, not yet in bolt
	keys    map[string]int64    // dedup key -> expiry, of records not yet in bolt
	group   *syncGroup          // accumulating
	synced  []journalRecord     // durable, waiting for the mover
	written uint64              // highest Seq written to the file
	moved   uint64              // highest Seq applied to bolt
	moveGen uint64              // counts moves; see enqueue
	err     error               // sticky write or sync failure
	closed  bool
	kick    chan struct{} // wakes the syncer; closed by close under mu
	done    chan struct{} // closed when the syncer has exited

	moveMu sync.Mutex // one mover at a time
	size   int64      // file size; the syncer's alone
}

func newSyncGroup() *syncGroup { return &syncGroup{done: make(chan struct{})} }

// openJournal opens (creating) the journal file at path and returns the
// records of its valid prefix: a torn or corrupt tail was never answered 202
// (its sync had not returned), so it is dropped.
func openJournal(path string) (*os.File, []journalRecord, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("read intake journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
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

// decodeJournal returns the records up to the first torn or corrupt frame.
func decodeJournal(data []byte) []journalRecord {
	var out []journalRecord
	for len(data) >= frameHeader {
		n := binary.BigEndian.Uint32(data)
		sum := binary.BigEndian.Uint32(data[4:])
		if uint64(n) > uint64(len(data)-frameHeader) {
			break
		}
		payload := data[frameHeader : frameHeader+int(n)]
		if crc32.Checksum(payload, crcTable) != sum {
			break
		}
		r, ok := decodeRecord(payload)
		if !ok {
			break
		}
		out = append(out, r)
		data = data[frameHeader+int(n):]
	}
	return out
}

// A record's payload is binary, not JSON, so appending one costs a copy of
// the event rather than a second JSON encoding of it:
// seq(8) until(8) idLen(2) id keyCount(2) [keyLen(2) key]... event.
func appendFrame(buf []byte, r journalRecord) ([]byte, error) {
	if len(r.ID) > math.MaxUint16 || len(r.Keys) > math.MaxUint16 {
		return buf, fmt.Errorf("journal record %q: id or key list too long", r.ID)
	}
	start := len(buf)
	buf = append(buf, make([]byte, frameHeader)...)
	buf = binary.BigEndian.AppendUint64(buf, r.Seq)
	buf = binary.BigEndian.AppendUint64(buf, uint64(r.Until))
	buf = appendString16(buf, r.ID)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(r.Keys)))
	for _, k := range r.Keys {
		if len(k) > math.MaxUint16 {
			return buf[:start], fmt.Errorf("journal record %q: dedup key too long", r.ID)
		}
		buf = appendString16(buf, k)
	}
	buf = append(buf, r.Event...)
	payload := buf[start+frameHeader:]
	binary.BigEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, crcTable))
	return buf, nil
}

func appendString16(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(s)))
	return append(buf, s...)
}

// decodeRecord parses a payload whose CRC matched; ok is false when it is
// malformed anyway (a bug or a foreign file), which ends the replay there.
func decodeRecord(p []byte) (r journalRecord, ok bool) {
	if len(p) < 16 {
		return r, false
	}
	r.Seq = binary.BigEndian.Uint64(p)
	r.Until = int64(binary.BigEndian.Uint64(p[8:]))
	p = p[16:]
	if r.ID, p, ok = cutString16(p); !ok || r.Seq == 0 || len(p) < 2 {
		return r, false
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	for range n {
		var k string
		if k, p, ok = cutString16(p); !ok {
			return r, false
		}
		r.Keys = append(r.Keys, k)
	}
	r.Event = bytes.Clone(p)
	return r, true
}

func cutString16(p []byte) (string, []byte, bool) {
	if len(p) < 2 {
		return "", p, false
	}
	n := int(binary.BigEndian.Uint16(p))
	if len(p)-2 < n {
		return "", p, false
	}
	return string(p[2 : 2+n]), p[2+n:], true
}

// startJournal runs the syncer for f, whose records through applied are
// already in bolt (the file holds nothing newer: Open replayed it).
func startJournal(f *os.File, applied uint64, apply func(context.Context, []journalRecord) error) (*journal, error) {
	if err := f.Truncate(0); err != nil {
		return nil, fmt.Errorf("empty intake journal: %w", err)
	}
	j := &journal{
		f: f, apply: apply, nextSeq: applied + 1, written: applied, moved: applied,
		ids: map[string]struct{}{}, keys: map[string]int64{}, group: newSyncGroup(),
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	go j.loop()
	return j, nil
}

// memDup reports whether r's id or a live key belongs to a journaled record.
func (j *journal) memDup(r *journalRecord, now int64) bool {
	if _, ok := j.ids[r.ID]; ok {
		return true
	}
	for _, k := range r.Keys {
		if until, ok := j.keys[k]; ok && until > now {
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
func (j *journal) enqueue(ctx context.Context, r journalRecord, now int64, boltSeen func() (bool, error)) (bool, error) {
	j.mu.Lock()
	if err := j.usable(); err != nil {
		j.mu.Unlock()
		return false, err
	}
	dup, gen := j.memDup(&r, now), j.moveGen
	j.mu.Unlock()
	if dup {
		return false, nil
	}
	if dup, err := boltSeen(); err != nil || dup {
		return false, err
	}
	g, dup, err := j.add(r, now, gen, boltSeen)
	if err != nil || dup {
		return false, err
	}
	select {
	case <-g.done:
		if g.err != nil {
			return false, g.err
		}
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// add checks again under the lock and appends r to the accumulating group.
func (j *journal) add(r journalRecord, now int64, gen uint64, boltSeen func() (bool, error)) (*syncGroup, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usable(); err != nil {
		return nil, false, err
	}
	if j.memDup(&r, now) {
		return nil, true, nil
	}
	if j.moveGen != gen {
		if dup, err := boltSeen(); err != nil || dup {
			return nil, dup, err
		}
	}
	r.Seq = j.nextSeq
	buf, err := appendFrame(j.group.buf, r)
	if err != nil {
		return nil, false, fmt.Errorf("encode journal record: %w", err)
	}
	j.nextSeq++
	j.group.buf = buf
	j.group.recs = append(j.group.recs, r)
	j.ids[r.ID] = struct{}{}
	for _, k := range r.Keys {
		j.keys[k] = r.Until
	}
	select {
	case j.kick <- struct{}{}:
	default:
	}
	return j.group, false, nil
}

func (j *journal) usable() error {
	if j.closed {
		return errJournalClosed
	}
	return j.err
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
	if len(g.recs) == 0 {
		j.mu.Unlock()
		return false
	}
	j.group = newSyncGroup()
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
	} else {
		j.synced = append(j.synced, g.recs...)
		j.written = g.recs[len(g.recs)-1].Seq
	}
	g.err = j.err
	j.mu.Unlock()
	close(g.done)
	return true
}

// makeRoom empties the file when everything in it is in bolt, moving it
// there first once the file has grown past journalMoveAt.
func (j *journal) makeRoom(empty bool) error {
	if !empty && j.size >= journalMoveAt {
		if err := j.move(context.Background()); err != nil {
			return err
		}
		j.mu.Lock()
		empty = j.moved == j.written
		j.mu.Unlock()
	}
	if !empty || j.size == 0 {
		return nil
	}
	// Not synced on purpose: records left behind by a lost truncate have
	// Seq <= bolt's applied mark and replay skips them.
	if err := j.f.Truncate(0); err != nil {
		return err
	}
	j.size = 0
	return nil
}

func (j *journal) writeSync(buf []byte) error {
	if _, err := j.f.Write(buf); err != nil {
		return err
	}
	j.size += int64(len(buf))
	return fdatasync(j.f)
}

// forget drops r from the in-memory indexes, unless a newer record took
// over its key after it expired.
func (j *journal) forget(r journalRecord) {
	delete(j.ids, r.ID)
	for _, k := range r.Keys {
		if j.keys[k] == r.Until {
			delete(j.keys, k)
		}
	}
}

// move applies every synced record to bolt in one commit. PendingEvents calls
// it first, so the worker sees every event that was answered 202.
func (j *journal) move(ctx context.Context) error {
	j.moveMu.Lock()
	defer j.moveMu.Unlock()
	j.mu.Lock()
	recs := j.synced
	j.synced = nil
	j.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	if err := j.apply(ctx, recs); err != nil {
		j.mu.Lock()
		j.synced = append(recs, j.synced...) // applying again is harmless: by Seq
		j.mu.Unlock()
		return fmt.Errorf("move journaled events: %w", err)
	}
	j.mu.Lock()
	for _, r := range recs {
		j.forget(r)
	}
	j.moved = recs[len(recs)-1].Seq
	j.moveGen++
	j.mu.Unlock()
	return nil
}

// close syncs what is queued, moves everything into bolt, empties and
// closes the file. It is safe to call twice.
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
