package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/backout/backout/internal/store"
)

// purgeMax bounds how many expired keys one write removes, so cleaning up
// after a burst never makes a single webhook slow.
const purgeMax = 64

// ttlSet is a set of keys that expire: keys maps key -> expiry and exp
// indexes expiry|key so expired keys are found without a full scan.
type ttlSet struct{ keys, exp []byte }

var claimSet = ttlSet{bClaims, bClaimsExp}

func (t ttlSet) live(tx *bbolt.Tx, key string, now time.Time) bool {
	v := tx.Bucket(t.keys).Get([]byte(key))
	return v != nil && int64(binary.BigEndian.Uint64(v)) > now.UnixNano()
}

func (t ttlSet) set(tx *bbolt.Tx, key string, until time.Time) error {
	keys, exp := tx.Bucket(t.keys), tx.Bucket(t.exp)
	if old := keys.Get([]byte(key)); old != nil {
		if err := exp.Delete(append(bytes.Clone(old), key...)); err != nil {
			return err
		}
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(until.UnixNano()))
	if err := keys.Put([]byte(key), v); err != nil {
		return err
	}
	return exp.Put(append(v, key...), []byte{})
}

// purge lazily removes up to purgeMax keys that expired before now.
func (t ttlSet) purge(tx *bbolt.Tx, now time.Time) error {
	keys, exp := tx.Bucket(t.keys), tx.Bucket(t.exp)
	var dead [][]byte
	c := exp.Cursor()
	for k, _ := c.First(); k != nil && len(dead) < purgeMax; k, _ = c.Next() {
		if int64(binary.BigEndian.Uint64(k)) > now.UnixNano() {
			break
		}
		dead = append(dead, bytes.Clone(k))
	}
	// Deleting under a live cursor skips entries, so delete afterwards.
	for _, k := range dead {
		if err := exp.Delete(k); err != nil {
			return err
		}
		if err := keys.Delete(k[8:]); err != nil {
			return err
		}
	}
	return nil
}

// Claim marks key as taken for ttl; only the first caller gets true.
func (s *Store) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 || key == "" {
		return false, fmt.Errorf("claim %q: need a key and a positive ttl", key)
	}
	var won bool
	err := s.batch(ctx, func(tx *bbolt.Tx) error {
		won = false
		now := s.now()
		if err := claimSet.purge(tx, now); err != nil {
			return err
		}
		if claimSet.live(tx, key, now) {
			return nil
		}
		won = true
		return claimSet.set(tx, key, now.Add(ttl))
	})
	if err != nil {
		return false, fmt.Errorf("claim %q: %w", key, err)
	}
	return won, nil
}

// EnqueueEvent checks every dedup key and the id against bolt and the
// intake journal, appends ev to the journal and returns once a group
// fdatasync covers it; the mover applies it to the inbox later (see journal).
// An event whose ID is already pending counts as a duplicate.
func (s *Store) EnqueueEvent(ctx context.Context, ev store.Event, dedupKeys []string, ttl time.Duration) (bool, error) {
	if len(dedupKeys) > 0 && ttl <= 0 {
		return false, errors.New("enqueue event: dedup keys need a positive ttl")
	}
	if s.journal == nil {
		return false, errors.New("enqueue event: the state file is open read-only")
	}
	if ev.ID == "" {
		ev.ID = randomID()
	}
	now := s.now()
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = now
	}
	rec := journalRecord{ID: ev.ID, Keys: dedupKeys, Event: ev}
	if len(dedupKeys) > 0 {
		rec.Until = now.Add(ttl).UnixNano()
	}
	stored, err := s.journal.enqueue(ctx, rec, now.UnixNano(), func() (bool, error) {
		return s.seen(ctx, ev.ID)
	})
	if err != nil {
		return false, fmt.Errorf("enqueue event %s: %w", ev.ID, mapErr(err))
	}
	return stored, nil
}

// PendingEvents returns up to limit events in arrival order (limit <= 0:
// all): those in bolt's inbox, then those only in the intake journal.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]store.Event, error) {
	var journaled []store.Event
	if s.journal != nil {
		if err := s.journal.moveIfDue(ctx); err != nil {
			return nil, fmt.Errorf("pending events: %w", mapErr(err))
		}
		if err := s.purgeDedupIfDue(ctx); err != nil {
			return nil, fmt.Errorf("pending events: %w", err)
		}
		// Read before bolt: an event a move stores in between is then
		// found twice (and kept once), never missed.
		journaled = s.journal.pending(limit)
	}
	out, err := s.inboxEvents(ctx, limit)
	if err != nil {
		return nil, err
	}
	return appendJournaled(out, journaled, limit), nil
}

// appendJournaled appends the journal's events missing from out, up to limit.
func appendJournaled(out, journaled []store.Event, limit int) []store.Event {
	if len(journaled) == 0 {
		return out
	}
	inBolt := make(map[string]bool, len(out))
	for _, ev := range out {
		inBolt[ev.ID] = true
	}
	for _, ev := range journaled {
		if limit > 0 && len(out) >= limit {
			break
		}
		if !inBolt[ev.ID] {
			out = append(out, ev)
		}
	}
	return out
}

// inboxEvents reads up to limit events from bolt's inbox (none when it is
// known to be empty: the worker acknowledges what the journal hands it
// before it gets there).
func (s *Store) inboxEvents(ctx context.Context, limit int) ([]store.Event, error) {
	out := []store.Event{}
	gen, empty := s.inbox.known()
	if empty {
		return out, nil
	}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var ev store.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("decode event: %w", err)
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	if len(out) == 0 {
		s.inbox.sawEmpty(gen)
	}
	return out, nil
}

// AckEvent removes a processed event; acking an unknown id is a no-op so
// two workers acking the same event both succeed.
//
// Acks are batched: a worker acks a whole batch of events concurrently and
// they share one commit. The closure has no output, so rerunning it is safe.
func (s *Store) AckEvent(ctx context.Context, id string) error {
	if s.journal != nil && s.journal.ack(id) {
		return nil // it was only in the journal: a move will not store it
	}
	err := s.batch(ctx, func(tx *bbolt.Tx) error {
		ids := tx.Bucket(bEventIDs)
		seq := ids.Get([]byte(id))
		if seq == nil {
			return nil
		}
		if err := tx.Bucket(bEvents).Delete(seq); err != nil {
			return err
		}
		return ids.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("ack event %s: %w", id, err)
	}
	return nil
}

// leaseRecord is a lease as stored. Token is also the per-name counter:
// the record outlives releases so tokens only grow.
type leaseRecord struct {
	store.Lease
	Released bool `json:"released,omitempty"`
}

func (r leaseRecord) live(now time.Time) bool {
	return r.Holder != "" && !r.Released && now.Before(r.Expires)
}

// modifyLease runs fn on the named lease record inside a write transaction
// and stores the result when fn succeeds; when fn fails, it returns the
// record as fn left it.
func (s *Store) modifyLease(ctx context.Context, name string, fn func(r *leaseRecord, now time.Time) error) (store.Lease, error) {
	var out store.Lease
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bLeases)
		var r leaseRecord
		if err := getJSON(b, []byte(name), &r); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		r.Name = name
		if err := fn(&r, s.now()); err != nil {
			out = r.Lease // the grant that refused, for the caller to name
			return err
		}
		out = r.Lease
		return putJSON(b, []byte(name), &r)
	})
	return out, err
}

// AcquireLease grants or renews name for holder; see store.Leases.
// A lease that expired gets a new, higher token even for the same holder.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl, grace time.Duration) (store.Lease, error) {
	if name == "" || holder == "" || ttl <= 0 || grace < 0 {
		return store.Lease{}, fmt.Errorf("acquire lease %q: need a name, a holder, a positive ttl and a grace of 0 or more", name)
	}
	l, err := s.modifyLease(ctx, name, func(r *leaseRecord, now time.Time) error {
		switch {
		case r.Holder == holder || r.Holder == "" || r.Released:
		case r.live(now):
			return store.ErrLeaseHeld
		case now.Before(r.Expires.Add(max(grace, r.Grace))):
			// The holder's own grace counts too: its steps obey it.
			return store.ErrLeaseDraining
		}
		if !r.live(now) {
			r.Token++
			r.Holder = holder
		}
		r.Released = false
		r.Expires, r.Grace = now.Add(ttl), grace
		return nil
	})
	if err != nil {
		return l, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return l, nil
}

// RenewLease extends l while nobody else has taken it (even if it expired
// meanwhile: its token is still the newest, so fencing stays sound).
func (s *Store) RenewLease(ctx context.Context, l store.Lease, ttl time.Duration) (store.Lease, error) {
	if ttl <= 0 {
		return store.Lease{}, fmt.Errorf("renew lease %q: need a positive ttl", l.Name)
	}
	out, err := s.modifyLease(ctx, l.Name, func(r *leaseRecord, now time.Time) error {
		if r.Holder == "" || r.Released || r.Token != l.Token || r.Holder != l.Holder {
			return store.ErrLeaseLost
		}
		r.Expires = now.Add(ttl)
		return nil
	})
	if err != nil {
		return store.Lease{}, fmt.Errorf("renew lease %s: %w", l.Name, err)
	}
	return out, nil
}

// ReleaseLease gives l up; ErrLeaseLost (and no change) when someone else
// holds it now. Releasing twice is fine.
func (s *Store) ReleaseLease(ctx context.Context, l store.Lease) error {
	_, err := s.modifyLease(ctx, l.Name, func(r *leaseRecord, now time.Time) error {
		if r.Holder == "" || r.Token != l.Token || r.Holder != l.Holder {
			return store.ErrLeaseLost
		}
		if !r.Released {
			r.Released, r.Expires = true, now
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.Name, err)
	}
	return nil
}

// GetLease returns the lease as last granted; a released lease shows as
// expired at the moment of release.
func (s *Store) GetLease(ctx context.Context, name string) (store.Lease, error) {
	var r leaseRecord
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return getJSON(tx.Bucket(bLeases), []byte(name), &r)
	})
	if err != nil {
		return store.Lease{}, fmt.Errorf("get lease %s: %w", name, err)
	}
	return r.Lease, nil
}

// seen reports, without writing, whether an event id is in bolt's inbox.
// Dedup keys are the journal's to answer, from memory (see dedup.go). When
// the inbox is known empty no read is needed: a move that fills it bumps
// the inbox's generation before the journal's move count, so a caller that
// finds the move count changed asks again and reads.
func (s *Store) seen(ctx context.Context, id string) (bool, error) {
	if _, empty := s.inbox.known(); empty {
		return false, nil
	}
	dup := false
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		dup = tx.Bucket(bEventIDs).Get([]byte(id)) != nil
		return nil
	})
	return dup, err
}
