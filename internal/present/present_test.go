package present

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/rollback"
)

// spans lists the typed (non-plain) runs of t.
func spans(t chat.Text) []chat.Span {
	var out []chat.Span
	for _, s := range t {
		if s.Kind != chat.SpanPlain {
			out = append(out, s)
		}
	}
	return out
}

func TestPeopleAndLinksAreTyped(t *testing.T) {
	r := &rollback.Record{ID: "RB-1", State: rollback.StateProposed, Requester: "U0ALICE", PlanHash: "h1",
		Reason:  "<!channel> see <https://evil.example|this>",
		Trigger: rollback.Trigger{Kind: "alert", Source: "pagerduty", URL: "https://pd.example/i/1", Summary: "<@U0EVE>"},
		Policy:  rollback.Policy{Min: 1, Users: []string{"U0BOB", "U0DANA"}}}
	votes := []rollback.Vote{{User: "U0BOB", Approve: true, PlanHash: "h1", Counted: true}}
	msg := ProposalView(r, votes, nil)
	var why, approvals chat.Text
	for _, s := range msg.Sections {
		switch s.Title {
		case "Why":
			why = s.Text
		case "Approvals":
			approvals = s.Text
		}
	}
	if got, want := spans(why), []chat.Span{chat.Link("https://pd.example/i/1", "details")}; !slices.Equal(got, want) {
		t.Errorf("why spans = %v, want %v (the summary and reason are a person's text)", got, want)
	}
	if got, want := spans(approvals), []chat.Span{chat.User("U0BOB"), chat.User("U0DANA"), chat.User("U0BOB")}; !slices.Equal(got, want) {
		t.Errorf("approval spans = %v, want %v", got, want)
	}
	// An alert raised it: the footer names the source in words, no mention.
	if got := spans(msg.Context); len(got) != 0 || !strings.HasPrefix(msg.Context.String(), "raised by a PagerDuty alert") {
		t.Errorf("context = %q, spans %v", msg.Context.String(), got)
	}
	r.Trigger = rollback.Trigger{Kind: "person", Source: "slack:10.0.0.1"}
	if got := spans(ProposalView(r, votes, nil).Context); !slices.Equal(got, []chat.Span{chat.User("U0ALICE")}) {
		t.Errorf("a person's proposal: context spans = %v", got)
	}
	if !strings.Contains(why.String(), "<!channel> see <https://evil.example|this>") {
		t.Errorf("reason lost: %q", why)
	}
}

func TestVoteNoteKeepsReasonPlain(t *testing.T) {
	r := &rollback.Record{ID: "RB-1"}
	msg := VoteNote(r, "U0CAROL", false, "<@U1> <!here>", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if got := spans(msg.Text); !slices.Equal(got, []chat.Span{chat.User("U0CAROL")}) {
		t.Fatalf("spans = %v", got)
	}
	if got, want := msg.Text.String(), "👎 @U0CAROL rejected RB-1 at 2026-01-02 03:04:05Z: <@U1> <!here>"; got != want {
		t.Fatalf("text = %q, want %q", got, want)
	}
}

func TestButtons(t *testing.T) {
	r := &rollback.Record{ID: "RB-7", State: rollback.StateProposed, PlanHash: "abc"}
	bs := buttons(r)
	if len(bs) != 2 || bs[0].ActionID != chat.ActionApprove || bs[1].ActionID != chat.ActionReject {
		t.Fatalf("buttons = %+v", bs)
	}
	if id, extra := chat.ParseButtonValue(bs[0].Value); id != "RB-7" || extra != "abc" {
		t.Fatalf("value %q parses to %q, %q", bs[0].Value, id, extra)
	}
	r.State, r.Paused = rollback.StateRunning, true
	if bs := buttons(r); len(bs) != 2 || bs[0].ActionID != chat.ActionResume || bs[0].Value != "RB-7" || bs[1].ActionID != chat.ActionAbort {
		t.Fatalf("paused buttons = %+v", bs)
	}
	r.State, r.Paused = rollback.StateInterrupted, false
	if bs := buttons(r); len(bs) != 2 || bs[0].ActionID != chat.ActionResume {
		t.Fatalf("interrupted buttons = %+v", bs)
	}
	// Someone asked to abort it: a Tick ends it, and Resume is refused.
	r.AbortBy = "alice"
	if bs := buttons(r); len(bs) != 1 || bs[0].ActionID != chat.ActionAbort {
		t.Fatalf("interrupted under an abort: buttons = %+v, want Abort alone", bs)
	}
}
