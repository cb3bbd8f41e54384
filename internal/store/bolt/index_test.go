package bolt

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
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

// TestUpdateMovesIndexEntriesExactly: after updates that change state,
// scope and time, every index bucket holds exactly the records whose
// RollbackIndexes name it, at their current position: moving only the
// entries that change leaves nothing stale behind.
func TestUpdateMovesIndexEntriesExactly(t *testing.T) {
	ctx := t.Context()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	mk := func(id string, at time.Time, svcs ...string) *rollback.Record {
		r := &rollback.Record{ID: id, State: rollback.StateProposed, CreatedAt: at, Trigger: rollback.Trigger{Kind: "person"}}
		for _, svc := range svcs {
			r.Services = append(r.Services, rollback.ServiceChange{Service: svc})
		}
		return r
	}
	for _, r := range []*rollback.Record{mk("RB-1", t0, "api"), mk("RB-2", t0.Add(time.Minute), "api", "web")} {
		if err := s.CreateRollback(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	updates := []struct {
		name   string
		id     string
		change func(r *rollback.Record)
	}{
		{"state", "RB-1", func(r *rollback.Record) { r.State = rollback.StateRunning }},
		{"state and scope", "RB-2", func(r *rollback.Record) {
			r.State = rollback.StateApproved
			r.Services = r.Services[1:]
		}},
		{"trigger", "RB-1", func(r *rollback.Record) { r.Trigger.Kind = "alert" }},
		{"time", "RB-2", func(r *rollback.Record) { r.CreatedAt = t0.Add(-time.Hour) }},
		{"terminal", "RB-1", func(r *rollback.Record) { r.State = rollback.StateSucceeded }},
		{"nothing indexed", "RB-2", func(r *rollback.Record) { r.Requester = "U9" }},
	}
	for _, u := range updates {
		r, err := s.GetRollback(ctx, u.id)
		if err != nil {
			t.Fatal(err)
		}
		u.change(r)
		if err := s.UpdateRollback(ctx, r); err != nil {
			t.Fatalf("%s: %v", u.name, err)
		}
		checkIndexBuckets(t, s, u.name)
	}
}

// checkIndexBuckets compares every index bucket with what the stored
// records say it should hold.
func checkIndexBuckets(t *testing.T, s *Store, step string) {
	t.Helper()
	want, got := map[string][]string{}, map[string][]string{}
	err := s.view(t.Context(), func(tx *bbolt.Tx) error {
		err := tx.Bucket(bRollbacks).ForEach(func(_, v []byte) error {
			var r rollback.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			for _, name := range store.RollbackIndexes(&r) {
				want[name] = append(want[name], string(posKey(store.PositionOf(&r))))
			}
			return nil
		})
		if err != nil {
			return err
		}
		idx := tx.Bucket(bRollbackIdx)
		return idx.ForEach(func(name, _ []byte) error {
			return idx.Bucket(name).ForEach(func(k, _ []byte) error {
				got[string(name)] = append(got[string(name)], string(k))
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range got {
		slices.Sort(want[name])
		if !slices.Equal(got[name], want[name]) {
			t.Errorf("after %s: index %s holds %q, want %q", step, name, got[name], want[name])
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("after %s: index %s missing", step, name)
		}
	}
}
