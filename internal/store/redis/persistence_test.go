package redis

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// privateServer runs a redis-server of the test's own with extra flags and
// opens a store on it.
func privateServer(t *testing.T, flags ...string) *Store {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", t.TempDir()}, flags...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := Open(t.Context(), Options{URL: "redis://" + addr, Prefix: "p:"})
		if err == nil {
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("private redis-server never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPersistence: the startup check must tell a Redis that forgets
// everything on restart from one that keeps it, and say when it cannot tell.
func TestPersistence(t *testing.T) {
	cases := []struct {
		name      string
		flags     []string
		known, on bool
		save      string
	}{
		{"nothing on disk", []string{"--save", "", "--appendonly", "no"}, true, false, ""},
		{"append-only file", []string{"--save", "", "--appendonly", "yes"}, true, true, ""},
		{"snapshots", []string{"--save", "60 1", "--appendonly", "no"}, true, true, "60 1"},
		{"CONFIG disabled", []string{"--save", "", "--rename-command", "CONFIG", ""}, false, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := privateServer(t, c.flags...)
			p, err := s.Persistence(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if p.Known != c.known || p.On() != c.on || p.Save != c.save {
				t.Errorf("Persistence = %+v; want known %v, on %v, save %q", p, c.known, c.on, c.save)
			}
			if !c.known && !strings.Contains(p.Unknown, "CONFIG") {
				t.Errorf("unknown persistence without saying why: %q", p.Unknown)
			}
		})
	}
}
