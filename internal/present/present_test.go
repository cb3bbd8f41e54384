package present

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/rollback"
)

// spans lists the references in t: mentions, channels and links, the
// runs that reach or lead someone, which no person's text may become.
func spans(t chat.Text) []chat.Span {
	var out []chat.Span
	for _, s := range t {
		switch s.Kind {
		case chat.SpanUser, chat.SpanGroup, chat.SpanChannel, chat.SpanLink:
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

// plainMarkup returns the first plain run of msg that holds mrkdwn markup:
// a *, ` or ~, or a > that starts a line. The inputs of the tests that use
// it hold none, so any such run is Backout writing its formatting into
// text, which the Slack adapter would show literally; Bold, Code, Pre and
// Quote spans are the way.
func plainMarkup(msg chat.Message) string {
	texts := []chat.Text{msg.Text, msg.Context}
	for _, sec := range msg.Sections {
		texts = append(texts, sec.Text)
		for _, f := range sec.Fields {
			texts = append(texts, f.Value)
		}
	}
	for _, t := range texts {
		for _, s := range t {
			if s.Kind != chat.SpanPlain {
				continue
			}
			if strings.ContainsAny(s.Text, "*`~") || strings.HasPrefix(s.Text, ">") || strings.Contains(s.Text, "\n>") {
				return s.Text
			}
		}
	}
	return ""
}

// TestFormattingIsTyped: the proposal, the plan, the summary and a failed
// step's note use typed spans for their bold, code, blocks and quotes.
func TestFormattingIsTyped(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []rollback.PlannedStep{{ID: "set-image", Title: "Set image", Uses: "kubectl", Preview: "kubectl set image deploy/api api=img:1\ntimeout: 1m"}}
	r := &rollback.Record{ID: "RB-1", State: rollback.StateFailed, Requester: "U0ALICE", PlanHash: "h1", Reason: "errors up", Urgency: "high",
		Trigger: rollback.Trigger{Kind: "alert", Source: "pagerduty", Summary: "5xx"}, CreatedAt: at,
		Services: []rollback.ServiceChange{
			{Service: "api", Current: rollback.Release{Version: "2"}, Target: rollback.Release{Version: "1", Artifact: "img:1"}, Steps: steps},
			{Service: "db", Level: 1, Current: rollback.Release{Version: "2"}, Target: rollback.Release{Version: "1", Artifact: "db:1"}, Steps: steps},
		}}
	events := []rollback.StepEvent{{Service: "api", StepID: "set-image", Kind: rollback.StepFailed, Error: "exit 1", Output: "boom\nagain", At: at}}
	failed := rollback.StepAttemptFailed{About: rollback.About{Rollback: r}, Service: "api", Step: "set-image", Attempt: 1, Error: "exit 1", Output: "boom"}
	for name, msg := range map[string]chat.Message{
		"proposal": ProposalView(r, nil, events), "plan": PlanView(r.Services), "summary": SummaryView(r), "step failed": stepFailed(failed),
	} {
		if run := plainMarkup(msg); run != "" {
			t.Errorf("%s writes markup into the plain run %q", name, run)
		}
	}
}
