package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// deployIdxKey orders a service's deploys by time.
func deployIdxKey(d *rollback.Deploy) []byte {
	return timeKey([]byte(d.Service+"\x00"), d.At, d.ID)
}

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
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bDeploys)
		if rec.ID == "" {
			n, err := b.NextSequence()
			if err != nil {
				return err
			}
			rec.ID = fmt.Sprintf("D-%d", n)
		}
		if b.Get([]byte(rec.ID)) != nil {
			return store.ErrExists
		}
		if err := putJSON(b, []byte(rec.ID), &rec); err != nil {
			return err
		}
		return tx.Bucket(bDeployIdx).Put(deployIdxKey(&rec), []byte{})
	})
	if err != nil {
		return fmt.Errorf("add deploy %s: %w", d.ID, err)
	}
	d.ID, d.At = rec.ID, rec.At
	return nil
}

// GetDeploy reads one deploy.
func (s *Store) GetDeploy(ctx context.Context, id string) (*rollback.Deploy, error) {
	var d rollback.Deploy
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return getJSON(tx.Bucket(bDeploys), []byte(id), &d)
	})
	if err != nil {
		return nil, fmt.Errorf("get deploy %s: %w", id, err)
	}
	return &d, nil
}

// PutDeploy replaces an existing deploy (ErrNotFound otherwise).
func (s *Store) PutDeploy(ctx context.Context, d *rollback.Deploy) error {
	if d.Service == "" {
		return errors.New("put deploy: empty service")
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bDeploys)
		var old rollback.Deploy
		if err := getJSON(b, []byte(d.ID), &old); err != nil {
			return err
		}
		if err := putJSON(b, []byte(d.ID), d); err != nil {
			return err
		}
		idx := tx.Bucket(bDeployIdx)
		if err := idx.Delete(deployIdxKey(&old)); err != nil {
			return err
		}
		return idx.Put(deployIdxKey(d), []byte{})
	})
	if err != nil {
		return fmt.Errorf("put deploy %s: %w", d.ID, err)
	}
	return nil
}

// ListDeploys walks the service's index backwards (newest first).
func (s *Store) ListDeploys(ctx context.Context, service string, limit int) ([]*rollback.Deploy, error) {
	out := []*rollback.Deploy{}
	prefix := []byte(service + "\x00")
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		recs := tx.Bucket(bDeploys)
		c := tx.Bucket(bDeployIdx).Cursor()
		// Seek just past the prefix, then step back onto its last key.
		k, _ := c.Seek([]byte(service + "\x01"))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && (limit <= 0 || len(out) < limit); k, _ = c.Prev() {
			var d rollback.Deploy
			id := k[len(prefix)+8:]
			if err := getJSON(recs, id, &d); err != nil {
				return fmt.Errorf("index entry %s: %w", id, err)
			}
			out = append(out, &d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list deploys of %s: %w", service, err)
	}
	return out, nil
}

// PutBlob stores value under kind/key.
func (s *Store) PutBlob(ctx context.Context, kind, key string, value []byte) error {
	if kind == "" || key == "" {
		return errors.New("put blob: empty kind or key")
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b, err := tx.Bucket(bBlobs).CreateBucketIfNotExists([]byte(kind))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), append([]byte{}, value...))
	})
	if err != nil {
		return fmt.Errorf("put blob %s/%s: %w", kind, key, err)
	}
	return nil
}

// GetBlob reads kind/key; ErrNotFound when absent.
func (s *Store) GetBlob(ctx context.Context, kind, key string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		blobs := tx.Bucket(bBlobs)
		if blobs == nil {
			return store.ErrNotFound // a read-only open of a file that never had blobs
		}
		b := blobs.Bucket([]byte(kind))
		if b == nil {
			return store.ErrNotFound
		}
		// Get cannot tell an empty value from a missing key; Seek can.
		k, v := b.Cursor().Seek([]byte(key))
		if k == nil || string(k) != key {
			return store.ErrNotFound
		}
		out = append([]byte{}, v...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get blob %s/%s: %w", kind, key, err)
	}
	return out, nil
}

// DeleteBlob removes kind/key; deleting a missing key is a no-op.
func (s *Store) DeleteBlob(ctx context.Context, kind, key string) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bBlobs).Bucket([]byte(kind))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("delete blob %s/%s: %w", kind, key, err)
	}
	return nil
}

// ListBlobs returns every key of kind.
func (s *Store) ListBlobs(ctx context.Context, kind string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bBlobs).Bucket([]byte(kind))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte{}, v...)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list blobs %s: %w", kind, err)
	}
	return out, nil
}

// AppendAudit chains e onto the last event inside one write transaction.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bAudit)
		b.FillPercent = appendFill
		e.Seq, e.PrevHash = 1, ""
		if k, v := b.Cursor().Last(); k != nil {
			var last store.AuditEvent
			if err := json.Unmarshal(v, &last); err != nil {
				return fmt.Errorf("decode last audit event: %w", err)
			}
			e.Seq, e.PrevHash = last.Seq+1, last.Hash
		}
		e.Hash = s.hasher.Hash(e)
		return putJSON(b, u64(uint64(e.Seq)), &e)
	})
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("append audit: %w", err)
	}
	return e, nil
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

// ScanAudit reads the log a page at a time, each page in its own read
// transaction: a long verification then never pins old pages of the file
// (which would keep it from reusing them) nor holds events in memory.
// fn runs outside any transaction, so it may call the store.
func (s *Store) ScanAudit(ctx context.Context, fromSeq int64, fn func(store.AuditEvent) error) error {
	page := make([]store.AuditEvent, 0, store.AuditPage)
	for from := u64(uint64(max(fromSeq, 1))); from != nil; {
		err := s.view(ctx, func(tx *bbolt.Tx) error {
			seek := from
			page, from = page[:0], nil
			b := tx.Bucket(bAudit)
			if b == nil {
				return nil // a read-only open of a file that never had an audit log
			}
			c := b.Cursor()
			for k, v := c.Seek(seek); k != nil; k, v = c.Next() {
				if len(page) == store.AuditPage {
					from = append([]byte{}, k...) // bolt's keys live only as long as the transaction
					return nil
				}
				var e store.AuditEvent
				if err := json.Unmarshal(v, &e); err != nil {
					return fmt.Errorf("decode audit event at key %x: %w", k, err)
				}
				page = append(page, e)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("scan audit: %w", err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// LastAudit returns the chain's head.
func (s *Store) LastAudit(ctx context.Context) (store.AuditEvent, error) {
	var e store.AuditEvent
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bAudit)
		if b == nil {
			return store.ErrNotFound
		}
		k, v := b.Cursor().Last()
		if k == nil {
			return store.ErrNotFound
		}
		return json.Unmarshal(v, &e)
	})
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("last audit event: %w", err)
	}
	return e, nil
}
