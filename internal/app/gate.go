package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/commands"
	"github.com/backout/backout/internal/store"
)

// guardedHandler refuses every command and click once the store is lost,
// before the dispatcher touches the store: the lifecycle would otherwise
// act on an empty store (a proposal numbered RB-1 again, a vote on a
// rollback it no longer knows).
type guardedHandler struct {
	next  commands.Handler
	guard *StoreGuard
}

func (h guardedHandler) Command(ctx context.Context, inv commands.Invocation) commands.Reply {
	if err := h.guard.Gate(ctx); err != nil {
		return lostReply(err)
	}
	return h.next.Command(ctx, inv)
}

func (h guardedHandler) Click(ctx context.Context, c commands.Click) commands.Reply {
	if err := h.guard.Gate(ctx); err != nil {
		return lostReply(err)
	}
	return h.next.Click(ctx, c)
}

func lostReply(err error) commands.Reply {
	return commands.Reply{Ephemeral: true, Message: chat.TextMessage(chat.Plain(
		"⚠️ " + err.Error() + ". Nothing was done: Backout stopped acting until an operator restores the store or restarts Backout."))}
}

// Deadlines of the HTTP request paths: every store call a request makes,
// the guard's check included, shares its route's deadline, so a store that
// hangs costs a bounded wait and an answer the caller can act on.
const (
	// webhookDeadline: a delivery is answered (202 after the durable
	// enqueue, or 503 with Retry-After) within it, under the 2 s the
	// senders are promised; alerts.EnqueueTimeout bounds the enqueue alone.
	webhookDeadline = alerts.EnqueueTimeout
	// apiDeadline: under apiclient's 30 s and the server's write timeout,
	// so CI reads "state store unavailable; retry" instead of a cut
	// connection. Reads of a large history take a second or two today.
	apiDeadline = 10 * time.Second
	// guardCheckTimeout leaves most of a webhook's deadline to the enqueue
	// when the guard's own reads hang (an outage is not a loss: the request
	// goes on and its store call answers for the outage).
	guardCheckTimeout = 500 * time.Millisecond
)

// guardHTTP answers 503 on the API and the webhooks once the store is lost,
// naming the loss, so CI and PagerDuty retry later instead of writing into
// an empty store, and puts each such request under its route's deadline.
// Slack's endpoints pass: their claim has its own deadline (slack's
// claimTimeout) and their answer is the ephemeral reply from
// guardedHandler. Health and metrics pass.
func guardHTTP(next http.Handler, guard *StoreGuard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var deadline time.Duration
		switch {
		case strings.HasPrefix(r.URL.Path, "/webhooks/"):
			deadline = webhookDeadline
		case strings.HasPrefix(r.URL.Path, "/api/"):
			deadline = apiDeadline
		default:
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), deadline)
		defer cancel()
		if err := gateWithin(ctx, guard); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// gateWithin asks the guard with guardCheckTimeout of ctx's deadline. Most
// requests find the last check fresh and need no timer: under a webhook
// storm the contexts were 5 % of intake's CPU.
func gateWithin(ctx context.Context, guard *StoreGuard) error {
	if lost, fresh := guard.known(); fresh {
		return lost
	}
	ctx, cancel := context.WithTimeout(ctx, guardCheckTimeout)
	defer cancel()
	return guard.Gate(ctx)
}

// Readiness probe timing: a success is trusted for a few seconds so
// /readyz polled by many probes writes rarely; a failure is probed afresh
// each second so recovery shows quickly.
const (
	probeOKFor   = 5 * time.Second
	probeFailFor = time.Second
	probeTTL     = time.Minute
)

// storeProbe tells whether the store takes writes: a ping only proves the
// file is open (bolt) or the socket answers (Redis), while a full disk, a
// read-only remount or a Redis out of memory refuse every write. The probe
// is a claim on a fresh key with a short ttl, the smallest write both
// stores have; expired probe keys are purged by later claims.
type storeProbe struct {
	st  store.Store
	log *slog.Logger

	mu   sync.Mutex
	last time.Time
	err  error
	n    int64
}

func (p *storeProbe) check(ctx context.Context) error {
	// The ping is cheap and answers every time, so an outage shows at once;
	// only the write is throttled.
	if err := p.st.Ping(ctx); err != nil {
		p.log.Warn("readiness: store unreachable", "err", err)
		return errors.New("store unreachable")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ttl := probeOKFor
	if p.err != nil {
		ttl = probeFailFor
	}
	if !p.last.IsZero() && time.Since(p.last) < ttl {
		return p.err
	}
	p.n++
	p.last, p.err = time.Now(), p.write(ctx)
	return p.err
}

// write answers without the store's address or file: /readyz is often
// reachable by a load balancer or anyone, and the details go to the log.
func (p *storeProbe) write(ctx context.Context) error {
	key := fmt.Sprintf("readyz:%d:%d", time.Now().UnixNano(), p.n)
	if _, err := p.st.Claim(ctx, key, probeTTL); err != nil {
		p.log.Warn("readiness: store refuses writes", "err", err)
		if errors.Is(err, store.ErrUnavailable) {
			return errors.New("store unavailable: writes fail")
		}
		return errors.New("store write failed")
	}
	return nil
}
