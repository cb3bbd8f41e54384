package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// Rollback indexes are sorted sets with every score 0, so members sort by
// their bytes: a member is store.Position.SortKey, and a page continues
// exactly after the last member seen (ZRANGE BYLEX with an exclusive
// bound). Each rollback hash keeps, in field ix, the JSON list of the
// (index key, member) pairs it is in; the create and compare-and-set
// scripts remove the old pairs and add the new ones atomically with the
// record.

// indexFormat is the version of the index layout; Open builds the indexes
// of a keyspace written with an older one.
const indexFormat = "1"

// walkChunk is how many index members one round trip reads.
const walkChunk = 256

// rollbackIndexPairs is the ix list of r: index key, member, ...
func (s *Store) rollbackIndexPairs(r *rollback.Record) ([]byte, error) {
	member := store.PositionOf(r).SortKey()
	var pairs []string
	for _, name := range store.RollbackIndexes(r) {
		pairs = append(pairs, s.key("rbix", name), member)
	}
	return json.Marshal(pairs)
}

// lexBound turns a store sort-key bound into a BYLEX bound.
func lexBound(sortKey string, inclusive bool) string {
	switch {
	case sortKey == "\xff":
		return "+"
	case sortKey == "":
		return "-"
	case inclusive:
		return "[" + sortKey
	default:
		return "(" + sortKey
	}
}

// walkIndex reads the members of zset key in [lower, upper), newest first,
// walkChunk at a time (first the caller's hint, when smaller), handing
// each chunk's ids to fn until it answers false.
func (s *Store) walkIndex(ctx context.Context, key, upper, lower string, hint int, fn func(ids []string) (bool, error)) error {
	count := walkChunk
	if hint > 0 && hint < count {
		count = hint
	}
	for {
		members, err := s.c.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: key, Start: lexBound(upper, false), Stop: lexBound(lower, true),
			ByLex: true, Rev: true, Count: int64(count)}).Result()
		if err != nil {
			return wrap("read index "+key, err)
		}
		ids := make([]string, len(members))
		for i, m := range members {
			_, ids[i], _ = strings.Cut(m, ":")
		}
		more, err := fn(ids)
		if err != nil || !more || len(members) < count {
			return err
		}
		upper, count = members[len(members)-1], walkChunk
	}
}

// hgetJSON reads field json of each id's hash in one round trip; a hash
// gone since its index was read comes back nil.
func (s *Store) hgetJSON(ctx context.Context, kind string, ids []string) ([][]byte, error) {
	cmds := make([]*goredis.StringCmd, len(ids))
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, s.key(kind, id), "json")
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, err
	}
	out := make([][]byte, len(ids))
	for i, cmd := range cmds {
		out[i], _ = cmd.Bytes()
	}
	return out, nil
}

// ListRollbacks walks the index the query names and filters each record
// exactly.
func (s *Store) ListRollbacks(ctx context.Context, q store.RollbackQuery) ([]*rollback.Record, error) {
	out := []*rollback.Record{}
	upper, lower := q.Bounds()
	err := s.walkIndex(ctx, s.key("rbix", q.Index()), upper, lower, q.Limit, func(ids []string) (bool, error) {
		vals, err := s.hgetJSON(ctx, "rb", ids)
		if err != nil {
			return false, err
		}
		for _, data := range vals {
			if data == nil {
				continue
			}
			var r rollback.Record
			if err := json.Unmarshal(data, &r); err != nil {
				return false, fmt.Errorf("decode: %w", err)
			}
			if q.Match(&r) {
				out = append(out, &r)
				if q.Limit > 0 && len(out) == q.Limit {
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, wrap("list rollbacks", err)
	}
	return out, nil
}

// PutDrill stores (or replaces) a scorecard and moves its entry in the
// service's index, atomically; an empty ID gets a generated one.
func (s *Store) PutDrill(ctx context.Context, d rollback.DrillRecord) error {
	if d.At.IsZero() {
		d.At = s.now()
	}
	if d.ID == "" {
		n, err := s.c.Incr(ctx, s.key("drillseq")).Result()
		if err != nil {
			return wrap("put drill", err)
		}
		d.ID = fmt.Sprintf("DR-%d", n)
	}
	data, err := json.Marshal(&d)
	if err != nil {
		return fmt.Errorf("put drill %s: %w", d.ID, err)
	}
	return wrap("put drill "+d.ID, s.indexDrill(ctx, d, data))
}

func (s *Store) indexDrill(ctx context.Context, d rollback.DrillRecord, data []byte) error {
	zkey, member := s.key("drillix", d.Service), store.DrillPosition(&d).SortKey()
	pair, err := json.Marshal([]string{zkey, member})
	if err != nil {
		return err
	}
	return putDrill.Run(ctx, s.c, []string{s.key("drills"), s.key("drillixof")}, d.ID, data, pair, zkey, member).Err()
}

// ListDrills returns a service's drills (all services when service is
// empty, which reads them all), newest first.
func (s *Store) ListDrills(ctx context.Context, service string) ([]rollback.DrillRecord, error) {
	if service != "" {
		out := []rollback.DrillRecord{}
		err := s.ScanDrills(ctx, service, func(d rollback.DrillRecord) bool {
			out = append(out, d)
			return true
		})
		return out, err
	}
	vals, err := s.c.HVals(ctx, s.key("drills")).Result()
	if err != nil {
		return nil, wrap("list drills", err)
	}
	out := []rollback.DrillRecord{}
	for _, v := range vals {
		var d rollback.DrillRecord
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			return nil, fmt.Errorf("list drills: decode: %w", err)
		}
		out = append(out, d)
	}
	store.SortDrills(out)
	return out, nil
}

// ScanDrills walks the service's drill index newest first.
func (s *Store) ScanDrills(ctx context.Context, service string, fn func(rollback.DrillRecord) bool) error {
	err := s.walkIndex(ctx, s.key("drillix", service), "\xff", "", 0, func(ids []string) (bool, error) {
		if len(ids) == 0 {
			return false, nil
		}
		vals, err := s.c.HMGet(ctx, s.key("drills"), ids...).Result()
		if err != nil {
			return false, err
		}
		ds, err := decodeAll[rollback.DrillRecord](vals)
		if err != nil {
			return false, err
		}
		for _, d := range ds {
			if !fn(d) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return wrap("scan drills of "+service, err)
	}
	return nil
}

// migrate indexes what a keyspace without indexes holds: rollbacks listed
// in the old time index, and drills. Each record is indexed by a script
// that checks its version and skips one a new writer indexed already, so
// replicas may keep writing meanwhile and a second run changes nothing.
func (s *Store) migrate(ctx context.Context) error {
	format, err := s.c.HGet(ctx, s.key("meta"), "index_format").Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return wrap("read index format", err)
	}
	if format == indexFormat {
		return nil
	}
	legacy := s.key("rbtime")
	for start := int64(0); ; start += walkChunk {
		ids, err := s.c.ZRange(ctx, legacy, start, start+walkChunk-1).Result()
		if err != nil {
			return wrap("migrate: read the time index", err)
		}
		if err := s.migrateRollbacks(ctx, ids); err != nil {
			return err
		}
		if len(ids) < walkChunk {
			break
		}
	}
	all, err := s.c.HGetAll(ctx, s.key("drills")).Result()
	if err != nil {
		return wrap("migrate: read drills", err)
	}
	for id, v := range all {
		var d rollback.DrillRecord
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			return fmt.Errorf("migrate: decode drill %s: %w", id, err)
		}
		if err := s.indexDrill(ctx, d, []byte(v)); err != nil {
			return wrap("migrate: index drill "+id, err)
		}
	}
	_, err = s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, s.key("meta"), "index_format", indexFormat)
		p.Del(ctx, legacy)
		return nil
	})
	return wrap("migrate: record the index format", err)
}

// migrateRollbacks indexes one chunk of legacy rollbacks, retrying a
// record whose version moved between the read and the script.
func (s *Store) migrateRollbacks(ctx context.Context, ids []string) error {
	for _, id := range ids {
		for attempt := 0; ; attempt++ {
			h, err := s.c.HMGet(ctx, s.key("rb", id), "v", "json").Result()
			if err != nil {
				return wrap("migrate: read "+id, err)
			}
			v, _ := h[0].(string)
			data, _ := h[1].(string)
			if data == "" {
				break // gone
			}
			var r rollback.Record
			if err := json.Unmarshal([]byte(data), &r); err != nil {
				return fmt.Errorf("migrate: decode %s: %w", id, err)
			}
			pairs, err := s.rollbackIndexPairs(&r)
			if err != nil {
				return err
			}
			n, err := indexRollback.Run(ctx, s.c, []string{s.key("rb", id)}, v, pairs).Int()
			if err != nil {
				return wrap("migrate: index "+id, err)
			}
			if n >= 0 {
				break
			}
			if attempt == maxAuditAttempts {
				return fmt.Errorf("migrate: %s keeps changing: %w", id, store.ErrConflict)
			}
		}
	}
	return nil
}
