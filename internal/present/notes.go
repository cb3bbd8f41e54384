package present

import (
	"fmt"
	"strings"
	"time"

	"github.com/backout/backout/internal/chart"
	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
)

// VoteNote is the thread note for one vote.
func VoteNote(r *rollback.Record, user string, approve bool, detail string, at time.Time) chat.Message {
	if !approve {
		return chat.TextMessage(chat.Textf("👎 %s rejected %s at %s: %s", chat.User(user), r.ID, chat.Stamp(at), detail))
	}
	t := chat.Textf("👍 %s approved %s at %s.", chat.User(user), r.ID, chat.Stamp(at))
	if detail != "" {
		t = t.AddPlain(" Still needed: " + detail + ".")
	}
	return chat.TextMessage(t)
}

// ValidationMessage posts the validation table of one service.
func ValidationMessage(r *rollback.Record, service string, results []rollback.CheckResult) chat.Message {
	t := &chat.Table{Header: []string{"check", "outcome", "measurements", "deciding value", "bound"}}
	var skipped []string
	for _, res := range results {
		if res.Status == "Skipped" {
			// A skipped check measured nothing: its reason is the news.
			skipped = append(skipped, "⏭️ "+res.Reason)
			continue
		}
		t.Rows = append(t.Rows, []string{res.Name, res.Status, measuredText(res), res.Value, res.Bound})
	}
	text := fmt.Sprintf("Validation of %s for %s: %s", service, r.ID, rollback.ValidationSummary(results))
	section := chat.Section{Text: chat.Plain("🔎 " + strings.Join(append([]string{text}, skipped...), "\n"))}
	if len(t.Rows) > 0 {
		section.Table = t
	}
	msg := chat.Message{Text: chat.Plain(text), Sections: []chat.Section{section}}
	var undrawn []string
	for _, res := range results {
		if res.Chart == nil {
			continue
		}
		img, err := ChartImage(r, service, res)
		if err != nil {
			undrawn = append(undrawn, err.Error())
			continue
		}
		msg.Images = append(msg.Images, img)
	}
	if len(undrawn) > 0 {
		msg.Context = chat.Plain("Charts not drawn: " + strings.Join(undrawn, "; "))
	}
	return msg
}

// measuredText is a check's tally of measurements ("2/2 passed", "1 of 3
// failed, 2 passed"); a record written before tallies were kept says it
// does not know rather than guess from the deciding value.
func measuredText(res rollback.CheckResult) string {
	if res.Measured == nil {
		return "not recorded"
	}
	return res.Measured.String()
}

// ChartImage draws a check's chart as a PNG named after the rollback,
// service and check, with its sparkline.
func ChartImage(r *rollback.Record, service string, res rollback.CheckResult) (chat.Image, error) {
	title := fmt.Sprintf("%s · %s · %s (%s)", r.ID, service, res.Name, res.Status)
	png, err := chart.PNG(*res.Chart, title)
	if err != nil {
		return chat.Image{}, fmt.Errorf("%s: %w", res.Name, err)
	}
	return chat.Image{Filename: ChartFilename(r.ID, service, res.Name), Title: title, PNG: png,
		Sparkline: chart.Sparkline(chart.Values(*res.Chart), 60)}, nil
}

// ChartFilename is where a check's chart is written and uploaded.
func ChartFilename(rollbackID, service, check string) string {
	return fmt.Sprintf("%s-%s-%s.png", rollbackID, service, rollback.CheckSlug(check))
}

// SettlingMessage says validation's first phase has begun: nothing is
// measured until the service has settled.
func SettlingMessage(n rollback.Settling) chat.Message {
	return chat.TextMessage(chat.Plain(fmt.Sprintf("⏳ Validation of %s for %s: waiting %s for %s to settle, then %d check(s) measure (window %s).",
		n.Service, n.Rollback.ID, human.Duration(n.Delay), n.Service, n.Checks, human.Duration(n.Window))))
}

// measuredIcon marks a measurement's outcome at a glance.
var measuredIcon = map[string]string{"Successful": "✅", "Failed": "❌", "Inconclusive": "❔", "Error": "⚠️"}

// MeasuredMessage is one validation measurement, as it lands.
func MeasuredMessage(n rollback.Measured) chat.Message {
	text := fmt.Sprintf("%s %s · %s: measurement #%d (count %d) at %s: %s", measuredIcon[n.Outcome], n.Service, n.Check, n.N, n.Count,
		n.At.UTC().Format("15:04:05Z"), n.Outcome)
	if n.Message != "" {
		text += " — " + n.Message
	}
	return chat.TextMessage(chat.Plain(text))
}

// SummaryView is the last thread note of a rollback.
func SummaryView(r *rollback.Record) chat.Message {
	var lines []string
	for _, p := range rollback.Phases(r) {
		lines = append(lines, fmt.Sprintf("%s %s", p.Name, human.Duration(p.Duration)))
	}
	text := chat.Plain(fmt.Sprintf("%s %s %s", stateIcon[r.State], r.ID, outcomeText(r)))
	if line := tookLine(r); line != "" {
		text = text.AddPlain("\n" + line)
	}
	if r.State == rollback.StateFailed {
		text = text.Add(chat.Textf("\nNext: check the failed step's output above, decide whether to retry (%s) or roll forward, and page the owners. Backout starts nothing more by itself.",
			chat.Code("/rollback propose")))
	}
	msg := chat.TextMessage(text)
	if len(lines) > 0 {
		msg.Context = chat.Plain(strings.Join(lines, " · "))
	}
	return msg
}

// SupportView tells a support channel the outcome.
func SupportView(r *rollback.Record) chat.Message {
	text := outcomeText(r)
	if summary := rollback.SummaryLine(r); !strings.Contains(text, summary) {
		text = summary + ": " + text
	}
	text = fmt.Sprintf("%s Rollback %s: %s", stateIcon[r.State], r.ID, text)
	asks := r.State == rollback.StateSucceeded && !r.SupportUntil.IsZero()
	if asks {
		// Support hears from users first: the button lets them say the
		// rollback did not end it, counted in the rollback's thread.
		text += "\nUsers still affected? Press the button (once per person) until " + chat.Stamp(r.SupportUntil) + "."
	}
	msg := chat.TextMessage(chat.Plain(text))
	if asks {
		msg.Buttons = []chat.Button{{ActionID: chat.ActionAffected, Text: "Users still affected", Value: chat.ButtonValue(r.ID, ""), Style: chat.StyleDanger}}
	}
	return msg
}

// AffectedNote is the thread note of the support reports so far:
// "🆘 3 reports from support that users are still affected, last 14:02".
func AffectedNote(r *rollback.Record) chat.Message {
	n := len(r.SupportReports)
	noun := "reports"
	if n == 1 {
		noun = "report"
	}
	return chat.TextMessage(chat.Textf("🆘 %d %s from support that users are still affected, last %s.", n, noun, chat.Stamp(r.LastSupportReport())))
}

// outcomeText is "succeeded: …" once, whether or not the outcome already
// starts with the state.
func outcomeText(r *rollback.Record) string {
	switch {
	case r.Outcome == "":
		return string(r.State)
	case strings.HasPrefix(r.Outcome, string(r.State)):
		return r.Outcome
	}
	return string(r.State) + ": " + r.Outcome
}

// tookLine says how long a rollback took against its recovery target. Only
// a success recovers anything: "within the recovery target" is said of
// nothing else.
func tookLine(r *rollback.Record) string {
	if r.EndedAt.IsZero() || r.StartedAt.IsZero() {
		return ""
	}
	took := human.Duration(r.EndedAt.Sub(r.CreatedAt))
	target := ""
	if r.RecoveryTarget > 0 {
		target = human.Duration(r.RecoveryTarget)
	}
	switch {
	case r.State != rollback.StateSucceeded && target != "":
		return fmt.Sprintf("%s after %s; recovery target %s.", capitalize(string(r.State)), took, target)
	case r.State != rollback.StateSucceeded:
		return fmt.Sprintf("%s after %s.", capitalize(string(r.State)), took)
	}
	// A recovery counts from detection, as the registry counts it.
	recovered := rollback.RecoveryTime(r)
	switch {
	case target == "":
		return fmt.Sprintf("Recovered in %s.", human.Duration(recovered))
	case recovered > r.RecoveryTarget:
		return fmt.Sprintf("Recovered in %s, over the recovery target of %s.", human.Duration(recovered), target)
	}
	return fmt.Sprintf("Recovered in %s, within the recovery target of %s.", human.Duration(recovered), target)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
