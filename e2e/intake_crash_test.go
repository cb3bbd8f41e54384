package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pdhook "github.com/backout/backout/internal/alerts/pagerduty"
)

// TestAcceptedDeliveriesSurviveKill9 (issue #17 item 5): webhook intake on
// bolt answers 202 only after the event is durable. Senders deliver unique
// PagerDuty events to a real `bot serve`, which is killed with SIGKILL
// mid-load and started again on the same state file. Every delivery that
// was answered 202 is then sent again: it must come back 202 "duplicate".
// The dedup keys are written in the same journal record as the event, and
// replayed into bolt with it in one transaction at start, so a key that
// survived means the event did (the alert worker may have
// processed and removed it since, as it would have without the crash); a
// lost event would be "accepted" afresh.
func TestAcceptedDeliveriesSurviveKill9(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	addr := freeAddr(t)
	path := w.writeConfig("intake", cfg{Listen: addr})
	b := w.start("intake", path, addr)

	const senders, killAfter = 16, 400
	var (
		mu       sync.Mutex
		accepted [][]byte
		failed   atomic.Int64 // answered otherwise, or cut by the kill
		sent     atomic.Int64
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	stop := make(chan struct{})
	for s := range senders {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("01KILL%02d%08d%s", s, i, strings.ToUpper(randHex(3)))
				body := pdEvent(t, "incident.triggered", id, "QK"+id[6:], "PNOTINCATALOG", time.Now())
				sent.Add(1)
				if code, answer := deliver(client, b.url("/webhooks/pagerduty"), body, w.secrets.PDSecret); code == http.StatusAccepted && answer == "accepted" {
					mu.Lock()
					accepted = append(accepted, body)
					mu.Unlock()
				} else {
					failed.Add(1)
				}
			}
		})
	}
	eventually(t, 60*time.Second, fmt.Sprintf("%d deliveries accepted", killAfter), func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) >= killAfter, fmt.Sprint(len(accepted))
	})
	b.kill9() // senders are still sending: some deliveries are cut mid-request
	close(stop)
	wg.Wait()
	t.Logf("sent %d, accepted (202) %d, not accepted or cut by the kill %d", sent.Load(), len(accepted), failed.Load())

	// A fresh port on the same state file: the old one may already be
	// another parallel test's.
	addr2 := freeAddr(t)
	again := w.start("intake-after-kill", w.writeConfig("intake-after-kill",
		cfg{Listen: addr2, Store: "  kind: bolt\n  path: " + filepath.Join(w.dir, "intake.db")}), addr2)
	lost := 0
	for _, body := range accepted {
		code, answer := deliver(client, again.url("/webhooks/pagerduty"), body, w.secrets.PDSecret)
		if code != http.StatusAccepted || answer != "duplicate" {
			lost++
			if lost <= 5 {
				t.Errorf("a delivery answered 202 before the kill, sent again after the restart: %d %q, want 202 \"duplicate\"", code, answer)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d accepted deliveries were lost by kill -9", lost, len(accepted))
	}
}

// deliver posts a signed PagerDuty delivery; a transport error is 0.
func deliver(client *http.Client, url string, body []byte, secret string) (int, string) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(pdhook.SignatureHeader, pdhook.Sign(body, secret))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(answer))
}
