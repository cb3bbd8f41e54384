package slack

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat/slack/slackfake"
	"github.com/backout/backout/internal/commands"
)

// Work accepted before shutdown is finished; work arriving after is refused
// with 503 so Slack retries it against another replica or later.
func TestShutdownDrainsAcceptedWork(t *testing.T) {
	h := newHarness(t, commands.Reply{Ignore: true}, false, func(c *AdapterConfig) { c.Workers = 1 })
	h.handler.gate = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.adapter.Run(ctx) }()
	for _, text := range []string{"one", "two", "three"} {
		body := slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: text})
		if code, _ := h.post(t, "/slack/commands", slackfake.FormContentType, body, nil); code != http.StatusOK {
			t.Fatalf("%s: status %d", text, code)
		}
	}
	cancel()
	// Run must not return while accepted work waits.
	select {
	case <-done:
		t.Fatal("Run returned with work queued")
	default:
	}
	close(h.handler.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if invs, _ := h.handler.snapshot(); len(invs) != 3 {
		t.Fatalf("handled %d of 3 accepted commands", len(invs))
	}
	late := slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "late"})
	if code, resp := h.post(t, "/slack/commands", slackfake.FormContentType, late, nil); code != http.StatusOK || !strings.Contains(resp, "nothing was done") {
		t.Fatalf("after shutdown: status %d %q, want 200 saying nothing was done", code, resp)
	}
	if err := h.adapter.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
}

type panickyHandler struct {
	*fakeHandler
	panics atomic.Int32
}

func (p *panickyHandler) Command(ctx context.Context, inv commands.Invocation) commands.Reply {
	if inv.Text == "boom" {
		p.panics.Add(1)
		panic("handler bug")
	}
	return p.fakeHandler.Command(ctx, inv)
}

func TestHandlerPanicDoesNotStopWorkers(t *testing.T) {
	ph := &panickyHandler{fakeHandler: newFakeHandler(commands.Reply{Ignore: true})}
	h := newHarness(t, okReply, true, func(c *AdapterConfig) { c.Handler = ph; c.Workers = 1 })
	for _, text := range []string{"boom", "after"} {
		h.post(t, "/slack/commands", slackfake.FormContentType, slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: text}), nil)
	}
	ph.waitCalled(t, 1)
	if invs, _ := ph.snapshot(); len(invs) != 1 || invs[0].Text != "after" || ph.panics.Load() != 1 {
		t.Fatalf("invocations %+v, panics %d", invs, ph.panics.Load())
	}
}

func TestPoolBlockingReserve(t *testing.T) {
	p := newPool(1, quietLog)
	if err := p.tryReserve(); err != nil {
		t.Fatal(err)
	}
	if err := p.tryReserve(); !errors.Is(err, errQueueFull) {
		t.Fatalf("second reserve = %v, want full", err)
	}
	got := make(chan error, 1)
	go func() { got <- p.reserve(context.Background()) }()
	p.release()
	if err := <-got; err != nil {
		t.Fatalf("blocked reserve = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := p.reserve(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reserve on full pool = %v, want deadline", err)
	}
}

func TestNewAdapterRequiresWiring(t *testing.T) {
	if _, err := NewAdapter(AdapterConfig{}); err == nil {
		t.Fatal("empty config accepted")
	}
}

func TestMemoryDedup(t *testing.T) {
	d := NewMemoryDedup()
	clock := &fakeClock{t: testNow}
	d.Now = clock.Now
	ctx := context.Background()
	steps := []struct {
		key     string
		advance time.Duration
		want    bool
	}{
		{"a", 0, true}, {"a", 0, false}, {"b", 0, true}, {"a", time.Minute, true},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		if ok, err := d.Claim(ctx, s.key, time.Minute); err != nil || ok != s.want {
			t.Fatalf("step %d: Claim(%s) = %v %v, want %v", i, s.key, ok, err, s.want)
		}
	}
}

// A modal's trigger_id expires about 3 s after the click: opening it must
// not wait behind the clicks already queued.
func TestUrgentJobsGoFirst(t *testing.T) {
	p := newPool(8, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { p.run(ctx, 1, time.Minute, time.Second); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	var mu sync.Mutex
	var order []string
	ran := func(name string) job {
		return func(context.Context) { mu.Lock(); order = append(order, name); mu.Unlock() }
	}
	release, busy := make(chan struct{}), make(chan struct{})
	submit := func(j job, urgent bool) {
		if err := p.tryReserve(); err != nil {
			t.Fatal(err)
		}
		if urgent {
			p.submitUrgent(j)
		} else {
			p.submit(j)
		}
	}
	submit(func(ctx context.Context) { close(busy); <-release; ran("first")(ctx) }, false)
	<-busy // the only worker is taken
	submit(ran("click-1"), false)
	submit(ran("click-2"), false)
	submit(ran("modal"), true)
	close(release)
	deadline := time.After(10 * time.Second)
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n == 4 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("ran only %v", order)
		case <-time.After(time.Millisecond):
		}
	}
	if want := []string{"first", "modal", "click-1", "click-2"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}
