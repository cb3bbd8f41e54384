package app

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/chat/slack/slackfake"
	"github.com/backout/backout/internal/rollback"
)

const rigSupportChannel = "C0SUPPORT"

// TestSupportCheck: after a rollback of strict (support_channel C0SUPPORT,
// support_window 1h) succeeds, the support channel gets a message with a
// "Users still affected" button. Pressed through Slack's interactivity
// endpoint, each person counts once within the window; every press is
// audited; the rollback's thread shows the count; the registry carries it
// in JSON and CSV; a press after the window gets a private "closed" answer
// and counts nothing. On both stores (reports live on the record, written
// by compare-and-set).
func TestSupportCheck(t *testing.T) {
	for _, kind := range []string{"bolt", "redis"} {
		t.Run(kind, func(t *testing.T) {
			if kind == "redis" {
				requireRedis(t)
			}
			r := newRig(t, kind)
			id := r.running("strict")
			r.latch.ReleaseAll()
			eventually(t, 15*time.Second, id+" succeeded", func() (bool, string) {
				s := r.rollback(id).State
				return s == rollback.StateSucceeded, string(s)
			})
			ts := r.supportMessage(id)
			steps := []struct {
				user, want string
			}{
				{"U0SUP1", "Counted: 1 report(s) that users are still affected after " + id},
				{"U0SUP1", "You already reported that users are still affected after " + id + "; each person counts once (1 report(s) so far)."},
				{"U0SUP2", "Counted: 2 report(s) that users are still affected after " + id},
			}
			for i, st := range steps {
				r.pressAffected(st.user, id, ts)
				eventually(t, 15*time.Second, fmt.Sprintf("press %d answered", i+1), func() (bool, string) {
					got := r.ephemerals(st.user)
					return slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, st.want) }), strings.Join(got, " | ")
				})
			}
			eventually(t, 15*time.Second, "the count in the thread", func() (bool, string) {
				pub := r.public()
				return slices.ContainsFunc(pub, func(s string) bool {
					return strings.Contains(s, "🆘 2 reports from support that users are still affected, last ")
				}), fmt.Sprintf("%d messages", len(pub))
			})
			if got := r.rollback(id).SupportReports; len(got) != 2 || got[0].User != "U0SUP1" || got[1].User != "U0SUP2" {
				t.Errorf("reports on the record = %+v, want U0SUP1 then U0SUP2", got)
			}
			r.checkRegistry(id, 2)

			// The window closes: a press now is refused, privately, and not counted.
			rec := r.rollback(id)
			rec.SupportUntil = time.Now().Add(-time.Minute)
			if err := r.st.UpdateRollback(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			r.pressAffected("U0SUP3", id, ts)
			closed := fmt.Sprintf("The support window for %s closed at %s", id, rec.SupportUntil.UTC().Format("2006-01-02 15:04:05Z"))
			eventually(t, 15*time.Second, "the closed answer", func() (bool, string) {
				got := r.ephemerals("U0SUP3")
				return slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, closed) }), strings.Join(got, " | ")
			})
			if got := len(r.rollback(id).SupportReports); got != 2 {
				t.Errorf("%d reports after a late press, want 2", got)
			}
			audits, err := r.st.ListAudit(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var pressed []string
			for _, e := range audits {
				if e.Action == "rollback.users_affected" && e.Target == id {
					pressed = append(pressed, e.Actor)
				}
			}
			if want := []string{"U0SUP1", "U0SUP1", "U0SUP2", "U0SUP3"}; !slices.Equal(pressed, want) {
				t.Errorf("audited presses %v, want %v", pressed, want)
			}
		})
	}
}

// supportMessage waits for the support channel's message about id and
// returns its ts, checking it carries the button.
func (r *rig) supportMessage(id string) string {
	r.t.Helper()
	var ts string
	eventually(r.t, 15*time.Second, "the support message of "+id, func() (bool, string) {
		for _, m := range r.fake.Messages(rigSupportChannel) {
			var blocks []any
			_ = json.Unmarshal(m.Blocks, &blocks)
			if strings.Contains(m.Text, "Rollback "+id+":") && buttonsIn(blocks)[chat.ActionAffected] == id {
				ts = m.TS
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d messages in %s", len(r.fake.Messages(rigSupportChannel)), rigSupportChannel)
	})
	return ts
}

// pressAffected presses the support message's button as user.
func (r *rig) pressAffected(user, id, ts string) {
	r.t.Helper()
	payload := slackfake.BlockActionsJSON(slackfake.BlockActions{UserID: user, ChannelID: rigSupportChannel, MessageTS: ts,
		TriggerID: fmt.Sprintf("trigger-%d", r.clicks.Add(1)),
		Actions:   []slackfake.Action{{ActionID: chat.ActionAffected, Value: id, ActionTS: fmt.Sprintf("1700000200.%06d", r.clicks.Add(1))}}})
	r.sendSlack("/slack/interactions", slackfake.InteractionForm(payload))
}

// checkRegistry reads id's support reports from the registry, as JSON and
// as CSV.
func (r *rig) checkRegistry(id string, want int) {
	r.t.Helper()
	code, body := r.api(http.MethodGet, "/api/v1/rollbacks", rigAPIToken, nil)
	var list struct {
		Rollbacks []struct {
			ID             string `json:"id"`
			SupportReports *int   `json:"support_reports"`
		} `json:"rollbacks"`
	}
	if err := json.Unmarshal([]byte(body), &list); code != http.StatusOK || err != nil {
		r.t.Fatalf("registry JSON: %d %v %s", code, err, body)
	}
	i := slices.IndexFunc(list.Rollbacks, func(x struct {
		ID             string `json:"id"`
		SupportReports *int   `json:"support_reports"`
	}) bool {
		return x.ID == id
	})
	if i < 0 || list.Rollbacks[i].SupportReports == nil || *list.Rollbacks[i].SupportReports != want {
		r.t.Errorf("registry JSON of %s: %s; want support_reports %d", id, body, want)
	}
	code, body = r.api(http.MethodGet, "/api/v1/rollbacks?format=csv", rigAPIToken, nil)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != http.StatusOK || err != nil || len(rows) < 2 {
		r.t.Fatalf("registry CSV: %d %v %s", code, err, body)
	}
	col := slices.Index(rows[0], "support_reports")
	for _, row := range rows[1:] {
		if row[0] == id && (col < 0 || row[col] != fmt.Sprint(want)) {
			r.t.Errorf("registry CSV of %s: header %v row %v; want support_reports %d", id, rows[0], row, want)
		}
	}
}
