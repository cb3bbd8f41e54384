package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// Deploys are hashes {svc, json} indexed per service by a sorted set.

// AddDeploy stores a new deploy; an empty ID gets a generated one
// (D-<n>), an ID already stored is ErrExists.
func (s *Store) AddDeploy(ctx context.Context, d *rollback.Deploy) error {
	if d.Service == "" {
		return errors.New("add deploy: empty service")
	}
	rec := *d
	if rec.At.IsZero() {
		rec.At = s.now()
	}
	if rec.ID == "" {
		n, err := s.c.Incr(ctx, s.key("depseq")).Result()
		if err != nil {
			return wrap("add deploy", err)
		}
		rec.ID = fmt.Sprintf("D-%d", n)
	}
	data, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("add deploy %s: %w", rec.ID, err)
	}
	keys := []string{s.key("dep", rec.ID), s.key("depsvc", rec.Service)}
	n, err := addDeploy.Run(ctx, s.c, keys, data, scoreArg(rec.At), rec.ID, rec.Service).Int()
	if err != nil {
		return wrap("add deploy "+rec.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("add deploy %s: %w", rec.ID, store.ErrExists)
	}
	d.ID, d.At = rec.ID, rec.At
	return nil
}

// GetDeploy reads one deploy.
func (s *Store) GetDeploy(ctx context.Context, id string) (*rollback.Deploy, error) {
	data, err := s.c.HGet(ctx, s.key("dep", id), "json").Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("get deploy %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, wrap("get deploy "+id, err)
	}
	var d rollback.Deploy
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("get deploy %s: decode: %w", id, err)
	}
	return &d, nil
}

// PutDeploy replaces an existing deploy (ErrNotFound otherwise).
func (s *Store) PutDeploy(ctx context.Context, d *rollback.Deploy) error {
	if d.Service == "" {
		return errors.New("put deploy: empty service")
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("put deploy %s: %w", d.ID, err)
	}
	keys := []string{s.key("dep", d.ID), s.key("depsvc", d.Service)}
	n, err := putDeploy.Run(ctx, s.c, keys, data, scoreArg(d.At), d.ID, d.Service, s.key("depsvc")+":").Int()
	if err != nil {
		return wrap("put deploy "+d.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("put deploy %s: %w", d.ID, store.ErrNotFound)
	}
	return nil
}

// ListDeploys returns a service's deploys, newest first.
func (s *Store) ListDeploys(ctx context.Context, service string, limit int) ([]*rollback.Deploy, error) {
	stop := int64(limit) - 1
	if limit <= 0 {
		stop = -1
	}
	ids, err := s.c.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: s.key("depsvc", service), Start: 0, Stop: stop, Rev: true}).Result()
	if err != nil {
		return nil, wrap("list deploys of "+service, err)
	}
	cmds := make([]*goredis.StringCmd, len(ids))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, s.key("dep", id), "json")
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, wrap("list deploys of "+service, err)
	}
	out := make([]*rollback.Deploy, 0, len(ids))
	for _, cmd := range cmds {
		data, err := cmd.Bytes()
		if err != nil {
			continue // gone since the index was read
		}
		var d rollback.Deploy
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("list deploys of %s: decode: %w", service, err)
		}
		out = append(out, &d)
	}
	return out, nil
}

// PageDeploys walks a service's deploy index (scored by time) newest first
// between the query's bounds. Members that share a microsecond sort by id,
// like every other index, so the walk skips what lies at or above the
// upper bound and counts its way through a run of equal scores.
func (s *Store) PageDeploys(ctx context.Context, q store.DeployQuery) ([]*rollback.Deploy, error) {
	out := []*rollback.Deploy{}
	upper, lower := q.Bounds()
	by := goredis.ZRangeArgs{Key: s.key("depsvc", q.Service), Start: "+inf", Stop: "-inf", ByScore: true, Rev: true, Count: walkChunk}
	if upper != "\xff" {
		p, err := store.ParseSortKey(upper)
		if err != nil {
			return nil, fmt.Errorf("page deploys of %s: %w", q.Service, err)
		}
		by.Start = strconv.FormatInt(p.Micro, 10)
	}
	if lower != "" {
		by.Stop = scoreArg(q.Since)
	}
	for {
		zs, err := s.c.ZRangeArgsWithScores(ctx, by).Result()
		if err != nil {
			return nil, wrap("page deploys of "+q.Service, err)
		}
		var ids []string
		for _, z := range zs {
			id, _ := z.Member.(string)
			if (store.Position{Micro: int64(z.Score), ID: id}).SortKey() < upper {
				ids = append(ids, id)
			}
		}
		if done, err := s.appendDeploys(ctx, q, ids, &out); err != nil || done || len(zs) < walkChunk {
			return out, err
		}
		last := zs[len(zs)-1].Score
		if by.Start == strconv.FormatFloat(last, 'f', 0, 64) {
			by.Offset += int64(len(zs))
			continue
		}
		by.Start, by.Offset = strconv.FormatFloat(last, 'f', 0, 64), 0
		for _, z := range zs {
			if z.Score == last {
				by.Offset++
			}
		}
	}
}

// appendDeploys reads ids' deploys and appends the matches; it reports
// whether the page is full.
func (s *Store) appendDeploys(ctx context.Context, q store.DeployQuery, ids []string, out *[]*rollback.Deploy) (bool, error) {
	vals, err := s.hgetJSON(ctx, "dep", ids)
	if err != nil {
		return false, wrap("page deploys of "+q.Service, err)
	}
	for _, data := range vals {
		if data == nil {
			continue
		}
		var d rollback.Deploy
		if err := json.Unmarshal(data, &d); err != nil {
			return false, fmt.Errorf("page deploys of %s: decode: %w", q.Service, err)
		}
		if q.Match(&d) {
			*out = append(*out, &d)
			if q.Limit > 0 && len(*out) == q.Limit {
				return true, nil
			}
		}
	}
	return false, nil
}

// auditHead is the chain's tip, kept apart from the log so appenders
// WATCH one small key.
type auditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// maxAuditAttempts bounds optimistic retries; at a handful of concurrent
// appenders a few rounds suffice.
const maxAuditAttempts = 200

// AppendAudit chains e onto the head with WATCH/MULTI, hashing in Go.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	head := s.key("audithead")
	for range maxAuditAttempts {
		var out store.AuditEvent
		err := s.c.Watch(ctx, func(tx *goredis.Tx) error {
			var h auditHead
			if err := s.getJSONTx(ctx, tx, head, &h); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			out = e
			out.Seq, out.PrevHash = h.Seq+1, h.Hash
			out.Hash = s.hasher.Hash(out)
			rec, err := json.Marshal(&out)
			if err != nil {
				return err
			}
			next, err := json.Marshal(auditHead{Seq: out.Seq, Hash: out.Hash})
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				p.RPush(ctx, s.key("audit"), rec)
				p.Set(ctx, head, next, 0)
				return nil
			})
			return err
		}, head)
		if errors.Is(err, goredis.TxFailedErr) {
			// Another replica appended first; back off a little, randomly,
			// so the losers do not collide again in lockstep.
			select {
			case <-ctx.Done():
				return store.AuditEvent{}, ctx.Err()
			case <-time.After(time.Duration(rand.IntN(2000)) * time.Microsecond):
			}
			continue
		}
		if err != nil {
			return store.AuditEvent{}, wrap("append audit", err)
		}
		return out, nil
	}
	return store.AuditEvent{}, fmt.Errorf("append audit: %w (gave up after %d attempts)", store.ErrConflict, maxAuditAttempts)
}

func (s *Store) getJSONTx(ctx context.Context, tx *goredis.Tx, key string, v any) error {
	data, err := tx.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// ListAudit returns the whole chain in order.
func (s *Store) ListAudit(ctx context.Context) ([]store.AuditEvent, error) {
	out := []store.AuditEvent{}
	err := s.ScanAudit(ctx, 1, func(e store.AuditEvent) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// ScanAudit reads the list with ranged LRANGEs, one page at a time; seq N
// sits at index N-1. The list only grows at its end, so pages read while
// others append still line up.
func (s *Store) ScanAudit(ctx context.Context, fromSeq int64, fn func(store.AuditEvent) error) error {
	for start := max(fromSeq, 1) - 1; ; start += store.AuditPage {
		vals, err := s.c.LRange(ctx, s.key("audit"), start, start+store.AuditPage-1).Result()
		if err != nil {
			return wrap("scan audit", err)
		}
		for i, v := range vals {
			var e store.AuditEvent
			if err := json.Unmarshal([]byte(v), &e); err != nil {
				return fmt.Errorf("scan audit: decode index %d: %w", start+int64(i), err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(vals) < store.AuditPage {
			return nil
		}
	}
}

// LastAudit returns the list's last event: what is stored, not the
// appenders' head key, so a cut tail shows.
func (s *Store) LastAudit(ctx context.Context) (store.AuditEvent, error) {
	v, err := s.c.LIndex(ctx, s.key("audit"), -1).Bytes()
	if errors.Is(err, goredis.Nil) {
		return store.AuditEvent{}, fmt.Errorf("last audit event: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.AuditEvent{}, wrap("last audit event", err)
	}
	var e store.AuditEvent
	if err := json.Unmarshal(v, &e); err != nil {
		return store.AuditEvent{}, fmt.Errorf("last audit event: decode: %w", err)
	}
	return e, nil
}

// PutBlob stores value under kind/key.
func (s *Store) PutBlob(ctx context.Context, kind, key string, value []byte) error {
	if kind == "" || key == "" {
		return errors.New("put blob: empty kind or key")
	}
	return wrap("put blob "+kind+"/"+key, s.c.HSet(ctx, s.key("blob", kind), key, value).Err())
}

// GetBlob reads kind/key; ErrNotFound when absent.
func (s *Store) GetBlob(ctx context.Context, kind, key string) ([]byte, error) {
	v, err := s.c.HGet(ctx, s.key("blob", kind), key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("get blob %s/%s: %w", kind, key, store.ErrNotFound)
	}
	if err != nil {
		return nil, wrap("get blob "+kind+"/"+key, err)
	}
	return v, nil
}

// DeleteBlob removes kind/key; deleting a missing key is a no-op.
func (s *Store) DeleteBlob(ctx context.Context, kind, key string) error {
	return wrap("delete blob "+kind+"/"+key, s.c.HDel(ctx, s.key("blob", kind), key).Err())
}

// ListBlobs returns every key of kind.
func (s *Store) ListBlobs(ctx context.Context, kind string) (map[string][]byte, error) {
	all, err := s.c.HGetAll(ctx, s.key("blob", kind)).Result()
	if err != nil {
		return nil, wrap("list blobs "+kind, err)
	}
	out := make(map[string][]byte, len(all))
	for k, v := range all {
		out[k] = []byte(v)
	}
	return out, nil
}
