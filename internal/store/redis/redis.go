// Package redis implements store.Store on Redis, for running several
// replicas against one state.
//
// Every key lives under Options.Prefix. Multi-key updates run as Lua
// scripts (or WATCH/MULTI for the audit chain), so the package needs a
// single Redis 6.2+ (or a Sentinel-managed primary); scripts build some
// key names at run time, which Redis Cluster would not allow.
//
// Clocks: expiry is decided by the Redis server alone so that replicas
// with skewed clocks agree. Claims and dedup keys use SET ... PX; leases
// store their expiry as server time (TIME inside the scripts), which lets
// GetLease return an expired lease. Options.Now only fills in zero
// timestamps (CreatedAt, At, ReceivedAt) of new records.
//
// Ordering: rollbacks and deploys are listed by time at microsecond
// resolution (the sorted-set score), ties by id descending; filters on
// time are exact.
//
// Errors: anything that means Redis could not be reached or cannot serve
// (network, pool timeout, closed client, LOADING, READONLY, MASTERDOWN,
// OOM, auth) wraps store.ErrUnavailable so callers answer 503.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/store"
)

// DefaultPrefix is used when Options.Prefix is empty.
const DefaultPrefix = "backout:"

// Options configures a Store.
type Options struct {
	URL      string // redis:// or rediss:// URL, e.g. redis://redis:6379/0
	Password string // overrides any password in URL; never logged
	Prefix   string // namespace for every key; DefaultPrefix when empty
	// Now fills in zero timestamps; nil means time.Now. It does not drive
	// expiry (see the package comment).
	Now func() time.Time
	// Hasher chains the audit log; the zero Hasher is unkeyed SHA-256.
	Hasher store.Hasher
}

// Store is a store.Store on Redis.
type Store struct {
	c      *goredis.Client
	prefix string
	now    func() time.Time
	hasher store.Hasher
}

var _ store.Store = (*Store)(nil)

// Open connects and pings; an unreachable server is store.ErrUnavailable.
func Open(ctx context.Context, opts Options) (*Store, error) {
	cfg, err := goredis.ParseURL(opts.URL)
	if err != nil {
		// The URL may hold a password: do not echo it.
		return nil, errors.New("redis: invalid URL (want redis://host:port/db)")
	}
	if opts.Password != "" {
		cfg.Password = opts.Password
	}
	// Fail fast when Redis is gone: callers answer 503 (senders retry) or
	// tell the person, well inside Slack's 3 s, instead of hanging.
	if cfg.DialTimeout == 0 || cfg.DialTimeout > time.Second {
		cfg.DialTimeout = time.Second
	}
	cfg.MaxRetries = 1
	// A frozen Redis (SIGSTOP, a stalled failover) accepts connections and
	// never answers. Without ContextTimeoutEnabled go-redis ignores the
	// caller's deadline on the socket and waits ReadTimeout (3 s) per try,
	// so a webhook or a Slack claim with a 1.5-2 s budget would overrun it.
	// With it, a request path's context.WithTimeout bounds every read,
	// write and wait for a pooled connection. Calls without a deadline of
	// their own (background work) are still cut at ReadTimeout/WriteTimeout.
	cfg.ContextTimeoutEnabled = true
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 3 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 3 * time.Second
	}
	// go-redis logs pool errors to stderr in its own format; every failure
	// already reaches our structured logs through the returned errors.
	goredis.SetLogger(silentLogger{})
	s := &Store{c: goredis.NewClient(cfg), prefix: opts.Prefix, now: opts.Now, hasher: opts.Hasher}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.c.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.c.Close()
		return nil, fmt.Errorf("redis: build indexes: %w", err)
	}
	return s, nil
}

// Ping checks the connection.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.c.Ping(ctx).Err())
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.c.Close() }

// key joins the prefix, a kind and an id. Each kind has its own first
// segment, so ids cannot collide across kinds.
func (s *Store) key(kind string, id ...string) string {
	k := s.prefix + kind
	for _, p := range id {
		k += ":" + p
	}
	return k
}

// wrap names the operation and marks outages as store.ErrUnavailable.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case unavailable(err):
		return fmt.Errorf("redis %s: %w: %w", op, store.ErrUnavailable, err)
	default:
		return fmt.Errorf("redis %s: %w", op, err)
	}
}

func unavailable(err error) bool {
	if errors.Is(err, goredis.Nil) || errors.Is(err, store.ErrUnavailable) {
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, goredis.ErrClosed) || errors.Is(err, goredis.ErrPoolTimeout) || errors.Is(err, goredis.ErrPoolExhausted) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var rerr goredis.Error
	if !errors.As(err, &rerr) {
		return false // ours (encoding) or the caller's (context.Canceled)
	}
	return goredis.IsLoadingError(err) || goredis.IsReadOnlyError(err) || goredis.IsMasterDownError(err) ||
		goredis.IsClusterDownError(err) || goredis.IsTryAgainError(err) || goredis.IsMaxClientsError(err) ||
		goredis.IsOOMError(err) || goredis.IsAuthError(err)
}

// decodeAll decodes JSON strings, skipping nils (keys deleted between an
// index read and the record read).
func decodeAll[T any](vals []any) ([]T, error) {
	out := make([]T, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var x T
		if err := json.Unmarshal([]byte(str), &x); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		out = append(out, x)
	}
	return out, nil
}

// scoreArg is a time as a sorted-set score: microseconds fit a float64
// exactly for the next two centuries.
func scoreArg(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// randomID names events that arrive without an id.
func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "ev-" + hex.EncodeToString(b[:])
}

// silentLogger drops go-redis's internal log lines.
type silentLogger struct{}

func (silentLogger) Printf(context.Context, string, ...interface{}) {}
