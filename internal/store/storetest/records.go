package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

func testVotes(t *testing.T, s store.Store, clk *Clock) {
	ctx := t.Context()
	vote := func(rb, user, plan string, approve bool, reason string) rollback.Vote {
		return rollback.Vote{RollbackID: rb, User: user, Approve: approve, Reason: reason, PlanHash: plan, Groups: []string{"sre"}, Counted: true, At: T0}
	}
	tests := []struct {
		name string
		v    rollback.Vote
		want bool
	}{
		{"first vote", vote("RB-1", "U1", "p1", true, ""), true},
		{"same person same plan", vote("RB-1", "U1", "p1", false, "changed my mind"), false},
		{"same person new plan", vote("RB-1", "U1", "p2", false, "plan changed"), true},
		{"another person", vote("RB-1", "U2", "p1", true, ""), true},
		{"same person other rollback", vote("RB-2", "U1", "p1", true, ""), true},
	}
	var want []rollback.Vote
	for _, tc := range tests {
		ok, err := s.PutVote(ctx, tc.v)
		must(t, err)
		if ok != tc.want {
			t.Fatalf("%s: PutVote = %v, want %v", tc.name, ok, tc.want)
		}
		if ok && tc.v.RollbackID == "RB-1" {
			want = append(want, tc.v)
		}
	}
	got, err := s.ListVotes(ctx, "RB-1")
	must(t, err)
	sameJSON(t, "votes of RB-1 in the order cast (the refused one unchanged)", got, want)

	got, err = s.ListVotes(ctx, "RB-404")
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("votes of an unknown rollback: %v", got)
	}

	wins := race(t, 20, func(i int) (bool, error) {
		return s.PutVote(ctx, vote("RB-3", "U9", "p1", true, fmt.Sprint(i)))
	})
	if wins != 1 {
		t.Fatalf("%d concurrent double votes stored, want 1", wins)
	}

	undated := vote("RB-4", "U1", "p1", true, "")
	undated.At = time.Time{}
	_, err = s.PutVote(ctx, undated)
	must(t, err)
	got, err = s.ListVotes(ctx, "RB-4")
	must(t, err)
	if len(got) != 1 || !got[0].At.Equal(clk.Now()) {
		t.Fatalf("undated vote stored as %+v, want At from the clock", got)
	}
}

func deployIDs(ds []*rollback.Deploy) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func testDeploys(t *testing.T, s store.Store, clk *Clock) {
	ctx := t.Context()
	add := func(id, svc string, at time.Time) *rollback.Deploy {
		t.Helper()
		d := &rollback.Deploy{ID: id, Service: svc, Version: "v-" + at.Format("1504"), Artifact: "img@sha256:1", At: at, Commit: "abc"}
		must(t, s.AddDeploy(ctx, d))
		return d
	}
	old := add("", "api", T0)
	if old.ID == "" {
		t.Fatal("AddDeploy left the ID empty")
	}
	newest := add("d-new", "api", T0.Add(2*time.Hour))
	middle := add("d-mid", "api", T0.Add(time.Hour))
	add("d-web", "web", T0.Add(3*time.Hour))
	wantErr(t, "add an existing id", s.AddDeploy(ctx, &rollback.Deploy{ID: "d-new", Service: "api", At: T0}), store.ErrExists)

	got, err := s.GetDeploy(ctx, middle.ID)
	must(t, err)
	sameJSON(t, "stored deploy", got, middle)
	_, err = s.GetDeploy(ctx, "nope")
	wantErr(t, "get missing deploy", err, store.ErrNotFound)

	list := func(svc string, limit int, want ...string) {
		t.Helper()
		got, err := s.ListDeploys(ctx, svc, limit)
		must(t, err)
		if ids := deployIDs(got); !slices.Equal(ids, append([]string{}, want...)) {
			t.Fatalf("ListDeploys(%q, %d) = %v, want %v", svc, limit, ids, want)
		}
	}
	list("api", 0, newest.ID, middle.ID, old.ID)
	list("api", 2, newest.ID, middle.ID)
	list("web", 0, "d-web")
	list("nope", 0)

	// Replacing re-sorts: the oldest becomes the newest, marked good.
	old.At, old.Good, old.GoodAt = T0.Add(5*time.Hour), true, T0
	must(t, s.PutDeploy(ctx, old))
	list("api", 0, old.ID, newest.ID, middle.ID)
	got, err = s.GetDeploy(ctx, old.ID)
	must(t, err)
	sameJSON(t, "replaced deploy", got, old)

	// Moving a deploy to another service moves it between listings.
	middle.Service = "web"
	must(t, s.PutDeploy(ctx, middle))
	list("api", 0, old.ID, newest.ID)
	list("web", 0, "d-web", middle.ID)

	wantErr(t, "put missing deploy", s.PutDeploy(ctx, &rollback.Deploy{ID: "nope", Service: "api"}), store.ErrNotFound)
	list("api", 0, old.ID, newest.ID)

	undated := &rollback.Deploy{Service: "db", Version: "v1"}
	must(t, s.AddDeploy(ctx, undated))
	if !undated.At.Equal(clk.Now()) || undated.ID == "" || undated.ID == old.ID {
		t.Fatalf("undated deploy got id %q at %v; want a fresh id at the clock's time", undated.ID, undated.At)
	}
}

func testDrills(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	mk := func(id, svc string, at time.Time, ok bool) rollback.DrillRecord {
		return rollback.DrillRecord{ID: id, Service: svc, RollbackID: "RB-" + id, At: at, Mode: "staging", Succeeded: ok,
			Duration: 3 * time.Minute, RecoveryTarget: 10 * time.Minute, FailedSteps: []string{"wait-rollout"}}
	}
	a := mk("d1", "api", T0, true)
	b := mk("d2", "api", T0.Add(time.Hour), false)
	c := mk("d3", "web", T0.Add(2*time.Hour), true)
	for _, d := range []rollback.DrillRecord{a, b, c} {
		must(t, s.PutDrill(ctx, d))
	}
	a.Succeeded = false // replacing by ID
	must(t, s.PutDrill(ctx, a))

	tests := []struct {
		service string
		want    []rollback.DrillRecord
	}{
		{"api", []rollback.DrillRecord{b, a}},
		{"web", []rollback.DrillRecord{c}},
		{"", []rollback.DrillRecord{c, b, a}},
		{"nope", []rollback.DrillRecord{}},
	}
	for _, tc := range tests {
		got, err := s.ListDrills(ctx, tc.service)
		must(t, err)
		sameJSON(t, "ListDrills("+tc.service+")", got, tc.want)
	}
}

func testAudit(t *testing.T, s store.Store, clk *Clock) {
	ctx := t.Context()
	var appended []store.AuditEvent
	for i, action := range []string{"propose", "approve", "execute"} {
		e := store.AuditEvent{At: T0.Add(time.Duration(i) * time.Minute), Actor: "U1", Action: action, Target: "RB-1", From: "slack",
			Detail: map[string]string{"plan": "p1", "n": fmt.Sprint(i)}, Seq: 99, Hash: "forged"}
		got, err := s.AppendAudit(ctx, e)
		must(t, err)
		prev := ""
		if i > 0 {
			prev = appended[i-1].Hash
		}
		if got.Seq != int64(i+1) || got.PrevHash != prev || got.Hash != store.HashAudit(got) {
			t.Fatalf("event %d: seq %d prev %q hash %q; want seq %d chained onto %q", i, got.Seq, got.PrevHash, got.Hash, i+1, prev)
		}
		appended = append(appended, got)
	}
	undated, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "cron", Action: "tick"})
	must(t, err)
	if !undated.At.Equal(clk.Now()) {
		t.Fatalf("undated audit event at %v, want the clock's time", undated.At)
	}
	appended = append(appended, undated)

	list, err := s.ListAudit(ctx)
	must(t, err)
	sameJSON(t, "audit log", list, appended)
	must(t, store.VerifyAudit(list))

	tampers := []struct {
		name string
		edit func([]store.AuditEvent) []store.AuditEvent
	}{
		{"edited detail", func(l []store.AuditEvent) []store.AuditEvent { l[1].Detail = map[string]string{"plan": "p2"}; return l }},
		{"edited actor", func(l []store.AuditEvent) []store.AuditEvent { l[2].Actor = "U2"; return l }},
		{"deleted event", func(l []store.AuditEvent) []store.AuditEvent { return append(l[:1], l[2:]...) }},
		{"rehashed edit", func(l []store.AuditEvent) []store.AuditEvent {
			l[1].Action = "reject"
			l[1].Hash = store.HashAudit(l[1])
			return l
		}},
	}
	for _, tc := range tampers {
		l, err := s.ListAudit(ctx)
		must(t, err)
		if err := store.VerifyAudit(tc.edit(l)); err == nil {
			t.Fatalf("%s: VerifyAudit did not notice", tc.name)
		}
	}

	race(t, 20, func(i int) (bool, error) {
		_, err := s.AppendAudit(ctx, store.AuditEvent{Actor: fmt.Sprint("U", i), Action: "click"})
		return err == nil, err
	})
	list, err = s.ListAudit(ctx)
	must(t, err)
	if len(list) != 24 {
		t.Fatalf("%d audit events after 20 concurrent appends, want 24", len(list))
	}
	if err := store.VerifyAudit(list); err != nil {
		t.Fatalf("chain after concurrent appends: %v", err)
	}
}

func testBlobs(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	steps := []struct {
		op         string // put | get | del
		kind, key  string
		value      string
		wantAbsent bool
	}{
		{op: "get", kind: "freeze", key: "api", wantAbsent: true},
		{op: "put", kind: "freeze", key: "api", value: `{"until":"x"}`},
		{op: "put", kind: "freeze", key: "web", value: "w"},
		{op: "put", kind: "postmortem", key: "api", value: "other kind"},
		{op: "get", kind: "freeze", key: "api", value: `{"until":"x"}`},
		{op: "put", kind: "freeze", key: "api", value: "replaced"},
		{op: "get", kind: "freeze", key: "api", value: "replaced"},
		{op: "put", kind: "freeze", key: "empty", value: ""},
		{op: "get", kind: "freeze", key: "empty", value: ""},
		{op: "del", kind: "freeze", key: "web"},
		{op: "get", kind: "freeze", key: "web", wantAbsent: true},
		{op: "del", kind: "freeze", key: "never"},
		{op: "del", kind: "nokind", key: "never"},
		{op: "get", kind: "postmortem", key: "api", value: "other kind"},
	}
	for i, st := range steps {
		var err error
		switch st.op {
		case "put":
			err = s.PutBlob(ctx, st.kind, st.key, []byte(st.value))
		case "del":
			err = s.DeleteBlob(ctx, st.kind, st.key)
		case "get":
			var got []byte
			got, err = s.GetBlob(ctx, st.kind, st.key)
			if st.wantAbsent {
				wantErr(t, fmt.Sprintf("step %d: get %s/%s", i, st.kind, st.key), err, store.ErrNotFound)
				continue
			}
			if string(got) != st.value {
				t.Fatalf("step %d: get %s/%s = %q, want %q", i, st.kind, st.key, got, st.value)
			}
		}
		if err != nil {
			t.Fatalf("step %d: %s %s/%s: %v", i, st.op, st.kind, st.key, err)
		}
	}
	all, err := s.ListBlobs(ctx, "freeze")
	must(t, err)
	sameJSON(t, "ListBlobs(freeze)", all, map[string][]byte{"api": []byte("replaced"), "empty": {}})
	none, err := s.ListBlobs(ctx, "nokind")
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("ListBlobs of an unused kind: %v", none)
	}
}
