package slack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
)

func TestCoalescedUpdatesDeliverLatest(t *testing.T) {
	// A long interval keeps the test independent of scheduling: the first
	// update goes out at once, the other nine wait, Flush sends the last.
	p, fake := newTestPoster(t, nil, time.Hour)
	ctx := waitCtx(t)
	ref, err := p.Post(ctx, chat.Ref{Channel: "C1"}, chat.Message{Text: chat.Plain("step 0/10")})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		if err := p.Update(ctx, ref, chat.Message{Text: chat.Plain(fmt.Sprintf("step %d/10", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Calls("chat.update")); n != 2 {
		t.Fatalf("chat.update calls = %d, want 2 (first at once, latest on flush)", n)
	}
	m, _ := fake.Message("C1", ref.TS)
	if m.Text != "step 10/10" {
		t.Fatalf("final text = %q", m.Text)
	}
	// Nothing left: a second flush sends nothing.
	if err := p.Flush(ctx); err != nil || len(fake.Calls("chat.update")) != 2 {
		t.Fatalf("second flush: %v, %d calls", err, len(fake.Calls("chat.update")))
	}
}

func TestCoalescedUpdateSentAfterInterval(t *testing.T) {
	p, fake := newTestPoster(t, nil, 10*time.Millisecond)
	ctx := waitCtx(t)
	ref, err := p.Post(ctx, chat.Ref{Channel: "C1"}, chat.Message{Text: chat.Plain("v0")})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if err := p.Update(ctx, ref, chat.Message{Text: chat.Plain(fmt.Sprintf("v%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	// Without Flush, the timer delivers the latest content by itself.
	for {
		n := len(fake.Calls("chat.update")) // before the check, so no update slips between
		if m, _ := fake.Message("C1", ref.TS); m.Text == "v5" {
			break
		}
		if _, err := fake.WaitCalls(ctx, "chat.update", n+1); err != nil {
			t.Fatalf("latest update never sent: %v", err)
		}
	}
	if n := len(fake.Calls("chat.update")); n > 5 {
		t.Fatalf("chat.update calls = %d, want coalescing", n)
	}
}

func TestUpdatesOfDifferentMessagesAreIndependent(t *testing.T) {
	p, fake := newTestPoster(t, nil, time.Hour)
	ctx := waitCtx(t)
	a, _ := p.Post(ctx, chat.Ref{Channel: "C1"}, chat.Message{Text: chat.Plain("a")})
	b, _ := p.Post(ctx, chat.Ref{Channel: "C1"}, chat.Message{Text: chat.Plain("b")})
	if err := p.Update(ctx, a, chat.Message{Text: chat.Plain("a1")}); err != nil {
		t.Fatal(err)
	}
	if err := p.Update(ctx, b, chat.Message{Text: chat.Plain("b1")}); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Calls("chat.update")); n != 2 {
		t.Fatalf("chat.update calls = %d, want one per message", n)
	}
	if err := p.Update(ctx, chat.Ref{Channel: "C1"}, chat.Message{Text: chat.Plain("x")}); err == nil {
		t.Fatal("update without ts accepted")
	}
}

// The first update's error reaches its caller; errors of deferred updates
// come back from Flush.
func TestCoalescerErrors(t *testing.T) {
	var mu sync.Mutex
	fail := true
	var sent []string
	send := func(_ context.Context, _ chat.Ref, m chat.Message) error {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, m.Text.String())
		if fail {
			return errors.New("boom")
		}
		return nil
	}
	c := newCoalescer(send, time.Hour, time.Second, quietLog)
	ctx := waitCtx(t)
	ref := chat.Ref{Channel: "C1", TS: "1.1"}
	if err := c.update(ctx, ref, chat.Message{Text: chat.Plain("one")}); err == nil {
		t.Fatal("first update error lost")
	}
	if err := c.update(ctx, ref, chat.Message{Text: chat.Plain("two")}); err != nil {
		t.Fatalf("deferred update returned %v", err)
	}
	if err := c.flush(ctx); err == nil {
		t.Fatal("flush lost the deferred error")
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	if err := c.flush(ctx); err != nil {
		t.Fatalf("errors reported twice: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sent) != "[one two]" {
		t.Fatalf("sent = %v", sent)
	}
}

// Concurrent updaters and flushers must not race or lose the last write.
func TestCoalescerConcurrent(t *testing.T) {
	var mu sync.Mutex
	last := map[string]string{}
	send := func(_ context.Context, r chat.Ref, m chat.Message) error {
		mu.Lock()
		defer mu.Unlock()
		last[r.TS] = m.Text.String()
		return nil
	}
	c := newCoalescer(send, time.Millisecond, time.Second, quietLog)
	ctx := waitCtx(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			ref := chat.Ref{Channel: "C1", TS: fmt.Sprint(g)}
			for i := range 200 {
				_ = c.update(ctx, ref, chat.Message{Text: chat.Plain(fmt.Sprint(i))})
				if i%50 == 0 {
					_ = c.flush(ctx)
				}
			}
		})
	}
	wg.Wait()
	if err := c.flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for g := range 4 {
		if got := last[fmt.Sprint(g)]; got != "199" {
			t.Errorf("message %d ended at %q, want 199", g, got)
		}
	}
}

func TestFlushHonoursContext(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	send := func(ctx context.Context, _ chat.Ref, _ chat.Message) error {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	c := newCoalescer(send, time.Hour, time.Second, quietLog)
	go func() { _ = c.update(context.Background(), chat.Ref{Channel: "C", TS: "1"}, chat.Message{}) }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.flush(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("flush = %v, want context.Canceled", err)
	}
	close(release)
}
