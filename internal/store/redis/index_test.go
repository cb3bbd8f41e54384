package redis

import (
	"encoding/json"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/store/storetest"
)

// TestMigrateBuildsIndexes: a keyspace written before indexes (rollback
// hashes without ix, the old time zset, the drills hash) is indexed at
// open; a record a new writer already indexed is left alone, and running
// the migration again changes nothing.
func TestMigrateBuildsIndexes(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, nil)
	recs, drills := storetest.LegacyRollbacks(), storetest.LegacyDrills()
	if err := s.c.Del(ctx, s.key("meta")).Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[1:] {
		data, _ := json.Marshal(r)
		if err := s.c.HSet(ctx, s.key("rb", r.ID), "v", "1", "json", data).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.c.ZAdd(ctx, s.key("rbtime"), goredisZ(r.CreatedAt.UnixMicro(), r.ID)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Written by an upgraded replica while the migration had not run yet.
	if err := s.CreateRollback(ctx, recs[0]); err != nil {
		t.Fatal(err)
	}
	for _, d := range drills {
		data, _ := json.Marshal(&d)
		if err := s.c.HSet(ctx, s.key("drills"), d.ID, data).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := s.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		storetest.CheckIndexed(t, s, recs, drills)
	}
	if n, err := s.c.Exists(ctx, s.key("rbtime")).Result(); err != nil || n != 0 {
		t.Fatalf("the old time index is still there (%d, %v)", n, err)
	}
	if f, err := s.c.HGet(ctx, s.key("meta"), "index_format").Result(); err != nil || f != indexFormat {
		t.Fatalf("index format %q (%v), want %s", f, err, indexFormat)
	}
}

func goredisZ(score int64, member string) goredis.Z {
	return goredis.Z{Score: float64(score), Member: member}
}
