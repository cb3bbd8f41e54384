package storetest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// newRollback builds a record with enough nested data to catch fields a
// backend forgets to store.
func newRollback(id string, created time.Time, state rollback.State, drill bool, services ...string) *rollback.Record {
	r := &rollback.Record{
		ID:        id,
		State:     state,
		Drill:     drill,
		Trigger:   rollback.Trigger{Kind: "alert", Source: "pagerduty", IncidentID: "PD1", At: created},
		Requester: "U1",
		Scope:     "service",
		PlanHash:  "plan-" + id,
		Policy:    rollback.Policy{Min: 2, Groups: []string{"sre-leads"}, ForbidSelf: true},
		CreatedAt: created,
		Gates:     map[string]rollback.GateState{"g": {Group: "dba", Min: 1, OpenedAt: created}},
	}
	for _, svc := range services {
		r.Services = append(r.Services, rollback.ServiceChange{
			Service: svc,
			Current: rollback.Release{Version: "v2"},
			Target:  rollback.Release{Version: "v1", DeployedAt: created.Add(-time.Hour)},
			Runbook: "k8s-deployment",
			Params:  map[string]string{"namespace": "prod"},
			Steps:   []rollback.PlannedStep{{ID: "set-image", Title: "Set image", Uses: "kubectl"}},
		})
	}
	return r
}

func testNextID(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	pattern := regexp.MustCompile(`^RB-(\d+)$`)
	num := func(id string) int {
		t.Helper()
		m := pattern.FindStringSubmatch(id)
		if m == nil {
			t.Fatalf("NextID %q does not look like RB-<n>", id)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	a, err := s.NextID(ctx)
	must(t, err)
	b, err := s.NextID(ctx)
	must(t, err)
	if num(b) <= num(a) {
		t.Fatalf("NextID went %s then %s; want increasing", a, b)
	}

	ids := make([]string, 20)
	race(t, len(ids), func(i int) (bool, error) {
		id, err := s.NextID(ctx)
		ids[i] = id
		return err == nil, err
	})
	slices.Sort(ids)
	if len(slices.Compact(ids)) != 20 {
		t.Fatalf("concurrent NextID handed out duplicates: %v", ids)
	}
}

func testCreateGetRollback(t *testing.T, s store.Store, clk *Clock) {
	ctx := t.Context()
	r := newRollback("RB-1", T0.Add(-time.Hour), rollback.StateProposed, false, "api", "web")
	r.Version = 7 // the store decides
	must(t, s.CreateRollback(ctx, r))
	if r.Version != 1 {
		t.Fatalf("Version after create = %d, want 1", r.Version)
	}
	got, err := s.GetRollback(ctx, "RB-1")
	must(t, err)
	sameJSON(t, "stored rollback", got, r)

	wantErr(t, "create twice", s.CreateRollback(ctx, newRollback("RB-1", T0, rollback.StateProposed, false, "x")), store.ErrExists)
	got, err = s.GetRollback(ctx, "RB-1")
	must(t, err)
	sameJSON(t, "rollback after refused create", got, r)

	_, err = s.GetRollback(ctx, "RB-404")
	wantErr(t, "get missing", err, store.ErrNotFound)

	undated := newRollback("RB-2", time.Time{}, rollback.StateProposed, false, "api")
	must(t, s.CreateRollback(ctx, undated))
	got, err = s.GetRollback(ctx, "RB-2")
	must(t, err)
	if !got.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("zero CreatedAt stored as %v, want the clock's %v", got.CreatedAt, clk.Now())
	}
}

func testUpdateRollbackCAS(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	must(t, s.CreateRollback(ctx, newRollback("RB-1", T0, rollback.StateProposed, false, "api")))
	a, err := s.GetRollback(ctx, "RB-1")
	must(t, err)
	b, err := s.GetRollback(ctx, "RB-1")
	must(t, err)

	a.State, a.Approvers = rollback.StateApproved, []string{"U2", "U3"}
	must(t, s.UpdateRollback(ctx, a))
	if a.Version != 2 {
		t.Fatalf("Version after update = %d, want 2", a.Version)
	}
	b.Reason = "second writer"
	wantErr(t, "update from a stale read", s.UpdateRollback(ctx, b), store.ErrConflict)
	if b.Version != 1 {
		t.Fatalf("refused update bumped the caller's Version to %d", b.Version)
	}
	got, err := s.GetRollback(ctx, "RB-1")
	must(t, err)
	sameJSON(t, "record after conflict", got, a)

	wantErr(t, "update missing", s.UpdateRollback(ctx, newRollback("RB-404", T0, rollback.StateProposed, false)), store.ErrNotFound)

	// Many writers holding the same version: exactly one gets through.
	wins := race(t, 10, func(i int) (bool, error) {
		r := *got
		r.Reason = fmt.Sprintf("writer %d", i)
		err := s.UpdateRollback(ctx, &r)
		if errors.Is(err, store.ErrConflict) {
			return false, nil
		}
		return err == nil, err
	})
	if wins != 1 {
		t.Fatalf("%d concurrent compare-and-set updates won, want 1", wins)
	}
	final, err := s.GetRollback(ctx, "RB-1")
	must(t, err)
	if final.Version != 3 || !strings.HasPrefix(final.Reason, "writer ") {
		t.Fatalf("after the race: version %d reason %q, want 3 and a writer's reason", final.Version, final.Reason)
	}
}

// testStaleTransition drives proposed -> approved -> running and checks
// that a copy read at any earlier state cannot move the record.
func testStaleTransition(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	must(t, s.CreateRollback(ctx, newRollback("RB-9", T0, rollback.StateProposed, false, "api")))
	var seen []rollback.Record
	for _, next := range []rollback.State{rollback.StateApproved, rollback.StateRunning} {
		r, err := s.GetRollback(ctx, "RB-9")
		must(t, err)
		seen = append(seen, *r)
		r.State = next
		must(t, s.UpdateRollback(ctx, r))
	}
	for _, old := range seen {
		stale := old
		stale.State = rollback.StateExpired
		wantErr(t, "transition from stale state "+string(old.State), s.UpdateRollback(ctx, &stale), store.ErrConflict)
	}
	got, err := s.GetRollback(ctx, "RB-9")
	must(t, err)
	if got.State != rollback.StateRunning || got.Version != 3 {
		t.Fatalf("state %s version %d, want running 3", got.State, got.Version)
	}
}

func rollbackIDs(rs []*rollback.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func testListRollbacks(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	h := time.Hour
	for _, r := range []*rollback.Record{
		newRollback("RB-1", T0, rollback.StateProposed, false, "api"),
		newRollback("RB-2", T0.Add(h), rollback.StateSucceeded, true, "web"),
		newRollback("RB-3", T0.Add(2*h), rollback.StateFailed, false, "api", "web"),
		newRollback("RB-4", T0.Add(3*h), rollback.StateRunning, false, "api"),
		newRollback("RB-5", T0.Add(4*h), rollback.StateSucceeded, true, "db"),
	} {
		must(t, s.CreateRollback(ctx, r))
	}
	yes, no := true, false
	tests := []struct {
		name string
		q    store.RollbackQuery
		want []string
	}{
		{"all newest first", store.RollbackQuery{}, []string{"RB-5", "RB-4", "RB-3", "RB-2", "RB-1"}},
		{"service", store.RollbackQuery{Service: "api"}, []string{"RB-4", "RB-3", "RB-1"}},
		{"unknown service", store.RollbackQuery{Service: "nope"}, []string{}},
		{"since inclusive", store.RollbackQuery{Since: T0.Add(h)}, []string{"RB-5", "RB-4", "RB-3", "RB-2"}},
		{"since exact to the nanosecond", store.RollbackQuery{Since: T0.Add(h + 1)}, []string{"RB-5", "RB-4", "RB-3"}},
		{"until exclusive", store.RollbackQuery{Until: T0.Add(2 * h)}, []string{"RB-2", "RB-1"}},
		{"until exact to the nanosecond", store.RollbackQuery{Until: T0.Add(2*h + 1)}, []string{"RB-3", "RB-2", "RB-1"}},
		{"window", store.RollbackQuery{Since: T0.Add(h), Until: T0.Add(3 * h)}, []string{"RB-3", "RB-2"}},
		{"states", store.RollbackQuery{States: []rollback.State{rollback.StateSucceeded, rollback.StateFailed}}, []string{"RB-5", "RB-3", "RB-2"}},
		{"drills only", store.RollbackQuery{Drills: &yes}, []string{"RB-5", "RB-2"}},
		{"real only", store.RollbackQuery{Drills: &no}, []string{"RB-4", "RB-3", "RB-1"}},
		{"limit", store.RollbackQuery{Limit: 2}, []string{"RB-5", "RB-4"}},
		{"limit after filter", store.RollbackQuery{Service: "api", Limit: 2}, []string{"RB-4", "RB-3"}},
		{"combined", store.RollbackQuery{Service: "web", Drills: &no, Since: T0}, []string{"RB-3"}},
		{"empty window", store.RollbackQuery{Since: T0.Add(10 * h)}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListRollbacks(ctx, tc.q)
			must(t, err)
			if ids := rollbackIDs(got); !slices.Equal(ids, tc.want) {
				t.Fatalf("got %v, want %v", ids, tc.want)
			}
		})
	}

	// Moving CreatedAt moves the record in the listing.
	r, err := s.GetRollback(ctx, "RB-1")
	must(t, err)
	r.CreatedAt = T0.Add(10 * h)
	must(t, s.UpdateRollback(ctx, r))
	got, err := s.ListRollbacks(ctx, store.RollbackQuery{Limit: 2})
	must(t, err)
	if ids := rollbackIDs(got); !slices.Equal(ids, []string{"RB-1", "RB-5"}) {
		t.Fatalf("after moving RB-1: got %v", ids)
	}
	sameJSON(t, "listed record", got[0], r)
}

func testSteps(t *testing.T, s store.Store, clk *Clock) {
	ctx := t.Context()
	steps, err := s.ListSteps(ctx, "RB-1")
	must(t, err)
	if len(steps) != 0 {
		t.Fatalf("steps of a new rollback: %v", steps)
	}
	// Without a lease, any token passes.
	var want []rollback.StepEvent
	for i, kind := range []string{rollback.StepStarted, rollback.StepOutput, rollback.StepSucceeded} {
		ev := rollback.StepEvent{Service: "api", StepID: "set-image", Kind: kind, Attempt: 1, At: T0.Add(time.Duration(i) * time.Second), Output: "line", Duration: time.Second}
		got, err := appendOne(ctx, s, "RB-1", 0, ev)
		must(t, err)
		if got.Seq != int64(i+1) {
			t.Fatalf("step %d got seq %d", i, got.Seq)
		}
		want = append(want, got)
	}
	_, err = appendOne(ctx, s, "RB-2", 0, rollback.StepEvent{StepID: "other", Kind: rollback.StepStarted})
	must(t, err)
	steps, err = s.ListSteps(ctx, "RB-1")
	must(t, err)
	sameJSON(t, "steps", steps, want)

	undated, err := appendOne(ctx, s, "RB-3", 0, rollback.StepEvent{StepID: "x", Kind: rollback.StepStarted})
	must(t, err)
	if undated.Seq != 1 || !undated.At.Equal(clk.Now()) {
		t.Fatalf("first step of RB-3: seq %d at %v, want 1 at the clock's time", undated.Seq, undated.At)
	}

	l, err := s.AcquireLease(ctx, store.LeaseName("RB-1"), "engine-a", time.Minute, 0)
	must(t, err)
	_, err = appendOne(ctx, s, "RB-1", l.Token-1, rollback.StepEvent{StepID: "late", Kind: rollback.StepStarted})
	wantErr(t, "append with a token below the lease's", err, store.ErrStaleToken)
	for _, tok := range []int64{l.Token, l.Token + 1} {
		ev, err := appendOne(ctx, s, "RB-1", tok, rollback.StepEvent{StepID: "wait", Kind: rollback.StepStarted})
		must(t, err)
		if ev.Token != tok {
			t.Fatalf("stored token %d, want %d", ev.Token, tok)
		}
	}
	steps, err = s.ListSteps(ctx, "RB-1")
	must(t, err)
	if len(steps) != 5 || steps[4].Seq != 5 {
		t.Fatalf("after fenced appends: %d steps, want 5 (the stale one refused)", len(steps))
	}

	// Several events are one write: in order, all or none.
	end := rollback.StepEvent{Service: "api", StepID: "wait", Kind: rollback.StepSucceeded, Attempt: 1}
	start := rollback.StepEvent{Service: "api", StepID: "verify", Kind: rollback.StepStarted, Attempt: 1}
	_, err = s.AppendSteps(ctx, "RB-1", l.Token-1, end, start)
	wantErr(t, "two appends with a stale token", err, store.ErrStaleToken)
	got, err := s.AppendSteps(ctx, "RB-1", l.Token+1, end, start)
	must(t, err)
	if len(got) != 2 || got[0].Seq != 6 || got[1].Seq != 7 || got[1].StepID != "verify" || got[0].Token != l.Token+1 || got[1].At.IsZero() {
		t.Fatalf("two appends returned %+v, want seqs 6 and 7 in order with token and time set", got)
	}
	steps, err = s.ListSteps(ctx, "RB-1")
	must(t, err)
	sameJSON(t, "steps after two appends", steps[5:], got)
	if none, err := s.AppendSteps(ctx, "RB-1", l.Token+1); err != nil || len(none) != 0 {
		t.Fatalf("append of nothing: %v, %v", none, err)
	}
	if steps, err = s.ListSteps(ctx, "RB-1"); err != nil || len(steps) != 7 {
		t.Fatalf("after appending nothing: %d steps (%v), want 7", len(steps), err)
	}
	// A write of many events (a queue that grew while the store was down)
	// goes through whole.
	many := make([]rollback.StepEvent, 10_000)
	for i := range many {
		many[i] = rollback.StepEvent{Service: "api", StepID: fmt.Sprintf("s%d", i), Kind: rollback.StepSucceeded}
	}
	got, err = s.AppendSteps(ctx, "RB-4", 0, many...)
	must(t, err)
	if len(got) != len(many) || got[0].Seq != 1 || got[len(got)-1].Seq != int64(len(many)) {
		t.Fatalf("10,000 events: %d back, seqs %d..%d", len(got), got[0].Seq, got[len(got)-1].Seq)
	}
}

// appendOne appends a single event.
func appendOne(ctx context.Context, s store.Store, rollbackID string, token int64, ev rollback.StepEvent) (rollback.StepEvent, error) {
	out, err := s.AppendSteps(ctx, rollbackID, token, ev)
	if err != nil {
		return rollback.StepEvent{}, err
	}
	return out[0], nil
}
