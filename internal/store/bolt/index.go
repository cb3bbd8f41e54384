package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"go.etcd.io/bbolt"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// Rollback indexes are nested buckets of one bucket, one per index
// (store.RollbackIndexes), keyed micro(8)|id. They change in the
// transaction that writes the record, so they never disagree with it; and
// since each index is its own B+tree, reading the open one costs the same
// however many finished rollbacks the others hold.

// indexFormat is the version of the index layout; Open builds (or
// rebuilds) the indexes of a file written with an older one.
const indexFormat = 1

// migrateChunk is how many records one migration transaction indexes:
// a 100k-rollback file is indexed in bounded memory.
var migrateChunk = 2000

var metaIndexFormat = []byte("index_format")

// idxKey is index\0 followed by the binary form of the position.
func idxKey(index string, p store.Position) []byte {
	k := append([]byte(index), 0)
	k = binary.BigEndian.AppendUint64(k, uint64(p.Micro)^(1<<63))
	return append(k, p.ID...)
}

// binBound turns a store sort-key bound into this file's binary key form
// (both sort the same way); "" stays the lowest and "\xff" the highest.
func binBound(sortKey string) ([]byte, error) {
	if sortKey == "" || sortKey == "\xff" {
		return []byte(sortKey), nil
	}
	p, err := store.ParseSortKey(sortKey)
	if err != nil {
		return nil, err
	}
	return append(binary.BigEndian.AppendUint64(nil, uint64(p.Micro)^(1<<63)), p.ID...), nil
}

// walkBack visits the keys under prefix that lie in [lower, upper), newest
// (highest) first, handing fn the id after the 8-byte time; fn answers
// whether to go on.
func walkBack(c *bbolt.Cursor, prefix []byte, upperKey, lowerKey string, fn func(id []byte) (bool, error)) error {
	upper, err := binBound(upperKey)
	if err != nil {
		return err
	}
	lower, err := binBound(lowerKey)
	if err != nil {
		return err
	}
	var k []byte
	switch {
	case string(upper) == "\xff" && len(prefix) == 0:
		k, _ = c.Last()
	case string(upper) == "\xff":
		// Just past the prefix: its last byte (\x00) plus one.
		end := append(bytes.Clone(prefix[:len(prefix)-1]), prefix[len(prefix)-1]+1)
		k = seekBefore(c, end)
	default:
		k = seekBefore(c, append(bytes.Clone(prefix), upper...))
	}
	floor := append(bytes.Clone(prefix), lower...)
	for ; k != nil && bytes.HasPrefix(k, prefix) && bytes.Compare(k, floor) >= 0; k, _ = c.Prev() {
		more, err := fn(k[len(prefix)+8:])
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// seekBefore positions c on the last key below k.
func seekBefore(c *bbolt.Cursor, k []byte) []byte {
	if found, _ := c.Seek(k); found == nil {
		found, _ = c.Last()
		return found
	}
	found, _ := c.Prev()
	return found
}

// posKey is a position in an index bucket: micro(8)|id.
func posKey(p store.Position) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(p.Micro)^(1<<63)), p.ID...)
}

// putRollbackIndexes adds r to its indexes; delRollbackIndexes removes it.
func putRollbackIndexes(tx *bbolt.Tx, r *rollback.Record) error {
	return putIndexEntries(tx, store.RollbackIndexes(r), store.PositionOf(r))
}

func putIndexEntries(tx *bbolt.Tx, names []string, p store.Position) error {
	idx := tx.Bucket(bRollbackIdx)
	for _, name := range names {
		b, err := idx.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return fmt.Errorf("index %s: %w", name, err)
		}
		b.FillPercent = appendFill // new rollbacks are the newest
		if err := b.Put(posKey(p), []byte{}); err != nil {
			return err
		}
	}
	return nil
}

func delRollbackIndexes(tx *bbolt.Tx, r *rollback.Record) error {
	return delIndexEntries(tx, store.RollbackIndexes(r), store.PositionOf(r))
}

func delIndexEntries(tx *bbolt.Tx, names []string, p store.Position) error {
	idx := tx.Bucket(bRollbackIdx)
	for _, name := range names {
		if b := idx.Bucket([]byte(name)); b != nil {
			if err := b.Delete(posKey(p)); err != nil {
				return err
			}
		}
	}
	return nil
}

// moveRollbackIndexes moves an updated record between indexes. When its
// position is unchanged (the usual case: a change of state), only the
// indexes it leaves or joins are touched: deleting and re-adding the same
// key would still rewrite a path in the time, trigger and service indexes,
// the largest ones, on every update.
func moveRollbackIndexes(tx *bbolt.Tx, old, r *rollback.Record) error {
	if store.PositionOf(old) != store.PositionOf(r) {
		if err := delRollbackIndexes(tx, old); err != nil {
			return err
		}
		return putRollbackIndexes(tx, r)
	}
	before, after := store.RollbackIndexes(old), store.RollbackIndexes(r)
	left := slices.DeleteFunc(slices.Clone(before), func(n string) bool { return slices.Contains(after, n) })
	if err := delIndexEntries(tx, left, store.PositionOf(old)); err != nil {
		return err
	}
	joined := slices.DeleteFunc(after, func(n string) bool { return slices.Contains(before, n) })
	return putIndexEntries(tx, joined, store.PositionOf(r))
}

// ListRollbacks walks the index the query names and filters each record
// exactly.
func (s *Store) ListRollbacks(ctx context.Context, q store.RollbackQuery) ([]*rollback.Record, error) {
	out := []*rollback.Record{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		idx := tx.Bucket(bRollbackIdx)
		if idx == nil {
			return nil // a read-only open of a file without indexes
		}
		ib := idx.Bucket([]byte(q.Index()))
		if ib == nil {
			return nil // nothing was ever in this index
		}
		recs := tx.Bucket(bRollbacks)
		upper, lower := q.Bounds()
		return walkBack(ib.Cursor(), nil, upper, lower, func(id []byte) (bool, error) {
			var r rollback.Record
			if err := getJSON(recs, id, &r); err != nil {
				return false, fmt.Errorf("index entry %s: %w", id, err)
			}
			if q.Match(&r) {
				out = append(out, &r)
			}
			return q.Limit <= 0 || len(out) < q.Limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list rollbacks: %w", err)
	}
	return out, nil
}

// PageDeploys walks a service's deploy index between the query's bounds.
func (s *Store) PageDeploys(ctx context.Context, q store.DeployQuery) ([]*rollback.Deploy, error) {
	out := []*rollback.Deploy{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		recs := tx.Bucket(bDeploys)
		upper, lower := q.Bounds()
		return walkBack(tx.Bucket(bDeployIdx).Cursor(), []byte(q.Service+"\x00"), upper, lower, func(id []byte) (bool, error) {
			var d rollback.Deploy
			if err := getJSON(recs, id, &d); err != nil {
				return false, fmt.Errorf("index entry %s: %w", id, err)
			}
			if q.Match(&d) {
				out = append(out, &d)
			}
			return q.Limit <= 0 || len(out) < q.Limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("page deploys of %s: %w", q.Service, err)
	}
	return out, nil
}

// drillIdxKey orders a service's scorecards by time.
func drillIdxKey(d *rollback.DrillRecord) []byte {
	return idxKey(d.Service, store.DrillPosition(d))
}

// PutDrill stores (or replaces) a scorecard; an empty ID gets a generated
// one. Its entry in the service's index moves with it.
func (s *Store) PutDrill(ctx context.Context, d rollback.DrillRecord) error {
	if d.At.IsZero() {
		d.At = s.now()
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b, idx := tx.Bucket(bDrills), tx.Bucket(bDrillIdx)
		if d.ID == "" {
			n, err := b.NextSequence()
			if err != nil {
				return err
			}
			d.ID = fmt.Sprintf("DR-%d", n)
		}
		var old rollback.DrillRecord
		if err := getJSON(b, []byte(d.ID), &old); err == nil {
			if err := idx.Delete(drillIdxKey(&old)); err != nil {
				return err
			}
		}
		if err := putJSON(b, []byte(d.ID), &d); err != nil {
			return err
		}
		return idx.Put(drillIdxKey(&d), []byte{})
	})
	if err != nil {
		return fmt.Errorf("put drill: %w", err)
	}
	return nil
}

// ListDrills returns a service's drills (all services when service is
// empty, which reads them all), newest first.
func (s *Store) ListDrills(ctx context.Context, service string) ([]rollback.DrillRecord, error) {
	out := []rollback.DrillRecord{}
	if service == "" {
		err := s.view(ctx, func(tx *bbolt.Tx) error {
			return tx.Bucket(bDrills).ForEach(func(_, v []byte) error {
				var d rollback.DrillRecord
				if err := json.Unmarshal(v, &d); err != nil {
					return fmt.Errorf("decode drill: %w", err)
				}
				out = append(out, d)
				return nil
			})
		})
		if err != nil {
			return nil, fmt.Errorf("list drills: %w", err)
		}
		store.SortDrills(out)
		return out, nil
	}
	err := s.ScanDrills(ctx, service, func(d rollback.DrillRecord) bool {
		out = append(out, d)
		return true
	})
	return out, err
}

// ScanDrills walks the service's drill index newest first, a page per
// read transaction; fn runs outside the transaction.
func (s *Store) ScanDrills(ctx context.Context, service string, fn func(rollback.DrillRecord) bool) error {
	const page = 64
	upper := "\xff"
	for {
		var batch []rollback.DrillRecord
		err := s.view(ctx, func(tx *bbolt.Tx) error {
			recs := tx.Bucket(bDrills)
			return walkBack(tx.Bucket(bDrillIdx).Cursor(), []byte(service+"\x00"), upper, "", func(id []byte) (bool, error) {
				var d rollback.DrillRecord
				if err := getJSON(recs, id, &d); err != nil {
					return false, fmt.Errorf("index entry %s: %w", id, err)
				}
				batch = append(batch, d)
				return len(batch) < page, nil
			})
		})
		if err != nil {
			return fmt.Errorf("scan drills of %s: %w", service, err)
		}
		for _, d := range batch {
			if !fn(d) {
				return nil
			}
		}
		if len(batch) < page {
			return nil
		}
		upper = store.DrillPosition(&batch[len(batch)-1]).SortKey()
	}
}

// migrate builds the indexes of a file written before them (or with an
// older layout), a chunk of records per transaction. Putting an index
// entry twice is harmless, so an interrupted migration simply runs again.
func migrate(db *bbolt.DB) error {
	var format int
	if err := db.View(func(tx *bbolt.Tx) error {
		format, _ = strconv.Atoi(string(tx.Bucket(bMeta).Get(metaIndexFormat)))
		return nil
	}); err != nil {
		return err
	}
	if format >= indexFormat {
		return nil
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		// The time-only index of format 0 is superseded.
		if tx.Bucket(bLegacyRollbackIdx) != nil {
			return tx.DeleteBucket(bLegacyRollbackIdx)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := migrateBucket(db, bRollbacks, func(tx *bbolt.Tx, v []byte) error {
		var r rollback.Record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode rollback: %w", err)
		}
		return putRollbackIndexes(tx, &r)
	}); err != nil {
		return fmt.Errorf("index rollbacks: %w", err)
	}
	if err := migrateBucket(db, bDrills, func(tx *bbolt.Tx, v []byte) error {
		var d rollback.DrillRecord
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("decode drill: %w", err)
		}
		return tx.Bucket(bDrillIdx).Put(drillIdxKey(&d), []byte{})
	}); err != nil {
		return fmt.Errorf("index drills: %w", err)
	}
	return db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bMeta).Put(metaIndexFormat, []byte(strconv.Itoa(indexFormat)))
	})
}

// migrateBucket hands every value of bucket to fn, migrateChunk per
// transaction.
func migrateBucket(db *bbolt.DB, bucket []byte, fn func(tx *bbolt.Tx, v []byte) error) error {
	var from []byte
	for {
		var next []byte
		err := db.Update(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucket).Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			for n := 0; k != nil; k, v = c.Next() {
				if n == migrateChunk {
					next = bytes.Clone(k)
					return nil
				}
				if v == nil {
					continue // a nested bucket, not a record
				}
				if err := fn(tx, v); err != nil {
					return fmt.Errorf("key %s: %w", k, err)
				}
				n++
			}
			return nil
		})
		if err != nil || next == nil {
			return err
		}
		from = next
	}
}
