package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSecretsNeverLogged (issue 8.3) runs a proposal, a vote, a run, a
// PagerDuty event and every kind of refused request at debug level; the
// world's cleanup then greps all output, and all that went to Slack, for
// every secret value (as it does after every test here).
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	b := w.boot("secrets", "--log-level", "debug")
	w.deploy(b, "demo-api", "1.4.0", 3*time.Hour)
	w.deploy(b, "demo-api", "1.5.0", 5*time.Minute)

	req, _ := http.NewRequest(http.MethodGet, b.url("/api/v1/rollbacks"), nil)
	req.Header.Set("Authorization", "Bearer "+w.secrets.APIToken+"x")
	if code, _ := b.do(req); code != http.StatusUnauthorized {
		t.Errorf("wrong API token: %d, want 401", code)
	}
	forged := w.command("UALICE", "C0DEMO", "propose demo-api", "forged")
	forged.header.Set("X-Slack-Signature", "v0="+strings.Repeat("0", 64))
	if code, _ := b.send(forged); code != http.StatusUnauthorized {
		t.Errorf("forged slash command: %d, want 401", code)
	}
	ev := pdEvent(t, "incident.triggered", "01E2E"+strings.ToUpper(randHex(8)), "Q"+strings.ToUpper(randHex(6)), "PDEMOAPI", time.Now())
	if code, _ := b.pagerDuty(ev, w.secrets.PDSecret+"x"); code != http.StatusUnauthorized {
		t.Errorf("forged PagerDuty webhook: %d, want 401", code)
	}
	if code, body := b.pagerDuty(ev, w.secrets.PDSecret); code != http.StatusAccepted {
		t.Fatalf("PagerDuty webhook: %d %s", code, body)
	}
	p := w.waitProposals(b, "C0DEMO", 1)[0]
	if code, body := b.send(w.click("UBOB", p, "approve", p.Value)); code != http.StatusOK {
		t.Fatalf("approve: %d %s", code, body)
	}
	w.waitState(b, p.ID, "succeeded", 30*time.Second)
	if code := b.terminate(30 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	// The grep is only worth something if the log says a lot.
	for _, want := range []string{"backout serving", "slack: request refused", `"route":"webhook_pagerduty","status":401`} {
		if !b.logHas(want) {
			t.Errorf("the debug log has no line with %q", want)
		}
	}
}

// TestHealthAndReadiness: /healthz is up as soon as the process serves;
// /readyz needs the store and Slack's auth.test.
func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	b := w.boot("health")
	if code, body := b.get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := b.get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if len(w.slack.Calls("auth.test")) == 0 {
		t.Errorf("/readyz answered 200 without asking Slack's auth.test")
	}
	if code, body := b.get("/metrics"); code != http.StatusOK || !strings.Contains(body, "# TYPE") {
		t.Errorf("/metrics: %d %.200q", code, body)
	}

	bad := newWorld(t)
	bad.slack.FailError("auth.test", 1000, "invalid_auth")
	addr := freeAddr(t)
	nb := bad.launch("slack-auth-fails", bad.writeConfig("slack-auth-fails", cfg{Listen: addr}), addr)
	eventually(t, 20*time.Second, "/healthz 200 with Slack auth failing", func() (bool, string) {
		if !nb.running() {
			t.Fatalf("process exited: %v", nb.exitError())
		}
		resp, err := http.Get(nb.url("/healthz"))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	if code, body := nb.get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "slack") {
		t.Errorf("/readyz with auth.test failing: %d %q, want 503 naming slack", code, body)
	}
}
