package e2e_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPagerDutyWebhook: a signed incident.triggered for demo-api's
// PagerDuty service, just after a deploy, proposes one rollback however
// often it is delivered; a forged one is refused; the incident resolving
// before anyone approved makes the proposal stale.
func TestPagerDutyWebhook(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	b := w.boot("pagerduty")
	w.deploy(b, "demo-api", "1.4.0", 3*time.Hour)
	w.deploy(b, "demo-api", "1.5.0", 10*time.Minute)

	incident := "Q" + strings.ToUpper(randHex(6))
	triggered := pdEvent(t, "incident.triggered", "01E2E"+strings.ToUpper(randHex(8)), incident, "PDEMOAPI", time.Now())
	if code, body := b.pagerDuty(triggered, w.secrets.PDSecret); code != http.StatusAccepted {
		t.Fatalf("signed incident.triggered: %d %s, want 202", code, body)
	}
	p := w.waitProposals(b, "C0DEMO", 1)[0]
	for _, want := range []string{"pagerduty alert", "demo-api: 5xx ratio above 5%", "1.5.0", "*1.4.0*", "Approve"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("proposal lacks %q:\n%s", want, p.Text)
		}
	}

	if code, body := b.pagerDuty(triggered, w.secrets.PDSecret); code != http.StatusAccepted {
		t.Errorf("the same delivery again: %d %s, want 202", code, body)
	}
	// A second subscription delivers the same incident under another id.
	again := pdEvent(t, "incident.triggered", "01E2E"+strings.ToUpper(randHex(8)), incident, "PDEMOAPI", time.Now())
	if code, body := b.pagerDuty(again, w.secrets.PDSecret); code != http.StatusAccepted {
		t.Errorf("the same incident from another subscription: %d %s, want 202", code, body)
	}
	forged := pdEvent(t, "incident.triggered", "01E2E"+strings.ToUpper(randHex(8)), "QFORGED", "PDEMOAPI", time.Now())
	if code, body := b.pagerDuty(forged, "not-the-webhook-secret"); code != http.StatusUnauthorized {
		t.Errorf("bad signature: %d %s, want 401", code, body)
	}
	tampered := bytes.Replace(triggered, []byte(incident), []byte("QTAMPERED"), 1)
	if code, body := b.pagerDuty(tampered, "x"); code != http.StatusUnauthorized {
		t.Errorf("tampered body: %d %s, want 401", code, body)
	}

	resolved := pdEvent(t, "incident.resolved", "01E2E"+strings.ToUpper(randHex(8)), incident, "PDEMOAPI", time.Now())
	if code, body := b.pagerDuty(resolved, w.secrets.PDSecret); code != http.StatusAccepted {
		t.Fatalf("signed incident.resolved: %d %s, want 202", code, body)
	}
	r := w.waitState(b, p.ID, "stale", 15*time.Second)
	if !strings.Contains(r.Outcome, "stale") {
		t.Errorf("outcome %q", r.Outcome)
	}
	eventually(t, 10*time.Second, "the stale note in the thread", func() (bool, string) {
		th := w.threadTexts("C0DEMO", p.TS)
		return countContaining(th, "is stale and will not run") == 1, strings.Join(th, " | ")
	})
	// Resolution came after every trigger was handled, so by now any
	// second proposal would be there.
	if ps := w.proposals(b, "C0DEMO"); len(ps) != 1 {
		t.Errorf("%d proposals after duplicate deliveries, want 1", len(ps))
	}
	if ids := w.rollbackIDs(b); len(ids) != 1 {
		t.Errorf("rollbacks %v, want exactly one", ids)
	}
}
