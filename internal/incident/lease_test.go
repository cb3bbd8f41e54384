package incident_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// TestHolderThatCannotRenewStopsItsSteps: when the holder's lease renewals
// hang or fail, it stops its running step once engine.renew_deadline has
// passed without a renewal — while its lease still shuts every other
// replica out — and then writes nothing more: no step end, no next step,
// no state change.
func TestHolderThatCannotRenewStopsItsSteps(t *testing.T) {
	hangs := renewFault(func(ctx context.Context) error { <-ctx.Done(); return fmt.Errorf("renew: %w", ctx.Err()) })
	fails := renewFault(func(context.Context) error { return fmt.Errorf("renew: %w", store.ErrUnavailable) })
	tests := []struct {
		name  string
		fault *renewFault
	}{
		{"renewals hang", &hangs},
		{"renewals fail", &fails},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b, setup{runbook: chainRunbook, leaseTTL: "3s", renewDeadline: "1s"})
				testDone := make(chan struct{})
				t.Cleanup(func() { close(testDone) })
				takeover := make(chan error, 1)
				e.ex.On("a", func(ctx context.Context, req exec.Request) (exec.Result, error) {
					select {
					case <-ctx.Done():
					case <-testDone:
						return exec.Result{}, errors.New("never stopped")
					}
					// The moment the step is stopped, nobody may take the
					// rollback over yet (lease_ttl + kill_grace).
					_, err := e.st.Store.AcquireLease(context.Background(), store.LeaseName(req.RollbackID), "taker", time.Minute, 5*time.Second)
					takeover <- err
					return exec.Result{}, context.Cause(ctx)
				})
				r := e.run()
				if err := e.ex.WaitStarted(within(t), "a"); err != nil {
					t.Fatal(err)
				}
				e.st.renewFault.Store(tt.fault)
				writes := e.st.writes.Load()
				select {
				case err := <-takeover:
					if !errors.Is(err, store.ErrLeaseHeld) {
						t.Fatalf("when the step was stopped another replica could take the lease: %v", err)
					}
				case <-within(t).Done():
					t.Fatal("the step was never stopped")
				}
				waitEngine(t, e.svc)
				if got := e.st.writes.Load(); got != writes {
					t.Errorf("%d step-log writes after renewals stopped, want none", got-writes)
				}
				e.requireStoppedAfterA(r.ID)
			})
		})
	}
}

// TestStepsCarryTheRenewDeadline: every step the driver starts may start
// only before its renew deadline (exec.Request.StartBy), so an executor can
// refuse to start a step for a bot that was frozen past it.
func TestStepsCarryTheRenewDeadline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook, leaseTTL: "3s", renewDeadline: "1s"})
		left := make(chan time.Duration, 1)
		e.ex.On("a", func(_ context.Context, req exec.Request) (exec.Result, error) {
			if req.StartBy.IsZero() {
				left <- 0
			} else {
				left <- time.Until(req.StartBy)
			}
			return exec.Result{}, nil
		})
		e.run()
		select {
		case d := <-left:
			if d <= 0 || d > time.Second {
				t.Fatalf("step a may start for %v more, want within (0, 1s]: the renew deadline", d)
			}
		case <-within(t).Done():
			t.Fatal("step a never ran")
		}
		waitEngine(t, e.svc)
	})
}

// TestRefusedStartWhileTheLeaseHolds: an executor that refused to start a
// step past its StartBy, while the lease was renewed meanwhile (the
// deadline moved on after StartBy was taken), gets the step once more with
// a fresh deadline: nothing started, so the rollback must not fail for it.
func TestRefusedStartWhileTheLeaseHolds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{runbook: chainRunbook, leaseTTL: "3s", renewDeadline: "1s"})
		var calls atomic.Int32
		e.ex.On("a", func(context.Context, exec.Request) (exec.Result, error) {
			if calls.Add(1) == 1 {
				return exec.Result{}, fmt.Errorf("a %w", exec.ErrStartBy)
			}
			return exec.Result{}, nil
		})
		r := e.run()
		e.finish(r.ID, rollback.StateSucceeded)
		if n := calls.Load(); n != 2 {
			t.Fatalf("step a was handed to its executor %d times, want 2", n)
		}
	})
}
