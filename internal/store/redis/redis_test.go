package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/store/storetest"
)

func redisAddr() string {
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// openTest opens a store on the shared server under a fresh prefix and
// deletes that prefix's keys afterwards. Without a server it skips, except
// in CI where a missing server is a failure.
func openTest(t testing.TB, now func() time.Time) *Store {
	t.Helper()
	return openTestOpts(t, Options{Now: now})
}

// openTestOpts is openTest with other options (the server and prefix are
// the test's).
func openTestOpts(t testing.TB, opts Options) *Store {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "backout-test-" + hex.EncodeToString(b[:]) + ":"
	opts.URL, opts.Password, opts.Prefix = "redis://"+redisAddr(), os.Getenv("REDIS_PASSWORD"), prefix
	s, err := Open(context.Background(), opts)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis at %s: %v", redisAddr(), err)
		}
		t.Skipf("redis at %s unreachable (set CI=true to fail instead): %v", redisAddr(), err)
	}
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		if err := deletePrefix(context.Background(), s.c, prefix); err != nil {
			t.Errorf("cleaning up %s*: %v", prefix, err)
		}
		_ = s.Close()
	})
	return s
}

func deletePrefix(ctx context.Context, c *goredis.Client, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil || len(keys) == 0 {
		return err
	}
	return c.Del(ctx, keys...).Err()
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
		return openTest(t, now)
	})
}

// TestAuditEditInRedisDetected edits an audit record in place, as someone
// with access to Redis might, and expects the chain to notice.
func TestAuditEditInRedisDetected(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, nil)
	for _, a := range []string{"propose", "approve", "execute"} {
		if _, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "U1", Action: a}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := s.c.LIndex(ctx, s.key("audit"), 1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var e store.AuditEvent
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatal(err)
	}
	e.Actor = "U666"
	edited, _ := json.Marshal(e)
	if err := s.c.LSet(ctx, s.key("audit"), 1, edited).Err(); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.VerifyAudit(list); err == nil {
		t.Fatal("edited audit record not detected")
	}
}

// replyErr is a server error reply, as go-redis reports them.
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

func TestUnavailableClassification(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{io.EOF, true},
		{goredis.ErrClosed, true},
		{goredis.ErrPoolTimeout, true},
		{context.DeadlineExceeded, true},
		{replyErr("LOADING Redis is loading the dataset in memory"), true},
		{replyErr("READONLY You can't write against a read only replica."), true},
		{replyErr("OOM command not allowed when used memory > 'maxmemory'."), true},
		{replyErr("NOAUTH Authentication required."), true},
		{replyErr("ERR syntax error"), false},
		{goredis.TxFailedErr, false},
		{goredis.Nil, false},
		{context.Canceled, false},
		{fmt.Errorf("decode: %w", errors.New("invalid character")), false},
		{syscall.ECONNRESET, true},
	}
	for _, tc := range tests {
		err := wrap("op", tc.err)
		if got := errors.Is(err, store.ErrUnavailable); got != tc.want {
			t.Errorf("%v: unavailable = %v, want %v", tc.err, got, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%v: wrapped error lost its cause", tc.err)
		}
	}
}

func TestOpenUnreachableIsUnavailable(t *testing.T) {
	_, err := Open(t.Context(), Options{URL: "redis://" + freeAddr(t) + "?dial_timeout=1s&max_retries=-1"})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open on a closed port: %v, want ErrUnavailable", err)
	}
}

func TestOpenBadURLDoesNotEchoIt(t *testing.T) {
	_, err := Open(t.Context(), Options{URL: "http://:hunter2@example"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Open with a bad URL: %v", err)
	}
}

// TestServerDiesMidway runs a private redis-server, uses it, kills it and
// expects ErrUnavailable (the 503 path) rather than a hang or a false answer.
func TestServerDiesMidway(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	ctx := t.Context()
	var s *Store
	deadline := time.Now().Add(10 * time.Second)
	for s == nil {
		s, err = Open(ctx, Options{URL: "redis://" + addr + "?max_retries=-1", Prefix: "p:"})
		if err != nil && time.Now().After(deadline) {
			t.Fatalf("private redis-server never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer s.Close()
	if ok, err := s.Claim(ctx, "k", time.Minute); err != nil || !ok {
		t.Fatalf("claim on a live server: %v %v", ok, err)
	}
	if _, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "U1", Action: "a"}); err != nil {
		t.Fatal(err)
	}
	keys, err := s.c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "p:") {
			t.Errorf("key %q outside the prefix", k)
		}
	}

	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if _, err := s.Claim(ctx, "k2", time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("claim after the server died: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ping after the server died: %v, want ErrUnavailable", err)
	}
}

func TestClosedIsUnavailable(t *testing.T) {
	// A closed client fails before touching the network: no server needed.
	s := &Store{c: goredis.NewClient(&goredis.Options{Addr: redisAddr()}), prefix: DefaultPrefix, now: time.Now}
	_ = s.Close()
	if err := s.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping on a closed store: %v, want ErrUnavailable", err)
	}
}

// freeAddr finds a local port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func BenchmarkEnqueueEvent(b *testing.B) {
	storetest.BenchEnqueueEvent(b, openTest(b, nil))
}

func BenchmarkAppendStep(b *testing.B) {
	storetest.BenchAppendStep(b, openTest(b, nil))
}

func BenchmarkUpdateRollback(b *testing.B) {
	storetest.BenchUpdateRollback(b, openTest(b, nil))
}
