package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

func testClaims(t *testing.T, s store.Store, clk *Clock) {
	ctx := t.Context()
	claims := []struct {
		key  string
		want bool
	}{
		{"click:1", true},
		{"click:1", false},
		{"click:2", true},
		{"click:1", false},
	}
	for i, c := range claims {
		ok, err := s.Claim(ctx, c.key, time.Minute)
		must(t, err)
		if ok != c.want {
			t.Fatalf("claim %d of %s = %v, want %v", i, c.key, ok, c.want)
		}
	}

	wins := race(t, 50, func(int) (bool, error) { return s.Claim(ctx, "cron:tick", time.Minute) })
	if wins != 1 {
		t.Fatalf("%d of 50 racers claimed one key, want 1", wins)
	}

	ok, err := s.Claim(ctx, "short", shortTTL)
	must(t, err)
	if !ok {
		t.Fatal("first claim of a fresh key refused")
	}
	clk.Advance(time.Second)
	eventually(t, "claim free again after its ttl", func() (bool, error) {
		return s.Claim(ctx, "short", time.Minute)
	})
	ok, err = s.Claim(ctx, "short", time.Minute)
	must(t, err)
	if ok {
		t.Fatal("re-claimed key was claimable twice")
	}

	if _, err := s.Claim(ctx, "zero", 0); err == nil {
		t.Fatal("Claim with ttl 0 accepted")
	}
}

func testLeases(t *testing.T, s store.Store, clk *Clock) {
	ctx := t.Context()
	_, err := s.GetLease(ctx, "never")
	wantErr(t, "GetLease of a never granted lease", err, store.ErrNotFound)

	const name = "rollback/RB-1"
	leases := make([]store.Lease, 2)
	wins := race(t, 2, func(i int) (bool, error) {
		l, err := s.AcquireLease(ctx, name, fmt.Sprint("holder-", i), time.Minute, 0)
		if errors.Is(err, store.ErrLeaseHeld) {
			return false, nil
		}
		leases[i] = l
		return err == nil, err
	})
	if wins != 1 {
		t.Fatalf("%d of 2 holders got the lease, want 1", wins)
	}
	first, loser := leases[0], "holder-1"
	if first.Holder == "" {
		first, loser = leases[1], "holder-0"
	}
	if first.Name != name || first.Token < 1 {
		t.Fatalf("granted lease %+v", first)
	}
	_, err = s.AcquireLease(ctx, name, loser, time.Minute, 0)
	wantErr(t, "acquire a held lease", err, store.ErrLeaseHeld)

	clk.Advance(time.Second)
	again, err := s.AcquireLease(ctx, name, first.Holder, time.Minute, 0)
	must(t, err)
	if again.Token != first.Token || again.Expires.Before(first.Expires) {
		t.Fatalf("re-acquire by the holder: %+v, want token %d and a later expiry than %v", again, first.Token, first.Expires)
	}
	renewed, err := s.RenewLease(ctx, again, 2*time.Minute)
	must(t, err)
	if renewed.Token != first.Token || renewed.Holder != first.Holder || !renewed.Expires.After(again.Expires) {
		t.Fatalf("renewed lease %+v after %+v", renewed, again)
	}
	got, err := s.GetLease(ctx, name)
	must(t, err)
	sameJSON(t, "GetLease", got, renewed)

	impostor := store.Lease{Name: name, Holder: loser, Token: first.Token}
	_, err = s.RenewLease(ctx, impostor, time.Minute)
	wantErr(t, "renew by another holder", err, store.ErrLeaseLost)
	wantErr(t, "release by another holder", s.ReleaseLease(ctx, impostor), store.ErrLeaseLost)
	got, err = s.GetLease(ctx, name)
	must(t, err)
	sameJSON(t, "lease after refused renew and release", got, renewed)

	must(t, s.ReleaseLease(ctx, renewed))
	must(t, s.ReleaseLease(ctx, renewed)) // releasing twice is harmless
	_, err = s.RenewLease(ctx, renewed, time.Minute)
	wantErr(t, "renew a released lease", err, store.ErrLeaseLost)
	got, err = s.GetLease(ctx, name)
	must(t, err)
	if got.Token != renewed.Token || !got.Expires.Before(renewed.Expires) {
		t.Fatalf("released lease reads %+v, want token %d and an earlier expiry", got, renewed.Token)
	}

	next, err := s.AcquireLease(ctx, name, loser, time.Minute, 0)
	must(t, err)
	if next.Token <= renewed.Token {
		t.Fatalf("token after release = %d, want above %d", next.Token, renewed.Token)
	}
	wantErr(t, "release an old grant", s.ReleaseLease(ctx, renewed), store.ErrLeaseLost)

	if _, err := s.AcquireLease(ctx, "other", "h", 0, 0); err == nil {
		t.Fatal("AcquireLease with ttl 0 accepted")
	}
}

// testLeaseExpiryFencing is the scenario fencing exists for: a holder
// stalls past its lease, another takes over, and the first one's late
// writes are refused.
func testLeaseExpiryFencing(t *testing.T, s store.Store, clk *Clock) {
	ctx := t.Context()
	name := store.LeaseName("RB-7")
	a, err := s.AcquireLease(ctx, name, "engine-a", shortTTL, 0)
	must(t, err)
	_, err = appendOne(ctx, s, "RB-7", a.Token, rollback.StepEvent{StepID: "s1", Kind: rollback.StepStarted})
	must(t, err)

	clk.Advance(time.Second)
	var b store.Lease
	eventually(t, "engine-b takes the expired lease", func() (bool, error) {
		b, err = s.AcquireLease(ctx, name, "engine-b", time.Minute, 0)
		if errors.Is(err, store.ErrLeaseHeld) {
			return false, nil
		}
		return err == nil, err
	})
	if b.Token <= a.Token {
		t.Fatalf("new holder's token %d is not above the old %d", b.Token, a.Token)
	}
	_, err = appendOne(ctx, s, "RB-7", a.Token, rollback.StepEvent{StepID: "s1", Kind: rollback.StepSucceeded})
	wantErr(t, "append by the stalled holder", err, store.ErrStaleToken)
	_, err = s.RenewLease(ctx, a, time.Minute)
	wantErr(t, "renew by the stalled holder", err, store.ErrLeaseLost)
	wantErr(t, "release by the stalled holder", s.ReleaseLease(ctx, a), store.ErrLeaseLost)

	ev, err := appendOne(ctx, s, "RB-7", b.Token, rollback.StepEvent{StepID: "s1", Kind: rollback.StepRetrying})
	must(t, err)
	if ev.Seq != 2 || ev.Token != b.Token {
		t.Fatalf("new holder's step: seq %d token %d", ev.Seq, ev.Token)
	}

	// Tokens keep growing across releases.
	must(t, s.ReleaseLease(ctx, b))
	c, err := s.AcquireLease(ctx, name, "engine-a", time.Minute, 0)
	must(t, err)
	if c.Token <= b.Token {
		t.Fatalf("token after release %d, want above %d", c.Token, b.Token)
	}
}

// testLeaseTakeoverGrace: another holder takes an expired lease only once
// the grace it gives the old holder (to stop what it runs) has passed since
// the expiry; until then it learns who held it and until when. A released
// lease, or the same holder, needs no grace.
func testLeaseTakeoverGrace(t *testing.T, s store.Store, clk *Clock) {
	ctx := t.Context()
	name := store.LeaseName("RB-8")
	a, err := s.AcquireLease(ctx, name, "engine-a", shortTTL, 0)
	must(t, err)

	held, err := s.AcquireLease(ctx, name, "engine-b", time.Minute, time.Hour)
	wantErr(t, "acquire a live lease", err, store.ErrLeaseHeld)
	if errors.Is(err, store.ErrLeaseDraining) {
		t.Fatalf("a live lease reads as draining: %v", err)
	}
	if held.Holder != a.Holder || held.Token != a.Token || !held.Expires.Equal(a.Expires) {
		t.Fatalf("refusal names %+v, want the live grant %+v", held, a)
	}

	clk.Advance(shortTTL) // expired (bolt at once, redis after its own clock follows)
	eventually(t, "the expired lease reads as draining within the grace", func() (bool, error) {
		held, err = s.AcquireLease(ctx, name, "engine-b", time.Minute, time.Hour)
		switch {
		case errors.Is(err, store.ErrLeaseDraining):
			return true, nil
		case errors.Is(err, store.ErrLeaseHeld):
			return false, nil
		}
		return false, fmt.Errorf("acquire within the grace: lease %+v, error %v", held, err)
	})
	if held.Holder != a.Holder || !held.Expires.Equal(a.Expires) {
		t.Fatalf("draining refusal names %+v, want holder %s expiring %s", held, a.Holder, a.Expires)
	}
	// The old holder is not locked out of its own expired lease: it gets a
	// new token (its writes under the old one are fenced either way). The
	// grace it gives is its own, recorded with the grant (see
	// testLeaseHolderGrace).
	mine, err := s.AcquireLease(ctx, name, "engine-a", shortTTL, shortTTL)
	must(t, err)
	if mine.Token <= a.Token {
		t.Fatalf("re-grant to the old holder after expiry kept token %d, want above %d", mine.Token, a.Token)
	}

	grace := shortTTL
	clk.Advance(shortTTL + grace)
	var b store.Lease
	eventually(t, "engine-b takes the lease once expiry + grace passed", func() (bool, error) {
		b, err = s.AcquireLease(ctx, name, "engine-b", time.Minute, grace)
		if errors.Is(err, store.ErrLeaseHeld) {
			return false, nil
		}
		return err == nil, err
	})
	// Granted at now+ttl, and now was at least the old expiry plus grace.
	if earliest := mine.Expires.Add(grace).Add(time.Minute); b.Expires.Before(earliest) {
		t.Fatalf("taken over at %s (expiry %s), before the old grant's expiry %s + grace %s", b.Expires.Add(-time.Minute), b.Expires, mine.Expires, grace)
	}
	if b.Token <= mine.Token {
		t.Fatalf("taker's token %d is not above %d", b.Token, mine.Token)
	}

	// A released lease is free at once, whatever the grace.
	must(t, s.ReleaseLease(ctx, b))
	c, err := s.AcquireLease(ctx, name, "engine-c", time.Minute, time.Hour)
	must(t, err)
	if c.Token <= b.Token {
		t.Fatalf("token after release %d, want above %d", c.Token, b.Token)
	}
	if _, err := s.AcquireLease(ctx, "other", "h", time.Minute, -time.Second); err == nil {
		t.Fatal("AcquireLease with a negative grace accepted")
	}
}

// testLeaseHolderGrace: a taker waits at least the grace the holder gave
// when it took the lease (its engine.kill_grace: how long its step
// processes may take to die after SIGTERM), whatever its own. Replicas in
// the middle of a rolling change of kill_grace disagree about it, and the
// holder's is the one its steps obey. The grant and the refusal carry it.
func testLeaseHolderGrace(t *testing.T, s store.Store, clk *Clock) {
	ctx := t.Context()
	name := store.LeaseName("RB-9")
	holderGrace := 6 * shortTTL
	a, err := s.AcquireLease(ctx, name, "engine-a", shortTTL, holderGrace)
	must(t, err)
	if a.Grace != holderGrace {
		t.Fatalf("grant carries grace %s, want the holder's %s", a.Grace, holderGrace)
	}
	a, err = s.RenewLease(ctx, a, shortTTL)
	must(t, err)
	if got, err := s.GetLease(ctx, name); err != nil || got.Grace != holderGrace {
		t.Fatalf("stored lease %+v (%v), want grace %s", got, err, holderGrace)
	}

	clk.Advance(shortTTL) // expired; a taker that gives no grace of its own still waits the holder's
	eventually(t, "the expired lease is draining for a taker with no grace of its own", func() (bool, error) {
		held, err := s.AcquireLease(ctx, name, "engine-b", time.Minute, 0)
		switch {
		case errors.Is(err, store.ErrLeaseDraining):
			if held.Holder != a.Holder || held.Grace != holderGrace {
				return false, fmt.Errorf("draining refusal names %+v, want holder %s with grace %s", held, a.Holder, holderGrace)
			}
			return true, nil
		case errors.Is(err, store.ErrLeaseHeld):
			return false, nil
		case err == nil:
			return false, fmt.Errorf("taken over at once after expiry (lease %+v): the holder's grace %s was not waited", held, holderGrace)
		}
		return false, err
	})

	clk.Advance(holderGrace)
	var b store.Lease
	eventually(t, "engine-b takes the lease once expiry + the holder's grace passed", func() (bool, error) {
		b, err = s.AcquireLease(ctx, name, "engine-b", time.Minute, 0)
		if errors.Is(err, store.ErrLeaseHeld) {
			return false, nil
		}
		return err == nil, err
	})
	if earliest := a.Expires.Add(holderGrace).Add(time.Minute); b.Expires.Before(earliest) {
		t.Fatalf("taken over at %s, before the old grant's expiry %s + its grace %s", b.Expires.Add(-time.Minute), a.Expires, holderGrace)
	}
	if b.Grace != 0 {
		t.Fatalf("the new grant carries grace %s, want its holder's (0)", b.Grace)
	}
}

func testInbox(t *testing.T, s store.Store, clk *Clock) {
	ctx := t.Context()
	ev := func(id string) store.Event {
		return store.Event{ID: id, Source: "pagerduty", Type: "incident.triggered", Payload: []byte(`{"id":"` + id + `"}`), ReceivedAt: T0}
	}
	steps := []struct {
		ev   store.Event
		keys []string
		want bool
	}{
		{ev("e1"), []string{"wh:1", "inc:A"}, true},
		{ev("e2"), []string{"wh:2", "inc:A"}, false}, // same incident
		{ev("e3"), []string{"wh:2"}, true},           // e2 set nothing: check and write are one step
		{ev("e4"), nil, true},
		{ev("e1"), []string{"wh:9"}, false}, // the id is still pending
	}
	var want []store.Event
	for i, st := range steps {
		ok, err := s.EnqueueEvent(ctx, st.ev, st.keys, time.Hour)
		must(t, err)
		if ok != st.want {
			t.Fatalf("enqueue %d (%s %v) = %v, want %v", i, st.ev.ID, st.keys, ok, st.want)
		}
		if ok {
			want = append(want, st.ev)
		}
	}
	pending := func(limit int, want ...store.Event) {
		t.Helper()
		got, err := s.PendingEvents(ctx, limit)
		must(t, err)
		sameJSON(t, fmt.Sprintf("PendingEvents(%d)", limit), got, append([]store.Event{}, want...))
	}
	pending(0, want...)
	pending(2, want[:2]...)
	must(t, s.AckEvent(ctx, "e1"))
	must(t, s.AckEvent(ctx, "e1")) // a second worker acking is harmless
	must(t, s.AckEvent(ctx, "never"))
	pending(0, want[1:]...)

	ok, err := s.EnqueueEvent(ctx, ev("e5"), []string{"short"}, shortTTL)
	must(t, err)
	if !ok {
		t.Fatal("fresh dedup key refused")
	}
	clk.Advance(time.Second)
	n := 0
	eventually(t, "dedup key free again after its ttl", func() (bool, error) {
		n++
		return s.EnqueueEvent(ctx, ev(fmt.Sprint("e6-", n)), []string{"short"}, time.Hour)
	})

	undated := store.Event{Source: "watcher", Type: "burn"}
	ok, err = s.EnqueueEvent(ctx, undated, nil, 0)
	must(t, err)
	got, err := s.PendingEvents(ctx, 0)
	must(t, err)
	last := got[len(got)-1]
	if !ok || last.ID == "" || !last.ReceivedAt.Equal(clk.Now()) || last.Type != "burn" {
		t.Fatalf("undated event stored as %+v; want an id and the clock's time", last)
	}
}

func testInboxRace(t *testing.T, s store.Store, _ *Clock) {
	ctx := t.Context()
	wins := race(t, 50, func(i int) (bool, error) {
		e := store.Event{ID: fmt.Sprint("retry-", i), Source: "pagerduty", Type: "t", ReceivedAt: T0}
		return s.EnqueueEvent(ctx, e, []string{"webhook:W1"}, time.Hour)
	})
	if wins != 1 {
		t.Fatalf("%d of 50 deliveries of one webhook accepted, want 1", wins)
	}
	got, err := s.PendingEvents(ctx, 0)
	must(t, err)
	if len(got) != 1 {
		t.Fatalf("%d events pending, want 1", len(got))
	}
}
