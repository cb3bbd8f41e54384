package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/store"
	boltstore "github.com/backout/backout/internal/store/bolt"
	redisstore "github.com/backout/backout/internal/store/redis"
)

// guardTarget is a store the guard runs over, plus the counter as the
// test can bend it (a flushed Redis, a counter that went back).
type guardTarget struct {
	store.Store
	mu    sync.Mutex
	floor *int64 // when set, LastID answers this instead of the store
}

func (g *guardTarget) LastID(ctx context.Context) (int64, error) {
	g.mu.Lock()
	floor := g.floor
	g.mu.Unlock()
	if floor != nil {
		return *floor, nil
	}
	return g.Store.(guardStore).LastID(ctx)
}

func (g *guardTarget) setCounter(n int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.floor = &n
}

// guardStores opens each store kind the guard must work on; Redis skips
// when no server answers (and fails with CI=true).
func guardStores(t *testing.T) map[string]func(t *testing.T) *guardTarget {
	return map[string]func(t *testing.T) *guardTarget{
		"bolt": func(t *testing.T) *guardTarget {
			s, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return &guardTarget{Store: s}
		},
		"redis": func(t *testing.T) *guardTarget {
			addr := os.Getenv("REDIS_ADDR")
			if addr == "" {
				addr = "127.0.0.1:6379"
			}
			var b [6]byte
			_, _ = rand.Read(b[:])
			prefix := "guard-test-" + hex.EncodeToString(b[:]) + ":"
			s, err := redisstore.Open(t.Context(), redisstore.Options{URL: "redis://" + addr, Prefix: prefix})
			if err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatal(err)
				}
				t.Skipf("redis at %s: %v", addr, err)
			}
			t.Cleanup(func() {
				c := goredis.NewClient(&goredis.Options{Addr: addr})
				keys, _ := c.Keys(context.Background(), prefix+"*").Result()
				if len(keys) > 0 {
					c.Del(context.Background(), keys...)
				}
				_ = c.Close()
				_ = s.Close()
			})
			return &guardTarget{Store: s}
		},
	}
}

// TestStoreGuard runs each way a store can lose its data under a running
// replica, on both stores, and checks the guard says which.
func TestStoreGuard(t *testing.T) {
	cases := []struct {
		name string
		// act bends the store after the guard started and saw ids 1 and 2.
		act  func(t *testing.T, st *guardTarget, ids guardedIDs) error
		want string // "" means not lost
	}{
		{"nothing happened", func(t *testing.T, st *guardTarget, ids guardedIDs) error { return nil }, ""},
		{"epoch gone (flushed)", func(t *testing.T, st *guardTarget, ids guardedIDs) error {
			return st.DeleteBlob(t.Context(), epochKind, epochKey)
		}, "epoch record"},
		{"epoch replaced by another process", func(t *testing.T, st *guardTarget, ids guardedIDs) error {
			return st.PutBlob(t.Context(), epochKind, epochKey, []byte(`{"id":"someone-else"}`))
		}, "epoch changed"},
		{"counter went back", func(t *testing.T, st *guardTarget, ids guardedIDs) error {
			st.setCounter(0)
			return nil
		}, "below its high-water mark 2"},
		{"an id handed out twice", func(t *testing.T, st *guardTarget, ids guardedIDs) error {
			st.setCounter(1)
			_, err := ids.NextID(t.Context())
			return err
		}, "handed out rollback id"},
	}
	for kind, open := range guardStores(t) {
		for _, c := range cases {
			t.Run(kind+"/"+c.name, func(t *testing.T) {
				st := open(t)
				var lostWith error
				g := NewStoreGuard(st, slog.New(slog.DiscardHandler), func(err error) { lostWith = err })
				if err := g.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				ids := guardedIDs{Store: &repeatingIDs{Store: st.Store, target: st}, guard: g}
				for range 2 {
					if _, err := ids.NextID(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
				if err := g.Check(t.Context()); err != nil {
					t.Fatalf("check before anything happened: %v", err)
				}
				actErr := c.act(t, st, ids)
				checkErr := g.Check(t.Context())
				if c.want == "" {
					if actErr != nil || checkErr != nil || g.Err() != nil {
						t.Fatalf("lost without cause: %v %v", actErr, checkErr)
					}
					return
				}
				if !errors.Is(g.Err(), ErrStoreLost) || !strings.Contains(g.Err().Error(), c.want) || lostWith == nil {
					t.Fatalf("guard error %v (hook got %v), want the loss naming %q", g.Err(), lostWith, c.want)
				}
				if _, err := ids.NextID(t.Context()); !errors.Is(err, ErrStoreLost) || !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("NextID after the loss: %v, want refused as lost and unavailable", err)
				}
				if err := g.Gate(t.Context()); !errors.Is(err, ErrStoreLost) {
					t.Errorf("Gate after the loss: %v", err)
				}
			})
		}
	}
}

// repeatingIDs answers NextID from the bent counter when the test set one,
// the way a store whose counter went back would.
type repeatingIDs struct {
	store.Store
	target *guardTarget
}

func (r *repeatingIDs) NextID(ctx context.Context) (string, error) {
	r.target.mu.Lock()
	floor := r.target.floor
	r.target.mu.Unlock()
	if floor != nil {
		return store.FormatID(*floor), nil
	}
	return r.Store.NextID(ctx)
}

// TestStoreGuardStart: replicas starting together agree on one epoch; a
// store written before epochs existed gets its counter as the first mark;
// a restart accepts the store as it is.
func TestStoreGuardStart(t *testing.T) {
	for kind, open := range guardStores(t) {
		t.Run(kind, func(t *testing.T) {
			st := open(t)
			for range 3 {
				if _, err := st.NextID(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			guards := make([]*StoreGuard, 4)
			var wg sync.WaitGroup
			for i := range guards {
				guards[i] = NewStoreGuard(st, slog.New(slog.DiscardHandler), nil)
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := guards[i].Start(t.Context()); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			for _, g := range guards[1:] {
				if g.epoch.ID != guards[0].epoch.ID {
					t.Fatalf("replicas started on different epochs: %s and %s", g.epoch.ID, guards[0].epoch.ID)
				}
			}
			if hw := guards[0].epoch.HighWater; hw != 3 {
				t.Errorf("first high-water mark %d, want the counter (3)", hw)
			}
			st.setCounter(1)
			restarted := NewStoreGuard(st, slog.New(slog.DiscardHandler), nil)
			if err := restarted.Start(t.Context()); err != nil || !errors.Is(restarted.Err(), ErrStoreLost) {
				t.Errorf("start on a counter below the stored mark: %v, lost %v; want lost", err, restarted.Err())
			}
		})
	}
}

// TestStoreGuardOutageIsNotLoss: a store that cannot be reached is an
// error for the check, never a loss.
func TestStoreGuardOutageIsNotLoss(t *testing.T) {
	st := guardStores(t)["bolt"](t)
	g := NewStoreGuard(st, slog.New(slog.DiscardHandler), nil)
	if err := g.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if err := g.Check(t.Context()); !errors.Is(err, store.ErrUnavailable) || g.Err() != nil {
		t.Fatalf("check on a closed store: %v (lost %v), want unavailable and not lost", err, g.Err())
	}
}
