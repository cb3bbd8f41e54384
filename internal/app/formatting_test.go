package app

import (
	"strings"
	"testing"
)

// TestPeopleTextStaysInertInSlack: a reason typed with Slack's formatting
// characters reaches Slack, through the real endpoints, with each of them
// as the fallback of a date token (shown as typed, never formatted), while
// Backout's own bold and code in the same message stay markup.
func TestPeopleTextStaysInertInSlack(t *testing.T) {
	r := newRig(t, "bolt")
	rep := r.command(userRequester, "propose lax *urgent* _now_ ~x~ `code` > web-*")
	if !strings.Contains(rep.Text, "Proposed RB-") {
		t.Fatalf("propose: %q", rep.Text)
	}
	tok := func(s string) string { return "<!date^00000000^{_}|" + s + ">" }
	reason := "&gt; " + tok("*") + "urgent" + tok("*") + " " + tok("_") + "now" + tok("_") + " " + tok("~") + "x" + tok("~") + " " +
		tok("`") + "code" + tok("`") + " &gt; web-" + tok("*")
	var why, goesBack string
	for _, c := range r.fake.Calls("chat.postMessage") {
		var blocks []struct {
			Text   struct{ Text string }
			Fields []struct{ Text string }
		}
		if err := c.Decode("blocks", &blocks); err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			if strings.HasPrefix(b.Text.Text, "*Why*\n") {
				why = b.Text.Text
			}
			if strings.HasPrefix(b.Text.Text, "*What goes back") && len(b.Fields) > 0 {
				goesBack = b.Fields[0].Text
			}
		}
	}
	if !strings.HasSuffix(why, "\n"+reason) {
		t.Errorf("the proposal's Why section is %q, want it to end with the inert reason %q", why, reason)
	}
	if want := "*lax*\n1.1.0 → *1.0.0*\n`registry.example.com/lax@sha256:"; !strings.HasPrefix(goesBack, want) {
		t.Errorf("the proposal's service field is %q, want Backout's bold and code: %q…", goesBack, want)
	}
}
