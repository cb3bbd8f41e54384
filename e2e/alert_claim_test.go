package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAlertThatCannotBeProposedHoldsNothing: an alert whose rollback
// cannot be planned (demo-api has no known-good release yet) is answered
// in the channel and lets go of the service, so the next alert, once the
// team has recorded a release to go back to, is proposed at once, not
// turned away for a minute with "another alert for demo-api is being
// turned into a proposal" when none is.
func TestAlertThatCannotBeProposedHoldsNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	b := w.boot("alert-claim")
	w.deploy(b, "demo-api", "1.5.0", 10*time.Minute)

	first := pdEvent(t, "incident.triggered", "01E2E"+strings.ToUpper(randHex(8)), "Q"+strings.ToUpper(randHex(6)), "PDEMOAPI", time.Now())
	if code, body := b.pagerDuty(first, w.secrets.PDSecret); code != http.StatusAccepted {
		t.Fatalf("first incident.triggered: %d %s, want 202", code, body)
	}
	eventually(t, 15*time.Second, "the channel told no rollback was proposed", func() (bool, string) {
		var texts []string
		for _, c := range w.slack.Calls("chat.postMessage") {
			texts = append(texts, c.Param("text"))
		}
		return countContaining(texts, "No known-good release of demo-api") == 1, strings.Join(texts, " | ")
	})

	w.deploy(b, "demo-api", "1.4.0", 3*time.Hour) // known-good now: it lived before 1.5.0
	second := pdEvent(t, "incident.triggered", "01E2E"+strings.ToUpper(randHex(8)), "Q"+strings.ToUpper(randHex(6)), "PDEMOAPI", time.Now())
	if code, body := b.pagerDuty(second, w.secrets.PDSecret); code != http.StatusAccepted {
		t.Fatalf("second incident.triggered: %d %s, want 202", code, body)
	}
	p := w.waitProposals(b, "C0DEMO", 1)[0]
	if !strings.Contains(p.Text, "*1.4.0*") {
		t.Errorf("proposal does not go back to 1.4.0:\n%s", p.Text)
	}
}
