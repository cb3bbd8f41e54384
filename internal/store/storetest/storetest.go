// Package storetest is the conformance suite every store.Store backend
// passes, plus benchmark bodies the backends share.
//
// Time-to-live checks advance the injected clock and then poll with real
// time, so a backend that honours the clock (bolt) passes at once and one
// that uses the server's clock (redis, with the suite's 50ms TTLs) passes
// shortly after. Nothing asserts how long anything took.
package storetest

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/store"
)

// T0 is the suite's starting time.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// shortTTL is long enough for two quick calls on a slow machine to be
// unusual, and short enough to wait out with real time.
const shortTTL = 50 * time.Millisecond

// Run runs the suite. open must return a fresh, empty store whose clock is
// now, and close it (and remove its data) in t.Cleanup.
func Run(t *testing.T, open func(t *testing.T, now func() time.Time) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, clk *Clock)
	}{
		{"NextID", testNextID},
		{"CreateGetRollback", testCreateGetRollback},
		{"UpdateRollbackCAS", testUpdateRollbackCAS},
		{"StaleTransition", testStaleTransition},
		{"ListRollbacks", testListRollbacks},
		{"RollbackIndexes", testRollbackIndexes},
		{"RollbackPages", testRollbackPages},
		{"DeployPages", testDeployPages},
		{"DrillIndex", testDrillIndex},
		{"Steps", testSteps},
		{"Votes", testVotes},
		{"Deploys", testDeploys},
		{"Drills", testDrills},
		{"Audit", testAudit},
		{"AuditScan", testAuditScan},
		{"Blobs", testBlobs},
		{"Claims", testClaims},
		{"Leases", testLeases},
		{"LeaseExpiryFencing", testLeaseExpiryFencing},
		{"LeaseTakeoverGrace", testLeaseTakeoverGrace},
		{"LeaseHolderGrace", testLeaseHolderGrace},
		{"Inbox", testInbox},
		{"InboxRace", testInboxRace},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewClock(T0)
			tc.fn(t, open(t, clk.Now), clk)
		})
	}
}

// Clock is a settable clock for a backend's Now option.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func testPing(t *testing.T, s store.Store, _ *Clock) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// eventually polls cond with real time until it holds; cond's error fails
// the test at once.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sameJSON compares through JSON, which is how the backends store records,
// so time zones and monotonic readings do not cause false differences.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	must(t, err)
	w, err := json.Marshal(want)
	must(t, err)
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// race runs fn from n goroutines released at once and returns how many
// reported true.
func race(t *testing.T, n int, fn func(i int) (bool, error)) int {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  int
		errs  []error
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			ok, err := fn(i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				wins++
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d racers failed, first: %v", len(errs), n, errs[0])
	}
	return wins
}
