package present

import (
	"fmt"
	"strings"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/rollback"
)

// PlanView is the answer to `/rollback plan`: every step with its whole
// resolved command, nothing cut, nothing run.
func PlanView(changes []rollback.ServiceChange) chat.Message {
	msg := chat.Message{}
	msg.Sections = append(msg.Sections, chat.Section{Text: chat.Textf("%s (dry run; nothing was proposed or run)", chat.Bold("Plan"))})
	fallback := []chat.Text{chat.Plain("Plan (dry run; nothing was proposed or run):")}
	for _, c := range changes {
		lines := []chat.Text{chat.Textf("%s %s → %s, runbook %s\n%s", chat.Bold(c.Service), c.Current.Version, c.Target.Version, c.Runbook, chat.Code(c.Target.Artifact))}
		for i, st := range c.Steps {
			line := fmt.Sprintf("%d. %s [%s]", i+1, st.Title, st.Uses)
			if st.Gate != "" {
				line += " 🔒 gate: " + st.Gate
			}
			if st.Skipped {
				line += " (skipped: condition false)"
			}
			text := chat.Plain(line)
			if st.Preview != "" {
				text = text.Add(chat.Textf("\n%s", chat.Pre(st.Preview)))
			}
			lines = append(lines, text)
		}
		msg.Sections = append(msg.Sections, chat.Section{Text: chat.Join(lines, "\n")})
		fallback = append(fallback, lines...)
	}
	msg.Text = chat.Join(fallback, "\n")
	return msg
}

// commandAndDetails splits a step preview into the command itself (its
// first line) and what qualifies it (env passed through, timeout…), so the
// details are not read as part of the command.
func commandAndDetails(preview string) (command, details string) {
	command, rest, _ := strings.Cut(strings.TrimSpace(preview), "\n")
	return strings.TrimSpace(command), strings.Join(strings.Fields(strings.ReplaceAll(rest, "\n", "; ")), " ")
}
