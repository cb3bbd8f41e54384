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

// TestBackoutCodeInAnswersIsCodeInSlack: the answers the lifecycle and the
// grammar word themselves (a refusal, a plan that cannot be made, a usage
// problem) reach Slack, through the real endpoints, with the keys and
// commands they name as inline code, a real backtick pair, while what the
// person typed in the same kind of answer stays inert.
func TestBackoutCodeInAnswersIsCodeInSlack(t *testing.T) {
	r := newRig(t, "bolt")
	id := r.propose("strict")
	tok := func(s string) string { return "<!date^00000000^{_}|" + s + ">" }
	cases := []struct {
		name, user, text string
		want             string
	}{
		{"refusal", userNobody, "override " + id + " flag matrix: trust me",
			"You may not override a failing check of " + id + " (strict). Who may: those the approval policy of strict lets override " +
				"(its `override:` groups, else its owners and approvers) (`permissions.override_check`)."},
		{"plan failure", userRequester, "propose strict again",
			id + " already covers strict (proposed); act on it (`/rollback status " + id + "`) or abort it first."},
		{"usage", userRequester, "approve " + id + " not-a-hash extra",
			"`approve` takes a rollback id and, optionally, the plan hash from its message's footer.\nUsage: `/rollback approve &lt;id&gt; [&lt;plan&gt;]`"},
		{"usage with typed text", userRequester, "plan strict `x`",
			"Unexpected \"" + tok("`") + "x" + tok("`") + "\".\nUsage: `/rollback plan &lt;service&gt; [to &lt;version&gt;]`"},
	}
	for _, c := range cases {
		if rep := r.command(c.user, c.text); rep.Text != c.want {
			t.Errorf("%s: /rollback %s answered\n %q\nwant\n %q", c.name, c.text, rep.Text, c.want)
		}
	}
}

// TestBidiControlsInPeopleTextAreShownInSlack: a reason holding Unicode's
// invisible direction controls (U+202E reverses what follows it: typed
// "eteled si esabatad", a reader sees "database is deleted") reaches
// Slack, through the real endpoints, with each control written out as a
// visible [U+XXXX], so text cannot pass itself off as other text.
func TestBidiControlsInPeopleTextAreShownInSlack(t *testing.T) {
	r := newRig(t, "bolt")
	rep := r.command(userRequester, "propose lax bad flag \u202eeteled si esabatad\u202c and \u2067x\u2069")
	if !strings.Contains(rep.Text, "Proposed RB-") {
		t.Fatalf("propose: %q", rep.Text)
	}
	var why string
	for _, c := range r.fake.Calls("chat.postMessage") {
		if strings.ContainsAny(c.Param("blocks")+c.Param("text"), "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") {
			t.Errorf("a direction control reached Slack: text %q blocks %q", c.Param("text"), c.Param("blocks"))
		}
		var blocks []struct{ Text struct{ Text string } }
		if err := c.Decode("blocks", &blocks); err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			if strings.HasPrefix(b.Text.Text, "*Why*\n") {
				why = b.Text.Text
			}
		}
	}
	if want := "\n&gt; bad flag [U+202E]eteled si esabatad[U+202C] and [U+2067]x[U+2069]"; !strings.HasSuffix(why, want) {
		t.Errorf("the proposal's Why section is %q, want it to end with %q", why, want)
	}
}
