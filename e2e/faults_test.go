package e2e_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// privateRedis is a redis-server of the test's own, on a port of its own,
// that the test can stop and start again.
type privateRedis struct {
	t    *testing.T
	bin  string
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func newPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed (CI=true makes this a failure)")
	}
	r := &privateRedis{t: t, bin: bin, addr: freeAddr(t), dir: t.TempDir()}
	r.start()
	t.Cleanup(func() {
		if r.cmd != nil {
			r.stop()
		}
	})
	return r
}

// start runs the server and waits until it answers. The append-only file,
// synced on every write, lets a restart keep the data, as a production
// Redis would.
func (r *privateRedis) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command(r.bin, "--port", port, "--bind", "127.0.0.1", "--dir", r.dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "always")
	r.done = make(chan struct{})
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)
	c := goredis.NewClient(&goredis.Options{Addr: r.addr, MaxRetries: -1})
	defer c.Close()
	eventually(r.t, 10*time.Second, "the private redis-server to answer", func() (bool, string) {
		err := c.Ping(context.Background()).Err()
		return err == nil, func() string {
			if err != nil {
				return err.Error()
			}
			return ""
		}()
	})
}

// stop kills the server outright.
func (r *privateRedis) stop() {
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// TestStoreOutage (issue 8.2): with Redis gone, webhooks are refused with
// 503 so PagerDuty retries, /readyz says so, and Backout recovers by itself
// when Redis is back.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	rds := newPrivateRedis(t)
	w := newWorld(t)
	addr := freeAddr(t)
	path := w.writeConfig("outage", cfg{Listen: addr, Store: redisStore(rds.addr, "e2e:")})
	b := w.start("outage", path, addr)
	w.deploy(b, "demo-api", "1.4.0", 3*time.Hour)
	w.deploy(b, "demo-api", "1.5.0", 10*time.Minute)

	rds.stop()
	if code, body := b.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down: %d %s, want 503", code, body)
	}
	ev := pdEvent(t, "incident.triggered", "01E2E"+strings.ToUpper(randHex(8)), "Q"+strings.ToUpper(randHex(6)), "PDEMOAPI", time.Now())
	if code, body := b.pagerDuty(ev, w.secrets.PDSecret); code != http.StatusServiceUnavailable {
		t.Errorf("PagerDuty webhook with Redis down: %d %s, want 503", code, body)
	}
	code, body := b.send(w.command("UALICE", "C0DEMO", "propose demo-api store down", "outage"))
	switch {
	case code == http.StatusServiceUnavailable:
		t.Logf("slash command with Redis down: 503 %q (Slack does not retry slash commands; the user sees Slack's own error)", body)
	case code == http.StatusOK:
		// Acknowledged at once; nothing was queued, and the person is told
		// why through the command's response_url.
		eventually(t, 10*time.Second, "the store-unavailable answer at the response_url", func() (bool, string) {
			return w.storeDownAnswered("outage")
		})
		t.Logf("slash command with Redis down: 200 %q, then the answer at its response_url", body)
	default:
		t.Errorf("slash command with Redis down: %d %s, want 503 or 200 with an explanation", code, body)
	}
	if n := len(w.slack.Calls("chat.postMessage")); n != 0 {
		t.Errorf("%d messages posted while the store was down", n)
	}

	rds.start()
	restarted := time.Now()
	b.waitReady(20 * time.Second)
	t.Logf("ready again %v after Redis came back", time.Since(restarted).Round(time.Millisecond))
	if code, body := b.pagerDuty(ev, w.secrets.PDSecret); code != http.StatusAccepted || !strings.Contains(body, "accepted") {
		t.Fatalf("the refused webhook re-sent after recovery: %d %s, want 202 accepted", code, body)
	}
	p := w.waitProposals(b, "C0DEMO", 1)[0]
	if !strings.Contains(p.Text, "pagerduty alert") {
		t.Errorf("proposal after recovery:\n%s", p.Text)
	}
}
