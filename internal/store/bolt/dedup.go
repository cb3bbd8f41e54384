package bolt

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"

	"go.etcd.io/bbolt"
)

// Webhook dedup keys (EnqueueEvent) are answered from memory and kept in
// bolt only in expiry order.
//
// They used to be kept in bolt by key as well (bucket "dedup", key ->
// expiry). Webhook ids are random, so every move of the journal inserted
// its second's keys at random places of a B-tree holding a day of them:
// once the tree had more leaves than a move had keys, each key cost a
// 4 KiB page written, and the mover's commit grew with the day's intake
// (31 % of intake CPU at 256 webhooks in flight, a 536 MB file after a
// three-minute load test). Appending in expiry order touches only the
// tree's right edge, and purging expired keys only its left edge.
//
// The price is memory and start time: about 62 bytes of heap per live key
// (a PagerDuty delivery has two, an Alertmanager notification one), loaded
// at open from the expiry order. A day of 20,000 alerts is under 3 MB; the
// 2.4 million keys a three-minute load test leaves took 147 MB of heap and
// 3.3 s to open (docs/performance.md). So memory holds at most
// Options.DedupMaxKeys keys, the newest: past that, the mover lets the
// oldest go (dedupEviction) and says so, and a repeat of those deliveries
// is no longer recognized. Bolt keeps them until they expire.

// DefaultDedupMaxKeys is Options.DedupMaxKeys when unset: about 62 MB of
// keys, 500,000 PagerDuty deliveries or a million Alertmanager
// notifications within the dedup TTL.
const DefaultDedupMaxKeys = 1_000_000

// dedupHash names a key in memory: 128 bits of two seeded hashes, so that
// neither chance (about 1e-26 for a million live keys) nor a sender who
// picks its ids can make two keys collide and drop an alert as a repeat.
type dedupHash [2]uint64

// dedupIndex maps every live dedup key, journaled or in bolt, to its expiry
// (unix ns). Its owner (the journal) guards it.
type dedupIndex struct {
	seeds [2]maphash.Seed
	until map[dedupHash]int64
}

func newDedupIndex() *dedupIndex {
	return &dedupIndex{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, until: map[dedupHash]int64{}}
}

func (x *dedupIndex) len() int { return len(x.until) }

func (x *dedupIndex) hash(key string) dedupHash {
	return dedupHash{maphash.String(x.seeds[0], key), maphash.String(x.seeds[1], key)}
}

// live reports whether key is held past now.
func (x *dedupIndex) live(key string, now int64) bool {
	until, ok := x.until[x.hash(key)]
	return ok && until > now
}

func (x *dedupIndex) set(key string, until int64) { x.until[x.hash(key)] = until }

// drop forgets key unless it was set again since (with another expiry).
func (x *dedupIndex) drop(key string, until int64) {
	h := x.hash(key)
	if x.until[h] == until {
		delete(x.until, h)
	}
}

// dedupKeyOf is a key of bucket bDedupExp: expiry (unix ns, big endian),
// then the dedup key.
func dedupKeyOf(key string, until int64) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(key)), uint64(until)), key...)
}

// putDedupKeys stores each key of a journaled record by expiry.
func putDedupKeys(tx *bbolt.Tx, keys []string, until int64) error {
	b := tx.Bucket(bDedupExp)
	b.FillPercent = appendFill // expiries only grow (one TTL for all webhooks)
	for _, k := range keys {
		if err := b.Put(dedupKeyOf(k, until), []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// expiredKey is a dedup key purged from bolt, to drop from memory.
type expiredKey struct {
	key   string
	until int64
}

// purgeDedupKeys deletes up to limit keys that expired by now and returns
// them.
func purgeDedupKeys(tx *bbolt.Tx, now int64, limit int) ([]expiredKey, error) {
	b := tx.Bucket(bDedupExp)
	var dead [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(dead) < limit; k, _ = c.Next() {
		if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) > now {
			break
		}
		dead = append(dead, bytes.Clone(k))
	}
	out := make([]expiredKey, 0, len(dead))
	// Deleting under a live cursor skips entries, so delete afterwards.
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return nil, err
		}
		out = append(out, expiredKey{key: string(k[8:]), until: int64(binary.BigEndian.Uint64(k))})
	}
	return out, nil
}

// loadDedupKeys fills x with the newest keys bolt holds live at now, at
// most ev.max of them, read newest first so that start time and memory
// stay within that bound however many keys bolt holds, and tells ev where
// the ones left in bolt end. It also empties the by-key bucket files
// written before this layout still carry (the expiry order always held
// every key too).
func loadDedupKeys(tx *bbolt.Tx, x *dedupIndex, ev *dedupEviction, now int64) error {
	c := tx.Bucket(bDedupExp).Cursor()
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		if len(k) < 8 {
			continue
		}
		until := int64(binary.BigEndian.Uint64(k))
		if until <= now {
			break
		}
		if x.len() >= ev.max {
			ev.after = bytes.Clone(k)
			break
		}
		x.set(string(k[8:]), until)
	}
	if k, _ := tx.Bucket(bDedup).Cursor().First(); k == nil {
		return nil
	}
	if err := tx.DeleteBucket(bDedup); err != nil {
		return err
	}
	_, err := tx.CreateBucket(bDedup)
	return err
}

// dedupEviction keeps memory's dedup keys within max. Memory holds every
// key bolt holds after `after` in expiry order (and the journal's, not yet
// in bolt); those at or before it were let go, oldest first. Only the
// mover uses it, one move at a time.
type dedupEviction struct {
	max   int
	after []byte // the newest bolt key (expiry|key) let go; nil: none
}

// next finds up to n of the oldest keys memory holds from bolt, for memory
// to drop, and where they end (the caller sets after to it once the
// transaction has committed: a batch may run its function again). Keys the
// purge deleted meanwhile are simply not found again: Seek lands on the
// next one.
func (e *dedupEviction) next(tx *bbolt.Tx, n int) (letGo []expiredKey, after []byte) {
	c := tx.Bucket(bDedupExp).Cursor()
	k, _ := c.First()
	if e.after != nil {
		if k, _ = c.Seek(e.after); bytes.Equal(k, e.after) {
			k, _ = c.Next()
		}
	}
	after = e.after
	for ; k != nil && len(letGo) < n; k, _ = c.Next() {
		if len(k) < 8 {
			continue
		}
		letGo = append(letGo, expiredKey{key: string(k[8:]), until: int64(binary.BigEndian.Uint64(k))})
		after = k
	}
	return letGo, bytes.Clone(after)
}
