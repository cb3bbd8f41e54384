package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/store/storetest"
)

// TestClaimSurvivesReopen: the Slack adapter claims every request here on
// bolt too, so a claim must outlive the process (a replay after a restart
// is refused) and still expire (the key space stays bounded).
func TestClaimSurvivesReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	clk := storetest.NewClock(storetest.T0)
	open := func() *Store {
		s, err := Open(path, Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	if ok, err := s.Claim(ctx, "slack:cmd:1:v0=abc", time.Hour); err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		advance time.Duration
		want    bool
	}{
		{"replayed after a restart", time.Minute, false},
		{"still held just before expiry", 58 * time.Minute, false},
		{"free again after the ttl", 2 * time.Minute, true},
		{"taken again by that claim", 0, false},
	}
	s = open()
	defer s.Close()
	for _, st := range steps {
		clk.Advance(st.advance)
		if ok, err := s.Claim(ctx, "slack:cmd:1:v0=abc", time.Hour); err != nil || ok != st.want {
			t.Errorf("%s: claim = %v, %v; want %v", st.name, ok, err, st.want)
		}
	}
}

// TestMapErrDiskFailures: a write the disk refuses is the store being
// unavailable (503, "state store unavailable"), not an internal error.
func TestMapErrDiskFailures(t *testing.T) {
	cases := []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"disk full", &os.PathError{Op: "write", Path: "state.db", Err: syscall.ENOSPC}, true},
		{"I/O error", fmt.Errorf("commit: %w", &os.PathError{Op: "fdatasync", Path: "state.db", Err: syscall.EIO}), true},
		{"read-only remount", &os.PathError{Op: "write", Path: "state.db", Err: syscall.EROFS}, true},
		{"quota", syscall.EDQUOT, true},
		{"closed", bolterrors.ErrDatabaseNotOpen, true},
		{"conflict", store.ErrConflict, false},
		{"not found", store.ErrNotFound, false},
		{"nil", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := mapErr(c.err)
			if errors.Is(got, store.ErrUnavailable) != c.unavailable {
				t.Errorf("mapErr(%v) = %v; unavailable want %v", c.err, got, c.unavailable)
			}
			if c.err != nil && !errors.Is(got, c.err) {
				t.Errorf("mapErr(%v) = %v lost the cause", c.err, got)
			}
		})
	}
}

// BenchmarkClaim is the cost the Slack adapter pays per click to keep its
// replay claims on disk: Serial is one click at a time (its latency is the
// acknowledgement's added time), Parallel is a burst sharing commits.
func BenchmarkClaim(b *testing.B) {
	var n atomic.Int64
	key := func() string { return fmt.Sprint("slack:action:", n.Add(1), ":U1:approve") }
	b.Run("Serial", func(b *testing.B) {
		s := openTemp(b, nil)
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := s.Claim(b.Context(), key(), time.Hour); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("Parallel32", func(b *testing.B) {
		s := openTemp(b, nil)
		b.SetParallelism(32)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if ok, err := s.Claim(b.Context(), key(), time.Hour); err != nil || !ok {
					b.Error(ok, err)
					return
				}
			}
		})
	})
}
