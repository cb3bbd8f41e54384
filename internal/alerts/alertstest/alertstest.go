// Package alertstest holds hand-written fakes for testing the alert intake:
// an in-memory store with the inbox, claim, lease and deploy semantics of
// store.Store, a recording Sink and counting Metrics.
package alertstest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// Store is an in-memory fake of the store methods the intake uses. Set Err
// to make every call fail with it (e.g. store.ErrUnavailable).
type Store struct {
	mu      sync.Mutex
	now     func() time.Time
	seq     int64
	events  map[string]store.Event
	order   map[string]int64
	seen    map[string]time.Time // dedup key -> expiry
	claims  map[string]time.Time // claim key -> expiry
	leases  map[string]store.Lease
	token   int64
	deploys []*rollback.Deploy
	Err     error
}

// NewStore returns an empty store; now may be nil for time.Now.
func NewStore(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, events: map[string]store.Event{}, order: map[string]int64{},
		seen: map[string]time.Time{}, claims: map[string]time.Time{}, leases: map[string]store.Lease{}}
}

func (s *Store) fail() error {
	if s.Err != nil {
		return fmt.Errorf("fake store: %w", s.Err)
	}
	return nil
}

// SetErr sets Err under the store's lock.
func (s *Store) SetErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Err = err
}

// EnqueueEvent stores ev unless a dedup key is live; check and write are atomic.
func (s *Store) EnqueueEvent(_ context.Context, ev store.Event, keys []string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail(); err != nil {
		return false, err
	}
	now := s.now()
	for _, k := range keys {
		if exp, ok := s.seen[k]; ok && now.Before(exp) {
			return false, nil
		}
	}
	for _, k := range keys {
		s.seen[k] = now.Add(ttl)
	}
	s.seq++
	s.events[ev.ID] = ev
	s.order[ev.ID] = s.seq
	return true, nil
}

// PendingEvents returns up to limit events, oldest first.
func (s *Store) PendingEvents(_ context.Context, limit int) ([]store.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail(); err != nil {
		return nil, err
	}
	out := make([]store.Event, 0, len(s.events))
	for _, ev := range s.events {
		out = append(out, ev)
	}
	sort.Slice(out, func(i, j int) bool { return s.order[out[i].ID] < s.order[out[j].ID] })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// AckEvent removes an event.
func (s *Store) AckEvent(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail(); err != nil {
		return err
	}
	delete(s.events, id)
	delete(s.order, id)
	return nil
}

// Pending counts unacknowledged events.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// Claim answers true once per key until ttl passes.
func (s *Store) Claim(_ context.Context, key string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail(); err != nil {
		return false, err
	}
	now := s.now()
	if exp, ok := s.claims[key]; ok && now.Before(exp) {
		return false, nil
	}
	s.claims[key] = now.Add(ttl)
	return true, nil
}

// ExpireClaims forgets every claim, as if their TTLs had passed.
func (s *Store) ExpireClaims() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims = map[string]time.Time{}
}

// AcquireLease follows store.Leases.
func (s *Store) AcquireLease(_ context.Context, name, holder string, ttl, grace time.Duration) (store.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail(); err != nil {
		return store.Lease{}, err
	}
	now := s.now()
	l, ok := s.leases[name]
	switch {
	case ok && l.Holder == holder && now.Before(l.Expires):
		l.Expires = now.Add(ttl)
	case ok && now.Before(l.Expires):
		return l, store.ErrLeaseHeld
	case ok && l.Holder != holder && !l.Expires.IsZero() && now.Before(l.Expires.Add(grace)):
		return l, store.ErrLeaseDraining
	default:
		s.token++
		l = store.Lease{Name: name, Holder: holder, Token: s.token, Expires: now.Add(ttl)}
	}
	s.leases[name] = l
	return l, nil
}

// RenewLease follows store.Leases.
func (s *Store) RenewLease(_ context.Context, l store.Lease, ttl time.Duration) (store.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail(); err != nil {
		return store.Lease{}, err
	}
	cur, ok := s.leases[l.Name]
	if !ok || cur.Token != l.Token || cur.Holder != l.Holder {
		return store.Lease{}, store.ErrLeaseLost
	}
	cur.Expires = s.now().Add(ttl)
	s.leases[l.Name] = cur
	return cur, nil
}

// ReleaseLease follows store.Leases.
func (s *Store) ReleaseLease(_ context.Context, l store.Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.leases[l.Name]; ok && cur.Token == l.Token {
		cur.Expires = time.Time{}
		s.leases[l.Name] = cur
	}
	return nil
}

// StealLease hands name to another holder, as another replica would after
// this one's lease expired.
func (s *Store) StealLease(name, holder string, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token++
	s.leases[name] = store.Lease{Name: name, Holder: holder, Token: s.token, Expires: s.now().Add(ttl)}
}

// AddDeploy records a deploy.
func (s *Store) AddDeploy(_ context.Context, d *rollback.Deploy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.ID == "" {
		d.ID = fmt.Sprintf("D%d", len(s.deploys)+1)
	}
	cp := *d
	s.deploys = append(s.deploys, &cp)
	return nil
}

// ListDeploys returns a service's deploys, newest first.
func (s *Store) ListDeploys(_ context.Context, service string, limit int) ([]*rollback.Deploy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail(); err != nil {
		return nil, err
	}
	var out []*rollback.Deploy
	for _, d := range s.deploys {
		if d.Service == service {
			cp := *d
			out = append(out, &cp)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Sink records alerts; set Err to refuse them.
type Sink struct {
	mu     sync.Mutex
	alerts []incident.Alert
	Err    error
}

// OnAlert records a.
func (s *Sink) OnAlert(_ context.Context, a incident.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return s.Err
	}
	s.alerts = append(s.alerts, a)
	return nil
}

// SetErr sets Err under the sink's lock.
func (s *Sink) SetErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Err = err
}

// Alerts returns a copy of what was recorded.
func (s *Sink) Alerts() []incident.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]incident.Alert(nil), s.alerts...)
}

// Metrics counts every call as "method/source/label".
type Metrics struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *Metrics) add(k string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n = map[string]int{}
	}
	m.n[k]++
}

// Get returns one counter, e.g. Get("duplicate/pagerduty").
func (m *Metrics) Get(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[key]
}

func (m *Metrics) Received(src string)         { m.add("received/" + src) }
func (m *Metrics) Duplicate(src string)        { m.add("duplicate/" + src) }
func (m *Metrics) Rejected(src, reason string) { m.add("rejected/" + src + "/" + reason) }
func (m *Metrics) Ignored(src, reason string)  { m.add("ignored/" + src + "/" + reason) }
func (m *Metrics) Processed(src string)        { m.add("processed/" + src) }
func (m *Metrics) Failed(src, stage string)    { m.add("failed/" + src + "/" + stage) }
