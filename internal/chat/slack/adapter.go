package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/commands"
)

// Source is the Invocation/Click source for everything from Slack.
const Source = "slack"

// AdapterConfig wires the inbound side. Handler, Poster and API are
// required; zero values elsewhere take the defaults noted.
type AdapterConfig struct {
	// SigningSecret verifies HTTP requests. Empty refuses every HTTP request
	// (Socket Mode needs none).
	SigningSecret string
	Handler       commands.Handler
	// Poster delivers click and mention replies (normally *Poster).
	Poster chat.Poster
	// API opens reason modals and is the base for Socket Mode (its URL and
	// bot token are reused).
	API *slackgo.Client
	// Dedup claims requests; nil means an in-process MemoryDedup.
	Dedup   Dedup
	Metrics Metrics
	Logger  *slog.Logger
	// HTTPClient posts to response_url; nil means a 10 s timeout client.
	HTTPClient *http.Client
	// Command is the slash command name, dropped when repeated after a
	// mention ("@backout /rollback status"); default "/rollback".
	Command string

	Workers      int           // default 4
	QueueSize    int           // default 64; full => 503
	MaxBody      int64         // default 64 KiB; larger => 413
	ClaimTTL     time.Duration // default 1 h: outlasts Slack's retries and the ±5 min replay window
	JobTimeout   time.Duration // default 2 min per command or click
	DrainTimeout time.Duration // default 10 s at shutdown
	// Now is the clock for signature windows; nil means time.Now.
	Now func() time.Time
}

// Adapter serves Slack's inbound traffic. Create it with NewAdapter, mount
// Commands, Interactions and Events, and call Run.
type Adapter struct {
	cfg     AdapterConfig
	log     *slog.Logger
	metrics Metrics
	pool    *pool
	running atomic.Bool
}

// NewAdapter checks cfg and fills defaults.
func NewAdapter(cfg AdapterConfig) (*Adapter, error) {
	if cfg.Handler == nil || cfg.Poster == nil || cfg.API == nil {
		return nil, errors.New("slack adapter: Handler, Poster and API are required")
	}
	if cfg.Dedup == nil {
		cfg.Dedup = NewMemoryDedup()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Command == "" {
		cfg.Command = "/rollback"
	}
	setDefault(&cfg.Workers, 4)
	setDefault(&cfg.QueueSize, 64)
	setDefault(&cfg.MaxBody, 64<<10)
	setDefault(&cfg.ClaimTTL, time.Hour)
	setDefault(&cfg.JobTimeout, 2*time.Minute)
	setDefault(&cfg.DrainTimeout, 10*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Adapter{
		cfg:     cfg,
		log:     cfg.Logger,
		metrics: metricsOrNop(cfg.Metrics),
		pool:    newPool(cfg.QueueSize, cfg.Logger),
	}, nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Run works the queue until ctx ends, then finishes accepted work (bounded
// by DrainTimeout) and returns. Requests arriving after ctx ends get 503.
func (a *Adapter) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("slack adapter: Run called twice")
	}
	a.pool.run(ctx, a.cfg.Workers, a.cfg.JobTimeout, a.cfg.DrainTimeout)
	return nil
}

// work is what one inbound request asks for: an immediate answer, and
// zero or more jobs, each guarded by its own claim key.
type work struct {
	// ack is the body to answer with (nil: empty), JSON when set.
	ack   any
	items []item
	// unavailable, when set, is answered (200) instead of 503 when the
	// store is down: Slack does not retry slash commands, so the person
	// should read why nothing happened rather than a generic failure.
	unavailable any
	// refuseReplay answers 401 when every item was already claimed and the
	// request is not a Slack retry. Slack never retries a slash command, so
	// identical bytes again are a replay; interactions may be retried
	// without a retry header, so a duplicate click is just acknowledged.
	refuseReplay bool
	// responseURL, when Slack gave one (slash commands, block_actions), is
	// where a refusal is explained after an immediate acknowledgement.
	responseURL string
}

type item struct {
	key    string
	run    job
	urgent bool // runs ahead of queued work (see pool.submitUrgent)
}

// acceptError says why accepted work could not be queued; all are worth a
// retry from Slack.
type acceptError struct{ err error }

func (e *acceptError) Error() string { return e.err.Error() }
func (e *acceptError) Unwrap() error { return e.err }

// accept claims and queues each item. wait chooses between refusing at once
// when the queue is full (HTTP: Slack retries a 503) and waiting for room
// (Socket Mode: the envelope is already acknowledged).
// It reports how many items were duplicates (already claimed).
func (a *Adapter) accept(ctx context.Context, w work, wait bool) (int, error) {
	dups := 0
	for _, it := range w.items {
		var err error
		if wait {
			err = a.pool.reserve(ctx)
		} else {
			err = a.pool.tryReserve()
		}
		if err != nil {
			return dups, &acceptError{err}
		}
		// Bound the claim so a store that hangs cannot overrun Slack's 3 s.
		claimCtx, cancel := context.WithTimeout(ctx, claimTimeout)
		ok, err := a.cfg.Dedup.Claim(claimCtx, it.key, a.cfg.ClaimTTL)
		cancel()
		if err != nil {
			a.pool.release()
			return dups, &acceptError{fmt.Errorf("claiming %s: %w", it.key, err)}
		}
		if !ok {
			a.pool.release()
			dups++
			a.log.Debug("slack: duplicate delivery ignored", "key", it.key)
			continue
		}
		if it.urgent {
			a.pool.submitUrgent(it.run)
		} else {
			a.pool.submit(it.run)
		}
	}
	return dups, nil
}

// claimTimeout bounds one dedup claim: the synchronous part of a Slack
// request, whose acknowledgement Slack waits 3 s for (network included).
const claimTimeout = 2 * time.Second

// deliver shows a reply from the handler: ephemeral to the person, or in
// the thread of the message they acted on.
func (a *Adapter) deliver(ctx context.Context, r commands.Reply, channel, user, thread string) {
	if r.Ignore {
		return
	}
	var err error
	if r.Ephemeral {
		err = a.cfg.Poster.Ephemeral(ctx, channel, user, r.Message)
	} else {
		_, err = a.cfg.Poster.Post(ctx, chat.Ref{Channel: channel, Thread: thread}, r.Message)
	}
	if err != nil {
		a.log.Error("slack: delivering reply failed", "channel", channel, "user", user, "err", err)
	}
}
