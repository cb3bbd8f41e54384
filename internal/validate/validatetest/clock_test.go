package validatetest

import (
	"testing"
	"time"
)

func TestClockFiresWaitersWhenDue(t *testing.T) {
	start := time.Unix(100, 0)
	c := NewClock(start)
	early, late := c.After(time.Second), c.After(time.Minute)
	if got := c.After(0); <-got != start {
		t.Fatal("After(0) did not fire at once")
	}
	c.BlockUntil(2)
	c.Advance(time.Second)
	if at := <-early; !at.Equal(start.Add(time.Second)) {
		t.Fatalf("early fired at %s", at)
	}
	select {
	case <-late:
		t.Fatal("late fired early")
	default:
	}
	if c.Waiters() != 1 {
		t.Fatalf("waiters = %d, want 1", c.Waiters())
	}
	c.Advance(time.Hour)
	if at := <-late; !at.Equal(start.Add(time.Hour + time.Second)) {
		t.Fatalf("late fired at %s", at)
	}
}

func TestAutoClockJumps(t *testing.T) {
	c := NewAutoClock(time.Unix(0, 0))
	if at := <-c.After(time.Minute); !at.Equal(time.Unix(60, 0)) || !c.Now().Equal(at) {
		t.Fatalf("auto clock at %s, now %s", at, c.Now())
	}
}

func TestBlockUntilWaitsForAfter(t *testing.T) {
	c := NewClock(time.Unix(0, 0))
	done := make(chan struct{})
	go func() {
		<-c.After(time.Second)
		close(done)
	}()
	c.BlockUntil(1)
	c.Advance(time.Second)
	<-done
}
