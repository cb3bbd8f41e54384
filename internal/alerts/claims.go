package alerts

import (
	"context"
	"sync"
	"time"
)

// LocalClaims is a Claimer in this process's memory, for a store that only
// one process can write (bolt holds a lock on its file): no other replica
// can take an event, so a claim only keeps this worker from retrying an
// event before its cool-down, and costs no store write. Claims are lost on
// a restart, which only makes a failed event's retry come sooner.
type LocalClaims struct {
	Now func() time.Time // default time.Now

	mu     sync.Mutex
	until  map[string]time.Time
	sweeps int // claims since the last sweep of expired ones
}

// sweepEvery bounds the expired claims kept: one full sweep per this many.
const sweepEvery = 4096

// Claim takes key for ttl unless a live claim holds it.
func (c *LocalClaims) Claim(_ context.Context, key string, ttl time.Duration) (bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.until == nil {
		c.until = map[string]time.Time{}
	}
	if c.sweeps++; c.sweeps >= sweepEvery {
		c.sweeps = 0
		for k, u := range c.until {
			if !u.After(now) {
				delete(c.until, k)
			}
		}
	}
	if u, ok := c.until[key]; ok && u.After(now) {
		return false, nil
	}
	c.until[key] = now.Add(ttl)
	return true, nil
}

// Release drops key's claim: the worker calls it once an event is
// acknowledged, when nothing is left to guard.
func (c *LocalClaims) Release(key string) {
	c.mu.Lock()
	delete(c.until, key)
	c.mu.Unlock()
}

func (c *LocalClaims) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// releaser is a Claimer whose claims can be dropped early (LocalClaims).
type releaser interface {
	Release(key string)
}

// Len is how many claims are kept, expired ones not yet swept included.
func (c *LocalClaims) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.until)
}
