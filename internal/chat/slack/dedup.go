package slack

import (
	"context"
	"sync"
	"time"
)

// Dedup claims work so that it happens once even when Slack retries, a
// request is replayed, or several replicas receive it. The store implements
// it; an error means the store is down and the request is refused (503) so
// that Slack retries later.
type Dedup interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// MemoryDedup is an in-process Dedup for a single replica and for tests.
type MemoryDedup struct {
	mu        sync.Mutex
	now       func() time.Time
	seen      map[string]time.Time // key -> expiry
	lastSweep time.Time
}

// sweepEvery bounds how often expired keys are dropped: sweeping on every
// claim would cost time proportional to an hour of traffic per request.
const sweepEvery = time.Minute

// NewMemoryDedup returns an empty MemoryDedup.
func NewMemoryDedup() *MemoryDedup {
	return &MemoryDedup{now: time.Now, seen: map[string]time.Time{}}
}

// Claim answers true for the first caller of key until ttl passes.
func (m *MemoryDedup) Claim(_ context.Context, key string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if exp, ok := m.seen[key]; ok && now.Before(exp) {
		return false, nil
	}
	// Sweeping now and then keeps the map bounded by what arrived within
	// one ttl (plus a minute).
	if now.Sub(m.lastSweep) >= sweepEvery {
		m.lastSweep = now
		for k, exp := range m.seen {
			if !now.Before(exp) {
				delete(m.seen, k)
			}
		}
	}
	m.seen[key] = now.Add(ttl)
	return true, nil
}
