package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/store"
)

// ttlMillis turns a positive ttl into PX milliseconds, at least 1.
func ttlMillis(ttl time.Duration) int64 { return max(1, ttl.Milliseconds()) }

// Claim is SET NX PX: the server decides expiry.
func (s *Store) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 || key == "" {
		return false, fmt.Errorf("claim %q: need a key and a positive ttl", key)
	}
	err := s.c.SetArgs(ctx, s.key("claim", key), "1", goredis.SetArgs{Mode: "NX", TTL: time.Duration(ttlMillis(ttl)) * time.Millisecond}).Err()
	if errors.Is(err, goredis.Nil) {
		return false, nil // NX refused: someone holds it
	}
	if err != nil {
		return false, wrap("claim "+key, err)
	}
	return true, nil
}

// EnqueueEvent checks and sets the dedup keys and stores ev in one script.
// An event whose ID is already pending counts as a duplicate.
func (s *Store) EnqueueEvent(ctx context.Context, ev store.Event, dedupKeys []string, ttl time.Duration) (bool, error) {
	if len(dedupKeys) > 0 && ttl <= 0 {
		return false, errors.New("enqueue event: dedup keys need a positive ttl")
	}
	if ev.ID == "" {
		ev.ID = randomID()
	}
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = s.now()
	}
	data, err := json.Marshal(&ev)
	if err != nil {
		return false, fmt.Errorf("enqueue event: %w", err)
	}
	keys := make([]string, 0, 3+len(dedupKeys))
	keys = append(keys, s.key("pending"), s.key("eventdata"), s.key("eventseq"))
	for _, k := range dedupKeys {
		keys = append(keys, s.key("dedup", k))
	}
	n, err := enqueueEvent.Run(ctx, s.c, keys, ev.ID, data, ttlMillis(ttl)).Int()
	if err != nil {
		return false, wrap("enqueue event "+ev.ID, err)
	}
	return n == 1, nil
}

// PendingEvents returns up to limit events in arrival order (limit <= 0: all).
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]store.Event, error) {
	stop := int64(limit) - 1
	if limit <= 0 {
		stop = -1
	}
	ids, err := s.c.ZRange(ctx, s.key("pending"), 0, stop).Result()
	if err != nil {
		return nil, wrap("pending events", err)
	}
	if len(ids) == 0 {
		return []store.Event{}, nil
	}
	vals, err := s.c.HMGet(ctx, s.key("eventdata"), ids...).Result()
	if err != nil {
		return nil, wrap("pending events", err)
	}
	out, err := decodeAll[store.Event](vals)
	if err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	return out, nil
}

// AckEvent removes a processed event; acking an unknown id is a no-op.
func (s *Store) AckEvent(ctx context.Context, id string) error {
	_, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZRem(ctx, s.key("pending"), id)
		p.HDel(ctx, s.key("eventdata"), id)
		return nil
	})
	return wrap("ack event "+id, err)
}

// AcquireLease grants or renews name for holder; see store.Leases. A lease
// that expired gets a new, higher token even for the same holder.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl, grace time.Duration) (store.Lease, error) {
	if name == "" || holder == "" || ttl <= 0 || grace < 0 {
		return store.Lease{}, fmt.Errorf("acquire lease %q: need a name, a holder, a positive ttl and a grace of 0 or more", name)
	}
	res, err := acquireLease.Run(ctx, s.c, []string{s.key("lease", name)}, holder, ttlMillis(ttl), grace.Milliseconds()).Slice()
	if err != nil {
		return store.Lease{}, wrap("acquire lease "+name, err)
	}
	if granted, _ := res[0].(int64); granted == 1 && len(res) == 3 {
		token, _ := res[1].(int64)
		exp, _ := res[2].(int64)
		return store.Lease{Name: name, Holder: holder, Token: token, Expires: time.UnixMilli(exp).UTC(), Grace: time.Duration(grace.Milliseconds()) * time.Millisecond}, nil
	}
	if len(res) != 6 {
		return store.Lease{}, fmt.Errorf("acquire lease %s: unexpected script answer %v", name, res)
	}
	draining, _ := res[1].(int64)
	token, _ := res[2].(int64)
	exp, _ := res[3].(int64)
	other, _ := res[4].(string)
	otherGrace, _ := res[5].(int64)
	cur := store.Lease{Name: name, Holder: other, Token: token, Expires: time.UnixMilli(exp).UTC(), Grace: time.Duration(otherGrace) * time.Millisecond}
	if draining == 1 {
		return cur, fmt.Errorf("acquire lease %s: %w", name, store.ErrLeaseDraining)
	}
	return cur, fmt.Errorf("acquire lease %s: %w", name, store.ErrLeaseHeld)
}

// RenewLease extends l while nobody else has taken it (even if it expired
// meanwhile: its token is still the newest, so fencing stays sound).
func (s *Store) RenewLease(ctx context.Context, l store.Lease, ttl time.Duration) (store.Lease, error) {
	if ttl <= 0 || l.Holder == "" {
		return store.Lease{}, fmt.Errorf("renew lease %q: need a holder and a positive ttl", l.Name)
	}
	res, err := renewLease.Run(ctx, s.c, []string{s.key("lease", l.Name)}, l.Holder, strconv.FormatInt(l.Token, 10), ttlMillis(ttl)).Int64Slice()
	if err != nil {
		return store.Lease{}, wrap("renew lease "+l.Name, err)
	}
	if res[0] == 0 {
		return store.Lease{}, fmt.Errorf("renew lease %s: %w", l.Name, store.ErrLeaseLost)
	}
	l.Expires = time.UnixMilli(res[1]).UTC()
	return l, nil
}

// ReleaseLease gives l up; ErrLeaseLost (and no change) when someone else
// holds it now. Releasing twice is fine.
func (s *Store) ReleaseLease(ctx context.Context, l store.Lease) error {
	if l.Holder == "" {
		return fmt.Errorf("release lease %s: %w", l.Name, store.ErrLeaseLost)
	}
	n, err := releaseLease.Run(ctx, s.c, []string{s.key("lease", l.Name)}, l.Holder, strconv.FormatInt(l.Token, 10)).Int()
	if err != nil {
		return wrap("release lease "+l.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("release lease %s: %w", l.Name, store.ErrLeaseLost)
	}
	return nil
}

// GetLease returns the lease as last granted; a released lease shows as
// expired at the moment of release.
func (s *Store) GetLease(ctx context.Context, name string) (store.Lease, error) {
	vals, err := s.c.HMGet(ctx, s.key("lease", name), "holder", "token", "exp", "grace").Result()
	if err != nil {
		return store.Lease{}, wrap("get lease "+name, err)
	}
	holder, _ := vals[0].(string)
	if holder == "" {
		return store.Lease{}, fmt.Errorf("get lease %s: %w", name, store.ErrNotFound)
	}
	tok, _ := vals[1].(string)
	exp, _ := vals[2].(string)
	token, err1 := strconv.ParseInt(tok, 10, 64)
	expMs, err2 := strconv.ParseInt(exp, 10, 64)
	var graceMs int64
	var err3 error
	if g, _ := vals[3].(string); g != "" { // absent in grants written before the field existed
		graceMs, err3 = strconv.ParseInt(g, 10, 64)
	}
	if err := errors.Join(err1, err2, err3); err != nil {
		return store.Lease{}, fmt.Errorf("get lease %s: corrupt record: %w", name, err)
	}
	return store.Lease{Name: name, Holder: holder, Token: token, Expires: time.UnixMilli(expMs).UTC(), Grace: time.Duration(graceMs) * time.Millisecond}, nil
}
