// Package console is Backout's terminal chat: a chat.Poster that prints a
// readable transcript with numbered buttons, and a REPL that drives the same
// command handlers as Slack.
package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/backout/backout/internal/chat"
)

// Poster prints messages. Buttons get numbers that `click <n>` presses.
type Poster struct {
	mu       sync.Mutex
	out      io.Writer
	nextTS   int
	buttons  []pressable         // index+1 is the number shown
	rendered map[string][]string // ts -> lines last printed, for showing only what changed
	channels map[string]string   // ts -> channel
	// prompt is shown while the console waits for a line; "" when it
	// is not waiting (or prints no prompt). See Prompt.
	prompt string
	// imageDir is where pictures are written; made on the first one
	// when not set (SetImageDir). madeDir is that temporary directory,
	// which Close removes; a directory given to SetImageDir is kept.
	imageDir string
	madeDir  string
	closed   bool
}

type pressable struct {
	button  chat.Button
	channel string
	ts      string
}

// NewPoster prints to out.
func NewPoster(out io.Writer) *Poster {
	return &Poster{out: out, rendered: map[string][]string{}, channels: map[string]string{}}
}

// Post implements chat.Poster.
func (p *Poster) Post(_ context.Context, ref chat.Ref, msg chat.Message) (chat.Ref, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextTS++
	ts := fmt.Sprintf("%d.000100", p.nextTS)
	lines := p.render(msg, ref.Channel, ts)
	prefix := fmt.Sprintf("[#%s] ", ref.Channel)
	if ref.Thread != "" {
		prefix = fmt.Sprintf("[#%s ↳ thread] ", ref.Channel)
	}
	p.print(prefix, lines)
	p.rendered[ts] = lines
	p.channels[ts] = ref.Channel
	out := chat.Ref{Channel: ref.Channel, TS: ts, Thread: ref.Thread}
	return out, p.writeImages(ref.Channel, msg.Images)
}

// SetImageDir makes pictures go to dir instead of a new temporary one.
func (p *Poster) SetImageDir(dir string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.imageDir = dir
}

// writeImages writes each picture to a file, and prints its path and its
// sparkline: a terminal shows no PNG, but the path opens it.
func (p *Poster) writeImages(channel string, images []chat.Image) error {
	var errs []error
	for _, img := range images {
		path, err := p.writeImage(img)
		if err != nil {
			p.print(fmt.Sprintf("[#%s ↳ thread] ", channel), []string{fmt.Sprintf("⚠️ chart %s not written: %v", img.Filename, err)})
			errs = append(errs, err)
			continue
		}
		p.print(fmt.Sprintf("[#%s ↳ thread] ", channel), []string{fmt.Sprintf("📈 %s: %s", img.Title, path), "   " + img.Sparkline})
	}
	return errors.Join(errs...)
}

func (p *Poster) writeImage(img chat.Image) (string, error) {
	if p.closed {
		return "", errors.New("the console has ended")
	}
	if p.imageDir == "" {
		dir, err := os.MkdirTemp("", "backout-charts-")
		if err != nil {
			return "", fmt.Errorf("chart directory: %w", err)
		}
		p.imageDir, p.madeDir = dir, dir
	}
	path := filepath.Join(p.imageDir, filepath.Base(img.Filename))
	if err := os.WriteFile(path, img.PNG, 0o644); err != nil {
		return "", fmt.Errorf("write chart: %w", err)
	}
	return path, nil
}

// Close removes the temporary directory the pictures went to, when the
// poster made one: the paths it printed stay valid until then, and nothing
// is left behind after the console. A directory given to SetImageDir is
// the caller's and is kept. Pictures posted after Close are not written.
func (p *Poster) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.madeDir == "" {
		return nil
	}
	dir := p.madeDir
	p.madeDir, p.imageDir = "", ""
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove chart directory: %w", err)
	}
	return nil
}

// Update implements chat.Poster: it prints only the lines that changed.
func (p *Poster) Update(_ context.Context, ref chat.Ref, msg chat.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := p.render(msg, ref.Channel, ref.TS)
	old := map[string]bool{}
	for _, l := range p.rendered[ref.TS] {
		old[l] = true
	}
	var changed []string
	for _, l := range lines {
		if !old[l] && strings.TrimSpace(l) != "" {
			changed = append(changed, l)
		}
	}
	p.rendered[ref.TS] = lines
	if len(changed) == 0 {
		return nil
	}
	p.print(fmt.Sprintf("[#%s ✎ %s] ", ref.Channel, firstLine(msg)), changed)
	return nil
}

// Ephemeral implements chat.Poster.
func (p *Poster) Ephemeral(_ context.Context, channel, user string, msg chat.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.print(fmt.Sprintf("[only @%s] ", user), p.render(msg, channel, ""))
	return nil
}

// Upload implements chat.Poster: it prints the file's name and its first lines.
func (p *Poster) Upload(_ context.Context, ref chat.Ref, filename, title, content string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := strings.Split(content, "\n")
	head := []string{fmt.Sprintf("📎 %s — %s (%d lines)", filename, title, len(lines))}
	for _, l := range lines[:min(len(lines), 6)] {
		head = append(head, "   │ "+l)
	}
	if len(lines) > 6 {
		head = append(head, "   │ …")
	}
	p.print(fmt.Sprintf("[#%s ↳ thread] ", ref.Channel), head)
	return nil
}

// Button returns the button shown with number n.
func (p *Poster) Button(n int) (chat.Button, string, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n < 1 || n > len(p.buttons) {
		return chat.Button{}, "", "", false
	}
	b := p.buttons[n-1]
	return b.button, b.channel, b.ts, true
}

// Say prints a line from the console itself.
func (p *Poster) Say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.interrupt()
	fmt.Fprintf(p.out, format+"\n", args...)
	p.reprompt()
}

// Prompt shows prompt and remembers that the console is waiting for a line,
// until Typed. Rollbacks run while a person types: whatever they post in
// the meantime starts on a line of its own and is followed by the prompt
// again, so the person always sees who they are and that Backout waits.
func (p *Poster) Prompt(prompt string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prompt = prompt
	fmt.Fprint(p.out, prompt)
}

// Typed says the person ended a line: the cursor is on a fresh line and
// nothing waits, so output no longer needs to step around the prompt.
func (p *Poster) Typed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prompt = ""
}

// interrupt moves off the prompt's line before other output.
func (p *Poster) interrupt() {
	if p.prompt != "" {
		fmt.Fprintln(p.out)
	}
}

// reprompt shows the prompt again after output that interrupted it.
func (p *Poster) reprompt() {
	if p.prompt != "" {
		fmt.Fprint(p.out, p.prompt)
	}
}

func (p *Poster) print(prefix string, lines []string) {
	p.interrupt()
	defer p.reprompt()
	for i, l := range lines {
		if i == 0 {
			fmt.Fprintf(p.out, "%s%s\n", prefix, l)
			continue
		}
		fmt.Fprintf(p.out, "%s%s\n", strings.Repeat(" ", len([]rune(prefix))), l)
	}
}

func firstLine(msg chat.Message) string {
	if msg.Header != "" {
		return msg.Header
	}
	l, _, _ := strings.Cut(msg.Text.String(), "\n")
	return l
}

// text turns typed text into terminal text: plain runs exactly as typed
// (a literal * in a glob stays), Backout's bold as it is, code in
// backticks, a quote after "> ", mentions @bob, channels #ops, links
// "label (url)": each span's plain fallback.
func text(t chat.Text) string { return t.String() }

// render lays a message out as lines and numbers its buttons.
func (p *Poster) render(msg chat.Message, channel, ts string) []string {
	var lines []string
	add := func(s string) { lines = append(lines, strings.Split(s, "\n")...) }
	if msg.Header != "" {
		add("══ " + msg.Header + " ══")
	}
	for _, sec := range msg.Sections {
		if sec.Title != "" {
			add("▸ " + sec.Title)
		}
		if !sec.Text.Empty() {
			add(text(sec.Text))
		}
		for _, f := range sec.Fields {
			add(f.Label + ": " + strings.ReplaceAll(text(f.Value), "\n", " "))
		}
		if sec.Table != nil {
			lines = append(lines, table(sec.Table)...)
		}
	}
	if len(msg.Sections) == 0 && msg.Header == "" {
		add(text(msg.Text))
	}
	if len(msg.Mentions) > 0 {
		var ms []string
		for _, m := range msg.Mentions {
			ms = append(ms, m.String())
		}
		add("cc " + strings.Join(ms, " "))
	}
	if len(msg.Buttons) > 0 {
		var bs []string
		for _, b := range msg.Buttons {
			bs = append(bs, fmt.Sprintf("[%d] %s", p.number(b, channel, ts), b.Text))
		}
		add("buttons: " + strings.Join(bs, "  ") + "   (type: click <n>)")
	}
	if !msg.Context.Empty() {
		add("· " + text(msg.Context))
	}
	return lines
}

func table(t *chat.Table) []string {
	widths := make([]int, len(t.Header))
	rows := append([][]string{t.Header}, t.Rows...)
	for _, r := range rows {
		for i := range widths {
			if i < len(r) {
				widths[i] = max(widths[i], len([]rune(r[i])))
			}
		}
	}
	var out []string
	for _, r := range rows {
		var cells []string
		for i := range widths {
			c := ""
			if i < len(r) {
				c = r[i]
			}
			cells = append(cells, c+strings.Repeat(" ", widths[i]-len([]rune(c))))
		}
		out = append(out, "  "+strings.TrimRight(strings.Join(cells, "  "), " "))
	}
	return out
}

// number returns the number of a button, reusing the one it had when the same
// message showed the same button before, so updates do not renumber.
func (p *Poster) number(b chat.Button, channel, ts string) int {
	if ts != "" {
		for i, x := range p.buttons {
			if x.ts == ts && x.channel == channel && x.button.ActionID == b.ActionID && x.button.Value == b.Value {
				return i + 1
			}
		}
	}
	p.buttons = append(p.buttons, pressable{button: b, channel: channel, ts: ts})
	return len(p.buttons)
}

func chatRef(channel string) chat.Ref { return chat.Ref{Channel: channel} }
