package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

var openStates = []rollback.State{rollback.StateProposed, rollback.StateApproved, rollback.StateRunning,
	rollback.StateValidating, rollback.StateInterrupted}

// testRollbackIndexes: a change of state moves a record into and out of
// the open index, and every query lists the same thing whatever index
// answers it.
func testRollbackIndexes(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	must(t, s.CreateRollback(ctx, newRollback("RB-1", T0, rollback.StateProposed, false, "api")))
	must(t, s.CreateRollback(ctx, newRollback("RB-2", T0.Add(time.Minute), rollback.StateSucceeded, false, "api", "web")))
	drill := newRollback("RB-3", T0.Add(2*time.Minute), rollback.StateRunning, true, "web")
	drill.Trigger.Kind = "drill"
	must(t, s.CreateRollback(ctx, drill))
	list := func(q store.RollbackQuery) []string {
		t.Helper()
		rs, err := s.ListRollbacks(ctx, q)
		must(t, err)
		return rollbackIDs(rs)
	}
	steps := []struct {
		name   string
		id     string
		to     rollback.State
		open   []string
		openOf map[string][]string
	}{
		{"as created", "", "", []string{"RB-3", "RB-1"}, map[string][]string{"api": {"RB-1"}, "web": {"RB-3"}}},
		{"approved stays open", "RB-1", rollback.StateApproved, []string{"RB-3", "RB-1"}, map[string][]string{"api": {"RB-1"}}},
		{"running stays open", "RB-1", rollback.StateRunning, []string{"RB-3", "RB-1"}, map[string][]string{"api": {"RB-1"}}},
		{"interrupted stays open", "RB-1", rollback.StateInterrupted, []string{"RB-3", "RB-1"}, map[string][]string{"api": {"RB-1"}}},
		{"aborted leaves", "RB-1", rollback.StateAborted, []string{"RB-3"}, map[string][]string{"api": {}, "web": {"RB-3"}}},
		{"the drill ends", "RB-3", rollback.StateFailed, []string{}, map[string][]string{"web": {}}},
	}
	for _, st := range steps {
		if st.id != "" {
			r, err := s.GetRollback(ctx, st.id)
			must(t, err)
			r.State = st.to
			must(t, s.UpdateRollback(ctx, r))
		}
		if got := list(store.RollbackQuery{States: openStates}); !slices.Equal(got, st.open) {
			t.Fatalf("%s: open %v, want %v", st.name, got, st.open)
		}
		for svc, want := range st.openOf {
			if got := list(store.RollbackQuery{Service: svc, States: openStates}); !slices.Equal(got, want) {
				t.Fatalf("%s: open of %s %v, want %v", st.name, svc, got, want)
			}
		}
	}
	tests := []struct {
		name string
		q    store.RollbackQuery
		want []string
	}{
		{"one terminal state", store.RollbackQuery{States: []rollback.State{rollback.StateAborted}}, []string{"RB-1"}},
		{"old state is empty", store.RollbackQuery{States: []rollback.State{rollback.StateInterrupted}}, []string{}},
		{"two terminal states", store.RollbackQuery{States: []rollback.State{rollback.StateAborted, rollback.StateFailed}}, []string{"RB-3", "RB-1"}},
		{"trigger", store.RollbackQuery{Trigger: "drill"}, []string{"RB-3"}},
		{"trigger and service", store.RollbackQuery{Trigger: "alert", Service: "web"}, []string{"RB-2"}},
		{"state and service", store.RollbackQuery{Service: "web", States: []rollback.State{rollback.StateSucceeded}}, []string{"RB-2"}},
	}
	for _, tc := range tests {
		if got := list(tc.q); !slices.Equal(got, tc.want) {
			t.Fatalf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// testRollbackPages: walking any query a page at a time, each page
// continuing after the last record of the one before, lists exactly what
// one unlimited call lists, ties at the same microsecond included.
func testRollbackPages(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	services := []string{"api", "web", "db"}
	states := []rollback.State{rollback.StateSucceeded, rollback.StateFailed, rollback.StateProposed}
	for i := range 30 {
		at := T0.Add(time.Duration(i/3) * time.Second) // three records per second: ties
		r := newRollback(fmt.Sprintf("RB-%d", i+1), at, states[i%3], i%5 == 0, services[i%3], services[(i+1)%3])
		must(t, s.CreateRollback(ctx, r))
	}
	queries := []store.RollbackQuery{
		{},
		{Service: "web"},
		{States: []rollback.State{rollback.StateFailed}},
		{States: openStates},
		{Since: T0.Add(2 * time.Second), Until: T0.Add(7 * time.Second)},
		{Service: "db", Until: T0.Add(5 * time.Second)},
	}
	for _, q := range queries {
		all, err := s.ListRollbacks(ctx, q)
		must(t, err)
		for _, size := range []int{1, 2, 7} {
			var paged []string
			page := q
			page.Limit = size
			for range 100 {
				rs, err := s.ListRollbacks(ctx, page)
				must(t, err)
				paged = append(paged, rollbackIDs(rs)...)
				if len(rs) < size {
					break
				}
				page.Before = store.PositionOf(rs[len(rs)-1])
			}
			if want := rollbackIDs(all); !slices.Equal(paged, want) {
				t.Fatalf("%+v in pages of %d: %v, want %v", q, size, paged, want)
			}
		}
	}
}

// testDeployPages: a service's deploys a page at a time, ties included.
func testDeployPages(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	for i := range 12 {
		d := &rollback.Deploy{ID: fmt.Sprintf("D-%02d", i), Service: "api", Version: fmt.Sprint("v", i), At: T0.Add(time.Duration(i/4) * time.Second)}
		must(t, s.AddDeploy(ctx, d))
	}
	must(t, s.AddDeploy(ctx, &rollback.Deploy{ID: "D-web", Service: "web", At: T0}))
	for _, q := range []store.DeployQuery{{Service: "api"}, {Service: "api", Since: T0.Add(time.Second)}, {Service: "api", Until: T0.Add(2 * time.Second)}} {
		all, err := s.PageDeploys(ctx, q)
		must(t, err)
		if q.Since.IsZero() && q.Until.IsZero() && len(all) != 12 {
			t.Fatalf("all deploys of api: %d, want 12", len(all))
		}
		for _, size := range []int{1, 3, 5} {
			var paged []string
			page := q
			page.Limit = size
			for range 100 {
				ds, err := s.PageDeploys(ctx, page)
				must(t, err)
				for _, d := range ds {
					paged = append(paged, d.ID)
				}
				if len(ds) < size {
					break
				}
				page.Before = store.DeployPosition(ds[len(ds)-1])
			}
			var want []string
			for _, d := range all {
				want = append(want, d.ID)
			}
			if !slices.Equal(paged, want) {
				t.Fatalf("%+v in pages of %d: %v, want %v", q, size, paged, want)
			}
		}
	}
}

// testDrillIndex: a scorecard moved to another service or time moves in
// the index, and a scan stops when told.
func testDrillIndex(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	for i := range 5 {
		must(t, s.PutDrill(ctx, rollback.DrillRecord{ID: fmt.Sprint("DR-", i), Service: "api", At: T0.Add(time.Duration(i) * time.Hour), Succeeded: i == 1}))
	}
	must(t, s.PutDrill(ctx, rollback.DrillRecord{ID: "DR-3", Service: "web", At: T0}))
	var seen []string
	must(t, s.ScanDrills(ctx, "api", func(d rollback.DrillRecord) bool {
		seen = append(seen, d.ID)
		return !d.Succeeded
	}))
	if want := []string{"DR-4", "DR-2", "DR-1"}; !slices.Equal(seen, want) {
		t.Fatalf("scan to the last success: %v, want %v", seen, want)
	}
	web, err := s.ListDrills(ctx, "web")
	must(t, err)
	if len(web) != 1 || web[0].ID != "DR-3" {
		t.Fatalf("drills of web after moving DR-3: %+v", web)
	}
	api, err := s.ListDrills(ctx, "api")
	must(t, err)
	if len(api) != 4 {
		t.Fatalf("drills of api after moving DR-3 away: %d, want 4", len(api))
	}
}

// LegacyRollbacks are records for a migration test: a backend writes them
// the way it stored rollbacks before indexes, opens the store, and checks
// the result with CheckIndexed.
func LegacyRollbacks() []*rollback.Record {
	services := []string{"api", "web", "db"}
	states := []rollback.State{rollback.StateSucceeded, rollback.StateRunning, rollback.StateFailed, rollback.StateProposed}
	var out []*rollback.Record
	for i := range 25 {
		r := newRollback(fmt.Sprintf("RB-%d", i+1), T0.Add(time.Duration(i)*time.Minute), states[i%4], i%6 == 0, services[i%3])
		r.Version = 1
		out = append(out, r)
	}
	return out
}

// LegacyDrills are scorecards for the same test.
func LegacyDrills() []rollback.DrillRecord {
	return []rollback.DrillRecord{
		{ID: "DR-1", Service: "api", At: T0, Succeeded: true},
		{ID: "DR-2", Service: "api", At: T0.Add(time.Hour)},
		{ID: "DR-3", Service: "web", At: T0.Add(2 * time.Hour), Succeeded: true},
	}
}

// CheckIndexed compares what the indexes answer with what the records
// say, for queries that each use a different index.
func CheckIndexed(t *testing.T, s store.Store, recs []*rollback.Record, drills []rollback.DrillRecord) {
	t.Helper()
	ctx := t.Context()
	for _, q := range []store.RollbackQuery{
		{},
		{States: openStates},
		{Service: "web"},
		{Service: "api", States: openStates},
		{States: []rollback.State{rollback.StateFailed}},
		{Since: T0.Add(5 * time.Minute), Until: T0.Add(15 * time.Minute)},
	} {
		var want []string
		for i := len(recs) - 1; i >= 0; i-- {
			if q.Match(recs[i]) {
				want = append(want, recs[i].ID)
			}
		}
		got, err := s.ListRollbacks(ctx, q)
		must(t, err)
		if ids := rollbackIDs(got); !slices.Equal(ids, want) {
			t.Fatalf("after migration, %+v lists %v, want %v", q, ids, want)
		}
	}
	for _, svc := range []string{"api", "web"} {
		var want []string
		for i := len(drills) - 1; i >= 0; i-- {
			if drills[i].Service == svc {
				want = append(want, drills[i].ID)
			}
		}
		got, err := s.ListDrills(ctx, svc)
		must(t, err)
		var ids []string
		for _, d := range got {
			ids = append(ids, d.ID)
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("after migration, drills of %s: %v, want %v", svc, ids, want)
		}
	}
}
