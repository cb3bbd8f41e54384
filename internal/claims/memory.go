// Package claims holds the in-process claim table: "this key is taken
// until then". A replica alone with its work (bolt holds its file's lock;
// a console; tests) uses it instead of a store write per claim: Slack
// request dedup and the alert worker's event claims.
package claims

import (
	"context"
	"sync"
	"time"
)

// Memory is a claim table in this process's memory.
type Memory struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	until     map[string]time.Time // key -> expiry
	lastSweep time.Time
}

// sweepEvery bounds how often expired keys are dropped: sweeping on every
// claim would cost time proportional to an hour of traffic per request.
const sweepEvery = time.Minute

// Claim answers true for the first caller of key until ttl passes (or
// Release).
func (m *Memory) Claim(_ context.Context, key string, ttl time.Duration) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.until == nil {
		m.until = map[string]time.Time{}
	}
	if exp, ok := m.until[key]; ok && now.Before(exp) {
		return false, nil
	}
	// Sweeping now and then keeps the map bounded by what arrived within
	// one ttl (plus a minute).
	if now.Sub(m.lastSweep) >= sweepEvery {
		m.lastSweep = now
		for k, exp := range m.until {
			if !now.Before(exp) {
				delete(m.until, k)
			}
		}
	}
	m.until[key] = now.Add(ttl)
	return true, nil
}

// Release drops key's claim early: the work it guarded is done.
func (m *Memory) Release(key string) {
	m.mu.Lock()
	delete(m.until, key)
	m.mu.Unlock()
}

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}
