package bolt

import (
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/backout/backout/internal/store/storetest"
)

// TestMigrateBuildsIndexes: a file written before indexes (records and the
// old time-only index) is indexed at open, in several chunks, and opening
// it again changes nothing.
func TestMigrateBuildsIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	recs, drills := storetest.LegacyRollbacks(), storetest.LegacyDrills()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		rb, _ := tx.CreateBucket(bRollbacks)
		legacy, _ := tx.CreateBucket(bLegacyRollbackIdx)
		dr, _ := tx.CreateBucket(bDrills)
		for _, r := range recs {
			if err := putJSON(rb, []byte(r.ID), r); err != nil {
				return err
			}
			if err := legacy.Put(timeKey(nil, r.CreatedAt, r.ID), []byte{}); err != nil {
				return err
			}
		}
		for _, d := range drills {
			if err := putJSON(dr, []byte(d.ID), &d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	defer func(n int) { migrateChunk = n }(migrateChunk)
	migrateChunk = 4
	for range 2 {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		storetest.CheckIndexed(t, s, recs, drills)
		err = s.view(t.Context(), func(tx *bbolt.Tx) error {
			if tx.Bucket(bLegacyRollbackIdx) != nil {
				t.Error("the old time index is still there")
			}
			if got := string(tx.Bucket(bMeta).Get(metaIndexFormat)); got != "1" {
				t.Errorf("index format %q, want 1", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
	}
}
