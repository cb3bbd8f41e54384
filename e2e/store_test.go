package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// TestReplayAfterRestartRefused (issue 14.4): the very bytes of a signed
// slash command, sent again after the process restarted on the same bolt
// file (well inside Slack's 5-minute signature window), are refused: the
// claim outlived the process.
func TestReplayAfterRestartRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	addr := freeAddr(t)
	path := w.writeConfig("replay", cfg{Listen: addr, Store: "  kind: bolt\n  path: " + filepath.Join(w.dir, "replay.db")})
	b := w.start("replay", path, addr)
	w.deploy(b, "demo-api", "1.4.0", 3*time.Hour)
	w.deploy(b, "demo-api", "1.5.0", 0)
	propose := w.command("UALICE", "C0DEMO", "propose demo-api bad deploy", "propose")
	if code, body := b.send(propose); code != http.StatusOK {
		t.Fatalf("signed slash command: %d %s", code, body)
	}
	w.waitProposals(b, "C0DEMO", 1)
	if code := b.terminate(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}

	b2 := w.start("replay-again", path, addr)
	posts := len(w.slack.Calls("chat.postMessage"))
	if code, body := b2.send(propose); code != http.StatusUnauthorized {
		t.Errorf("the same signed command after a restart: %d %q, want 401", code, body)
	}
	if code, body := b2.send(w.command("UALICE", "C0DEMO", "status", "barrier")); code != http.StatusOK {
		t.Fatalf("barrier: %d %s", code, body)
	}
	w.waitReply("barrier")
	if ids := w.rollbackIDs(b2); len(ids) != 1 {
		t.Errorf("rollbacks after the replay: %v, want only the first", ids)
	}
	if n := len(w.slack.Calls("chat.postMessage")); n != posts {
		t.Errorf("the replay posted %d messages", n-posts)
	}
	if !b2.logHas("replayed request refused") {
		t.Errorf("the log does not record the refused replay")
	}
}

// TestStoreLostIsLoud (issue 14.6): a replica whose Redis loses its data
// under it (flushed, or only the id counter gone) stops acting: commands
// and the API say "state store lost", /readyz fails, the log has an error
// and the channel is told.
func TestStoreLostIsLoud(t *testing.T) {
	t.Parallel()
	redisAddr := sharedRedis(t)
	cases := []struct {
		name string
		lose func(c *goredis.Client, prefix string) error
		want string
	}{
		{"flushed", func(c *goredis.Client, prefix string) error {
			deleteRedisPrefix(t, redisAddr, prefix)
			return nil
		}, "epoch record"},
		{"id counter reset", func(c *goredis.Client, prefix string) error {
			return c.Del(context.Background(), prefix+"rbseq").Err()
		}, "below its high-water mark 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			prefix := "e2e-lost-" + randHex(6) + ":"
			t.Cleanup(func() { deleteRedisPrefix(t, redisAddr, prefix) })
			addr := freeAddr(t)
			b := w.start("lost", w.writeConfig("lost", cfg{Listen: addr, Store: redisStore(redisAddr, prefix)}), addr)
			w.deploy(b, "demo-api", "1.4.0", 3*time.Hour)
			w.deploy(b, "demo-api", "1.5.0", 0)
			if code, body := b.send(w.command("UALICE", "C0DEMO", "propose demo-api bad deploy", "propose")); code != http.StatusOK {
				t.Fatalf("propose: %d %s", code, body)
			}
			w.waitProposals(b, "C0DEMO", 1)
			rc := goredis.NewClient(&goredis.Options{Addr: redisAddr})
			defer rc.Close()
			if err := c.lose(rc, prefix); err != nil {
				t.Fatal(err)
			}
			storeLostIsLoud(t, w, b, c.want)
		})
	}
}

func storeLostIsLoud(t *testing.T, w *world, b *bot, want string) {
	posts := func() int {
		n := 0
		for _, c := range w.slack.Calls("chat.postMessage") {
			if c.Param("channel") == "C0DEMO" {
				n++
			}
		}
		return n
	}
	before := posts()
	eventually(t, 15*time.Second, "/readyz to say the store is lost", func() (bool, string) {
		code, body := b.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "state store lost") && strings.Contains(body, want), fmt.Sprintf("%d %s", code, body)
	})
	if code, body := b.send(w.command("UALICE", "C0DEMO", "propose demo-api again", "after")); code != http.StatusOK {
		t.Fatalf("propose after the loss: %d %s", code, body)
	}
	if rep := w.waitReply("after"); !strings.Contains(rep.Text, "state store lost") {
		t.Errorf("propose after the loss answered %q, want it to say the state store is lost", rep.Text)
	}
	if code, body := w.api(b, http.MethodGet, "/api/v1/rollbacks", nil); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "state store lost") {
		t.Errorf("API after the loss: %d %s, want 503 naming the loss", code, body)
	}
	if n := posts(); n != before {
		t.Errorf("%d messages posted in C0DEMO after the loss", n-before)
	}
	eventually(t, 10*time.Second, "the channel to be told", func() (bool, string) {
		for _, c := range w.slack.Calls("chat.postMessage") {
			if c.Param("channel") == "C0ROLLBACK" && strings.Contains(c.Param("text")+fmt.Sprint(c.JSON), "state store lost") {
				return true, ""
			}
		}
		return false, "no message in C0ROLLBACK"
	})
	if !b.logHas(`"level":"ERROR"`, "state store lost") {
		t.Errorf("no error in the log")
	}
}

// TestRedisPersistenceAtStartup (issue 14.6): on a Redis that keeps
// nothing on disk Backout warns, or with store.require_persistence refuses
// to start; on one with an append-only file it starts quietly.
func TestRedisPersistenceAtStartup(t *testing.T) {
	t.Parallel()
	shared := sharedRedis(t)
	rc := goredis.NewClient(&goredis.Options{Addr: shared})
	defer rc.Close()
	cfgs, err := rc.ConfigGet(context.Background(), "*").Result()
	if err != nil || cfgs["appendonly"] == "yes" || cfgs["save"] != "" {
		t.Skipf("the shared Redis keeps data on disk or hides its config (%v), so it cannot stand in for one that does not", err)
	}
	private := newPrivateRedis(t) // appendonly yes
	cases := []struct {
		name, addr string
		require    bool
		starts     bool
		log        string
	}{
		{"no persistence: warn", shared, false, true, "Redis keeps nothing on disk"},
		{"no persistence, required: refuse", shared, true, false, "store.require_persistence is set and Redis keeps nothing on disk"},
		{"append-only file, required: start", private.addr, true, true, `"msg":"redis persistence"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			prefix := "e2e-persist-" + randHex(6) + ":"
			t.Cleanup(func() { deleteRedisPrefix(t, c.addr, prefix) })
			st := redisStore(c.addr, prefix)
			if c.require {
				st += "\n  require_persistence: true"
			}
			addr := freeAddr(t)
			b := w.launch("persist", w.writeConfig("persist", cfg{Listen: addr, Store: st}), addr)
			if c.starts {
				b.waitReady(20 * time.Second)
			} else {
				select {
				case <-b.done:
				case <-time.After(20 * time.Second):
					t.Fatal("still running; want it to refuse to start")
				}
			}
			if !b.logHas(c.log) && !strings.Contains(string(b.output()), c.log) {
				t.Errorf("output lacks %q", c.log)
				b.dumpLog(10)
			}
		})
	}
}

// TestDiskFull (issue 14.7): with the bolt file on a full filesystem
// /readyz fails without naming the file, a slash command is answered
// "state store is unavailable", and both recover when space is freed.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mnt := filepath.Join(dir, "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	w := newWorld(t)
	addr := freeAddr(t)
	b := w.start("diskfull", w.writeConfig("diskfull", cfg{Listen: addr, Store: "  kind: bolt\n  path: " + filepath.Join(mnt, "state.db")}), addr)
	w.deploy(b, "demo-api", "1.4.0", 3*time.Hour)
	w.deploy(b, "demo-api", "1.5.0", 0)

	// bolt reuses freed pages, so a full disk shows only once the writes
	// need new ones: keep Backout writing (each command is a claim) until
	// it says so.
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	var answer string
	var sent []string
	eventually(t, 20*time.Second, "a slash command to find the store unavailable", func() (bool, string) {
		id := "full-" + randHex(4)
		sent = append(sent, id)
		code, body := b.send(w.command("UALICE", "C0DEMO", "status", id))
		answer = fmt.Sprintf("%d %s", code, body)
		for _, id := range sent { // the answer comes through response_url, a moment after the acknowledgement
			if ok, got := w.storeDownAnswered(id); ok {
				answer += "; response_url: " + got
				return true, answer
			}
		}
		return false, answer
	})
	t.Logf("slash command with the disk full: %s", answer)
	eventually(t, 10*time.Second, "/readyz to fail with the disk full", func() (bool, string) {
		code, body := b.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "store unavailable"), fmt.Sprintf("%d %s", code, body)
	})
	if _, body := b.get("/readyz"); strings.Contains(body, mnt) || strings.Contains(body, "state.db") {
		t.Errorf("/readyz names the file: %q", body)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	b.waitReady(20 * time.Second)
	if code, body := b.send(w.command("UALICE", "C0DEMO", "propose demo-api disk freed", "freed")); code != http.StatusOK {
		t.Fatalf("propose after freeing space: %d %s", code, body)
	}
	w.waitProposals(b, "C0DEMO", 1)
}

// fill writes path until the filesystem has no space left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}
