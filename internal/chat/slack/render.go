package slack

import (
	"fmt"
	"strings"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/human"
)

// Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
const (
	maxBlocks         = 50
	maxSectionText    = 3000
	maxFieldText      = 2000
	maxFieldsPerBlock = 10
	maxHeaderText     = 150
	maxButtonText     = 75
	maxConfirmText    = 300
	maxButtonsPerRow  = 25
	maxContextText    = 3000
	maxFallbackText   = 3000
	// minTableRoom is the least space worth giving a table next to its title.
	minTableRoom = 1000
)

// Render turns a neutral message into Block Kit blocks: header, mentions,
// sections (fields, monospaced tables), buttons and a context footer. It
// never exceeds Slack's per-message block count or per-text limits; when
// there are too many sections the last ones are replaced by a note, while
// buttons and footer are always kept.
func Render(msg chat.Message) []slackgo.Block {
	var head, body, tail []slackgo.Block
	if h := strings.TrimSpace(msg.Header); h != "" {
		head = append(head, slackgo.NewHeaderBlock(plain(human.Truncate(h, maxHeaderText))))
	}
	if m := mentionLine(msg.Mentions); m != "" {
		head = append(head, textSection(m))
	}
	for _, s := range msg.Sections {
		body = append(body, sectionBlocks(s)...)
	}
	if text := strings.TrimSpace(mrkdwnText(msg.Text)); len(head)+len(body) == 0 && text != "" {
		body = append(body, textSection(truncate(text, maxSectionText)))
	}
	tail = append(tail, actionBlocks(msg.Buttons)...)
	if c := strings.TrimSpace(mrkdwnText(msg.Context)); c != "" {
		tail = append(tail, slackgo.NewContextBlock("", mrkdwn(truncate(c, maxContextText))))
	}
	if room := maxBlocks - len(head) - len(tail); len(body) > room {
		kept := max(room-1, 0)
		note := textSection(fmt.Sprintf("_… %d more blocks not shown_", len(body)-kept))
		body = append(body[:kept:kept], note)
	}
	blocks := make([]slackgo.Block, 0, len(head)+len(body)+len(tail))
	blocks = append(blocks, head...)
	blocks = append(blocks, body...)
	return append(blocks, tail...)
}

// FallbackText is the top-level "text" sent with the blocks: what
// notifications and screen readers show. Mentions are repeated here because
// push notifications are built from it.
func FallbackText(msg chat.Message) string {
	text := strings.TrimSpace(mrkdwnText(msg.Text))
	if text == "" {
		text = strings.TrimSpace(inert(msg.Header, true))
	}
	for _, s := range msg.Sections {
		if text != "" {
			break
		}
		text = strings.TrimSpace(inert(s.Title, true) + " " + mrkdwnText(s.Text))
	}
	m := mentionLine(msg.Mentions)
	if m == "" {
		return truncate(text, maxFallbackText)
	}
	// The mentions are what makes a notification reach people: the text is
	// cut to leave them room, not the mentions.
	room := maxFallbackText - utf8.RuneCountInString(m) - 1
	if room <= 0 {
		return truncate(m, maxFallbackText)
	}
	return strings.TrimSpace(truncate(text, room) + " " + m)
}

func plain(s string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, s, false, false)
}

func textSection(s string) *slackgo.SectionBlock {
	return slackgo.NewSectionBlock(mrkdwn(s), nil, nil)
}

func sectionBlocks(s chat.Section) []slackgo.Block {
	var blocks []slackgo.Block
	var text string
	if t := strings.TrimSpace(s.Title); t != "" {
		text = styled("*", t)
	}
	if body := strings.TrimSpace(mrkdwnText(s.Text)); body != "" {
		if text != "" {
			text += "\n"
		}
		text += body
	}
	var table string
	if s.Table != nil && (len(s.Table.Header) > 0 || len(s.Table.Rows) > 0) {
		// A table shares the title's block when there are no fields and it
		// still fits whole; otherwise it gets a block of its own.
		if room := maxSectionText - utf8.RuneCountInString(text) - 1; len(s.Fields) == 0 && (text == "" || room >= minTableRoom) {
			if text != "" {
				text += "\n"
			}
			text += tableText(*s.Table, room)
		} else {
			table = tableText(*s.Table, maxSectionText)
		}
	}
	var fields []*slackgo.TextBlockObject
	for _, f := range s.Fields {
		// Slack refuses an empty field, which an empty label and value make.
		if text := strings.TrimSpace(fieldText(f)); text != "" {
			fields = append(fields, mrkdwn(truncate(text, maxFieldText)))
		}
	}
	// Slack shows fields two per row and takes at most ten per section.
	first := fields[:min(len(fields), maxFieldsPerBlock)]
	if text != "" || len(first) > 0 {
		var obj *slackgo.TextBlockObject
		if text != "" {
			obj = mrkdwn(truncate(text, maxSectionText))
		}
		blocks = append(blocks, slackgo.NewSectionBlock(obj, nilIfEmpty(first), nil))
	}
	for rest := fields[len(first):]; len(rest) > 0; {
		n := min(len(rest), maxFieldsPerBlock)
		blocks = append(blocks, slackgo.NewSectionBlock(nil, rest[:n], nil))
		rest = rest[n:]
	}
	if table != "" {
		blocks = append(blocks, textSection(table))
	}
	return blocks
}

// fieldText is a field's label in bold over its value.
func fieldText(f chat.Field) string {
	label := styled("*", strings.TrimSpace(f.Label))
	if label == "" {
		return mrkdwnText(f.Value)
	}
	return label + "\n" + mrkdwnText(f.Value)
}

func nilIfEmpty(f []*slackgo.TextBlockObject) []*slackgo.TextBlockObject {
	if len(f) == 0 {
		return nil
	}
	return f
}

// tableText lays a table out as an aligned code block. Columns are padded by
// character count; rows that do not fit in limit are dropped with a note so
// the closing fence always survives.
func tableText(t chat.Table, limit int) string {
	rows := make([][]string, 0, len(t.Rows)+1)
	if len(t.Header) > 0 {
		rows = append(rows, t.Header)
	}
	rows = append(rows, t.Rows...)
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	widths := make([]int, cols)
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell(c)))
		}
	}
	var lines []string
	for i, r := range rows {
		lines = append(lines, tableLine(r, widths))
		if i == 0 && len(t.Header) > 0 {
			sep := make([]string, cols)
			for j, w := range widths {
				sep[j] = strings.Repeat("-", w)
			}
			lines = append(lines, tableLine(sep, widths))
		}
	}
	const open, closing, noteRoom = "```\n", "\n```", 32
	budget := limit - utf8.RuneCountInString(open+closing)
	escaped := make([]string, len(lines))
	total := 0
	for i, l := range lines {
		escaped[i] = escape(l)
		total += utf8.RuneCountInString(escaped[i]) + 1
	}
	if total-1 > budget {
		budget -= noteRoom // room for "… n more rows"
	}
	var b strings.Builder
	used := 0
	for i, l := range escaped {
		n := utf8.RuneCountInString(l) + 1
		if used+n-1 > budget {
			fmt.Fprintf(&b, "… %d more rows\n", len(lines)-i)
			break
		}
		b.WriteString(l)
		b.WriteByte('\n')
		used += n
	}
	return open + strings.TrimSuffix(b.String(), "\n") + closing
}

// cell flattens a cell onto one line and defuses code fences, which would
// otherwise end the monospaced block early.
func cell(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s)
	return strings.ReplaceAll(s, "```", "'''")
}

func tableLine(r []string, widths []int) string {
	parts := make([]string, len(widths))
	for i, w := range widths {
		var c string
		if i < len(r) {
			c = cell(r[i])
		}
		parts[i] = c + strings.Repeat(" ", w-utf8.RuneCountInString(c))
	}
	return strings.TrimRight(strings.Join(parts, "  "), " ")
}

func actionBlocks(buttons []chat.Button) []slackgo.Block {
	var blocks []slackgo.Block
	var row []slackgo.BlockElement
	seen := map[string]int{}
	for _, b := range buttons {
		if b.ActionID == "" || strings.TrimSpace(b.Text) == "" {
			continue
		}
		blocks, row = flushRow(blocks, row, maxButtonsPerRow)
		row = append(row, button(b, uniqueActionID(seen, b.ActionID)))
	}
	blocks, _ = flushRow(blocks, row, 1)
	return blocks
}

// flushRow closes the current actions block once it holds limit buttons.
func flushRow(blocks []slackgo.Block, row []slackgo.BlockElement, limit int) ([]slackgo.Block, []slackgo.BlockElement) {
	if len(row) >= limit && len(row) > 0 {
		return append(blocks, slackgo.NewActionBlock("", row...)), nil
	}
	return blocks, row
}

// uniqueActionID suffixes repeated action IDs ("approve#2") because Slack
// rejects duplicates within a message; actionVerb strips the suffix again.
func uniqueActionID(seen map[string]int, id string) string {
	seen[id]++
	if n := seen[id]; n > 1 {
		return fmt.Sprintf("%s#%d", id, n)
	}
	return id
}

// actionVerb undoes uniqueActionID.
func actionVerb(actionID string) string {
	verb, _, _ := strings.Cut(actionID, "#")
	return verb
}

func button(b chat.Button, actionID string) *slackgo.ButtonBlockElement {
	el := slackgo.NewButtonBlockElement(actionID, b.Value, plain(human.Truncate(b.Text, maxButtonText)))
	switch b.Style {
	case chat.StylePrimary:
		el.Style = slackgo.StylePrimary
	case chat.StyleDanger:
		el.Style = slackgo.StyleDanger
	}
	if c := strings.TrimSpace(b.Confirm); c != "" {
		confirm := slackgo.NewConfirmationBlockObject(
			plain("Are you sure?"),
			plain(human.Truncate(c, maxConfirmText)),
			plain(human.Truncate(b.Text, maxButtonText)),
			plain("Cancel"),
		)
		if el.Style == slackgo.StyleDanger {
			confirm.Style = slackgo.StyleDanger
		}
		el.Confirm = confirm
	}
	return el
}
