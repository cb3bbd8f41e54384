package slack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/chat/slack/slackfake"
	"github.com/backout/backout/internal/commands"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// testNow is the adapter's clock in tests; requests are signed at it.
var testNow = time.Unix(1700000000, 0)

var quietLog = slog.New(slog.DiscardHandler)

// fakeHandler records what the adapter asks of commands.Handler.
type fakeHandler struct {
	mu       sync.Mutex
	invs     []commands.Invocation
	clicks   []commands.Click
	reply    commands.Reply
	gate     chan struct{} // when set, calls wait for it
	calledCh chan struct{}
}

func newFakeHandler(reply commands.Reply) *fakeHandler {
	return &fakeHandler{reply: reply, calledCh: make(chan struct{}, 100)}
}

func (f *fakeHandler) Command(ctx context.Context, inv commands.Invocation) commands.Reply {
	f.wait(ctx)
	f.mu.Lock()
	f.invs = append(f.invs, inv)
	f.mu.Unlock()
	f.calledCh <- struct{}{}
	return f.reply
}

func (f *fakeHandler) Click(ctx context.Context, c commands.Click) commands.Reply {
	f.wait(ctx)
	f.mu.Lock()
	f.clicks = append(f.clicks, c)
	f.mu.Unlock()
	f.calledCh <- struct{}{}
	return f.reply
}

func (f *fakeHandler) wait(ctx context.Context) {
	if f.gate == nil {
		return
	}
	select {
	case <-f.gate:
	case <-ctx.Done():
	}
}

// waitCalled waits for n handler calls in total.
func (f *fakeHandler) waitCalled(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-f.calledCh:
		case <-time.After(10 * time.Second):
			t.Fatalf("handler was not called %d times", n)
		}
	}
}

func (f *fakeHandler) snapshot() ([]commands.Invocation, []commands.Click) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]commands.Invocation(nil), f.invs...), append([]commands.Click(nil), f.clicks...)
}

// countingMetrics records metric calls.
type countingMetrics struct {
	mu          sync.Mutex
	errors      map[string]int
	rateLimited map[string]int
}

func newCountingMetrics() *countingMetrics {
	return &countingMetrics{errors: map[string]int{}, rateLimited: map[string]int{}}
}

func (m *countingMetrics) APIError(method string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errors[method]++
}

func (m *countingMetrics) RateLimited(method string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rateLimited[method]++
}

func (m *countingMetrics) counts(method string) (errs, limited int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.errors[method], m.rateLimited[method]
}

// failingDedup is a store that is down.
type failingDedup struct{}

func (failingDedup) Claim(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("store unavailable")
}

// harness is an adapter wired to slackfake and served over httptest.
type harness struct {
	fake    *slackfake.Server
	handler *fakeHandler
	adapter *Adapter
	poster  *Poster
	srv     *httptest.Server
}

func fastRetry() RetryOptions {
	return RetryOptions{MaxAttempts: 3, BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MinRetryAfter: time.Millisecond}
}

// newHarness starts everything; run=false leaves the worker pool stopped.
func newHarness(t *testing.T, reply commands.Reply, run bool, tune func(*AdapterConfig)) *harness {
	t.Helper()
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	api := NewClient(slackfake.BotToken, fake.APIURL(), fake.Client())
	h := &harness{fake: fake, handler: newFakeHandler(reply)}
	h.poster = NewPoster(api, PosterOptions{Retry: fastRetry(), Logger: quietLog})
	cfg := AdapterConfig{
		SigningSecret: testSecret, Handler: h.handler, Poster: h.poster, API: api,
		Logger: quietLog, Now: func() time.Time { return testNow },
	}
	if tune != nil {
		tune(&cfg)
	}
	a, err := NewAdapter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.adapter = a
	mux := http.NewServeMux()
	mux.Handle("/slack/commands", a.Commands())
	mux.Handle("/slack/interactions", a.Interactions())
	mux.Handle("/slack/events", a.Events())
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	if run {
		h.run(t)
	}
	return h
}

func (h *harness) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.adapter.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// post sends a signed request as Slack would at testNow (plus skew).
func (h *harness) post(t *testing.T, path, contentType string, body []byte, mutate func(*http.Request)) (int, string) {
	t.Helper()
	req, err := slackfake.SignedRequest(context.Background(), h.srv.URL+path, testSecret, testNow, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(bytes.TrimSpace(b))
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var okReply = commands.Reply{Message: chat.Message{Text: chat.Plain("done"), Header: "Rollback RB-1"}}
