package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// Rollbacks are hashes {v: version, json: record}; the version sits beside
// the JSON so the compare-and-set script need not parse it.

// LastID is the rollback counter's current value (0 when the key is
// absent) without allocating one; see the store guard in internal/app.
func (s *Store) LastID(ctx context.Context) (int64, error) {
	n, err := s.c.Get(ctx, s.key("rbseq")).Int64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("last rollback id", err)
	}
	return n, nil
}

// NextID allocates the next rollback number.
func (s *Store) NextID(ctx context.Context) (string, error) {
	n, err := s.c.Incr(ctx, s.key("rbseq")).Result()
	if err != nil {
		return "", wrap("next rollback id", err)
	}
	return store.FormatID(n), nil
}

// CreateRollback stores r with Version 1.
func (s *Store) CreateRollback(ctx context.Context, r *rollback.Record) error {
	if r.ID == "" {
		return errors.New("create rollback: empty id")
	}
	rec := *r
	rec.Version = 1
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = s.now()
	}
	data, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("create rollback %s: %w", r.ID, err)
	}
	pairs, err := s.rollbackIndexPairs(&rec)
	if err != nil {
		return fmt.Errorf("create rollback %s: %w", r.ID, err)
	}
	n, err := createRollback.Run(ctx, s.c, []string{s.key("rb", r.ID)}, data, pairs).Int()
	if err != nil {
		return wrap("create rollback "+r.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("create rollback %s: %w", r.ID, store.ErrExists)
	}
	r.Version, r.CreatedAt = rec.Version, rec.CreatedAt
	return nil
}

// GetRollback reads one rollback.
func (s *Store) GetRollback(ctx context.Context, id string) (*rollback.Record, error) {
	data, err := s.c.HGet(ctx, s.key("rb", id), "json").Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("get rollback %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, wrap("get rollback "+id, err)
	}
	var r rollback.Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("get rollback %s: decode: %w", id, err)
	}
	return &r, nil
}

// UpdateRollback is a compare-and-set on Version.
func (s *Store) UpdateRollback(ctx context.Context, r *rollback.Record) error {
	rec := *r
	rec.Version++
	data, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("update rollback %s: %w", r.ID, err)
	}
	pairs, err := s.rollbackIndexPairs(&rec)
	if err != nil {
		return fmt.Errorf("update rollback %s: %w", r.ID, err)
	}
	n, err := updateRollback.Run(ctx, s.c, []string{s.key("rb", r.ID)},
		strconv.FormatInt(r.Version, 10), strconv.FormatInt(rec.Version, 10), data, pairs).Int()
	switch {
	case err != nil:
		return wrap("update rollback "+r.ID, err)
	case n < 0:
		return fmt.Errorf("update rollback %s: %w", r.ID, store.ErrNotFound)
	case n == 0:
		return fmt.Errorf("update rollback %s: %w", r.ID, store.ErrConflict)
	}
	r.Version = rec.Version
	return nil
}

// AppendSteps appends evs, all or none, unless token is older than the
// rollback's lease. Steps are a list, so a step's seq is its position.
func (s *Store) AppendSteps(ctx context.Context, rollbackID string, token int64, evs ...rollback.StepEvent) ([]rollback.StepEvent, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	out := make([]rollback.StepEvent, len(evs))
	args := make([]any, 0, len(evs)+1)
	args = append(args, token)
	for i, ev := range evs {
		ev.Token, ev.Seq = token, 0
		if ev.At.IsZero() {
			ev.At = s.now()
		}
		data, err := json.Marshal(&ev)
		if err != nil {
			return nil, fmt.Errorf("append steps to %s: %w", rollbackID, err)
		}
		out[i] = ev
		args = append(args, data)
	}
	keys := []string{s.key("lease", store.LeaseName(rollbackID)), s.key("steps", rollbackID)}
	n, err := appendSteps.Run(ctx, s.c, keys, args...).Int64()
	if err != nil {
		return nil, wrap("append steps to "+rollbackID, err)
	}
	if n < 0 {
		return nil, fmt.Errorf("append steps to %s: %w", rollbackID, store.ErrStaleToken)
	}
	for i := range out {
		out[i].Seq = n - int64(len(out)-1-i)
	}
	return out, nil
}

// ListSteps returns a rollback's steps in append order.
func (s *Store) ListSteps(ctx context.Context, rollbackID string) ([]rollback.StepEvent, error) {
	vals, err := s.c.LRange(ctx, s.key("steps", rollbackID), 0, -1).Result()
	if err != nil {
		return nil, wrap("list steps of "+rollbackID, err)
	}
	out := make([]rollback.StepEvent, len(vals))
	for i, v := range vals {
		if err := json.Unmarshal([]byte(v), &out[i]); err != nil {
			return nil, fmt.Errorf("list steps of %s: decode: %w", rollbackID, err)
		}
		out[i].Seq = int64(i + 1)
	}
	return out, nil
}

// PutVote stores v once per rollback, plan and person.
func (s *Store) PutVote(ctx context.Context, v rollback.Vote) (bool, error) {
	if v.At.IsZero() {
		v.At = s.now()
	}
	data, err := json.Marshal(&v)
	if err != nil {
		return false, fmt.Errorf("put vote on %s: %w", v.RollbackID, err)
	}
	keys := []string{s.key("voted", v.RollbackID), s.key("votes", v.RollbackID)}
	n, err := putVote.Run(ctx, s.c, keys, v.PlanHash+"\x00"+v.User, data).Int()
	if err != nil {
		return false, wrap("put vote on "+v.RollbackID, err)
	}
	return n == 1, nil
}

// ListVotes returns a rollback's votes in the order they were cast.
func (s *Store) ListVotes(ctx context.Context, rollbackID string) ([]rollback.Vote, error) {
	vals, err := s.c.LRange(ctx, s.key("votes", rollbackID), 0, -1).Result()
	if err != nil {
		return nil, wrap("list votes of "+rollbackID, err)
	}
	out := make([]rollback.Vote, len(vals))
	for i, v := range vals {
		if err := json.Unmarshal([]byte(v), &out[i]); err != nil {
			return nil, fmt.Errorf("list votes of %s: decode: %w", rollbackID, err)
		}
	}
	return out, nil
}
