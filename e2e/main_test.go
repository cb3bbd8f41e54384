// Package e2e_test drives the real `bot serve` binary over HTTP: a fake
// Slack Web API (slackfake) takes its calls, signed slash commands, clicks
// and PagerDuty webhooks go in, and the assertions are on what Slack,
// the API and the demo runbook's files show afterwards.
package e2e_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

var (
	// botBin is the binary under test, built once by TestMain.
	botBin string
	// repoRoot is the module root (the parent of this package's directory).
	repoRoot string

	readyTimes sync.Map // process name -> time from start to first /readyz 200
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = filepath.Dir(wd)
	tmp, err := os.MkdirTemp("", "backout-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	botBin = filepath.Join(tmp, "bot")
	args := []string{"build", "-o", botBin}
	// E2E_RACE=1 builds the binary under test with the race detector too.
	if os.Getenv("E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	build := exec.Command(goTool(), append(args, "./cmd/bot")...)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/bot: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	printReadyTimes()
	return code
}

// goTool finds the go command: go test puts its own GOROOT/bin first in
// PATH, so this is the toolchain running the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// printReadyTimes reports how long each process took from start to its
// first /readyz 200 (informational: never asserted).
func printReadyTimes() {
	var lines []string
	readyTimes.Range(func(k, v any) bool {
		lines = append(lines, fmt.Sprintf("  %-40s %v", k, v.(time.Duration).Round(time.Millisecond)))
		return true
	})
	if len(lines) == 0 {
		return
	}
	sort.Strings(lines)
	fmt.Printf("e2e: process start -> first /readyz 200:\n%s\n", strings.Join(lines, "\n"))
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// sharedRedis returns the address of the shared Redis server; without one
// the test skips, or fails when CI=true.
func sharedRedis(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := goredis.NewClient(&goredis.Options{Addr: addr, Password: os.Getenv("REDIS_PASSWORD"), MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis at %s: %v", addr, err)
		}
		t.Skipf("redis at %s unreachable (CI=true makes this a failure): %v", addr, err)
	}
	return addr
}

// deleteRedisPrefix removes a test's keys from the shared server.
func deleteRedisPrefix(t testing.TB, addr, prefix string) {
	c := goredis.NewClient(&goredis.Options{Addr: addr, Password: os.Getenv("REDIS_PASSWORD")})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("cleaning redis prefix %s: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Logf("cleaning redis prefix %s: %v", prefix, err)
		}
	}
}

// eventually polls cond until it reports true or the bound passes; on
// timeout it fails with cond's last description of what it saw.
func eventually(t testing.TB, bound time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v still waiting for %s; last saw: %s", bound, what, saw)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
